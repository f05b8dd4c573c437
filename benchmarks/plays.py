"""Plays that learn, checked against the generator's ground truth over many small worlds (issue 24's floors).

    .venv/bin/python benchmarks/plays.py                      # 20 worlds of 8,000 accounts over 10 months
    .venv/bin/python benchmarks/plays.py --worlds 5 --accounts 4000

Per world (``churn generate --plays``, seeds 1..N, 20 oracle futures): for each play, the regression-adjusted
intention-to-treat effect on churn within 90 days (``pipelines.effects``, the predicted risk being the oracle's
P(churn) at the play's as_of) with its 90% interval, against the true effect of the assignment on the same
accounts (the mean over them of the true effect of the play done times whether CSMs would run it to the end:
``ground_truth/play_effects``); the naive comparison (accounts a play was run on against the rest) beside it.
Then, for the plays with an effect, the uplift ranking (``models.uplift``: a cross-fitted T-learner on the
predicted risk, the segment, seats and MRR at as_of; plain, and with both models starting from the predicted risk)
scored by the Qini coefficient and the uplift in the top 30% against the oracle's ranking (by the true effect of
the play done; also of the assignment, ``oracle_itt``) and the ranking by churn risk, with standard errors over
the worlds and paired differences.

Floors: the 90% intervals cover the true effect at least 85% of the time over all worlds and plays; the uplift
ranking's Qini is at least 0.8 of the oracle's and above the risk ranking's (means over worlds).
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
from models.uplift import qini_coefficient, t_learner, uplift_at
from pipelines.effects import load_frame, read_table
from pipelines.generate.params import SEGMENTS, Params
from pipelines.generate.playbook import PLAYS
from pipelines.generate.run import generate
from pipelines.generate.simulate import Oracle

COVERAGE_FLOOR, QINI_OF_ORACLE = 0.85, 0.8
RANKINGS = ("uplift", "uplift_from_risk", "oracle", "oracle_itt", "risk")
"""T-learner, T-learner starting from the predicted risk, true effect (of the play done; assigned), churn risk."""


def world_frame(world: Path) -> pd.DataFrame:
    """The effects' rows of a world with the truth per account and the uplift features."""
    frame, _ = load_frame(world)
    truth = pd.read_parquet(world / "ground_truth" / "play_effects.parquet")
    truth["true_itt"] = truth.effect * truth.would_be_done
    frame = frame.merge(truth[["account_id", "play", "segment", "effect", "true_itt"]], on=["account_id", "play"])
    subs = read_table(world, "subscriptions", "")
    at = frame[["account_id", "as_of"]].drop_duplicates().merge(subs, on="account_id")
    at = at[(at.start_at <= at.as_of) & (at.end_at.isna() | (at.end_at > at.as_of))]
    size = at.groupby(["account_id", "as_of"], as_index=False)[["seats", "mrr"]].sum()
    return frame.merge(size, on=["account_id", "as_of"], how="left").fillna({"seats": 0, "mrr": 0})


def evaluate(frame: pd.DataFrame, seed: int) -> list[dict[str, object]]:
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
            x = np.column_stack([g.risk, g.segment.map(SEGMENTS.index), np.log1p(g.seats), np.log1p(g.mrr)])
            scores = {
                "uplift": t_learner(x, y, t, seed=seed),
                "uplift_from_risk": t_learner(x, y, t, risk=g.risk.to_numpy(), seed=seed),
                "oracle": -g.effect.to_numpy(),  # the true reduction in churn of the play done on the account
                "oracle_itt": -g.true_itt.to_numpy(),  # ... of assigning it: times whether CSMs would run it
                "risk": g.risk.to_numpy(),
            }
            for name, s in scores.items():
                row[f"qini_{name}"] = qini_coefficient(np.asarray(s), y, t)
                row[f"at30_{name}"] = uplift_at(np.asarray(s), y, t, 0.3)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", type=int, default=20)
    parser.add_argument("--accounts", type=int, default=8000)
    parser.add_argument("--months", type=int, default=10)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(1, args.worlds + 1):
            t0 = time.perf_counter()
            world = Path(tmp) / f"w{seed}"
            generate(world, accounts=args.accounts, months=args.months, seed=seed, oracle=Oracle(paths=20),
                     params=replace(Params(), plays=PLAYS), workers=2)  # fmt: skip
            got = evaluate(world_frame(world), seed)
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
        m = g.filter(like="qini_").mean()
        at = g.filter(like="at30_").mean()
        print(
            f"{play}: Qini x1000 (uplift at 30%, points): "
            + ", ".join(f"{k} {1000 * m[f'qini_{k}']:.2f} ({100 * at[f'at30_{k}']:+.1f})" for k in RANKINGS)
        )
        se = g.filter(like="qini_").std() / np.sqrt(len(g))
        print("  standard error of each mean over worlds (x1000): "
              + ", ".join(f"{k} {1000 * se[f'qini_{k}']:.2f}" for k in RANKINGS))  # fmt: skip
        for k in ("uplift", "uplift_from_risk"):
            for other in ("oracle", "risk"):
                d = g[f"qini_{k}"] - g[f"qini_{other}"]
                mean, se_d = 1000 * d.mean(), 1000 * d.std() / np.sqrt(len(d))
                print(f"  {k} - {other} (paired, x1000): {mean:+.2f} +- {se_d:.2f}")
            ratio = m[f"qini_{k}"] / m.qini_oracle
            above = m[f"qini_{k}"] > m.qini_risk
            verdict = "met" if ratio >= QINI_OF_ORACLE and above else "NOT met"
            print(
                f"  {k}: {ratio:.2f} of the oracle's Qini, {'above' if above else 'below'} the risk ranking's "
                f"(floor: {verdict})"
            )


if __name__ == "__main__":
    main()
