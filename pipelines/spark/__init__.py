"""The Spark engine: the same feature, label and split definitions (``features``) run on Apache Spark, with the
contract's checks on ingest (``ingest``) and batch scoring (``engine.score``). Imports PySpark lazily; the rest of
the product runs without it.

May import ``features``, ``models`` and ``pipelines.settings``.
"""
