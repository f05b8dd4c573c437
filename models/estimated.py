"""Performance estimated before labels mature, from calibrated probabilities: confidence-based performance
estimation (CBPE, as NannyML names it). Pure functions of the probabilities of one scoring date; no I/O.

If the probabilities ``p`` are calibrated, row i is a positive with probability p_i, so at every threshold t the
expected confusion counts are known without a label: expected true positives sum(p_i for p_i >= t), expected false
positives sum(1 - p_i for p_i >= t), expected positives sum(p), expected negatives sum(1 - p). These give an expected
ROC curve and its area (``expected_roc_auc``). It is a ratio of expected counts, not an expected ratio: it differs
from the mean realised AUC over label vectors by O(1/n) (a row is never paired with itself in a realised AUC; the
expected curve gives that pair half credit): 0.03 on 8 rows, about 0.001 on 300, far below the interval's width.
The expected average precision (``expected_pr_auc``) takes that self-pairing into account, since the plain one is
visibly biased (see there).

The expected calibration error is 0 by construction (the labels are assumed to follow ``p``), so it is not
estimated: calibration can only be judged on realised labels.

The interval: label vectors y ~ Bernoulli(p) are drawn (seeded), the realised AUC of each is computed, and the 5th
and 95th percentiles over the draws are returned (``LEVEL`` = 90%). It is the spread of the AUC that will be realised
when the labels mature **if the calibration holds**; it does not cover a miscalibrated model. Probabilities squashed
toward 0.5 (an under-confident model) give an estimate below the realised AUC and an interval that misses it: the
estimate is only as good as the calibration on the scoring date, which drifts when the population does.

NannyML implements CBPE, but is not installed here and is not added: its latest release (0.13.1) requires
lightgbm < 4.6 (this project runs 4.7) and brings FLAML, plotly, seaborn, kaleido, gcsfs, s3fs, APScheduler and a
telemetry client (segment-analytics-python), for two areas under expected curves that take a few lines of numpy.
"""

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from models.metrics import interval

DRAWS = 500  # simulated label vectors behind each interval
LEVEL = 0.90  # the interval holds the 5th to 95th percentile of the realised metric over the draws
SEED = 0
# Draws are simulated in blocks of about this many cells (draws x rows), so memory stays bounded on large books.
BLOCK_CELLS = 2_000_000
METRICS = ("roc_auc", "pr_auc")


@dataclass(frozen=True)
class Estimate:
    """A metric expected from the probabilities, and the ``level`` interval of its realised value over simulated
    labels (``estimate``)."""

    value: float
    low: float
    high: float
    level: float
    draws: int  # simulated label vectors on which the metric is defined (both classes; a positive for PR AUC)


