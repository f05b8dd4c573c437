"""The fast build: the registry's SQL, unchanged, run by DuckDB in a scratch in-memory catalog over faster copies
of its inputs and DuckDB-only rollups (``fast_sql``), with the source tables joined by position. Only the results
come back, as temp tables with the warehouse's types."""

from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import pairwise
from string import Template

import duckdb
import pyarrow as pa

from features.catalog import Available, available
from features.catalog import families as every_family
from features.config import FeatureConfig
from features.query import (
    SPINE_COLUMNS,
    source_columns,
    source_table,
    tables_read,
    typed_snapshot_sql,
    typed_source_sql,
)
from features.registry import Family
from features.rollups import TOTALS_TABLES, window_bounds
from pipelines.snapshots import fast_sql
from pipelines.snapshots.inputs import Progress, check_raw_columns, coverage

WORK = "features_work"  # the scratch catalog of the fast build
# Below this many snapshot rows the snapshot is assembled in one slice: planning a slice costs more than the thread
# saves (one monthly date, 6,300 rows: 0.075 s in two slices, 0.059 s in one; 22 dates, 0.49 s against 0.57 s).
SLICED_ROWS = 50_000


def build_fast(
    con: duckdb.DuckDBPyConnection,
    dates: Sequence[datetime],
    cfg: FeatureConfig = FeatureConfig(),
    on_progress: Progress | None = None,
    families: tuple[Family, ...] | None = None,
) -> Available:
    """Create the temp table ``snapshots`` (account_id, as_of, every feature) for ``dates``, and leave ``spine``
    and ``snapshot_dates`` for the labels, as ``build_portable`` does: the raw tables are copied into a scratch
    catalog keyed by integer account ids with naive UTC times (``fast_sql.inputs``) and rolled up by DuckDB-only
    SQL; the registry's SQL runs over those. ``families`` None builds what the data can feed
    (``available_families``); tests of the SQL give every family. Returns the families built, with those off."""
    if not dates:
        raise ValueError("no snapshot dates given")
    check_raw_columns(con)
    held = coverage(con, cfg)
    built = available(held, cfg) if families is None else Available(families, {})
    fams = built.families
    ((db,),) = con.execute("SELECT current_database()").fetchall()
    con.execute("SET TimeZone = 'UTC'")
    # Temp tables come first in name resolution: a spine or rollup left by an earlier build would hide ours.
    temp = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()}
    ours = {"spine", "spine_keys", "snapshot_dates", "snapshots", "account_ids", *fast_sql.INTERMEDIATE}
    ours |= {*fast_sql.rollups(cfg), *TOTALS_TABLES}
    ours |= {source_table(fam, src) for fam in every_family(cfg) for src in fam.sources}
    for name in temp & ours:
        con.execute(f"DROP TABLE temp.main.{name}")
    columns: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_catalog = ? "
        "AND table_schema = 'raw' ORDER BY table_name, ordinal_position", [db]
    ).fetchall():  # fmt: skip
        if table in fast_sql.COPIED:
            columns.setdefault(table, []).append((column, kind))
    subst = window_bounds(dates) | {"raw": f'"{db}".raw'}
    con.execute(f"DETACH DATABASE IF EXISTS {WORK}")
    con.execute(f"ATTACH ':memory:' AS {WORK} (READ_WRITE)")
    try:
        con.execute(f"USE {WORK}")
        con.execute("CREATE SCHEMA raw")
        for name, sql in fast_sql.inputs(columns).items():
            con.execute(f"CREATE TABLE {name} AS {Template(sql).substitute(subst)}")
        frame = pa.table({"as_of": pa.array(sorted(set(dates)), type=pa.timestamp("us"))})
        con.register("_dates", frame)
        con.execute("CREATE TABLE snapshot_dates AS SELECT as_of FROM _dates")
        con.unregister("_dates")
        spine = fast_sql.spine_sql(held.empty_tables)
        _ordered(con, f"CREATE TABLE spine AS {spine} ORDER BY account_id, as_of")
        _create_rollups(con, fast_sql.rollups(cfg, dates), subst)
        _create_sources(con, fams, on_progress)
        # The account ids as strings, in the spine's order: joining them to the wide snapshot by key took 1.5 s of
        # the weekly build's 3.8 s snapshot step; by position, 0.07 s for this table.
        _ordered(con, "CREATE TABLE spine_keys AS SELECT k.account_id FROM spine s JOIN account_ids k "
                      "ON k.aid = s.account_id ORDER BY s.account_id, s.as_of")  # fmt: skip
        _assemble(con, fams)
        for fam in fams:
            for src in fam.sources:
                con.execute(f"DROP TABLE {source_table(fam, src)}")
        # The spine and dates as the portable build leaves them (labels read them).
        naive = [r[0] for r in con.execute("DESCRIBE spine").fetchall() if r[1] == "TIMESTAMP"]
        aware = ", ".join(f"make_timestamptz(epoch_us(s.{c})) AS {c}" for c in naive)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE spine AS SELECT k.account_id, s.* EXCLUDE (account_id) "
            f"REPLACE ({aware}) FROM spine s JOIN account_ids k ON k.aid = s.account_id"
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE snapshot_dates AS SELECT make_timestamptz(epoch_us(as_of)) AS as_of "
            "FROM snapshot_dates"
        )
    finally:
        con.execute(f'USE "{db}"')
        con.execute(f"DETACH DATABASE {WORK}")
    return built


