"""Backtest of the performance estimated before labels mature (``models.estimated``, CBPE): at every matured scoring
date, the estimated ROC AUC and its 90% interval against the ROC AUC realised once the labels came in.

    .venv/bin/python benchmarks/estimated_performance.py [--accounts 10000] [--months 44] [--train-months 24]

A world is generated (``pipelines.generate.run.generate``) and ingested; snapshots and labels are built at monthly
dates with the labels' data end set to the training cut-off (the start of month ``--train-months``), so that the
training set holds only what was known then; the churn model is trained with the project's own code
(``pipelines.training``: family and settings chosen on the training dates, calibrated). The labels are then rebuilt
against the whole data, every monthly date from the cut-off on is scored with that fixed model (``churn score``'s
``pipelines.score.score``), and ``pipelines.monitor.performance`` gives, per date, the estimate from the stored
probabilities (recalibrated on the labels known the day each date was scored, ``calibrated_on`` rows; 0: none yet)
and the realised figure where labels have matured. The default size is the demo's (10,000 accounts): the realised
AUC of one date is itself a sample, and at 5,000 accounts its own spread (the oracle's 90% interval is +-0.02 wide)
leaves little room under the 0.03 floor.

Printed per matured date (every account): the estimate, its interval, the realised AUC, |error|, covered; the mean
predicted probability beside the observed churn rate (calibration in the large: a model whose calibration drifts
shows it there first); then the mean and largest |error| and the coverage of the 90% interval, against the floors
(every |error| <= 0.03, coverage >= 85%), and the same over the segments' scopes.
"""

import argparse
import logging
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

# Run as a file, this folder comes first on sys.path, and its features.py would hide the features package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sklearn.metrics import roc_auc_score

from models.config import TrainConfig
from models.estimated import estimate
from models.scoring import Scorer
from pipelines.generate.run import generate
from pipelines.generate.simulate import Oracle
from pipelines.ingest import ingest
from pipelines.monitor.performance import OVERALL, performance
from pipelines.score import score
from pipelines.snapshots import default_dates, refresh
from pipelines.snapshots.labels import resolve_labels
from pipelines.training.datasets import build_dataset, feature_definitions
from pipelines.training.train import fit_and_select
from pipelines.warehouse import connect

