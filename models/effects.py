"""The effect of a play on an outcome within the horizon, from its holdout: treated (eligible and not held out)
against held out, intention-to-treat (the assignment defines the groups, not whether a CSM ran the play: a play
assigned but never started counts as treated, so the estimate is the effect of assigning the play as CSMs run it).

``adjusted_effect`` is Lin's regression adjustment: least squares of the outcome on the assignment, the predicted
risk centred on its mean over the eligible accounts, and their product; the coefficient of the assignment is the
difference in means corrected for the chance imbalance of risk between the groups. Its variance is the HC2
sandwich (robust to the outcome being 0/1 and to unequal variances), which for the plain difference in means
(``difference_in_means``) is exactly Neyman's v1 / n1 + v0 / n0. ``naive_effect`` compares the accounts on which a
play was run with all other eligible accounts, as one would without a holdout: CSMs pick the riskier accounts, so
it is biased, and is shown only beside the others to make that visible.

Frames in (one row per eligible account): ``y`` (0/1 outcome), ``treated`` (bool: not held out), ``risk`` (the
predicted probability of the outcome at as_of, before the play), and for the naive comparison ``acted`` (bool).
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

LEVELS = (0.90, 0.95)


@dataclass(frozen=True)
class Effect:
    """An estimated effect (treated minus control, in probability) and its standard error."""

    estimate: float
    se: float
    treated: int
    control: int

    def interval(self, level: float) -> tuple[float, float]:
        z = float(norm.ppf(0.5 + level / 2))
        return self.estimate - z * self.se, self.estimate + z * self.se

    def covers(self, value: float, level: float = 0.90) -> bool:
        lo, hi = self.interval(level)
        return lo <= value <= hi


def _check(y: np.ndarray, t: np.ndarray) -> None:
    n1, n0 = int(t.sum()), int((~t).sum())
    if n1 < 2 or n0 < 2:
        raise ValueError(f"an effect needs at least 2 accounts in each group; got {n1} treated and {n0} held out")


def hc2_ols(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares coefficients of ``y`` on the columns of ``x`` and their HC2 sandwich covariance."""
    bread = np.linalg.pinv(x.T @ x)
    beta = bread @ x.T @ y
    resid = y - x @ beta
    leverage = np.einsum("ij,jk,ik->i", x, bread, x)
    w = resid**2 / np.clip(1.0 - leverage, 1e-12, None)
    return beta, bread @ (x.T * w) @ x @ bread


def difference_in_means(y: np.ndarray, treated: np.ndarray) -> Effect:
    """Mean of ``y`` among the treated minus among the others, with Neyman's standard error."""
    y, t = np.asarray(y, float), np.asarray(treated, bool)
    _check(y, t)
    est = y[t].mean() - y[~t].mean()
    se = np.sqrt(y[t].var(ddof=1) / t.sum() + y[~t].var(ddof=1) / (~t).sum())
    return Effect(float(est), float(se), int(t.sum()), int((~t).sum()))


def adjusted_effect(y: np.ndarray, treated: np.ndarray, risk: np.ndarray) -> Effect:
    """Lin's regression-adjusted effect of ``treated`` on ``y`` given the predicted ``risk`` (HC2 standard error)."""
    y, t = np.asarray(y, float), np.asarray(treated, bool)
    _check(y, t)
    r = np.asarray(risk, float) - float(np.mean(risk))
    x = np.column_stack([np.ones(len(y)), t, r, t * r])
    beta, cov = hc2_ols(x, y)
    return Effect(float(beta[1]), float(np.sqrt(cov[1, 1])), int(t.sum()), int((~t).sum()))


def naive_effect(y: np.ndarray, acted: np.ndarray) -> Effect:
    """Accounts a play was run on against every other eligible account (no holdout): selection-biased."""
    return difference_in_means(y, acted)


def effects_table(frame: pd.DataFrame, by: str = "play") -> pd.DataFrame:
    """Per value of ``by`` and overall (``all``): the adjusted ITT effect with 90% and 95% intervals, the
    unadjusted one, and the naive comparison. ``frame``: y, treated, risk, acted and ``by``; overall pools the
    plays' rows (an account eligible for two plays counts twice)."""
    rows = []
    groups = [(str(k), g) for k, g in frame.groupby(by, sort=False)] + [("all", frame)]
    for name, g in groups:
        adj = adjusted_effect(g.y.to_numpy(), g.treated.to_numpy(), g.risk.to_numpy())
        raw = difference_in_means(g.y.to_numpy(), g.treated.to_numpy())
        naive = naive_effect(g.y.to_numpy(), g.acted.to_numpy())
        row = {by: name, "treated": adj.treated, "held_out": adj.control, "effect": adj.estimate, "se": adj.se}
        for level in LEVELS:
            lo, hi = adj.interval(level)
            row[f"lo{int(level * 100)}"], row[f"hi{int(level * 100)}"] = lo, hi
        row.update(unadjusted=raw.estimate, unadjusted_se=raw.se, naive=naive.estimate, naive_se=naive.se)
        rows.append(row)
    return pd.DataFrame(rows)
