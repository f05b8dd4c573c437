"""Feature snapshots: the DuckDB engine (rollups, then windows), on every thread and on one, against pandas
implementations of the same features, after checking that every engine computed the same rows.

    uv run python benchmarks/features.py [--accounts 28000] [--cases month,week] [--repeats 3]
    uv run python benchmarks/features.py --accounts 280000 --cases month --engines duckdb --repeats 1   # 100 M

The data (about 10 million usage events at 28,000 accounts x 24 months) is generated and ingested once into
``<CHURN_DATA_DIR>/bench/features-<accounts>/`` (default ``data/bench/``). Each engine runs in a fresh process per
case. The engines, each printed with the threads it computes on:

- ``duckdb``: the feature build on the warehouse's connection as the pipelines open it, so on DuckDB's default of
  one thread per core (the ``threads`` setting, read back from the connection and printed);
- ``duckdb1``: the same build with ``SET threads = 1``, the like-for-like rival of the single-threaded pandas runs;
- ``pandas``: the tests' obviously correct reference (for each snapshot: cut the history at as_of, filter each
  window, group by account), reading the raw tables into memory first as a notebook would, in the plain notebook
  way the issue describes (group by the string account id; cut each table by comparing every row's time with
  as_of). One thread: pandas' group-bys and filters run on the calling thread. Calibration: the issue measured this
  approach at 9.3 s for 6 engagement features over 12 monthly snapshots; written that way here
  (``benchmarks/pandas_calibration.py``) it took 7.4 to 10.4 s;
- ``tuned``: the tests' tuned form of the same code (integer account ids; time-sorted tables cut by binary search),
  one thread as well;
- ``notypes``: the ``duckdb`` build without the per event type features (a features file's ``top = 0``); every
  other engine counts the types the data hold (the default features file), and the report gives the cost of
  those features as the ratio of the two medians;
- ``today``: the ``duckdb`` build of the code at ``--baseline-ref`` (default: the last commit before issue 26's
  per-type features and half-open activity rule), extracted with ``git archive`` and run from there on the same
  warehouse: the build as it was, which issue 26's floor compares with (the weekly build with the per-type features
  of the 17 demo types at most 1.3x of it). Its rows are not checked against the others': the old spine kept fewer
  rows (a row starting exactly at as_of did not serve it) and had no per-type columns; their count is printed.

Time is the compute only (loading excluded); "cores busy" is the process's CPU time over that wall time, which
shows the threads at work. Peak memory is the whole process's. Medians over the repeats, which are interleaved
across engines (each run of each engine in turn) so that a shared machine's drift weighs on all alike.

Before any figure is printed, the rows of each engine (written to Parquet by its first run, after its clock
stopped and its peak memory was taken) must equal the first engine's: the same (account_id, as_of) keys, counts
and text exactly equal, other numbers within a relative 1e-9 (``tests/features/checks.py``'s ``assert_same``). If
they differ, the benchmark prints the first differing feature and exits 1 without figures or ratios.
"""

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from measure import run  # noqa: E402

ENGINES = ("duckdb", "duckdb1", "pandas", "tuned", "notypes", "today")
BASELINE_REF = "8867eb3"  # main before issue 26 (per event type features, half-open "active at as_of")


def dates_for(case: str, con) -> list:  # type: ignore[no-untyped-def]
    """The last 12 month starts, or the last 52 Mondays, whose 90-day windows lie inside the data."""
    from pipelines.snapshots import data_bounds, snapshot_dates

    _, last = data_bounds(con)
    end = last.date()
    if case == "month":
        return snapshot_dates(end.replace(day=1).replace(year=end.year - 1), end, "month")[-12:]
    return snapshot_dates(end.replace(year=end.year - 1), end, "week")[-52:]


