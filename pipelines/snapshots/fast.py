"""The fast build: the registry's SQL, unchanged, run by DuckDB in a scratch in-memory catalog over faster copies
of its inputs and DuckDB-only rollups (``fast_sql``), with the source tables joined by position. Only the results
come back, as temp tables with the warehouse's types."""

import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from functools import partial
from itertools import pairwise
from string import Template
from typing import NamedTuple

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
from pipelines.snapshots import fast_sql, running
from pipelines.snapshots.inputs import Progress, check_raw_columns, coverage

WORK = "features_work"  # the scratch catalog of the fast build
# Below this many snapshot rows the snapshot is assembled in one slice: planning a slice costs more than the thread
# saves (one monthly date, 6,300 rows: 0.075 s in two slices, 0.059 s in one; 22 dates, 0.49 s against 0.57 s).
SLICED_ROWS = 50_000
# Below this many snapshot rows (accounts x dates), the build's statements run two at a time (``_run_two``). On the
# demo (9,700 accounts; medians of 5-9, one lane and two alternated, two runs each): one monthly date 0.96-1.01 ->
# 0.86-0.91 s (the retrain's build_changed), 22 monthly dates 5.1-5.3 -> 4.6-4.7 s. Weekly builds were slower two at
# a time while the running totals were DuckDB windows (95 dates, 0.9 M rows: 11.8-12.7 s against 11.1-11.2 s, memory
# bound); with them in numpy (``running``), whose single-threaded steps leave a core to the other lane, two lanes are
# faster there too (in-process, medians of 4 alternated: 52 weekly dates of benchmarks/features.py's 10,000 accounts,
# 291,000 rows, 6.1 -> 4.9 s; of its 28,000 accounts, 815,000 rows, 18.9 -> 16.8 s). Larger builds, untried, keep
# one statement at a time and their memory to it.
TWO_LANES_ROWS = 1_000_000


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
        frame = pa.table({"as_of": pa.array(sorted(set(dates)), type=pa.timestamp("us"))})
        con.register("_dates", frame)
        con.execute("CREATE TABLE snapshot_dates AS SELECT as_of FROM _dates")
        con.unregister("_dates")
        steps = _steps(columns, held.empty_tables, fast_sql.rollups(cfg, dates), fams, subst)
        ((accounts,),) = con.execute(f'SELECT count(*) FROM "{db}".raw.accounts').fetchall()
        if accounts * len(set(dates)) < TWO_LANES_ROWS:
            _run_two(con, steps, on_progress)
        else:
            _run_one(con, steps, on_progress)
        _check_order(con, fams)
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


class Step(NamedTuple):
    """One table of the build: created as ``sql``, after the tables it ``reads`` (those the build creates), in the
    spine's order when ``ordered`` (``_ordered``); ``source``: a source of the registry (reported as progress);
    ``make``: created by that call on the step's connection instead (the running totals, ``running.create``)."""

    name: str
    sql: str
    reads: frozenset[str]
    ordered: bool = False
    source: bool = False
    make: Callable[[duckdb.DuckDBPyConnection], None] | None = None


def _create(con: duckdb.DuckDBPyConnection, step: Step) -> None:
    if step.make is not None:
        step.make(con)
    elif step.ordered:
        _ordered(con, f"CREATE OR REPLACE TABLE {step.name} AS {step.sql}")
    else:
        con.execute(f"CREATE OR REPLACE TABLE {step.name} AS {step.sql}")


def _steps(
    columns: Mapping[str, Sequence[tuple[str, str]]],
    empty_tables: frozenset[str],
    rollups: Mapping[str, fast_sql.Rollup],
    fams: tuple[Family, ...],
    subst: Mapping[str, str],
) -> list[Step]:
    """The build's tables in an order that runs: the inputs (``fast_sql.inputs``), the spine, the rollups and one
    table per source of the registry. Each source's table is stored in the spine's order, which must be
    (account_id, as_of), so that the snapshot joins them by position: on weekly snapshots, 11 hash joins of 0.8 M
    rows took 2.1 s, the positional join 0.6 s, and ordering the tables 0.35 s (the order is checked after)."""
    copies = {f"raw.{t}" for t in columns}
    steps = [Step(name, Template(sql).substitute(subst), frozenset() if name == "account_ids" else
                  frozenset({"account_ids"})) for name, sql in fast_sql.inputs(columns).items()]  # fmt: skip
    spine = f"{fast_sql.spine_sql(empty_tables)} ORDER BY account_id, as_of"
    steps.append(Step("spine", spine, frozenset({"snapshot_dates", *copies}), ordered=True))
    steps += [
        Step(name, "", frozenset(r.reads), make=partial(running.create, name=name, t=r.totals, first=subst["first"],
                                                       types=r.types)) if r.totals
        else Step(name, Template(r.sql).substitute(subst), frozenset(r.reads))
        for name, r in rollups.items()
    ]  # fmt: skip
    steps += [
        Step(source_table(fam, src), f"{typed_source_sql(src)} ORDER BY s.account_id, s.as_of", tables_read(src),
             ordered=True, source=True)
        for fam in fams for src in fam.sources
    ]  # fmt: skip
    return steps


