"""Where the server reads published scores (layout: ``models.published``; ``churn score`` publishes them): a folder
of versions with its ``CURRENT`` pointer, or PostgreSQL's versions tables. The server never opens the warehouse.

``current()`` is cheap (a few bytes read, or one row by an index) and runs every reload interval; ``load()`` reads a
whole version as Arrow, off the event loop, and pyarrow and the ADBC PostgreSQL driver read without holding the GIL,
so requests keep being answered while a version loads.
"""

import json
from pathlib import Path
from typing import Any, Protocol

import adbc_driver_manager
import adbc_driver_postgresql.dbapi as adbc
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from models import published  # the layout: file and table names, columns

UNDEFINED_TABLE = "42P01"
ATTEMPTS = 3


class VersionGone(Exception):
    """The version was pruned between reading which is current and loading it: ask again which is current."""


class ScoreStore(Protocol):
    def current(self) -> str | None:
        """The version to serve; None when nothing was published yet."""
        ...

    def load(self, version: str) -> pa.Table:
        """The rows of ``version`` (``models.published.SCHEMA``); ``VersionGone`` if it was pruned meanwhile."""
        ...

    def document(self, kind: str) -> dict[str, Any] | None:
        """The latest document of ``kind`` published (``models.published.DOCUMENTS``: ``churn monitor``'s
        monitoring, ``churn forecast``'s forecast, ``churn effects``'s effects); None when none was."""
        ...


class FolderStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __str__(self) -> str:
        return str(self.folder)

    def current(self) -> str | None:
        try:
            name = (self.folder / published.POINTER).read_text().strip()
        except FileNotFoundError:
            return None
        if not published.is_version(name):
            raise ValueError(f"{self.folder / published.POINTER} holds {name[:80]!r}, not a version name: run "
                             "`churn score` to publish a version (it rewrites the pointer)")  # fmt: skip
        return name

    def load(self, version: str) -> pa.Table:
        try:
            # One thread: pyarrow's pool would take every core at once, and the requests need one meanwhile.
            table = pq.read_table(self.folder / f"{version}{published.SUFFIX}", use_threads=False)
        except FileNotFoundError as e:
            raise VersionGone(version) from e
        return _checked(table, f"{self.folder / version}{published.SUFFIX}")

    def document(self, kind: str) -> dict[str, Any] | None:
        path = self.folder / published.DOCUMENTS[kind][0]
        try:
            return _document(path.read_text(), str(path), kind)
        except FileNotFoundError:
            return None


class PostgresStore:
    def __init__(self, url: str) -> None:
        self.url = published.libpq_url(url)

    def __str__(self) -> str:
        return published.shown(self.url)

    def current(self) -> str | None:
        with adbc.connect(self.url) as c, c.cursor() as cur:
            try:
                cur.execute(f"{published.LATEST_SQL} LIMIT 1")
            except adbc_driver_manager.ProgrammingError as e:
                if getattr(e, "sqlstate", None) == UNDEFINED_TABLE:
                    return None  # no run has published here yet
                raise
            row = cur.fetchone()
        return None if row is None else str(row[0])

    def load(self, version: str) -> pa.Table:
        columns = ", ".join(f"r.{f.name}" for f in published.SCHEMA)
        # One statement, so one snapshot: the version's rows with the count its version row promises, or no row
        # at all when the version was pruned meanwhile.
        sql = (f'SELECT {columns}, v."rows" AS expected FROM {published.ROWS_TABLE} r '
               f"JOIN {published.VERSIONS_TABLE} v ON v.version = r.version WHERE r.version = $1")  # fmt: skip
        with adbc.connect(self.url) as c, c.cursor() as cur:
            cur.execute(sql, (version,))
            table = cur.fetch_arrow_table()
        if table.num_rows == 0:
            raise VersionGone(version)
        expected = table.column("expected")[0].as_py()
        if table.num_rows != expected:
            raise ValueError(f"version {version} has {table.num_rows} rows in {published.ROWS_TABLE} but its "
                             f"row in {published.VERSIONS_TABLE} says {expected}: publish again with "
                             "`churn score`")  # fmt: skip
        return _checked(table.drop_columns(["expected"]), f"{published.ROWS_TABLE} version {version}")

    def document(self, kind: str) -> dict[str, Any] | None:
        table = published.DOCUMENTS[kind][1]
        with adbc.connect(self.url) as c, c.cursor() as cur:
            try:
                cur.execute(published.latest_document_sql(table))
            except adbc_driver_manager.ProgrammingError as e:
                if getattr(e, "sqlstate", None) == UNDEFINED_TABLE:
                    return None  # nothing of this kind published here yet
                raise
            row = cur.fetchone()
        return None if row is None else _document(str(row[0]), table, kind)


def _document(text: str, where: str, kind: str) -> dict[str, Any]:
    command = published.PUBLISHED_BY[kind]
    try:
        got = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{where} is not JSON ({e}): run `{command}` again to publish it") from e
    if not isinstance(got, dict):
        raise ValueError(f"{where} is not a {kind} document: run `{command}` again to publish it")
    return got


def _checked(table: pa.Table, where: str) -> pa.Table:
    """``table`` with exactly the published columns and types (field metadata dropped). A version published before
    holdouts existed holds out nobody, one before renewals (or expansion, or the churn curve) knows none."""
    for name in published.LATER:
        if name not in table.column_names and name != "held_out":  # published before the column was: none known
            table = table.append_column(name, pa.nulls(table.num_rows, published.FRAME_SCHEMA.field(name).type))
    if "held_out" not in table.column_names:
        table = table.append_column("held_out", pa.array([False] * table.num_rows, pa.bool_()))
    elif table.column("held_out").null_count:
        table = table.set_column(table.column_names.index("held_out"), "held_out",
                                 pc.fill_null(table.column("held_out"), False))  # fmt: skip
    missing = [n for n in published.SCHEMA.names if n not in table.column_names]
    if missing:
        raise ValueError(f"{where} lacks the published columns {missing}: it was not written by `churn score` of "
                         "this version; publish again with `churn score`")  # fmt: skip
    return table.select(published.SCHEMA.names).cast(published.SCHEMA)


def open_store(spec: str) -> FolderStore | PostgresStore:
    """The store ``spec`` names: a postgresql:// URL, or a folder (which need not exist yet)."""
    if published.is_postgres(spec):
        return PostgresStore(spec)
    folder = Path(spec)
    if folder.is_file():
        raise ValueError(f"CHURN_SCORES={spec} is a file; it must name the folder `churn score` publishes to "
                         "(e.g. data/scores) or a postgresql:// URL")  # fmt: skip
    return FolderStore(folder)


def latest(store: ScoreStore) -> tuple[str, pa.Table] | None:
    """The current version and its rows; None when nothing was published yet. A version pruned while it was
    being loaded (several runs published meanwhile) makes it ask again which one is current."""
    for _ in range(ATTEMPTS):
        version = store.current()
        if version is None:
            return None
        try:
            return version, store.load(version)
        except VersionGone:
            continue
    raise RuntimeError(f"the current version of {store} changed {ATTEMPTS} times while it was being loaded; "
                       "the next reload tries again")  # fmt: skip