def worker(engine: str, warehouse: Path, case: str, rows_out: Path | None) -> None:
    """Compute the snapshots in this process and print rows, threads, compute and CPU seconds as JSON; with
    ``rows_out``, then write the snapshot rows there (Parquet) for the equality check."""
    from features.config_file import FeaturesFile
    from pipelines.snapshots.inputs import resolve_features
    from pipelines.warehouse import connect

    con = connect(warehouse, read_only=True)
    if engine == "duckdb1":
        con.execute("SET threads = 1")
    dates = dates_for(case, con)
    cfg = resolve_features(con, FeaturesFile(top=0) if engine == "notypes" else None)
    if engine.startswith("duckdb") or engine == "notypes":
        from pipelines.snapshots import build_fast

        ((threads,),) = con.execute("SELECT current_setting('threads')").fetchall()
        t0, c0 = time.perf_counter(), time.process_time()
        build_fast(con, dates, cfg)
        ((rows,),) = con.execute("SELECT count(*) FROM snapshots").fetchall()
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        source = "snapshots"
    else:
        from tests.features.reference import notebook_snapshots, read_raw, reference_snapshots

        tables = read_raw(con)
        threads = 1
        t0, c0 = time.perf_counter(), time.process_time()
        frame = (reference_snapshots if engine == "tuned" else notebook_snapshots)(tables, dates, cfg)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        rows = len(frame)
        con.register("pandas_snapshots", frame)
        source = "pandas_snapshots"
    if rows_out is not None:
        # The measured work is done: the parent stops sampling peak memory when this marker appears, so that
        # writing the rows (100-200 MiB more in a first try) does not count.
        done_marker(rows_out).touch()
        con.execute(f"COPY (SELECT * FROM {source}) TO '{rows_out}' (FORMAT parquet)")
    print(json.dumps({"rows": int(rows), "seconds": seconds, "cpu_seconds": cpu, "threads": int(threads),
                      "dates": len(dates)}))  # fmt: skip


def done_marker(rows_out: Path) -> Path:
    return rows_out.with_suffix(".measured")


def prepare(accounts: int) -> tuple[Path, int]:
    """Generated data ingested into <data dir>/bench/features-<accounts>/warehouse.duckdb (made once)."""
    from pipelines.generate.run import generate
    from pipelines.generate.simulate import Oracle
    from pipelines.ingest import ingest
    from pipelines.settings import get_settings

    data_dir = get_settings().data_dir
    folder = (data_dir if data_dir.is_absolute() else ROOT / data_dir) / "bench" / f"features-{accounts}"
    warehouse = folder / "warehouse.duckdb"
    if not warehouse.exists():
        print(f"generating {accounts:,} accounts x 24 months into {folder} (once) ...", flush=True)
        generate(folder / "raw", accounts=accounts, months=24, seed=1, oracle=Oracle(paths=0))
        ingest(folder / "raw", warehouse)
    manifest = json.loads((folder / "raw" / "manifest.json").read_text())
    return warehouse, manifest["rows"]["usage_events"]


def check_equal(saved: dict[str, Path]) -> None:
    """Every engine's rows equal the first engine's; SystemExit(1) naming the first differing feature if not."""
    import duckdb

    from tests.features.checks import assert_same

    def load(path: Path):  # type: ignore[no-untyped-def]
        with duckdb.connect() as con:
            return con.sql(f"SELECT * FROM read_parquet('{path}')").to_arrow_table().to_pandas()

    first, *others = saved
    reference = load(saved[first])
    for engine in others:
        got = load(saved[engine])
        try:  # the build without per-type features has fewer columns: the others must match
            assert_same(got, reference[got.columns], names=(engine, first))
        except AssertionError as e:
            # The message names every differing feature with examples, in column order; the first is enough.
            head, _, rest = str(e).partition("\n")
            blocks = re.split(r"\n(?=\w+: \d+ rows differ)", rest) if rest else []
            more = f"\n(and {len(blocks) - 1} more differing features)" if len(blocks) > 1 else ""
            raise SystemExit(f"{head}\n{blocks[0] if blocks else ''}{more}\nno figures printed: the engines "
                             "did not compute the same rows") from e  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=28000)
    ap.add_argument("--cases", default="month,week")
    ap.add_argument("--engines", default=",".join(ENGINES), help=f"some of {', '.join(ENGINES)}")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline-ref", default=BASELINE_REF, help="the git commit the 'today' engine runs")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--warehouse", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--rows-out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.warehouse, args.case, args.rows_out)
        return
    engines = args.engines.split(",")
    if unknown := [e for e in engines if e not in ENGINES]:
        ap.error(f"--engines: unknown {', '.join(unknown)}; choose among {', '.join(ENGINES)}")
    if not __debug__:
        ap.error("run without -O: the equality check of the engines' rows is made of assert statements")
    warehouse, events = prepare(args.accounts)
    print(f"{events:,} usage events; warehouse {warehouse}")
    baseline = tempfile.TemporaryDirectory(prefix="bench-features-baseline-")
    if "today" in engines:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline_ref], check=True,
                                 capture_output=True).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", baseline.name], input=archive, check=True)
        print(f"today: the build of {args.baseline_ref}, extracted into {baseline.name}")
    for case in args.cases.split(","):
        # Repeats are interleaved (one run of each engine, then again) so that a shared machine's drift over the
        # minutes of a run weighs on every engine alike, not on whichever ran last.
        runs: dict[str, list[tuple[dict[str, float], int]]] = {e: [] for e in engines}
        with tempfile.TemporaryDirectory(prefix="bench-features-") as tmp:
            saved = {e: Path(tmp) / f"{e}.parquet" for e in engines}
            for repeat in range(args.repeats):
                for engine in engines:
                    cmd = [sys.executable, __file__, "--worker", engine, "--warehouse", str(warehouse), "--case", case]
                    if engine == "today":
                        script = str(Path(baseline.name) / "benchmarks" / "features.py")
                        cmd = [sys.executable, script, "--worker", "duckdb", *cmd[4:]]
                    if repeat == 0:
                        cmd += ["--rows-out", str(saved[engine])]
                    _, mib, out = run(cmd, until=done_marker(saved[engine]) if repeat == 0 else None)
                    runs[engine].append((json.loads(out.strip().splitlines()[-1]), mib))
            check_equal({e: path for e, path in saved.items() if e != "today"})
        report(case, engines, runs)
    baseline.cleanup()


