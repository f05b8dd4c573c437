"""Opening the warehouse: one DuckDB file, with the memory cap and spill folder from the settings."""

from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from pipelines.settings import get_settings


def connect(path: Path | None = None, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the warehouse (default: the settings' file). Memory is capped (``CHURN_DUCKDB_MEMORY``);
    DuckDB spills to a folder beside the file beyond it, so big builds stay within the cap."""
    s = get_settings()
    target = Path(path or s.warehouse)
    con = duckdb.connect(str(target), read_only=read_only)
    con.execute(f"SET memory_limit = '{s.duckdb_memory}'")
    con.execute(f"SET temp_directory = '{target.parent / (target.name + '.tmp')}'")
    con.execute("SET TimeZone = 'UTC'")
    # Results are ordered explicitly where order matters; not keeping insertion order saves memory and time.
    con.execute("SET preserve_insertion_order = false")
    return con


def arrow_table(frame: pd.DataFrame) -> pa.Table:
    """``frame`` as an Arrow table, for handing to DuckDB without a per-value conversion.

    Time-zone-aware columns go through naive UTC and are relabelled: pyarrow 25 (mlflow caps pyarrow below 26)
    reads them through ``Series.values``, which pandas 3.1 deprecates with a warning.
    """
    aware = [c for c in frame.columns if isinstance(frame[c].dtype, pd.DatetimeTZDtype)]
    naive = frame.assign(**{c: frame[c].dt.tz_convert("UTC").dt.tz_localize(None) for c in aware})
    table = pa.Table.from_pandas(naive, preserve_index=False)
    for c in aware:
        i = table.schema.get_field_index(c)
        column = table.column(i)
        table = table.set_column(i, c, column.cast(pa.timestamp(column.type.unit, tz="UTC")))
    return table


def export_raw(con: duckdb.DuckDBPyConnection, folder: Path) -> dict[str, int]:
    """Every table of the warehouse's ``raw`` schema that the contract defines, as ``folder/<table>.parquet``
    (the input of the Spark engine); returns the rows written per table."""
    from features.contract import TABLES

    folder.mkdir(parents=True, exist_ok=True)
    have = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'"
    ).fetchall()}  # fmt: skip
    rows = {}
    for table in TABLES:
        if table not in have:
            raise ValueError(f"the warehouse has no raw.{table}: run `churn ingest SOURCE` (or `churn demo`) first")
        con.execute(f"COPY raw.{table} TO '{folder / (table + '.parquet')}' (FORMAT parquet, COMPRESSION zstd)")
        ((rows[table],),) = con.execute(f"SELECT count(*) FROM raw.{table}").fetchall()
    return rows


def replace_rows(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table | pd.DataFrame, where: str) -> None:
    """In one transaction, delete the rows of ``table`` that ``where`` selects (SQL that may read the new rows as
    ``_new``, e.g. "as_of IN (SELECT as_of FROM _new)") and insert ``rows`` by column name: a reader sees the old
    rows or the new ones, never neither."""
    con.register("_new", rows)
    con.begin()
    try:
        con.execute(f"DELETE FROM {table} WHERE {where}")
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _new")
    except BaseException:
        con.rollback()
        raise
    finally:
        con.unregister("_new")
    con.commit()


def has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether the warehouse holds ``schema.table`` (asked first: on a missing table DuckDB would look for a Python
    variable of that name)."""
    return bool(con.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                            [schema, table]).fetchall())  # fmt: skip