# Dropped as soon as no later step reads them: memory is what slows the build (on weekly snapshots the last step
# spilled to disk at the 1.5GB cap while rollups and raw copies that nothing read any more were still held); the
# event-level copies of the rollups are the largest tables of the build.
DROPPED = frozenset({*fast_sql.INTERMEDIATE, *TOTALS_TABLES, "milestone_first", *(f"raw.{t}" for t in fast_sql.COPIED)})


def _run_one(con: duckdb.DuckDBPyConnection, steps: Sequence[Step], on_progress: Progress | None) -> None:
    """Create ``steps`` in order on ``con``, dropping each table of ``DROPPED`` once no later step reads it."""
    sources = sum(s.source for s in steps)
    done = 0
    for i, step in enumerate(steps):
        _create(con, step)
        later = {t for s in steps[i + 1 :] for t in s.reads}
        for table in ({step.name} | step.reads) & (DROPPED - later):
            con.execute(f"DROP TABLE IF EXISTS {table}")
        if step.source and on_progress:
            done += 1
            on_progress("features", done, sources)


def _run_two(con: duckdb.DuckDBPyConnection, steps: Sequence[Step], on_progress: Progress | None) -> None:
    """Create ``steps`` two at a time, on two cursors, each step once the steps it reads are done, dropping each
    table of ``DROPPED`` once every step that reads it is done: a small build's statements (one monthly date: 40 of
    them, most below 20 ms) each keep about one core busy, so two at once fill the machine's two cores
    (``TWO_LANES_ROWS``). Insertion order is kept throughout (``_ordered``)."""
    made: dict[str, Future[bool]] = {}
    readers = Counter(t for step in steps for t in step.reads)
    free = [con.cursor() for _ in range(2)]  # made here: a connection refuses a second call while busy
    cursors, lanes, guard = list(free), threading.local(), threading.Lock()
    for c in cursors:
        c.execute(f"USE {WORK}")
        c.execute("SET TimeZone = 'UTC'")
        c.execute("SET preserve_insertion_order = true")

    def create(step: Step) -> bool:
        """Run ``step`` once the steps it reads are done; False, without running, when one of them failed."""
        if not all(made[t].result() for t in step.reads if t in made):  # earlier steps: the pool takes them in order
            return False
        with guard:
            if not hasattr(lanes, "con"):
                lanes.con = free.pop()
        _create(lanes.con, step)
        with guard:
            readers.subtract(step.reads)
            unread = [t for t in (step.name, *step.reads) if t in DROPPED and readers[t] == 0]
        for table in unread:
            lanes.con.execute(f"DROP TABLE IF EXISTS {table}")
        return True

    ((was, threads),) = con.execute(
        "SELECT current_setting('preserve_insertion_order'), current_setting('threads')"
    ).fetchall()  # fmt: skip
    con.execute("SET preserve_insertion_order = true")
    # Each statement gets half the threads: two at once on DuckDB's whole pool only add contention (the demo's
    # one-month retrain, whose checks run beside: 0.83 -> 0.78 s, CPU 1.45 -> 1.32 s; 22 dates 4.41 -> 4.38 s).
    con.execute(f"SET threads = {max(1, int(threads) // 2)}")
    try:
        with ThreadPoolExecutor(2) as pool:
            for step in steps:
                made[step.name] = pool.submit(create, step)
            sources = [s for s in steps if s.source]
            for i, step in enumerate(sources, 1):
                made[step.name].exception()
                if on_progress:
                    on_progress("features", i, len(sources))
        for future in made.values():
            future.result()  # in the steps' order: the first to raise is the failed step, not one that waited on it
    finally:
        for c in cursors:
            c.close()
        con.execute(f"SET preserve_insertion_order = {was}")
        con.execute(f"SET threads = {threads}")


def _check_order(con: duckdb.DuckDBPyConnection, fams: tuple[Family, ...]) -> None:
    """Every source table holds the spine's rows in its order (``_positional_base`` joins them by position)."""
    names = [source_table(fam, src) for fam in fams for src in fam.sources]
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