def report(case: str, engines: list[str], runs: dict[str, list[tuple[dict[str, float], int]]]) -> None:
    """Each engine's medians, then DuckDB's ratios against each pandas form, one thread against one first."""
    results = {}
    rows, n_dates = runs[engines[0]][0][0]["rows"], runs[engines[0]][0][0]["dates"]
    checked = [e for e in engines if e != "today"]
    print(f"{case} x {n_dates} snapshots: {rows:,} rows, equal across {', '.join(checked)}")
    for engine in engines:
        seconds = statistics.median(r["seconds"] for r, _ in runs[engine])
        busy = statistics.median(r["cpu_seconds"] / r["seconds"] for r, _ in runs[engine])
        mib = statistics.median(m for _, m in runs[engine])
        threads = int(runs[engine][0][0]["threads"])
        results[engine] = (seconds, mib, threads)
        each = ", ".join(f"{r['seconds']:.1f} s/{m:,} MiB" for r, m in runs[engine])
        print(f"{case:>5}  {engine:<7} threads {threads:>2}  median {seconds:7.1f} s  {rows / seconds:>9,.0f} rows/s  "
              f"cores busy {busy:.2f}  peak memory {mib:,.0f} MiB  (runs: {each})")  # fmt: skip
    for fast in ("duckdb1", "duckdb"):
        for baseline in ("pandas", "tuned"):
            if fast in results and baseline in results:
                (fs, fm, ft), (ps, pm, pt) = results[fast], results[baseline]
                print(f"{case:>5}: {fast} ({ft} thread{'s' * (ft != 1)}) is {ps / fs:.1f}x the {baseline} "
                      f"({pt} thread{'s' * (pt != 1)}) throughput, with {fm / pm:.2f}x its peak memory")  # fmt: skip
    if "duckdb" in results and "notypes" in results:
        (ts, tm, _), (ns, nm, _) = results["duckdb"], results["notypes"]
        print(f"{case:>5}: per event type features cost {ts / ns:.2f}x the build without them ({ts:.1f} s against "
              f"{ns:.1f} s; peak memory {tm / nm:.2f}x)")  # fmt: skip
    if "duckdb" in results and "today" in results:
        (ts, tm, _), (os_, om, _) = results["duckdb"], results["today"]
        old_rows = int(runs["today"][0][0]["rows"])
        print(f"{case:>5}: the build with per event type features costs {ts / os_:.2f}x the build before them "
              f"(today: {os_:.1f} s for {old_rows:,} rows, its old spine; now {ts:.1f} s for {rows:,} rows; peak "
              f"memory {tm / om:.2f}x)")  # fmt: skip
    if "duckdb" in results and "duckdb1" in results:
        (ms, _, mt), (ss, _, _) = results["duckdb"], results["duckdb1"]
        print(f"{case:>5}: duckdb on {mt} threads is {ss / ms:.2f}x its throughput on 1 thread")


if __name__ == "__main__":
    main()