def _checked(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"p must be one-dimensional (one probability per row), got shape {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise ValueError("p must hold probabilities in [0, 1] with no NaN; drop the rows that were not scored")
    return p


def _thresholds(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The row order by descending probability, and the last position of each distinct probability in that order
    (a threshold takes every row tied with it, as scikit-learn's curves do)."""
    order = np.argsort(-p, kind="stable")
    s = p[order]
    ends = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    return order, ends


def expected_roc(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The expected ROC curve (false positive rates, true positive rates), from (0, 0), one point per distinct
    probability taken as threshold, in decreasing order of threshold. NaN when ``p`` expects no positive or no
    negative (all 0 or all 1)."""
    p = _checked(p)
    order, ends = _thresholds(p)
    tp = np.cumsum(p[order])[ends]
    fp = (ends + 1) - tp
    positives, negatives = p.sum(), len(p) - p.sum()
    if len(p) == 0 or positives <= 0 or negatives <= 0:
        return np.array([np.nan]), np.array([np.nan])
    return np.r_[0.0, fp / negatives], np.r_[0.0, tp / positives]


def expected_roc_auc(p: np.ndarray) -> float:
    """The area under ``expected_roc`` (trapezoids, so ties count half, as in a realised AUC)."""
    fpr, tpr = expected_roc(p)
    return float(np.trapezoid(tpr, fpr)) if np.isfinite(fpr).all() else np.nan


def expected_pr_auc(p: np.ndarray) -> float:
    """The expected average precision: E[sum over thresholds of (new true positives) x (true positives so far) /
    (rows so far)] / E[positives], i.e. E[n_pos x AP] / E[n_pos] over label vectors drawn from ``p``, with ties taken
    together as one threshold (scikit-learn's ``average_precision_score``). Unlike the curve of expected counts, a
    row's own label counts in its own precision (E[y_k x TP_k] = p_k (1 + TP_(k-1)), not p_k E[TP_k]): the plain
    expected-counts AP is biased low by the top rows' small denominators, by 0.01 on 1500 churn-like rows and 0.035
    on 300, where this one is within 0.001 and 0.005 of the mean realised AP."""
    p = _checked(p)
    if len(p) == 0 or p.sum() <= 0:
        return np.nan
    order, ends = _thresholds(p)
    s = p[order]
    so_far = np.cumsum(s)[ends]
    new = np.diff(np.r_[0.0, so_far])  # expected true positives added at each threshold
    spread = np.diff(np.r_[0.0, np.cumsum(s * (1 - s))[ends]])  # their variance: E[new^2] = new^2 + spread
    return float(np.sum((new * so_far + spread) / (ends + 1)) / p.sum())


def simulated_labels(p: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """``draws`` label vectors drawn from Bernoulli(``p``): a (draws, rows) boolean array."""
    return rng.random((draws, len(p))) < p


def realised_roc_auc(p: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The ROC AUC of the scores ``p`` against each row of ``labels`` (draws, rows), by the rank-sum formula with
    average ranks for ties (equal to scikit-learn's ``roc_auc_score``); NaN for a row of labels with one class."""
    ranks = rankdata(p)
    y = labels.astype(float)
    pos = y.sum(axis=1)
    neg = labels.shape[1] - pos
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (y @ ranks - pos * (pos + 1) / 2) / (pos * neg)
    return np.where((pos > 0) & (neg > 0), auc, np.nan)


def realised_pr_auc(p: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The average precision of the scores ``p`` against each row of ``labels`` (draws, rows), with ties taken
    together as one threshold (equal to scikit-learn's ``average_precision_score``); NaN for a row with no
    positive."""
    order, ends = _thresholds(p)
    tp = np.cumsum(labels[:, order], axis=1, dtype=float)[:, ends]
    pos = tp[:, -1]
    steps = np.diff(tp, axis=1, prepend=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ap = np.sum(steps * tp / (ends + 1), axis=1) / pos
    return np.where(pos > 0, ap, np.nan)


def simulated(p: np.ndarray, draws: int = DRAWS, seed: int = SEED) -> dict[str, np.ndarray]:
    """The realised ROC AUC and PR AUC (``METRICS``) of ``p`` over ``draws`` label vectors drawn from it, in blocks
    of at most ``BLOCK_CELLS`` cells; NaN for a draw with one class only."""
    p = _checked(p)
    rng = np.random.default_rng(seed)
    block = max(1, BLOCK_CELLS // max(1, len(p)))
    out: dict[str, list[np.ndarray]] = {m: [] for m in METRICS}
    for start in range(0, draws, block):
        y = simulated_labels(p, min(block, draws - start), rng)
        out["roc_auc"].append(realised_roc_auc(p, y))
        out["pr_auc"].append(realised_pr_auc(p, y))
    return {m: np.concatenate(v) if v else np.array([]) for m, v in out.items()}


def estimate(p: np.ndarray, draws: int = DRAWS, level: float = LEVEL, seed: int = SEED) -> dict[str, Estimate]:
    """The expected ROC AUC and PR AUC of the calibrated probabilities ``p`` of one scoring date, each with the
    ``level`` percentile interval of its realised value over ``draws`` label vectors y ~ Bernoulli(p) (see the
    module: the spread of the realised metric if the calibration holds)."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    if draws < 1:
        raise ValueError(f"draws must be at least 1, got {draws}")
    p = _checked(p)
    sims = simulated(p, draws, seed)
    points = {"roc_auc": expected_roc_auc(p), "pr_auc": expected_pr_auc(p)}
    out = {}
    for m in METRICS:
        lo, hi = interval(sims[m], level)
        out[m] = Estimate(points[m], lo, hi, level, int(np.isfinite(sims[m]).sum()))
    return out
