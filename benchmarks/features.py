"""Feature snapshots: the DuckDB engine (rollups, then windows) against pandas implementations of the same features.

    uv run python benchmarks/features.py [--accounts 28000] [--cases month,week] [--repeats 3]
    uv run python benchmarks/features.py --accounts 280000 --cases month --engines duckdb --repeats 1   # 100 M

The data (about 10 million usage events at 28,000 accounts x 24 months) is generated and ingested once into
data/bench/. Each engine runs in a fresh process per case. Both pandas baselines are the obviously correct
reference of the tests (for each snapshot: cut the history at as_of, filter each window, group by account),
reading the raw tables into memory first as a notebook would:

- ``pandas``: the plain notebook way the issue describes (group by the string account id; cut each table by
  comparing every row's time with as_of). Calibration: the issue measured this approach at 9.3 s for 6 engagement
  features over 12 monthly snapshots; written that way here (``benchmarks/pandas_calibration.py``) it took
  7.4 to 10.4 s.
- ``tuned``: the tests' tuned form of the same code (integer account ids; time-sorted tables cut by binary search).

Time is the compute only (loading excluded); peak memory is the whole process's. Medians over the repeats, which are
interleaved across engines (each run of each engine in turn) so that a shared machine's drift weighs on all alike.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from measure import run  # noqa: E402


def dates_for(case: str, con) -> list:  # type: ignore[no-untyped-def]
    """The last 12 month starts, or the last 52 Mondays, whose 90-day windows lie inside the data."""
    from pipelines.featurize import data_bounds, snapshot_dates

    _, last = data_bounds(con)
    end = last.date()
    if case == "month":
        return snapshot_dates(end.replace(day=1).replace(year=end.year - 1), end, "month")[-12:]
    return snapshot_dates(end.replace(year=end.year - 1), end, "week")[-52:]


def worker(engine: str, warehouse: Path, case: str) -> None:
    """Compute the snapshots in this process and print rows and compute seconds as JSON."""
    from pipelines.warehouse import connect

    con = connect(warehouse, read_only=True)
    dates = dates_for(case, con)
    if engine == "duckdb":
        from pipelines.featurize import compute_snapshots

        t0 = time.perf_counter()
        compute_snapshots(con, dates)
        ((rows,),) = con.execute("SELECT count(*) FROM snapshots").fetchall()
    else:
        from tests.features.reference import read_raw, reference_snapshots

        tables = read_raw(con)
        t0 = time.perf_counter()
        rows = len(reference_snapshots(tables, dates, tuned=engine == "tuned"))
    print(json.dumps({"rows": int(rows), "seconds": time.perf_counter() - t0, "dates": len(dates)}))


def prepare(accounts: int) -> tuple[Path, int]:
    """Generated data ingested into data/bench/features-<accounts>/warehouse.duckdb (made once)."""
    from pipelines.generate.run import generate
    from pipelines.generate.simulate import Oracle
    from pipelines.ingest import ingest

    folder = ROOT / "data" / "bench" / f"features-{accounts}"
    warehouse = folder / "warehouse.duckdb"
    if not warehouse.exists():
        print(f"generating {accounts:,} accounts x 24 months into {folder} (once) ...", flush=True)
        generate(folder / "raw", accounts=accounts, months=24, seed=1, oracle=Oracle(paths=0))
        ingest(folder / "raw", warehouse)
    manifest = json.loads((folder / "raw" / "manifest.json").read_text())
    return warehouse, manifest["rows"]["usage_events"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=28000)
    ap.add_argument("--cases", default="month,week")
    ap.add_argument("--engines", default="duckdb,pandas,tuned")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--warehouse", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--case", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.warehouse, args.case)
        return
    warehouse, events = prepare(args.accounts)
    print(f"{events:,} usage events; warehouse {warehouse}")
    engines = args.engines.split(",")
    for case in args.cases.split(","):
        # Repeats are interleaved (one run of each engine, then again) so that a shared machine's drift over the
        # minutes of a run weighs on every engine alike, not on whichever ran last.
        runs: dict[str, list[tuple[dict[str, float], int]]] = {e: [] for e in engines}
        for _ in range(args.repeats):
            for engine in engines:
                cmd = [sys.executable, __file__, "--worker", engine, "--warehouse", str(warehouse), "--case", case]
                _, mib, out = run(cmd)
                runs[engine].append((json.loads(out.strip().splitlines()[-1]), mib))
        results = {}
        for engine in engines:
            seconds = statistics.median(r["seconds"] for r, _ in runs[engine])
            mib = statistics.median(m for _, m in runs[engine])
            rows, n_dates = runs[engine][0][0]["rows"], runs[engine][0][0]["dates"]
            results[engine] = (seconds, mib, rows)
            each = ", ".join(f"{r['seconds']:.1f}" for r, _ in runs[engine])
            print(f"{case:>5} x {n_dates:>2} snapshots  {engine:<6} {rows:>9,} rows  median {seconds:7.1f} s  "
                  f"{rows / seconds:>10,.0f} rows/s  peak memory {mib:,} MiB  (runs: {each} s)")  # fmt: skip
        for baseline in ("pandas", "tuned"):
            if "duckdb" in results and baseline in results:
                (ds, dm, _), (ps, pm, _) = results["duckdb"], results[baseline]
                print(f"{case:>5}: duckdb is {ps / ds:.1f}x the {baseline} throughput, with {dm / pm:.2f}x its peak "
                      "memory")  # fmt: skip


if __name__ == "__main__":
    main()
