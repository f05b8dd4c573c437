"""Past one machine: 12 monthly feature snapshots with DuckDB and with Spark local[2], at 10 and 100 million usage
events, in the same run.

    uv run python benchmarks/scale.py [--sizes 28000,280000] [--engines duckdb,spark] [--repeats 1]

Sizes are accounts (x 24 months): 28,000 accounts give about 10 million usage events, 280,000 about 100 million.
The data are generated and ingested once into data/bench/features-<accounts>/ (shared with benchmarks/features.py),
and the warehouse's raw tables exported once as the Parquet that Spark reads (``churn export``). Each engine runs in
a fresh process: DuckDB's fast build into memory-capped temp tables (it spills past ``CHURN_DUCKDB_MEMORY``), Spark's
build of the same registry SQL over the Parquet, cached and counted. Time is the build only (Spark's session start,
about 10 s, is printed apart); peak memory is the whole process tree's, the JVM included. Medians over the repeats.
"""

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from measure import run  # noqa: E402  (benchmarks/ is the script folder, after ROOT on the path)


def worker(engine: str, folder: Path, conf: list[str]) -> None:
    """Build the snapshots in this process; print rows, build seconds and session start seconds as JSON."""
    from pipelines.warehouse import connect

    with connect(folder / "warehouse.duckdb", read_only=True) as con:
        dates = month_dates(con)
        if engine == "duckdb":
            from pipelines.snapshots import build_fast

            t0 = time.perf_counter()
            build_fast(con, dates)
            ((rows,),) = con.execute("SELECT count(*) FROM snapshots").fetchall()
            print(json.dumps({"rows": rows, "seconds": time.perf_counter() - t0, "start": 0.0}))
            return
    from pipelines.spark import engine as spark

    t0 = time.perf_counter()
    session = spark.session("local[2]", spark.parse_conf(conf))
    run_ = spark.SparkEngine(session, str(folder / "lake" / "raw"))
    started = time.perf_counter() - t0
    t0 = time.perf_counter()
    rows = run_.snapshots(dates).count()
    print(json.dumps({"rows": rows, "seconds": time.perf_counter() - t0, "start": started}))


def month_dates(con) -> list:  # type: ignore[no-untyped-def]
    """The last 12 month starts whose 90-day windows lie inside the data (as benchmarks/features.py)."""
    from pipelines.snapshots import data_bounds, snapshot_dates

    end = data_bounds(con)[1].date()
    return snapshot_dates(end.replace(day=1).replace(year=end.year - 1), end, "month")[-12:]


def prepare(accounts: int) -> tuple[Path, int]:
    spec = importlib.util.spec_from_file_location("features_benchmark", ROOT / "benchmarks" / "features.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    warehouse, events = bench.prepare(accounts)  # generated and ingested once, shared with benchmarks/features.py
    lake = warehouse.parent / "lake" / "raw"
    if not (lake / "usage_events.parquet").exists():
        from pipelines.warehouse import connect, export_raw

        with connect(warehouse, read_only=True) as con:
            export_raw(con, lake)
    return warehouse.parent, events


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="28000,280000", help="accounts per size, comma-separated")
    ap.add_argument("--engines", default="duckdb,spark")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--spark-conf", action="append", default=["spark.driver.memory=6g"],
                    help="key=value for Spark (repeat); default spark.driver.memory=6g")  # fmt: skip
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.folder, args.spark_conf)
        return
    seconds: dict[tuple[str, int], float] = {}
    sizes = [int(s) for s in args.sizes.split(",")]
    for accounts in sizes:
        folder, events = prepare(accounts)
        print(f"{accounts:,} accounts, {events:,} usage events", flush=True)
        for engine in args.engines.split(","):
            runs = []
            for _ in range(args.repeats):
                cmd = [sys.executable, __file__, "--worker", engine, "--folder", str(folder)]
                cmd += [f"--spark-conf={c}" for c in args.spark_conf]
                _, mib, out = run(cmd)
                runs.append((json.loads(out.strip().splitlines()[-1]), mib))
            took = statistics.median(r["seconds"] for r, _ in runs)
            mib = statistics.median(m for _, m in runs)
            start = statistics.median(r["start"] for r, _ in runs)
            seconds[(engine, events)] = took
            extra = f"  (+ {start:.0f} s session start)" if engine == "spark" else ""
            print(f"  {engine:<6} 12 snapshots, {runs[0][0]['rows']:>9,} rows  median {took:7.1f} s{extra}  "
                  f"{events / took:>12,.0f} events/s  peak memory {mib:,} MiB", flush=True)  # fmt: skip
    for engine in args.engines.split(","):
        got = sorted((n, s) for (e, n), s in seconds.items() if e == engine)
        if len(got) > 1:
            (n0, s0), (n1, s1) = got[0], got[-1]
            print(f"{engine}: {n1 / n0:.1f}x the events took {s1 / s0:.1f}x the time")
    if len(sizes) and all((e, n) in seconds for e in ("duckdb", "spark") for (_, n) in seconds):
        for n in sorted({n for _, n in seconds}):
            print(f"{n:,} events: spark took {seconds[('spark', n)] / seconds[('duckdb', n)]:.1f}x duckdb's time")


if __name__ == "__main__":
    main()
