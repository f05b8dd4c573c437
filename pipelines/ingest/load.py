"""Writing the warehouse: schema ``raw`` of one DuckDB file, replaced as a whole by one transaction per run.

Tables: ``raw.<contract table>`` (replaced on every run), ``raw.quarantine`` (the last run's rejected rows, with
their reasons and original values as JSON) and ``raw.ingest_runs`` (one row per table per run, kept across runs).
Other schemas in the file are never touched.

Rows are first appended to staging tables ``raw._staging_<table>``, chunk by chunk, each insert committed; then one
transaction swaps them in (drop the old table, rename the staging one: catalog changes only) and logs the run.
Why not insert everything inside that one transaction: DuckDB keeps a transaction's uncommitted rows in memory
(about 70 MB per million usage events, measured), which would make memory grow with the size of the input.
A failed run drops its staging tables and leaves the previous raw tables exactly as they were; staging tables left
by a killed process are dropped by the next run.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from features.contract import ColumnKind, TableSpec
from pipelines.ingest.report import IngestError, TableCounts
from pipelines.warehouse import arrow_table

SQL_TYPES: dict[ColumnKind, str] = {
    "text": "VARCHAR",
    "time": "TIMESTAMPTZ",
    "number": "DOUBLE",
    "count": "BIGINT",
}
logger = logging.getLogger(__name__)

STAGING = "_staging_"
QUARANTINE_COLUMNS = "table_name VARCHAR, source_row BIGINT, reasons VARCHAR, row_json VARCHAR"
RUNS_COLUMNS = (
    "run_at TIMESTAMPTZ, source VARCHAR, table_name VARCHAR, input_rows BIGINT, accepted BIGINT, quarantined BIGINT"
)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _staged(table: str) -> str:
    return f"raw.{_ident(STAGING + table)}"


class WarehouseLoad:
    """One load in progress; see :func:`warehouse_load`."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.tables: list[str] = []
        self.runs: list[tuple[datetime, str, str, int, int, int]] = []
        self._create("quarantine", QUARANTINE_COLUMNS)

    def _create(self, table: str, columns: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TABLE {_staged(table)} ({columns})")
        self.tables.append(table)

    def replace_table(self, spec: TableSpec) -> None:
        """Start the new, empty version of a contract table (it replaces the old one at the end of the run)."""
        self._create(spec.name, ", ".join(f"{_ident(c)} {SQL_TYPES[spec.kind(c)]}" for c in spec.columns))

    def append(self, spec: TableSpec, frame: pd.DataFrame) -> None:
        """Insert contract rows (columns and dtypes as in the contract)."""
        if frame.empty:
            return
        # Arrow hands DuckDB the columns without a per-value conversion (pandas' strings are Arrow-backed).
        self.con.register("_chunk", arrow_table(frame))
        try:
            cols = ", ".join(_ident(c) for c in spec.columns)
            self.con.execute(f"INSERT INTO {_staged(spec.name)} ({cols}) SELECT {cols} FROM _chunk")
        finally:
            self.con.unregister("_chunk")

    def quarantine(self, table: str, rejected: pd.DataFrame, reasons: pd.DataFrame) -> None:
        """Insert rejected rows: ``rejected`` has source values indexed by source row, ``reasons`` their reasons."""
        if rejected.empty:
            return
        values = pd.DataFrame({c: rejected[c].astype("string") for c in rejected.columns})
        values.insert(0, "_row", rejected.index.to_numpy(dtype="int64"))
        why = pd.DataFrame({"_row": reasons["row"], "reason": reasons["reason"], "ord": range(len(reasons))})
        self.con.register("_bad", arrow_table(values))
        self.con.register("_why", arrow_table(why))
        try:
            pairs = ", ".join(f"'{c}', b.{_ident(c)}" for c in rejected.columns)
            self.con.execute(
                f"""
                INSERT INTO {_staged("quarantine")}
                SELECT ?, b._row, w.reasons, CAST(json_object({pairs}) AS VARCHAR)
                FROM _bad b
                JOIN (SELECT _row, string_agg(reason, '; ' ORDER BY ord) AS reasons FROM _why GROUP BY _row) w
                  ON w._row = b._row
                ORDER BY b._row
                """,
                [table],
            )
        finally:
            self.con.unregister("_bad")
            self.con.unregister("_why")

    def record_run(self, run_at: datetime, source: str, counts: dict[str, TableCounts]) -> None:
        """Log the run in raw.ingest_runs (written with the swap, so only a successful run is logged)."""
        self.runs = [(run_at, source, t, c.input_rows, c.accepted, c.quarantined) for t, c in counts.items()]

    def publish(self) -> None:
        """Swap every staged table in, in one transaction."""
        self.con.begin()
        try:
            for table in self.tables:
                self.con.execute(f"DROP TABLE IF EXISTS raw.{_ident(table)}")
                self.con.execute(f"ALTER TABLE {_staged(table)} RENAME TO {_ident(table)}")
            self.con.execute(f"CREATE TABLE IF NOT EXISTS raw.ingest_runs ({RUNS_COLUMNS})")
            if self.runs:
                self.con.executemany("INSERT INTO raw.ingest_runs VALUES (?, ?, ?, ?, ?, ?)", self.runs)
        except BaseException:
            self.con.rollback()
            raise
        self.con.commit()


def _drop_staging(con: duckdb.DuckDBPyConnection) -> None:
    staged = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw' AND starts_with(table_name, ?)",
        [STAGING],
    ).fetchall()
    for (name,) in staged:
        con.execute(f"DROP TABLE IF EXISTS raw.{_ident(name)}")


@contextmanager
def warehouse_load(path: Path) -> Iterator[WarehouseLoad]:
    """Open ``path`` (created if new) and yield a load; publish it at the end, drop it on any error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path))
    except duckdb.Error as e:
        raise IngestError(
            f"cannot open the warehouse {path}: {e}; if another process (the API, a notebook) holds it, "
            "stop it, or point --warehouse at another file"
        ) from e
    try:
        # TIMESTAMPTZ values are shown and cast in the session's zone; the contract's zone is UTC.
        con.execute("SET TimeZone = 'UTC'")
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        _drop_staging(con)
        load = WarehouseLoad(con)
        try:
            yield load
            load.publish()
        except BaseException:
            try:
                _drop_staging(con)
            except duckdb.Error:
                # The original error matters more; the next run drops what is left.
                logger.warning("could not drop the staging tables of the failed load in %s", path, exc_info=True)
            raise
    finally:
        con.close()
