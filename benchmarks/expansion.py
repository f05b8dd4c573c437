"""Expansion revenue captured in the top decile: the expected-expansion ranking (``models.expansion``) against
today's upsell probability, the rule scorecard and the oracle, on the upsell training set's validation rows, with
95% intervals (bootstrap by account), and the floor (at least the scorecard's share and 0.9 of the oracle's).

    .venv/bin/python benchmarks/expansion.py                       # the demo's warehouse (data/warehouse.duckdb)
    .venv/bin/python benchmarks/expansion.py --accounts 3000 --seed 11   # a world generated for the run

On the demo's warehouse it trains the upsell model as ``churn train --target upsell`` does, without logging or
registering anything (``pipelines.training.train.train``, ``register=False``), and prints the figures that run
logs. Given ``--accounts``, it first generates a world of that size (``pipelines.generate``) in a temporary folder,
ingests it, builds monthly snapshots, labels and the upsell training set as ``churn demo`` does. The oracle is
the generator's p_expand; it has no expected size, so its revenue reference is p_expand x ARR at as_of.
"""

import sys
import time
from pathlib import Path

# Run as a file, this folder comes first on sys.path, and its features.py would hide the features package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.worlds import arguments, world
from pipelines.cli.models import print_expansion
from pipelines.training.expansion import EXPECTED, FLOOR_OF_ORACLE, ExpansionReport
from pipelines.training.train import train
from pipelines.warehouse import connect


def measure(warehouse: Path, oracle: Path) -> ExpansionReport:
    with connect(warehouse, read_only=True) as con:
        report = train(con, "upsell", oracle=oracle, register=False)
    if report.expansion is None:
        raise SystemExit(f"{warehouse} has no raw subscriptions or no arr: no expansion label to judge by")
    return report.expansion


def main() -> None:
    args = arguments(__doc__.split("\n\n")[0])
    t0 = time.perf_counter()
    with world(args, "upsell") as (warehouse, oracle):
        x = measure(warehouse, oracle)
    print_expansion(x)
    for who, share in x.captured.items():
        lo, hi = x.intervals[who]
        print(f"{who:20s} captured {share:.3f} (95% {lo:.3f}-{hi:.3f})")
    for who, (r, (lo, hi)) in x.ratios.items():
        print(f"{EXPECTED} / {who:20s} {r:.3f} (95% {lo:.3f}-{hi:.3f})")
    for who, met in x.floors().items():
        bar = "" if who == "scorecard" else f"{FLOOR_OF_ORACLE} x "
        print(f"floor {EXPECTED} >= {bar}{who}: {'met' if met else 'NOT met'}")
    print(f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
