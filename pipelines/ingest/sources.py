"""Where raw tables come from: a folder of CSV/Parquet files, or a database reached through SQLAlchemy.

A source finds a table and its column names (``locate``) without reading the rows, so that a missing table or
column fails the run before anything is loaded; ``read`` then yields the rows as pandas frames, in chunks for big
tables, with the source's own column names and values (parsing to contract types happens later).
"""

import csv
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from pipelines.ingest.mapping import Mapping, TableMapping
from pipelines.ingest.parse import int_types
from pipelines.ingest.queries import FolderQueries, database_columns, read_database
from pipelines.ingest.report import IngestError, brief

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Located:
    """A table found in the source: where it is (for messages) and the column names it has."""

    table: str
    where: str
    columns: tuple[str, ...]
    encoding: str = "utf-8"
    query: str | None = None  # the mapping's query that defines the table (``pipelines.ingest.queries``)


class Source(Protocol):
    description: str

    def locate(self, table: str) -> Located | None: ...

    def expected(self, table: str) -> str: ...

    def read(self, located: Located, columns: list[str], chunk_rows: int | None) -> Iterator[pd.DataFrame]: ...

    def close(self) -> None: ...


def open_source(source: str | Path, mapping: Mapping) -> Source:
    """A folder path, or a database URL such as ``postgresql://user@host:5432/db``."""
    if isinstance(source, str) and "://" in source:
        return DatabaseSource(source, mapping)
    return FolderSource(Path(source), mapping)


class FolderSource:
    """``<table>.parquet`` or ``<table>.csv`` in one folder (or the file names the mapping gives)."""

    def __init__(self, folder: Path, mapping: Mapping) -> None:
        if not folder.is_dir():
            what = "is a file, not a folder" if folder.exists() else "does not exist"
            raise IngestError(
                f"source {folder} {what}; SOURCE must be a folder of <table>.csv / <table>.parquet files "
                "or a database URL like postgresql://user@host:5432/db"
            )
        for name, tm in mapping.tables.items():
            if tm.table is not None:
                raise IngestError(
                    f"{mapping.describe()} sets table = {tm.table!r} for [tables.{name}], but the source {folder} "
                    'is a folder; use file = "<file name>" instead'
                )
        self.folder = folder
        self.mapping = mapping
        self.description = str(folder)
        self.queries = FolderQueries(folder, mapping)

    def expected(self, table: str) -> str:
        return f"a file {table}.parquet or {table}.csv in {self.folder}"

    def locate(self, table: str) -> Located | None:
        tm = self.mapping.table(table)
        if tm.query is not None:
            where = f"the query of [tables.{table}] over {self.folder}"
            return Located(table, where, self.queries.columns(table, tm.query), query=tm.query)
        path: Path | None
        if tm.file is not None:
            path = self.folder / tm.file
            if not path.is_file():
                raise IngestError(
                    f"file {path} for table {table} (named in {self.mapping.describe()}) does not exist; "
                    f"files in {self.folder}: {', '.join(sorted(p.name for p in self.folder.iterdir())) or 'none'}"
                )
        else:
            found = [p for p in (self.folder / f"{table}.parquet", self.folder / f"{table}.csv") if p.is_file()]
            if not found:
                return None
            if len(found) > 1:
                logger.warning("both %s and %s exist; reading %s", found[0].name, found[1].name, found[0].name)
            path = found[0]
        if path.stat().st_size == 0:
            raise IngestError(f"file {path} for table {table} is empty (0 bytes); export the table again")
        if path.suffix.lower() == ".parquet":
            return Located(table, str(path), _parquet_columns(path, table))
        return Located(table, str(path), _csv_header(path, table, tm), _csv_encoding(tm))

    def read(self, located: Located, columns: list[str], chunk_rows: int | None) -> Iterator[pd.DataFrame]:
        if located.query is not None:
            yield from self.queries.read(located.table, located.query, columns, chunk_rows)
            return
        path = Path(located.where)
        if path.suffix.lower() == ".parquet":
            yield from _read_parquet(path, located.table, columns, chunk_rows)
        else:
            yield from _read_csv(path, located, columns, chunk_rows)

    def close(self) -> None:
        self.queries.close()


def _csv_encoding(tm: TableMapping) -> str:
    # utf-8-sig also accepts the byte-order mark that spreadsheet exports put first.
    return "utf-8-sig" if tm.encoding.lower().replace("_", "-") in ("utf-8", "utf8") else tm.encoding


def _not_text(path: Path, table: str, encoding: str, e: UnicodeDecodeError) -> IngestError:
    return IngestError(
        f"file {path} for table {table} is not {encoding.removesuffix('-sig')} text "
        f"(byte {e.object[e.start : e.start + 1]!r}: {e.reason}); re-export it as UTF-8, or set "
        f'encoding = "latin-1" (or its real encoding) under [tables.{table}] in the mapping file'
    )


def _csv_header(path: Path, table: str, tm: TableMapping) -> tuple[str, ...]:
    encoding = _csv_encoding(tm)
    with path.open("rb") as f:
        first = f.readline()
    try:
        line = first.decode(encoding)
    except UnicodeDecodeError as e:
        raise _not_text(path, table, encoding, e) from e
    header = next(csv.reader(io.StringIO(line)), [])
    if not any(h.strip() for h in header):
        raise IngestError(f"file {path} for table {table} has no header line; its first line must name the columns")
    return tuple(header)


