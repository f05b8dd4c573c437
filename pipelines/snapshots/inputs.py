"""What both builds start from: the raw tables checked for the contract's columns, and the snapshot dates and
spine as temp tables."""

from collections.abc import Callable, Sequence
from datetime import datetime

import duckdb
import pyarrow as pa

from features.catalog import Available, Coverage, available, coverage_checks, coverage_of
from features.config import FeatureConfig
from features.config_file import ACCOUNTS_SQL, TYPE_COVERAGE_SQL, FeaturesFile, resolve
from features.contract import TABLES
from features.rollups import spine_sql
from pipelines.snapshots.fast_sql import COPIED


def check_raw_columns(con: duckdb.DuckDBPyConnection) -> None:
    """A clear error when a raw table the features read lacks columns of the data contract: the warehouse was
    ingested before they joined the contract (e.g. the times of state changes, ``failed_at`` and the like)."""
    have: dict[str, set[str]] = {}
    for table, column in con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_catalog = current_database() AND table_schema = 'raw'"
    ).fetchall():  # fmt: skip
        have.setdefault(table, set()).add(column)
    for table in COPIED:
        missing = [c for c in TABLES[table].columns if table in have and c not in have[table]]
        if missing:
            raise ValueError(
                f"raw.{table} has no column {', '.join(missing)}: the warehouse was ingested before the data contract "
                "had it. Ingest the data again (churn ingest SOURCE) to build features"
            )


def coverage(con: duckdb.DuckDBPyConnection, cfg: FeatureConfig = FeatureConfig()) -> Coverage:
    """Which contract tables of the warehouse have no rows (or are not there: a warehouse ingested before the
    table joined the contract), and which columns the features need have no value in any row."""
    found = {}
    for key, sql in coverage_checks(cfg).items():
        try:
            found[key] = bool(con.execute(sql).fetchall())
        except duckdb.CatalogException:
            found[key] = False
    return coverage_of(found)


def available_families(con: duckdb.DuckDBPyConnection, cfg: FeatureConfig = FeatureConfig()) -> Available:
    """The families and features the warehouse's data can feed (``features.catalog.available``)."""
    return available(coverage(con, cfg), cfg)


def resolve_features(con: duckdb.DuckDBPyConnection, spec: FeaturesFile | None = None) -> FeatureConfig:
    """The ``FeatureConfig`` of a features file (None: the defaults, every type discovered) for the warehouse's
    usage event types (``features.config_file.resolve``)."""
    try:
        present = dict(con.execute(TYPE_COVERAGE_SQL).fetchall())
        ((accounts,),) = con.execute(ACCOUNTS_SQL).fetchall()
    except duckdb.CatalogException:  # a warehouse without usage events: no types to count
        present, accounts = {}, 0
    return resolve(spec or FeaturesFile(), present, int(accounts))


def create_spine(con: duckdb.DuckDBPyConnection, dates: Sequence[datetime]) -> None:
    """The temp tables ``snapshot_dates`` and ``spine`` (every account served at each date,
    ``features.rollups.spine_sql``)."""
    con.execute("SET TimeZone = 'UTC'")
    frame = pa.table({"as_of": pa.array(sorted(set(dates)), type=pa.timestamp("us", tz="UTC"))})
    con.register("_dates", frame)
    con.execute("CREATE OR REPLACE TEMP TABLE snapshot_dates AS SELECT as_of FROM _dates")
    con.unregister("_dates")
    con.execute(f"CREATE OR REPLACE TEMP TABLE spine AS {spine_sql(coverage(con).empty_tables)}")


Progress = Callable[[str, int, int], None]  # (step, done, total): how a build reports its progress