def _ordered(con: duckdb.DuckDBPyConnection, statement: str) -> None:
    """Run ``statement`` (a CREATE TABLE ... AS ... ORDER BY) so that the table keeps the order: DuckDB keeps a
    table's insertion order only with preserve_insertion_order on, which the warehouse's connection turns off."""
    ((was,),) = con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()
    con.execute("SET preserve_insertion_order = true")
    try:
        con.execute(statement)
    finally:
        con.execute(f"SET preserve_insertion_order = {was}")


def _drop_unread(con: duckdb.DuckDBPyConnection, held: Sequence[str], later: Iterable[str]) -> list[str]:
    """Drop each of ``held`` (tables of the scratch catalog) that no later statement reads (``later``: the
    tables they read); returns the others. Memory is what slows the build: on weekly snapshots the last step
    spilled to disk at the 1.5GB cap while rollups and raw copies that nothing read any more were still held."""
    needed = set(later)
    for table in held:
        if table not in needed:
            con.execute(f"DROP TABLE IF EXISTS {table}")
    return [t for t in held if t in needed]


def _create_rollups(con: duckdb.DuckDBPyConnection, rollups: dict[str, fast_sql.Rollup], subst: dict[str, str]) -> None:
    """Create ``rollups`` in order, dropping each intermediate table (``fast_sql.INTERMEDIATE``) as soon as no later
    statement reads it: the event-level copies are the largest tables of the build."""
    pending, held = list(rollups.items()), []
    for i, (name, rollup) in enumerate(pending):
        con.execute(f"CREATE TABLE {name} AS {Template(rollup.sql).substitute(subst)}")
        if name in fast_sql.INTERMEDIATE:
            held.append(name)
        held = _drop_unread(con, held, (t for _, later in pending[i + 1 :] for t in later.reads))


