"""Metrics of churn over time on censored rows: concordance, time-dependent ROC AUC, calibration per horizon and
the integrated Brier score, with 95% intervals (bootstrap by account, ``models.metrics.resampled_rows``).

A model's prediction is its curve: P(churn within t) at each of ``times`` days (``models.hazard.INTERVAL_ENDS``).
The rows are censored (followed to the data's end, less grace), so the time-dependent metrics weight each row by
the inverse of the chance of still being followed at the time it is judged at (IPCW), the censoring's Kaplan-Meier
estimated on the judged rows themselves (their censoring is the data's end, not the training rows'). The peer
library does the work (scikit-survival: ``concordance_index_censored``, ``cumulative_dynamic_auc``,
``integrated_brier_score``); the calibration error per horizon is the product's own (``models.metrics``' equal-count
bins, IPCW-weighted). A time past the rows' follow-up cannot be judged: its metrics are left out, never guessed.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sksurv.metrics import concordance_index_censored, cumulative_dynamic_auc, integrated_brier_score
from sksurv.nonparametric import kaplan_meier_estimator
from sksurv.util import Surv

from models.hazard import HORIZONS, INTERVAL_ENDS
from models.metrics import interval, resampled_rows

SURVIVAL_RESAMPLES = 100  # bootstrap samples behind each interval: concordance costs about 0.1 s per 5,000 rows
MIN_FOLLOWED = 0.1  # a time is judged only when at least this share of rows is followed to it (or churned before)
BINS = 10


def censoring_survival(duration: np.ndarray, event: np.ndarray, at: np.ndarray) -> np.ndarray:
    """G(t): the Kaplan-Meier chance that a row is still followed at each of ``at`` (the censoring's survival,
    right-continuous, as scikit-survival's IPCW reads it)."""
    times, g = kaplan_meier_estimator(np.asarray(event, dtype=bool), np.asarray(duration, dtype=float), reverse=True)
    k = np.searchsorted(times, np.asarray(at, dtype=float), side="right") - 1
    return np.where(k >= 0, g[np.maximum(k, 0)], 1.0)


def followed_share(duration: np.ndarray, event: np.ndarray, t: float) -> float:
    """The share of rows whose outcome at ``t`` days is known: churned by then, or followed past it."""
    d, e = np.asarray(duration, dtype=float), np.asarray(event, dtype=int)
    return float(np.mean(((e == 1) & (d <= t)) | (d > t)))


def judged_times(duration: np.ndarray, event: np.ndarray, times: Sequence[int]) -> list[int]:
    """The ``times`` the rows can judge: inside their follow-up, with ``MIN_FOLLOWED`` of them known."""
    d = np.asarray(duration, dtype=float)
    return [t for t in times if t < d.max() and followed_share(d, event, t) >= MIN_FOLLOWED]


def concordance(duration: np.ndarray, event: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's C: among pairs whose order of churn is known (the earlier one churned), the share the ``risk``
    ranks right (ties in risk count a half)."""
    return float(concordance_index_censored(np.asarray(event, dtype=bool), np.asarray(duration, dtype=float),
                                            np.asarray(risk, dtype=float))[0])  # fmt: skip


def td_auc(duration: np.ndarray, event: np.ndarray, p: np.ndarray, t: float) -> float:
    """The cumulative/dynamic ROC AUC at ``t``: rows churned by ``t`` (weighted by IPCW) against rows still
    customers after it, ranked by ``p`` (P(churn within t))."""
    y = Surv.from_arrays(np.asarray(event, dtype=bool), np.asarray(duration, dtype=float))
    return float(cumulative_dynamic_auc(y, y, np.asarray(p, dtype=float), [t])[0][0])


def integrated_brier(duration: np.ndarray, event: np.ndarray, curve: np.ndarray, times: Sequence[int]) -> float:
    """The IPCW Brier score of the survival 1 - ``curve`` (P(churn within t), one column per ``times``),
    integrated over ``times`` (trapezoids) and divided by their span."""
    y = Surv.from_arrays(np.asarray(event, dtype=bool), np.asarray(duration, dtype=float))
    return float(integrated_brier_score(y, y, 1.0 - np.asarray(curve, dtype=float), list(times)))


def ipcw_weights(duration: np.ndarray, event: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    """Per row, whether it churned by ``t`` and its weight: 1/G(own time) for a churn by ``t``, 1/G(t) for a row
    followed past ``t``, 0 for a row censored before ``t`` (its outcome unknown)."""
    d, e = np.asarray(duration, dtype=float), np.asarray(event, dtype=int)
    churned = (e == 1) & (d <= t)
    g_own, g_t = censoring_survival(d, e, d), censoring_survival(d, e, np.array([t]))[0]
    w = np.where(churned, 1.0 / np.maximum(g_own, 1e-12), np.where(d > t, 1.0 / max(g_t, 1e-12), 0.0))
    return churned.astype(float), w


def calibration_error(duration: np.ndarray, event: np.ndarray, p: np.ndarray, t: float, bins: int = BINS) -> float:
    """The expected calibration error of P(churn within ``t``) (``models.metrics.expected_calibration_error``'s
    equal-count bins over the rows whose outcome is known, each weighted by IPCW)."""
    y, w = ipcw_weights(duration, event, t)
    keep = w > 0
    y, w, q = y[keep], w[keep], np.asarray(p, dtype=float)[keep]
    order = np.argsort(q, kind="stable")
    err = 0.0
    for idx in np.array_split(order, bins):
        # a bin's weight times |observed - predicted|, both weighted means: |sum w y - sum w p|
        err += abs(float((w[idx] * y[idx]).sum() - (w[idx] * q[idx]).sum()))
    return err / float(w.sum())


def curve_metrics(
    duration: np.ndarray, event: np.ndarray, curve: np.ndarray, times: Sequence[int] = INTERVAL_ENDS,
    horizons: Sequence[int] = HORIZONS,
) -> dict[str, float]:  # fmt: skip
    """One model's figures for rows with survival times (``duration`` days, ``event`` 0/1) and its ``curve``
    (n, len(times)) of P(churn within t), NaN in the columns it does not predict: ``auc_<H>`` and ``ece_<H>`` per
    horizon it predicts and the rows can judge, ``concordance`` (Harrell's C of P(churn within the last of
    ``times``)) and ``ibs`` (over the judged ``times``) when it predicts every time."""
    c = np.asarray(curve, dtype=float)
    column = {t: j for j, t in enumerate(times)}
    judged = judged_times(duration, event, times)
    out: dict[str, float] = {}
    for h in horizons:
        if h in judged and np.isfinite(c[:, column[h]]).all():
            out[f"auc_{h}"] = td_auc(duration, event, c[:, column[h]], h)
            out[f"ece_{h}"] = calibration_error(duration, event, c[:, column[h]], h)
    if np.isfinite(c).all():
        out["concordance"] = concordance(duration, event, c[:, -1])
        grid = [column[t] for t in judged]
        if len(grid) >= 2:
            out["ibs"] = integrated_brier(duration, event, c[:, grid], judged)
    return out


@dataclass(frozen=True)
class SurvivalTable:
    """Each model's figures on one set of rows, with 95% intervals; ``times``: the days the rows could judge."""

    metrics: dict[str, dict[str, float]]  # model -> metric (``curve_metrics``) -> value
    intervals: dict[str, dict[str, tuple[float, float]]]  # model -> metric -> 95% interval
    rows: int
    churned: int  # rows with a churn inside their follow-up
    times: list[int]


def survival_table(
    duration: np.ndarray, event: np.ndarray, curves: Mapping[str, np.ndarray], groups: np.ndarray,
    times: Sequence[int] = INTERVAL_ENDS, resamples: int = SURVIVAL_RESAMPLES, seed: int = 0,
) -> SurvivalTable:  # fmt: skip
    """``curve_metrics`` of every model's ``curves`` (model -> (n, len(times))) on the same rows, with percentile
    intervals over ``resamples`` bootstrap samples of ``groups`` (accounts: their snapshots stay together)."""
    d, e = np.asarray(duration, dtype=float), np.asarray(event, dtype=int)
    metrics = {who: curve_metrics(d, e, c, times) for who, c in curves.items()}
    draws: dict[str, dict[str, list[float]]] = {who: {k: [] for k in m} for who, m in metrics.items()}
    for idx in resampled_rows(groups, resamples, seed) if resamples else []:
        for who, c in curves.items():
            try:
                got = curve_metrics(d[idx], e[idx], np.asarray(c)[idx], times)
            except ValueError:  # a sample whose follow-up ends before a time the whole could judge
                got = {}
            for k in draws[who]:
                draws[who][k].append(got.get(k, np.nan))
    intervals = {who: {k: interval(np.asarray(v)) for k, v in m.items()} for who, m in draws.items()}
    return SurvivalTable(metrics, intervals, len(d), int(e.sum()), judged_times(d, e, times))
