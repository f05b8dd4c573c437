"""The feature build in the DuckDB warehouse: snapshot dates, the two builds of the registry's SQL (``build_fast``,
DuckDB's own fast form, and ``build_portable``, the form Spark also runs), labels, and saving both into
``features.snapshots`` / ``features.labels`` (``refresh``). DuckDB-only SQL lives here, never in ``features``.

May import ``features`` and ``pipelines.settings``.
"""
