"""Tables a mapping file defines by a query (``query = "..."`` under ``[tables.<name>]``), in DuckDB's SQL: joins and
reshaping that an export needs before it fits the contract (usage keyed by subscription joined to its account).

Over a folder, DuckDB runs the query in memory, where every CSV or Parquet file of the folder is a view named by its
file name without the suffix (``feature_usage.csv`` -> ``feature_usage``; quote names with spaces or dashes). Over a
database, the query is carried to the database's own dialect by sqlglot and runs there, reading its tables.
"""

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import sqlalchemy as sa
import sqlglot
from sqlalchemy.exc import SQLAlchemyError

from features.registry import to_dialect
from pipelines.ingest.mapping import Mapping
from pipelines.ingest.parse import int_types
from pipelines.ingest.report import IngestError, brief

SUFFIXES = {".csv": "read_csv", ".parquet": "read_parquet"}


class FolderQueries:
    """The folder's files as DuckDB views, and the mapping's queries over them."""

    def __init__(self, folder: Path, mapping: Mapping) -> None:
        self.folder, self.mapping = folder, mapping
        self._con: duckdb.DuckDBPyConnection | None = None

    def _files(self) -> list[Path]:
        """The folder's CSV and Parquet files, in name order: each is the view named by its stem."""
        return sorted(p for p in self.folder.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file())

    def views(self) -> list[str]:
        return [p.stem for p in self._files()]

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            con = duckdb.connect()
            con.execute("SET TimeZone = 'UTC'")
            for path in self._files():
                literal = str(path).replace("'", "''")
                con.execute(
                    f"CREATE VIEW \"{path.stem}\" AS SELECT * FROM {SUFFIXES[path.suffix.lower()]}('{literal}')"
                )
            self._con = con
        return self._con

    def _failed(self, table: str, e: Exception) -> IngestError:
        return IngestError(
            f"the query of table {table} in {self.mapping.describe()} failed: {brief(e)}. The files of "
            f"{self.folder} are views named: {', '.join(self.views()) or 'none'}; fix the query (DuckDB SQL) under "
            f"[tables.{table}] query"
        )

    def columns(self, table: str, query: str) -> tuple[str, ...]:
        try:
            return tuple(r[0] for r in self._connection().execute(f"DESCRIBE ({query})").fetchall())
        except duckdb.Error as e:
            raise self._failed(table, e) from e

    def read(self, table: str, query: str, columns: list[str], chunk_rows: int | None) -> Iterator[pd.DataFrame]:
        cols = ", ".join(f'"{c}"' for c in columns)
        try:
            relation = self._connection().sql(f"SELECT {cols} FROM ({query})")
            for batch in relation.to_arrow_reader(chunk_rows or 1_000_000):
                yield batch.to_pandas(types_mapper=int_types)
        except duckdb.Error as e:
            raise self._failed(table, e) from e

    def close(self) -> None:
        if self._con is not None:
            self._con.close()


def database_query(conn: sa.Connection, query: str) -> str:
    """``query`` (DuckDB's SQL) in the connected database's dialect."""
    return to_dialect(query, {"postgresql": "postgres"}.get(conn.dialect.name, conn.dialect.name))


def database_columns(conn: sa.Connection, table: str, query: str, where: str) -> tuple[str, ...]:
    try:
        result = conn.execute(sa.text(f"SELECT * FROM ({database_query(conn, query)}) AS q LIMIT 0"))
        return tuple(result.keys())
    except (SQLAlchemyError, sqlglot.errors.ParseError) as e:
        conn.rollback()
        raise IngestError(
            f"the query of table {table} failed in {where}: {brief(getattr(e, 'orig', None) or e)}; fix the "
            f"query (DuckDB SQL; it runs in the database's own dialect) under [tables.{table}] query"
        ) from e


def read_database(
    conn: sa.Connection, query: str, columns: list[str], chunk_rows: int | None
) -> Iterator[pd.DataFrame]:
    cols = ", ".join(f'q."{c}"' for c in columns)
    statement = sa.text(f"SELECT {cols} FROM ({database_query(conn, query)}) AS q")
    if chunk_rows is None:
        yield pd.read_sql(statement, conn)
        return
    yield from pd.read_sql(statement, conn.execution_options(stream_results=True), chunksize=chunk_rows)
