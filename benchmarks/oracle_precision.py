"""How precise the generator's oracle is: the Monte Carlo standard error of its ROC AUC on the validation rows.

    uv run python benchmarks/oracle_precision.py [--data data] [--replicates 8] [--paths 100] [--old-paths 100]

The world of DATA/generated (its seed, accounts, months and start from manifest.json) is simulated again, R times
with only the oracle's random stream changed (``Oracle.seed`` 1..R); each replicate's oracle is scored by ROC AUC
(sklearn) against the labels of the validation rows in DATA/datasets/{churn,upsell}/valid.parquet (joined on
account_id and as_of). The standard deviation of the AUC over the replicates is the oracle's Monte Carlo standard
error; the issue asks for less than 0.002. Done for the estimator before issue 18 (plain counting,
``estimate_by_counting``, 100 paths) and the default one (``estimate``, conditioned). Each replicate's time is
that of simulating every chunk's world and oracle (2 worker processes; CPU seconds summed over the chunks): the
rest of ``churn generate`` does not depend on the oracle.
"""

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
from sklearn.metrics import roc_auc_score

# Run as a file, this folder comes first on sys.path, and its features.py would hide the features package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.generate import truth
from pipelines.generate.calendar import build_calendar
from pipelines.generate.chunk import Chunk
from pipelines.generate.params import Params
from pipelines.generate.run import CHUNK_ACCOUNTS
from pipelines.generate.simulate import Oracle, estimate, estimate_by_counting, simulate_chunk

ESTIMATORS = {"counting": estimate_by_counting, "conditioned": estimate}
TARGETS = {"churn": "p_churn", "upsell": "p_expand"}


@dataclass(frozen=True)
class World:
    seed: int
    accounts: int
    months: int
    start: date


def oracle_chunk(world: World, index: int, oracle: Oracle, estimator: str) -> tuple[pd.DataFrame, float]:
    """One chunk's oracle table (as ``churn generate`` writes it) and the CPU seconds it took."""
    t0 = time.process_time()
    cal = build_calendar(world.start, world.months)
    n = min(CHUNK_ACCOUNTS, world.accounts - index * CHUNK_ACCOUNTS)
    hist = simulate_chunk(n, cal, Params(), oracle, world.seed, index, ESTIMATORS[estimator])
    ids = pa.array([f"A{index * CHUNK_ACCOUNTS + i:07d}" for i in range(n)])
    table = truth.oracle(Chunk(hist, cal, Params(), ids, world.seed, index)).to_pandas()
    return table, time.process_time() - t0


def replicate(
    pool: ProcessPoolExecutor, world: World, oracle: Oracle, estimator: str
) -> tuple[pd.DataFrame, float, float]:
    """The whole oracle for one oracle seed, with its wall and CPU seconds."""
    t0 = time.perf_counter()
    chunks = range(-(-world.accounts // CHUNK_ACCOUNTS))
    done = list(pool.map(oracle_chunk, *zip(*[(world, i, oracle, estimator) for i in chunks], strict=True)))
    return pd.concat([t for t, _ in done]), time.perf_counter() - t0, sum(c for _, c in done)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("data"))
    ap.add_argument("--replicates", type=int, default=8)
    ap.add_argument("--paths", type=int, default=Oracle().paths, help="paths of the conditioned estimator")
    ap.add_argument("--old-paths", type=int, default=100, help="paths of the counting estimator")
    args = ap.parse_args()
    manifest = json.loads((args.data / "generated" / "manifest.json").read_text())
    if manifest["params"] != json.loads(json.dumps(asdict(Params()))):
        raise SystemExit(f"{args.data / 'generated'} was generated with other parameters than the defaults")
    world = World(manifest["seed"], manifest["accounts"], manifest["months"], date.fromisoformat(manifest["start"]))
    valid = {
        t: pd.read_parquet(args.data / "datasets" / t / "valid.parquet", columns=["account_id", "as_of", "label"])
        for t in TARGETS
    }
    print(f"world: seed {world.seed}, {world.accounts:,} accounts, {world.months} months; validation rows: "
          + ", ".join(f"{t} {len(v):,} ({int(v.label.sum())} positive)" for t, v in valid.items()))  # fmt: skip
    runs = {"counting": args.old_paths, "conditioned": args.paths}
    sds: dict[str, dict[str, float]] = {}
    cpu: dict[str, float] = {}
    with ProcessPoolExecutor(2) as pool:
        for estimator, paths in runs.items():
            aucs: dict[str, list[float]] = {t: [] for t in TARGETS}
            walls, cpus = [], []
            for r in range(1, args.replicates + 1):
                table, wall, seconds = replicate(pool, world, Oracle(paths=paths, seed=r), estimator)
                walls.append(wall)
                cpus.append(seconds)
                for t, column in TARGETS.items():
                    rows = valid[t].merge(table, on=["account_id", "as_of"], how="left")
                    if rows[column].isna().any():
                        raise SystemExit(f"the oracle misses {rows[column].isna().sum()} {t} validation rows")
                    aucs[t].append(roc_auc_score(rows.label, rows[column]))
                print(f"{estimator:>11} {paths:>4} paths, oracle seed {r}: "
                      + "  ".join(f"{t} AUC {aucs[t][-1]:.4f}" for t in TARGETS)
                      + f"  ({wall:.1f} s wall, {seconds:.1f} s CPU)")  # fmt: skip
            sds[estimator] = {t: statistics.stdev(v) for t, v in aucs.items()}
            cpu[estimator] = statistics.median(cpus)
            wall = statistics.median(walls)
            print(f"{estimator:>11} {paths:>4} paths: SD of ROC AUC over {args.replicates} replicates "
                  + "  ".join(f"{t} {sds[estimator][t]:.4f}" for t in TARGETS)
                  + f"; median {wall:.1f} s wall, {cpu[estimator]:.1f} s CPU per replicate")  # fmt: skip
    ratio = {t: sds["counting"][t] / max(sds["conditioned"][t], 1e-12) for t in TARGETS}
    cost = cpu["conditioned"] / cpu["counting"]
    print("standard error, counting / conditioned: " + "  ".join(f"{t} {v:.1f}x" for t, v in ratio.items())
          + f"; CPU time of world and oracle {cost:.2f}x the old default's")  # fmt: skip


if __name__ == "__main__":
    main()