MAX_ERROR = 0.03
MIN_COVERAGE = 0.85


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--accounts", type=int, default=10000, help="accounts generated (default: the demo's)")
    ap.add_argument("--months", type=int, default=44)
    ap.add_argument("--train-months", type=int, default=24, help="the training cut-off: this many months in")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--resamples", type=int, default=100, help="bootstrap samples of the realised metrics' intervals")
    ap.add_argument("--oracle-paths", type=int, default=20, help="the generator's oracle (0: none, no control)")
    ap.add_argument("--out", type=Path, default=None, help="working folder (default: a temporary one)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore", category=FutureWarning)  # PySpark's pandas-3 notice on import; not used here
    root = args.out or Path(tempfile.mkdtemp(prefix="estimated-performance-"))
    t0 = time.perf_counter()

    def lap(what: str) -> None:
        print(f"[{time.perf_counter() - t0:6.0f} s] {what}", flush=True)

    oracle = Oracle(paths=args.oracle_paths) if args.oracle_paths else None
    generate(root / "raw", accounts=args.accounts, months=args.months, seed=args.seed, oracle=oracle)
    warehouse = root / "warehouse.duckdb"
    ingest(root / "raw", warehouse)
    lap(f"generated and ingested {args.accounts} accounts over {args.months} months")
    with connect(warehouse) as con:
        dates = default_dates(con)
        cfg = resolve_labels(con)
        cutoff = dates[args.train_months - 1]
        refresh(con, [d for d in dates if d <= cutoff], lcfg=cfg, data_end=cutoff)
        rows, report = build_dataset(con, "churn")
        registry = feature_definitions(con)
        lap(f"training set as known at {cutoff:%Y-%m-%d}: {report.rows} rows, dates {report.dates}, labels {cfg}")
        fitted = fit_and_select(rows, "churn", TrainConfig.for_target("churn"), labels=cfg, registry=registry)
        lap(f"trained: {fitted.model.summary()}; out-of-time ROC AUC {fitted.metrics['model']['roc_auc']:.3f}")
        later = [d for d in dates if d >= cutoff]
        refresh(con, later, lcfg=cfg)  # the whole data: labels of the later dates mature against its real end
        score(con, Scorer(fitted.model, None, {"churn": "backtest"}), later)
        lap(f"scored {len(later)} dates from {later[0]:%Y-%m-%d} with the fixed model")
        # No registry in this backtest: a SQLite path that does not exist is not created, and no figure is sought.
        perf = performance(
            con, "churn", f"sqlite:///{root / 'no-registry.db'}", draws=args.draws, resamples=args.resamples
        )
        lap(f"performance: data end {perf.data_end:%Y-%m-%d}")
        stored = con.sql(
            "SELECT s.account_id, s.as_of, s.segment, s.p_churn AS p_model, l.churn FROM scores.accounts s "
            "JOIN features.labels l "
            "USING (account_id, as_of) WHERE l.churn IS NOT NULL"
        ).to_arrow_table().to_pandas()  # fmt: skip
    print_backtest(perf.track_record, perf.estimated, calibration_in_the_large(perf.reliability))
    truth = root / "raw" / "ground_truth" / "oracle.parquet"
    if args.oracle_paths and truth.exists():
        print_control(stored.merge(pd.read_parquet(truth, columns=["account_id", "as_of", "p_churn"]),
                                   on=["account_id", "as_of"]), args.draws)  # fmt: skip


def print_control(rows: pd.DataFrame, draws: int) -> None:
    """The same backtest with the generator's true churn probabilities (the oracle, calibrated by construction) in
    place of the model's: what the estimator does when its one assumption holds."""
    print("\ncontrol: the estimate from the generator's true probabilities (the oracle) at the same accounts")
    print("as_of       rows  estimate  90% interval     realised  |error|  covered")
    out = []
    for as_of, g in rows.groupby("as_of", sort=True):
        p, y = g["p_churn"].to_numpy(float), g["churn"].to_numpy(float)
        e, realised = estimate(p, draws)["roc_auc"], float(roc_auc_score(y, p))
        out.append((abs(e.value - realised), e.low <= realised <= e.high))
        print(f"{as_of:%Y-%m-%d}  {len(g):5d}  {e.value:8.3f}  [{e.low:.3f}, {e.high:.3f}]  {realised:8.3f}"
              f"  {out[-1][0]:7.3f}  {'yes' if out[-1][1] else 'NO':>7}")  # fmt: skip
    errors, covered = np.array([o[0] for o in out]), np.array([o[1] for o in out])
    print(
        f"control: {len(out)} matured dates; mean |error| {errors.mean():.4f}, max |error| {errors.max():.4f}, "
        f"coverage of the 90% interval {covered.mean():.0%}"
    )
    # Per segment, the model's estimate beside the oracle's: whether the model's calibration holds within segments.
    print("per segment over the matured dates, model | oracle: mean signed error, mean |error|, coverage")
    for segment, part in rows.groupby("segment", sort=True):
        line = []
        for column in ("p_model", "p_churn"):
            got = []
            for _, g in part.groupby("as_of"):
                if g["churn"].nunique() == 2:
                    e = estimate(g[column].to_numpy(float), draws)["roc_auc"]
                    r = roc_auc_score(g["churn"], g[column])
                    got.append((e.value - r, e.low <= r <= e.high))
            err, cov = np.array([x[0] for x in got]), np.array([x[1] for x in got])
            line.append(f"{err.mean():+.3f} {np.abs(err).mean():.3f} {cov.mean():4.0%}")
        print(f"  {segment:<12} {line[0]} | {line[1]}")


def calibration_in_the_large(reliability: pd.DataFrame) -> pd.DataFrame:
    """as_of, mean_p, observed: the mean probability and the churn rate of every account, from the reliability
    bins."""
    every = reliability[reliability["segment"] == OVERALL].assign(
        p_rows=lambda f: f["mean_predicted"] * f["rows"], y_rows=lambda f: f["observed_rate"] * f["rows"]
    )
    sums = every.groupby("as_of")[["p_rows", "y_rows", "rows"]].sum()
    out = pd.DataFrame({"mean_p": sums["p_rows"] / sums["rows"], "observed": sums["y_rows"] / sums["rows"]})
    return out.reset_index()


def print_backtest(track: pd.DataFrame, estimated: pd.DataFrame, calibration: pd.DataFrame) -> None:
    auc = track[track["metric"] == "roc_auc"]
    overall = auc[auc["segment"] == OVERALL].merge(calibration, on="as_of", how="left")
    print()
    print("as_of       rows  estimate  90% interval     realised  |error|  covered  mean p  observed  fit on")
    for r in overall.itertuples():
        covered = "yes" if r.covered else "NO"
        print(f"{r.as_of:%Y-%m-%d}  {r.rows:5d}  {r.estimate:8.3f}  [{r.low:.3f}, {r.high:.3f}]  {r.realised:8.3f}"
              f"  {r.abs_error:7.3f}  {covered:>7}  {r.mean_p:6.3f}  {r.observed:8.3f}  "
              f"{r.calibrated_on:6d}")  # fmt: skip
    pending = estimated[(estimated["metric"] == "roc_auc") & (estimated["segment"] == OVERALL) & ~estimated["matured"]]
    for r in pending.itertuples():
        print(f"{r.as_of:%Y-%m-%d}  {r.rows:5d}  {r.estimate:8.3f}  [{r.low:.3f}, {r.high:.3f}]  not matured")
    print()
    for name, part in (("every account", overall), ("segments", auc[auc["segment"] != OVERALL])):
        if part.empty:
            print(f"{name}: no matured date")
            continue
        worst = part.loc[part["abs_error"].idxmax()]
        cover = float(part["covered"].mean())
        print(f"{name}: {len(part)} matured scopes; mean |error| {part['abs_error'].mean():.4f}, max |error| "
              f"{worst['abs_error']:.4f} ({worst['as_of']:%Y-%m-%d} {worst['segment']}), mean interval width "
              f"{(part['high'] - part['low']).mean():.3f}, coverage of the 90% interval {cover:.0%}")  # fmt: skip
    if not overall.empty:
        ok_error = bool((overall["abs_error"] <= MAX_ERROR).all())
        ok_cover = float(overall["covered"].mean()) >= MIN_COVERAGE
        print(f"floors (every account): every |error| <= {MAX_ERROR}: {'met' if ok_error else 'NOT met'}; "
              f"coverage >= {MIN_COVERAGE:.0%}: {'met' if ok_cover else 'NOT met'}")  # fmt: skip
        signed = overall["estimate"] - overall["realised"]
        print(
            f"mean signed error (estimate - realised) {signed.mean():+.4f}; mean p - observed rate "
            f"{(overall['mean_p'] - overall['observed']).mean():+.4f}; at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        )


if __name__ == "__main__":
    main()
