"""Plays that learn, checked against the generator's ground truth over many small worlds (issue 24's floors).

    .venv/bin/python benchmarks/plays.py                      # 20 worlds of 8,000 accounts over 10 months
    .venv/bin/python benchmarks/plays.py --worlds 5 --accounts 4000
    .venv/bin/python benchmarks/plays.py --first-seed 101   # other worlds than the README's, for development
    .venv/bin/python benchmarks/plays.py --playbook against-risk --accounts 30000 --worlds 10

Per world (``churn generate --plays``, seeds 1..N, 20 oracle futures): for each play, the regression-adjusted
intention-to-treat effect on churn within 90 days (``pipelines.effects``, the predicted risk being the oracle's
P(churn) at the play's as_of) with its 90% interval, against the true effect of the assignment on the same
accounts (the mean over them of the true effect of the play done times whether CSMs would run it to the end:
``ground_truth/play_effects``); the naive comparison (accounts a play was run on against the rest) beside it.
Then, for the plays with an effect, the uplift ranking (the product's, as ``churn effects`` fits it:
``models.uplift.log_odds_learner`` on the predicted risk, the segment, seats and MRR at as_of, cross-fitted, each
account ranked within its fold) scored by the Qini coefficient and the uplift in the top 30% against the oracle's
ranking (by the true effect of the play done; also of the assignment, ``oracle_itt``, which knows who CSMs would
run the play on) and the ranking by churn risk, with standard errors over the worlds and paired differences.

Each ranking is scored twice: by the Qini coefficient on the outcomes (what ``churn effects`` can measure; the
model cross-fitted, since its own outcomes would flatter it), and by the expected Qini on the true effects
(``models.uplift.expected_qini``: no noise of outcomes or holdout draw, which on a few thousand accounts is larger
than the differences between good rankings; the model fitted on every row, as ``churn effects --rank`` ranks, is
fair here because the true effects are not what it was fitted to).

Floors: the 90% intervals cover the true effect at least 85% of the time over all worlds and plays; the uplift
ranking's Qini is at least 0.8 of the oracle's (means over worlds) and above the risk ranking's (the paired
difference's 90% interval above 0); printed for both measures.
"""

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

# Run as a file, this folder comes first on sys.path, and its features.py would hide the features package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

from models.effects import adjusted_effect, naive_effect
from models.uplift import expected_qini, fit_log_odds, log_odds_learner, qini_coefficient, uplift_at
from pipelines.effects import load_frame, uplift_covariates
from pipelines.generate.params import Params
from pipelines.generate.playbook import PLAYS, Play, Plays
from pipelines.generate.run import generate
from pipelines.generate.simulate import Oracle

COVERAGE_FLOOR, QINI_OF_ORACLE = 0.85, 0.8
RANKINGS = ("uplift", "uplift_fit", "oracle", "oracle_itt", "risk")
"""The product's uplift model (cross-fitted; fitted on every row, as ``churn effects --rank`` ranks), the true
effect (of the play done; of its assignment), churn risk."""
Z90 = 1.645
AGAINST_RISK = Plays((
    Play("health_check_call", month=3, effect=(-0.3, -1.0, -1.6)),  # helps bigger accounts most, SMB (riskier) least
    PLAYS.plays[-1],
))  # fmt: skip
"""``--playbook against-risk``: the helpful play's effect per segment runs against the risk, so that the risk
ranking is far from the oracle's and only heterogeneity learned beyond it can close the gap."""
PLAYBOOKS = {"default": PLAYS, "against-risk": AGAINST_RISK}


def world_frame(world: Path) -> pd.DataFrame:
    """The effects' rows of a world (with the uplift model's covariates, as ``churn effects`` reads them) and the
    truth per account."""
    frame, _ = load_frame(world)
    truth = pd.read_parquet(world / "ground_truth" / "play_effects.parquet")
    truth["true_itt"] = truth.effect * truth.would_be_done
    return frame.merge(truth[["account_id", "play", "effect", "true_itt"]], on=["account_id", "play"])


