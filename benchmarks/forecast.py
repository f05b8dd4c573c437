"""The book's revenue retention forecast, backtested: at every snapshot date whose next quarter has ended, the
forecast of GRR and NRR over that quarter as it would have run then (a churn model trained only on the labels known
at that date, the past quarters ended by then), against what was realised; overall and per segment.

    .venv/bin/python benchmarks/forecast.py                         # the demo's warehouse (data/warehouse.duckdb)
    .venv/bin/python benchmarks/forecast.py --warehouse W --months 3 --draws 2000

Prints one line per date (overall), then per group and measure: the mean absolute error in points of retention,
the bias, and how often the 80%, 90% and 95% intervals covered the realised figure, with the floors of issue 23
(90% interval covering at least 85% of the time; NRR off by at most 2 points on average). The quarters start
every month, so consecutive ones overlap by two months: the dates are not independent trials.
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import duckdb
import pandas as pd

# Run as a file, this folder comes first on sys.path, and its features.py would hide the features package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.forecast import backtest, backtest_table, summary

COVERAGE_FLOOR, NRR_ERROR_FLOOR = 0.85, 0.02


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warehouse", type=Path, default=Path("data/warehouse.duckdb"))
    ap.add_argument("--months", type=int, default=3, help="the period's length in months (3: a quarter)")
    ap.add_argument("--draws", type=int, default=2000)
    args = ap.parse_args()
    if not args.warehouse.exists():
        raise SystemExit(f"{args.warehouse} is not there: run `make demo` first, or pass --warehouse")
    warnings.filterwarnings("ignore")
    t0 = time.perf_counter()
    with duckdb.connect(str(args.warehouse), read_only=True) as con:
        points = backtest(con, months=args.months, draws=args.draws)
    if not points:
        raise SystemExit("no snapshot date has both a training history and an ended period: a longer history needed")
    table = backtest_table(points)
    print(f"{len(points)} backtest dates, {args.months}-month periods, {args.draws} draws each "
          f"({time.perf_counter() - t0:.0f} s, one churn model trained per date)\n")  # fmt: skip
    overall = table[table["group"] == "all"]
    wide = overall.pivot(index="as_of", columns="measure", values=["point", "lo90", "hi90", "realised"])
    for as_of, r in wide.iterrows():
        print(f"{pd.Timestamp(as_of):%Y-%m-%d}  " + "   ".join(
            f"{m.upper()} {r['point', m]:.4f} [{r['lo90', m]:.4f}, {r['hi90', m]:.4f}] realised {r['realised', m]:.4f}"
            for m in ("grr", "nrr")))  # fmt: skip
    s = summary(table)
    print("\n" + s.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    covered = float(table["covered90"].mean())
    nrr = s[(s["group"] == "all") & (s["measure"] == "nrr")]["mean_abs_error"].iloc[0]
    print(f"\n{'met   ' if covered >= COVERAGE_FLOOR else 'MISSED'} 90% intervals covered {covered:.3f} of "
          f"{len(table)} (dates x groups x measures; floor {COVERAGE_FLOOR})")  # fmt: skip
    print(f"{'met   ' if nrr <= NRR_ERROR_FLOOR else 'MISSED'} overall NRR mean absolute error {100 * nrr:.2f} points "
          f"(floor {100 * NRR_ERROR_FLOOR:.0f})")  # fmt: skip


if __name__ == "__main__":
    main()
