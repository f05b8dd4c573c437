"""Engine-neutral definitions, as data and SQL text: the data contract (``contract``), the feature registry
(``registry``: what a feature is; ``families/``: every feature, one module per family; ``catalog``: all of them),
the daily rollups and spine (``rollups``) and the SQL an engine runs (``query``, ``sql``), labels and the time rules
(``labels``), the time split (``split``), and what a company may set (``config``).

No I/O, no models, no engine: imports nothing of ``models``, ``pipelines`` or ``serving``, and names no option that
only one engine has (DuckDB's fast build lives in ``pipelines.snapshots``).
"""