def evaluate(frame: pd.DataFrame) -> list[dict[str, object]]:
    rows = []
    for play, g in frame.groupby("play", sort=False):
        y, t = g.y.to_numpy(float), g.treated.to_numpy(bool)
        adj = adjusted_effect(y, t, g.risk.to_numpy())
        naive = naive_effect(y, g.acted.to_numpy(bool))
        truth = float(g.true_itt.mean())
        row: dict[str, object] = {
            "play": play, "accounts": len(g), "truth": truth, "effect": adj.estimate, "se": adj.se,
            "covered": adj.covers(truth, 0.90), "naive": naive.estimate,
        }  # fmt: skip
        if g.true_itt.abs().max() > 0:
            x, risk, gain = uplift_covariates(g), g.risk.to_numpy(), -g.true_itt.to_numpy()
            scores = {
                "uplift": log_odds_learner(x, y, t, risk=risk).rank,
                "uplift_fit": fit_log_odds(x, y, t, risk=risk).uplift(x, risk),
                "oracle": -g.effect.to_numpy(),  # the true reduction in churn of the play done on the account
                "oracle_itt": gain,  # ... of assigning it: times whether CSMs would run it
                "risk": risk,
            }
            for name, s in scores.items():
                row[f"qini_{name}"] = qini_coefficient(np.asarray(s), y, t)
                row[f"at30_{name}"] = uplift_at(np.asarray(s), y, t, 0.3)
                row[f"expected_{name}"] = expected_qini(np.asarray(s), gain, float(t.mean()))
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", type=int, default=20)
    parser.add_argument("--accounts", type=int, default=8000)
    parser.add_argument("--months", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--playbook", choices=sorted(PLAYBOOKS), default="default",
                        help="the generator's plays (default: churn generate --plays')")  # fmt: skip
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.first_seed, args.first_seed + args.worlds):
            t0 = time.perf_counter()
            world = Path(tmp) / f"w{seed}"
            generate(world, accounts=args.accounts, months=args.months, seed=seed, oracle=Oracle(paths=20),
                     params=replace(Params(), plays=PLAYBOOKS[args.playbook]), workers=2)  # fmt: skip
            got = evaluate(world_frame(world))
            rows += [{"world": seed, **r} for r in got]
            line = "  ".join(f"{r['play']} {100 * r['effect']:+.1f} (true {100 * r['truth']:+.1f}, naive "
                             f"{100 * r['naive']:+.1f}){'' if r['covered'] else ' MISSED'}" for r in got)  # fmt: skip
            print(f"world {seed:2d} ({time.perf_counter() - t0:.0f} s): {line}", flush=True)
    report(pd.DataFrame(rows))


def report(df: pd.DataFrame) -> None:
    pd.set_option("display.width", 200)
    print("\nPer play, over worlds (percentage points of churn within 90 days):")
    per = df.groupby("play", sort=False).agg(
        truth=("truth", "mean"), effect=("effect", "mean"), coverage90=("covered", "mean"), naive=("naive", "mean")
    )
    per["naive_bias"] = per.naive - per.truth
    # Whether the standard errors are honest: the spread of (estimate - truth) / se should be about 1.
    per["z_spread"] = ((df.effect - df.truth) / df.se).groupby(df.play, sort=False).std()
    print((per * [100, 100, 1, 100, 100, 1]).round(2).to_string())
    coverage = float(df.covered.mean())
    print(f"\nCoverage of the 90% intervals: {coverage:.3f} over {len(df)} (world, play) estimates "
          f"(floor {COVERAGE_FLOOR}: {'met' if coverage >= COVERAGE_FLOOR else 'NOT met'})")  # fmt: skip
    q = df.dropna(subset=["qini_oracle"])
    for play, g in q.groupby("play", sort=False):
        print(f"\n{play} over {len(g)} worlds, x1000, mean +- standard error (median): the Qini coefficient on the "
              f"outcomes; uplift in the top 30% (points); the expected Qini, on the true effects")  # fmt: skip
        for k in RANKINGS:
            v, at, e = (f * g[f"{c}_{k}"].astype(float) for f, c in ((1000, "qini"), (100, "at30"), (1000, "expected")))
            print(f"  {k:<11} {_mean(v)} ({v.median():6.2f})   {at.mean():+5.1f} +- {_se(at):.1f}   {_mean(e)}")
        for measure in ("qini", "expected"):
            for model, other in (("uplift", "oracle"), ("uplift", "risk"), ("uplift_fit", "oracle"),
                                 ("uplift_fit", "risk")):  # fmt: skip
                d = 1000 * (g[f"{measure}_{model}"] - g[f"{measure}_{other}"]).astype(float)
                print(f"  {measure:<8} {model} - {other} (paired): {_mean(d, sign=True)}")
        floor(g, "qini", "uplift", "on the outcomes, cross-fitted")
        floor(g, "expected", "uplift_fit", "on the true effects, the model fitted on every row")


def _se(v: pd.Series) -> float:
    return float(v.std() / np.sqrt(len(v)))


def _mean(v: pd.Series, sign: bool = False) -> str:
    return f"{v.mean():{'+' if sign else ''}6.2f} +- {_se(v):.2f}"


def floor(g: pd.DataFrame, measure: str, model: str, what: str) -> None:
    """Issue 24's floor on one measure: at least 0.8 of the oracle's mean, and above the risk ranking's (the
    paired difference's 90% interval above 0)."""
    ratio = g[f"{measure}_{model}"].mean() / g[f"{measure}_oracle"].mean()
    d = (g[f"{measure}_{model}"] - g[f"{measure}_risk"]).astype(float)
    lo = d.mean() - Z90 * _se(d)
    verdict = "met" if ratio >= QINI_OF_ORACLE and lo > 0 else "NOT met"
    print(
        f"  {measure} ({what}): {ratio:.2f} of the oracle's; above risk by {1000 * d.mean():+.2f} (90% interval "
        f"from {1000 * lo:+.2f}) -> floor {verdict}"
    )


if __name__ == "__main__":
    main()
