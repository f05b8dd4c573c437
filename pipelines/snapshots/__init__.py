"""The feature build in the DuckDB warehouse: snapshot dates, the two builds of the registry's SQL (``build_fast``,
DuckDB's own fast form, and ``build_portable``, the form Spark also runs), labels, and saving both into
``features.snapshots`` / ``features.labels`` (``refresh``). DuckDB-only SQL lives here, never in ``features``.

May import ``features`` and ``pipelines.settings``.
"""

from pipelines.snapshots.dates import data_bounds, dates_within, default_dates, snapshot_dates
from pipelines.snapshots.fast import build_fast
from pipelines.snapshots.labels import build_labels, compute_labels
from pipelines.snapshots.portable import build_portable
from pipelines.snapshots.refresh import BuildReport, read_snapshots, refresh

__all__ = [
    "BuildReport", "build_fast", "build_labels", "build_portable", "compute_labels", "data_bounds", "dates_within",
    "default_dates", "read_snapshots", "refresh", "snapshot_dates",
]  # fmt: skip