def _read_csv(path: Path, located: Located, columns: list[str], chunk_rows: int | None) -> Iterator[pd.DataFrame]:
    # Everything is read as text: parsing to contract types is done (and reported row by row) later.
    # keep_default_na=False: "NA" (North America) or "null" are values; only empty fields are missing.
    options = dict(usecols=columns, dtype="string", keep_default_na=False, na_values=[""], encoding=located.encoding)
    try:
        if chunk_rows is None:
            yield pd.read_csv(path, **options)  # type: ignore[call-overload]
            return
        with pd.read_csv(path, chunksize=chunk_rows, **options) as reader:  # type: ignore[call-overload]
            yield from reader
    except UnicodeDecodeError as e:
        raise _not_text(path, located.table, located.encoding, e) from e
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as e:
        raise IngestError(f"file {path} for table {located.table} is not valid CSV: {brief(e)}; fix the file") from e


def _parquet_columns(path: Path, table: str) -> tuple[str, ...]:
    try:
        return tuple(pq.ParquetFile(path).schema_arrow.names)
    except (pa.ArrowException, OSError) as e:
        raise _bad_parquet(path, table, e) from e


def _bad_parquet(path: Path, table: str, e: Exception) -> IngestError:
    return IngestError(f"file {path} for table {table} is not a readable Parquet file ({brief(e)}); export it again")


def _read_parquet(path: Path, table: str, columns: list[str], chunk_rows: int | None) -> Iterator[pd.DataFrame]:
    try:
        pf = pq.ParquetFile(path)
        if chunk_rows is None:
            yield pf.read(columns=columns).to_pandas(types_mapper=int_types)
            return
        for batch in pf.iter_batches(batch_size=chunk_rows, columns=columns):
            yield batch.to_pandas(types_mapper=int_types)
    except (pa.ArrowException, OSError) as e:
        raise _bad_parquet(path, table, e) from e


class DatabaseSource:
    """Tables of one database schema, read by name (or the name the mapping gives) with a server-side cursor."""

    def __init__(self, url: str, mapping: Mapping) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError as e:
            raise IngestError(f"source {url!r} is not a database URL; use postgresql://user@host:5432/db") from e
        self.description = parsed.render_as_string(hide_password=True)
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3 is the driver we ship
        for name, tm in mapping.tables.items():
            if tm.file is not None:
                raise IngestError(
                    f"{mapping.describe()} sets file = {tm.file!r} for [tables.{name}], but the source is the "
                    f'database {self.description}; use table = "<table name>" instead'
                )
        self.mapping = mapping
        self.schema = mapping.schema
        try:
            self.engine = sa.create_engine(parsed)
            self.conn = self.engine.connect()
        except (SQLAlchemyError, ImportError) as e:
            first = brief(getattr(e, "orig", None) or e)
            raise IngestError(
                f"cannot connect to the database {self.description}: {first}; check that the server is running "
                "and that host, port, user and database in the URL are right"
            ) from e
        if self.conn.dialect.name == "postgresql":
            # Times then arrive as UTC datetimes, one offset, which pandas keeps as datetime64[UTC].
            self.conn.execute(sa.text("SET TIME ZONE 'UTC'"))

    def _name(self, table: str) -> str:
        return self.mapping.table(table).table or table

    def expected(self, table: str) -> str:
        where = f"schema {self.schema!r}" if self.schema else "the default schema (search_path)"
        return f"a table named {self._name(table)} in {where}; [source] schema = ... in a mapping file picks the schema"

    def locate(self, table: str) -> Located | None:
        query = self.mapping.table(table).query
        if query is not None:
            where = f"the query of [tables.{table}] in {self.description}"
            return Located(table, where, database_columns(self.conn, table, query, self.description), query=query)
        name = self._name(table)
        inspector = sa.inspect(self.conn)
        where = f"{self.schema}.{name}" if self.schema else name
        try:
            if not inspector.has_table(name, schema=self.schema):
                if self.mapping.table(table).table is not None:
                    raise IngestError(
                        f"table {where} for {table} (named in {self.mapping.describe()}) does not exist in "
                        f"{self.description}; check the name and [source] schema"
                    )
                return None
            columns = tuple(c["name"] for c in inspector.get_columns(name, schema=self.schema))
        except SQLAlchemyError as e:
            raise IngestError(f"cannot read the columns of {where} in {self.description}: {brief(e)}") from e
        return Located(table, f"{where} in {self.description}", columns)

    def read(self, located: Located, columns: list[str], chunk_rows: int | None) -> Iterator[pd.DataFrame]:
        if located.query is not None:
            try:
                yield from read_database(self.conn, located.query, columns, chunk_rows)
            except SQLAlchemyError as e:
                raise IngestError(f"reading {located.where} failed: {brief(e)}; fix the query and retry") from e
            return
        name = self._name(located.table)
        query = sa.select(sa.table(name, *(sa.column(c) for c in columns), schema=self.schema))
        try:
            if chunk_rows is None:
                yield pd.read_sql(query, self.conn)
                return
            streaming = self.conn.execution_options(stream_results=True, max_row_buffer=chunk_rows)
            yield from pd.read_sql(query, streaming, chunksize=chunk_rows)
        except SQLAlchemyError as e:
            raise IngestError(f"reading {located.where} failed: {brief(e)}; check the server and retry") from e

    def close(self) -> None:
        self.conn.close()
        self.engine.dispose()
