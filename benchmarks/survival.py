"""Churn over time: the discrete-time hazard model (``models.hazard_model``) against a shifted-beta-geometric
baseline per segment, the churn model's own P(churn within its horizon) and the generator's oracle (when its ground
truth has ``p_churn_<days>``), on the churn training set's validation rows: time-dependent ROC AUC and calibration
error per horizon, concordance and integrated Brier score, with 95% intervals (bootstrap by account); then, at every
horizon (180 and 365 days too, past the rows' follow-up), the curves against the oracle's probabilities.

    .venv/bin/python benchmarks/survival.py                       # the demo's warehouse (data/warehouse.duckdb)
    .venv/bin/python benchmarks/survival.py --accounts 3000 --seed 11   # a world generated for the run

On the demo's warehouse it trains the churn model as ``churn train --target churn`` does, without logging or
registering anything (``pipelines.training.train.train``, ``register=False``), and prints the figures that run
logs. Given ``--accounts``, it first generates a world of that size in a temporary folder (as
``benchmarks/expansion.py`` does). Horizons past the validation rows' follow-up are not judged (shown as -).
"""

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

# Run as a file, this folder comes first on sys.path, and its features.py would hide the features package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.worlds import arguments, world
from models.hazard import HORIZONS
from pipelines.training.survival import SurvivalReport, sbg_curves
from pipelines.training.train import load_dataset, train
from pipelines.warehouse import connect


def measure(warehouse: Path, oracle: Path) -> tuple[SurvivalReport, pd.DataFrame]:
    """The report, and the validation rows (every one, followed long enough or not)."""
    with connect(warehouse, read_only=True) as con:
        report = train(con, "churn", oracle=oracle, register=False)
        rows = load_dataset(con, "churn")
    if report.survival is None:
        raise SystemExit(f"{warehouse} gave no churn curve (no raw subscriptions, or too few churns): see the log")
    return report.survival, rows[rows["split"] == "valid"].reset_index(drop=True)


def against_oracle(x: SurvivalReport, valid: pd.DataFrame, oracle: Path, draws: int = 400) -> None:
    """Every horizon, 180 and 365 days included, against the oracle's probabilities rather than outcomes: no
    follow-up is needed, since the mean squared gap to the true probability is what a curve's Brier score exceeds
    the oracle's by, in expectation. Root mean squared gap and the mean predicted beside the oracle's mean, with 95%
    intervals by account (bootstrap)."""
    wanted = [f"p_churn_{h}" for h in HORIZONS]
    known_p = pd.read_parquet(oracle, columns=["account_id", "as_of", *wanted])
    truth = (
        valid[["account_id", "as_of"]].merge(known_p, on=["account_id", "as_of"], how="left")[wanted].to_numpy(float)
    )
    known = np.isfinite(truth).all(axis=1)
    curves = {
        "hazard": x.model.churn_within(valid[known], HORIZONS),
        "sbg": sbg_curves(valid[known], x.segments, HORIZONS),
    }
    truth, ids = truth[known], valid.loc[known, "account_id"].to_numpy()
    accounts, index = np.unique(ids, return_inverse=True)
    rng = np.random.default_rng(0)
    weights = rng.multinomial(len(accounts), np.full(len(accounts), 1 / len(accounts)), size=draws)[:, index]
    print(f"\nagainst the oracle's probabilities, {known.sum()} validation rows ({len(accounts)} accounts):")
    print("| horizon | oracle mean | " + " | ".join(f"{k} mean | {k} RMS gap" for k in curves) + " |")
    print("| --- | --- |" + " --- | --- |" * len(curves))
    for j, h in enumerate(HORIZONS):
        cells = [f"{truth[:, j].mean():.3f}"]
        for p in curves.values():
            gap = (p[:, j] - truth[:, j]) ** 2
            boot = np.sqrt(weights @ gap / weights.sum(axis=1))
            means = weights @ p[:, j] / weights.sum(axis=1)
            lo, hi = np.quantile(boot, [0.025, 0.975])
            mlo, mhi = np.quantile(means, [0.025, 0.975])
            cells += [f"{p[:, j].mean():.3f} ({mlo:.3f}-{mhi:.3f})", f"{np.sqrt(gap.mean()):.3f} ({lo:.3f}-{hi:.3f})"]
        print(f"| {h} | " + " | ".join(cells) + " |")


def cell(x: SurvivalReport, who: str, metric: str) -> str:
    v = x.table.metrics.get(who, {}).get(metric)
    if v is None:
        return "-"
    lo, hi = x.table.intervals[who][metric]
    return f"{v:.3f} ({lo:.3f}-{hi:.3f})"


def main() -> None:
    args = arguments(__doc__.split("\n\n")[0])
    t0 = time.perf_counter()
    with world(args, "churn") as (warehouse, oracle):
        x, valid = measure(warehouse, oracle)
        print_table(x)
        if oracle.exists():
            against_oracle(x, valid, oracle)
    print(f"{time.perf_counter() - t0:.0f} s")


def print_table(x: SurvivalReport) -> None:
    t = x.table
    print(f"validation rows {t.rows} ({t.churned} churned in their follow-up), judged days {t.times}; "
          f"training rows {x.train_rows} ({x.train_churned} churned); hazard model {x.model.summary()}")  # fmt: skip
    metrics = [m for h in HORIZONS for m in (f"auc_{h}", f"ece_{h}")] + ["concordance", "ibs"]
    print("| metric | " + " | ".join(t.metrics) + " |")
    print("| --- |" + " --- |" * len(t.metrics))
    for m in metrics:
        print(f"| {m} | " + " | ".join(cell(x, who, m) for who in t.metrics) + " |")


if __name__ == "__main__":
    main()
