"""The Spark engine: the same feature, label and split definitions (``features``) run on Apache Spark, with the
contract's checks on ingest (``ingest``) and batch scoring (``engine.score``). Imports PySpark lazily; the rest of
the product runs without it.

May import ``features``, ``models``, ``pipelines.settings``, and the stages whose logic it reuses rather than
writes again: ``pipelines.ingest`` (mapping and checks), ``pipelines.training`` (the training sets' split) and
``pipelines.score`` (the scores' stored form). ``tests/test_layering.py`` holds every room to its list.
"""
