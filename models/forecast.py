"""The book's revenue retention forecast: gross and net revenue retention (GRR, NRR) of the accounts active at a
date over the next period, from each account's churn probability, with intervals that carry the dependence
between accounts.

Accounts do not churn independently: a quarter with a price change or a competitor's launch moves every account's
risk together, so summing independent Bernoulli draws gives intervals far too narrow for a book of thousands of
accounts. The forecast draws, per simulated period,

- a shock ``z`` on the logit of the churn probability shared by every account of a segment: from the past matured
  periods, ``z_d`` is the shift that makes the segment's predicted churned ARR equal the realised one at date d
  (``churn_shock``); the draws follow a normal with their means (the model's bias on the book) and their
  covariance across segments, widened for having few dates;
- each account's churn, a Bernoulli draw at its shifted probability;
- the retained accounts' ARR change: one past period's ratios of ARR at the period's end to ARR at its start
  among the accounts that stayed (net, for NRR: expansion less contraction; gross, for GRR: contraction only),
  drawn whole per period, so segments move together as they did.

GRR = sum over accounts of min(end ARR, start ARR) / start ARR; NRR = sum of end ARR / start ARR; an account that
churned ends at 0. Both are over the accounts active at the start (new logos are not part of retention).
No I/O: frames and arrays in, figures out (``pipelines.forecast`` reads the warehouse and runs the backtest).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit, logit

LEVELS = (0.80, 0.90, 0.95)  # the central intervals reported
EPS = 1e-6


def churn_shock(arr: np.ndarray, p: np.ndarray, churned: np.ndarray) -> float:
    """The shift z of every account's logit churn probability that makes the ARR-weighted expected churn equal the
    realised one: sum(arr * expit(logit(p) + z)) = sum(arr * churned). Bounded to [-8, 8] (a period where nobody,
    or everybody, churned)."""
    lp = logit(np.clip(p, EPS, 1 - EPS))
    target = float(np.sum(arr * churned))

    def gap(z: float) -> float:
        return float(np.sum(arr * expit(lp + z))) - target

    if gap(-8.0) >= 0:
        return -8.0
    if gap(8.0) <= 0:
        return 8.0
    return float(brentq(gap, -8.0, 8.0, xtol=1e-6))


@dataclass(frozen=True)
class Period:
    """What one past matured period showed: the common shock, and per segment the retained accounts' ARR ratios
    (net: end / start; gross: min(end, start) / start), sums over the accounts that stayed."""

    shock: dict[str, float]  # per segment
    net: dict[str, float]
    gross: dict[str, float]


def past_period(book: pd.DataFrame) -> Period:
    """A ``Period`` from a matured book: columns segment, arr (at the start), p_churn (as predicted at the start)
    and end_arr (at the period's end; 0 for an account no longer a customer)."""
    arr, end = book["arr"].to_numpy(float), book["end_arr"].to_numpy(float)
    churned = (end <= 0).astype(float)
    stayed = book[end > 0]
    net, gross, shock = {}, {}, {}
    for seg, g in stayed.groupby("segment", observed=True):
        start = float(g["arr"].sum())
        if start > 0:
            net[str(seg)] = float(g["end_arr"].sum()) / start
            gross[str(seg)] = float(np.minimum(g["end_arr"], g["arr"]).sum()) / start
    segs = book["segment"].astype(str).to_numpy()
    p = book["p_churn"].to_numpy(float)
    for seg in sorted(set(segs)):
        at = segs == seg
        shock[seg] = churn_shock(arr[at], p[at], churned[at])
    return Period(shock, net, gross)


@dataclass(frozen=True)
class Forecast:
    """Per group ("all" and each segment) and measure (grr, nrr): the point forecast (the draws' mean) and the
    central intervals at ``LEVELS`` (lower, upper)."""

    point: dict[tuple[str, str], float]
    interval: dict[tuple[str, str, float], tuple[float, float]]
    draws: int
    periods: int  # past periods the shock and the ratios came from

    def frame(self) -> pd.DataFrame:
        rows = []
        for (group, measure), v in self.point.items():
            row = {"group": group, "measure": measure, "point": v}
            for level in LEVELS:
                lo, hi = self.interval[group, measure, level]
                row[f"lo{round(level * 100)}"], row[f"hi{round(level * 100)}"] = lo, hi
            rows.append(row)
        return pd.DataFrame(rows)


def forecast(book: pd.DataFrame, history: Sequence[Period], draws: int = 4000, seed: int = 0) -> Forecast:
    """GRR and NRR of ``book`` (columns segment, arr, p_churn at the start) over the next period, simulated as the
    module says from ``history`` (at least 2 past periods: a spread needs two). A segment absent from a past period's
    ratios takes that period's ratio over every segment."""
    if len(history) < 2:
        raise ValueError(f"the forecast needs at least 2 matured past periods to measure their spread, got "
                         f"{len(history)}: build snapshots over a longer history")  # fmt: skip
    rng = np.random.default_rng(seed)
    arr = book["arr"].to_numpy(float)
    lp = logit(np.clip(book["p_churn"].to_numpy(float), EPS, 1 - EPS))
    segments = book["segment"].astype(str).to_numpy()
    names = sorted(set(segments))
    seg_index = np.searchsorted(names, segments)
    n = len(history)
    # Per segment shocks: a segment's accounts share more than the book's (enterprise renewals, SMB price
    # sensitivity). Drawn from a normal with the past shocks' means and covariance across segments, widened for
    # the uncertainty of a mean from n periods; a segment missing from a past period takes that period's mean.
    past = np.array([[h.shock.get(s, float(np.mean(list(h.shock.values())))) for s in names] for h in history])
    cov = np.atleast_2d(np.cov(past, rowvar=False)) * (1 + 1 / n)
    z = rng.multivariate_normal(past.mean(axis=0), cov, size=draws, method="eigh")  # (draws, segments)
    picked = rng.integers(0, n, size=draws)  # the past period whose retained-ARR ratios each draw takes

    def ratios(kind: str) -> np.ndarray:  # (periods, segments)
        out = np.empty((n, len(names)))
        for i, h in enumerate(history):
            table = h.net if kind == "net" else h.gross
            overall = float(np.mean(list(table.values()))) if table else 1.0
            out[i] = [table.get(s, overall) for s in names]
        return out

    net, gross = ratios("net")[picked], ratios("gross")[picked]  # (draws, segments)
    groups = {"all": np.ones(len(book), bool), **{s: segments == s for s in names}}
    point: dict[tuple[str, str], float] = {}
    interval: dict[tuple[str, str, float], tuple[float, float]] = {}
    sums = {g: {"grr": np.empty(draws), "nrr": np.empty(draws)} for g in groups}
    for k in range(draws):
        stays = rng.random(len(book)) >= expit(lp + z[k, seg_index])
        kept = arr * stays
        for g, mask in groups.items():
            start = arr[mask].sum()
            sums[g]["nrr"][k] = (kept[mask] * net[k, seg_index[mask]]).sum() / start
            sums[g]["grr"][k] = (kept[mask] * gross[k, seg_index[mask]]).sum() / start
    for g, measures in sums.items():
        for m, values in measures.items():
            point[g, m] = float(values.mean())
            for level in LEVELS:
                q = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
                interval[g, m, level] = (float(q[0]), float(q[1]))
    return Forecast(point, interval, draws, n)


def realised(book: pd.DataFrame) -> dict[tuple[str, str], float]:
    """The realised GRR and NRR of a matured ``book`` (segment, arr, end_arr), per group as ``Forecast.point``."""
    out = {}
    segs = book["segment"].astype(str)
    for g, rows in [("all", book), *((s, book[segs == s]) for s in sorted(set(segs)))]:
        start = float(rows["arr"].sum())
        out[g, "nrr"] = float(rows["end_arr"].sum()) / start
        out[g, "grr"] = float(np.minimum(rows["end_arr"], rows["arr"]).sum()) / start
    return out
