"""The portable build: the registry's SQL as Spark also runs it (``features.rollups``, the sources, the snapshot),
over the warehouse's raw tables, in temp tables."""

from collections.abc import Sequence
from datetime import datetime
from string import Template

import duckdb

from features.config import FeatureConfig
from features.query import snapshot_sql, source_sql, source_table
from features.registry import Family
from features.rollups import TOTALS_TABLES, rollups, totals, window_bounds
from pipelines.snapshots.inputs import Progress, available_families, check_raw_columns, create_spine


def build_portable(
    con: duckdb.DuckDBPyConnection,
    dates: Sequence[datetime],
    cfg: FeatureConfig = FeatureConfig(),
    on_progress: Progress | None = None,
    families: tuple[Family, ...] | None = None,
) -> None:
    """Create the temp table ``snapshots`` (account_id, as_of, every feature) for ``dates`` in the form Spark also
    takes, and leave ``spine`` and ``snapshot_dates`` for the labels. ``families`` None builds what the data can
    feed (``available_families``)."""
    if not dates:
        raise ValueError("no snapshot dates given")
    check_raw_columns(con)
    fams = available_families(con, cfg).families if families is None else families
    create_rollups(con, dates, cfg)
    sources = [(fam, src) for fam in fams for src in fam.sources]
    for i, (fam, src) in enumerate(sources, 1):
        con.execute(f"CREATE OR REPLACE TEMP TABLE {source_table(fam, src)} AS {source_sql(src)}")
        if on_progress:
            on_progress("features", i, len(sources))
    for name in (*TOTALS_TABLES, "milestone_first"):
        con.execute(f"DROP TABLE IF EXISTS {name}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE snapshots AS {snapshot_sql(fams)}")
    for fam, src in sources:
        con.execute(f"DROP TABLE {source_table(fam, src)}")


def create_rollups(
    con: duckdb.DuckDBPyConnection, dates: Sequence[datetime], cfg: FeatureConfig = FeatureConfig()
) -> None:
    """The spine and the portable rollups (``features.rollups``) for ``dates``, as temp tables."""
    create_spine(con, dates)
    for name, sql in rollups(cfg).items():
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {Template(sql).substitute(window_bounds(dates))}")
    # The daily tables only feed the running totals; freeing them now lowers the peak memory of the build.
    for t in totals(cfg).values():
        con.execute(f"DROP TABLE IF EXISTS {t.daily}")