def _create_sources(con: duckdb.DuckDBPyConnection, fams: tuple[Family, ...], on_progress: Progress | None) -> None:
    """One table per source of the registry, each stored in the spine's order, which must be (account_id, as_of),
    so that the snapshot joins them by position: on weekly snapshots, 11 hash joins of 0.8 M rows took 2.1 s, the
    positional join 0.6 s, and ordering the tables 0.35 s. The order is checked. The rollups and raw copies are
    dropped as soon as no later source reads them."""
    sources = [(fam, src) for fam in fams for src in fam.sources]
    held = [*TOTALS_TABLES, "milestone_first", *(f"raw.{t}" for t in fast_sql.COPIED)]
    for i, (fam, src) in enumerate(sources, 1):
        _ordered(con, f"CREATE OR REPLACE TABLE {source_table(fam, src)} AS {typed_source_sql(src)} "
                      "ORDER BY s.account_id, s.as_of")  # fmt: skip
        held = _drop_unread(con, held, (t for _, later in sources[i:] for t in tables_read(later)))
        if on_progress:
            on_progress("features", i, len(sources))
    names = [source_table(fam, src) for fam, src in sources]
    misplaced = " OR ".join(f"{t}.account_id IS DISTINCT FROM s.account_id OR {t}.as_of IS DISTINCT FROM s.as_of"
                            for t in names)  # fmt: skip
    ((n,),) = con.execute(
        f"SELECT count(*) FROM spine s {' '.join(f'POSITIONAL JOIN {t}' for t in names)} WHERE {misplaced}"
    ).fetchall()
    if n:
        raise RuntimeError(f"feature build: {n} source rows are out of the spine's order (a bug: please report it)")


def _positional_base(fams: tuple[Family, ...], rows: str) -> str:
    """The spine's columns and the source tables' features, the rows ``rows`` (a condition on ``rowid``) of the
    spine, ``spine_keys`` and every source table joined by position (all hold the spine's rows in its order),
    with ``spine_keys``' string account ids in place of the spine's integers."""
    tables = ["spine_keys", *(source_table(fam, src) for fam in fams for src in fam.sources)]
    joins = [f"POSITIONAL JOIN (SELECT * FROM {t} WHERE {rows}) {t}" for t in tables]
    spine = ["spine_keys.account_id" if c == "account_id" else f"s.{c}" for c in SPINE_COLUMNS]
    base = "SELECT " + ", ".join(spine + source_columns(fams)) + f"\nFROM (SELECT * FROM spine WHERE {rows}) s\n"
    return base + "\n".join(joins)


def _assemble(con: duckdb.DuckDBPyConnection, fams: tuple[Family, ...]) -> None:
    """The temp table ``snapshots`` from the spine, ``spine_keys`` and the source tables, all in the spine's order,
    joined by position one slice of rows per thread at once. DuckDB runs a positional join on one thread; writing
    the 0.7 GB weekly result that way took 2.3-2.6 s, in two slices 1.1 s (on a busy day); a small snapshot is
    one slice (``SLICED_ROWS``). Each slice is one
    positional scan of the same rowid range of every table (they were written in order, so rowids are positions);
    the slices must add up to the spine, which is checked. The features come already cast from the source tables
    (``typed_source_sql``): the casts of 0.8 M weekly rows cost 0.3 s of the one-threaded positional join, against
    a fraction of that in the source tables' parallel statements."""
    ((n,),) = con.execute("SELECT count(*) FROM spine").fetchall()
    ((threads,),) = con.execute("SELECT current_setting('threads')").fetchall()
    parts = max(1, int(threads)) if n >= SLICED_ROWS else 1
    edges = [n * i // parts for i in range(parts + 1)]
    slices = [f"rowid >= {a} AND rowid < {b}" for a, b in pairwise(edges) if b > a] or ["TRUE"]
    union = " UNION ALL ".join(
        "(SELECT account_id, make_timestamptz(epoch_us(as_of)) AS as_of, * EXCLUDE (account_id, as_of) "
        f"FROM ({typed_snapshot_sql(fams, _positional_base(fams, rows))}))"
        for rows in slices
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE snapshots AS {union}")
    ((got,),) = con.execute("SELECT count(*) FROM snapshots").fetchall()
    if got != n:
        raise RuntimeError(f"feature build: {got} snapshot rows for {n} spine rows (a bug: please report it)")
