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
when the labels mature **if the calibration holds**; it does not cover a miscalibrated model. Hence, as NannyML
calibrates on its reference period, the probabilities may first be recalibrated on matured labels of the same model
(``Recalibration``, Platt's map on the logit, ``fit_recalibration``); the interval then draws the map's parameters
from their uncertainty too, one map per simulated label vector. Probabilities squashed
toward 0.5 (an under-confident model) give an estimate below the realised AUC and an interval that misses it: the
estimate is only as good as the calibration on the scoring date, which drifts when the population does.

NannyML implements CBPE, but is not installed here and is not added: its latest release (0.13.1) requires
lightgbm < 4.6 (this project runs 4.7) and brings FLAML, plotly, seaborn, kaleido, gcsfs, s3fs, APScheduler and a
telemetry client (segment-analytics-python), for two areas under expected curves that take a few lines of numpy.
"""

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logit
from scipy.stats import rankdata
from sklearn.linear_model import LogisticRegression

from models.metrics import interval

DRAWS = 500  # simulated label vectors behind each interval
LEVEL = 0.90  # the interval holds the 5th to 95th percentile of the realised metric over the draws
SEED = 0
# Draws are simulated in blocks of about this many cells (draws x rows), so memory stays bounded on large books.
BLOCK_CELLS = 2_000_000
METRICS = ("roc_auc", "pr_auc")
MIN_MATURED = 500  # matured rows (of both classes) needed to fit a recalibration; fewer: the probabilities as they are
MIN_DATES = 3  # dates fitted alone needed to add their spread to a recalibration's uncertainty
EDGE = 1e-6  # probabilities are clipped to [EDGE, 1 - EDGE] before their logit


@dataclass(frozen=True)
class Recalibration:
    """p -> expit(a + b logit(p)) (Platt's map on the logit), fitted on matured labels of the same model, with the
    covariance of (a, b) from the fit's Fisher information (``fit_recalibration``).

    Why: the estimate assumes calibrated probabilities, and a model's calibration drifts as the population does. On
    the backtest (``benchmarks/estimated_performance.py``, 10,000 accounts) the model's probabilities taken as they
    were overstated the realised ROC AUC by 0.014 on average and the 90% interval covered it at 53% of the dates; the
    map fitted, at each date, on the labels matured by then corrects most of that, and drawing (a, b) from its
    uncertainty for each simulated label vector widens the interval by what the map does not know."""

    a: float
    b: float
    cov: np.ndarray  # 2 x 2, of (a, b)
    rows: int  # matured rows it was fitted on

    def apply(self, p: np.ndarray) -> np.ndarray:
        return expit(self.a + self.b * logit(np.clip(p, EDGE, 1 - EDGE)))

    def drawn(self, p: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, rows): ``p`` recalibrated by ``n`` maps whose (a, b) are drawn from N((a, b), cov)."""
        ab = rng.multivariate_normal([self.a, self.b], self.cov, size=n)
        return expit(ab[:, :1] + ab[:, 1:] * logit(np.clip(p, EDGE, 1 - EDGE))[None, :])


def fit_recalibration(p: np.ndarray, y: np.ndarray, dates: np.ndarray | None = None) -> Recalibration | None:
    """Platt's map from matured probabilities ``p`` to their labels ``y`` (maximum likelihood by scikit-learn, no
    penalty), with the inverse of the Fisher information X'WX as the covariance of (a, b). None with fewer than
    ``MIN_MATURED`` rows, one class only, or a slope that is not positive (the map must keep the order of ``p``).

    ``dates`` (each row's scoring date): when at least ``MIN_DATES`` of them can be fitted alone, the covariance of
    their own maps is added. The map that will hold on the next date is not the pooled one: calibration moves from
    date to date (on the backtest's 10,000 accounts the pooled map's uncertainty alone gave intervals that covered
    the realised AUC at 77-85% of the recalibrated dates, with it 92%). The per-date maps' spread holds their own
    fitting noise too, so this errs on the wide side."""
    fitted = _platt(p, y)
    if fitted is None or dates is None:
        return fitted
    per = [_platt(p[dates == d], y[dates == d]) for d in np.unique(dates)]
    ab = np.array([[f.a, f.b] for f in per if f is not None])
    if len(ab) < MIN_DATES:
        return fitted
    return Recalibration(fitted.a, fitted.b, fitted.cov + np.cov(ab.T), fitted.rows)


def _platt(p: np.ndarray, y: np.ndarray) -> Recalibration | None:
    p, y = _checked(p), np.asarray(y, dtype=float)
    if len(p) < MIN_MATURED or y.min() == y.max():
        return None
    x = logit(np.clip(p, EDGE, 1 - EDGE))
    fit = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(x[:, None], y)
    a, b = float(fit.intercept_[0]), float(fit.coef_[0, 0])
    if not b > 0:
        return None
    q = expit(a + b * x)
    w = q * (1 - q)
    info = np.array([[w.sum(), (w * x).sum()], [(w * x).sum(), (w * x * x).sum()]])
    return Recalibration(a, b, np.linalg.inv(info), len(p))


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
    """``draws`` label vectors drawn from Bernoulli(``p``): a (draws, rows) boolean array. ``p``: one probability per
    row, or one row of probabilities per draw (draws, rows)."""
    return rng.random((draws, np.shape(p)[-1])) < p


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


def simulated(
    p: np.ndarray, draws: int = DRAWS, seed: int = SEED, recalibration: "Recalibration | None" = None
) -> dict[str, np.ndarray]:
    """The realised ROC AUC and PR AUC (``METRICS``) of the scores ``p`` over ``draws`` label vectors drawn from
    them (or, with ``recalibration``, from ``p`` recalibrated by a map drawn from the fit's uncertainty, one per
    label vector), in blocks of at most ``BLOCK_CELLS`` cells; NaN for a draw with one class only."""
    p = _checked(p)
    rng = np.random.default_rng(seed)
    block = max(1, BLOCK_CELLS // max(1, len(p)))
    out: dict[str, list[np.ndarray]] = {m: [] for m in METRICS}
    for start in range(0, draws, block):
        n = min(block, draws - start)
        q = p if recalibration is None else recalibration.drawn(p, n, rng)
        y = simulated_labels(q, n, rng)
        out["roc_auc"].append(realised_roc_auc(p, y))
        out["pr_auc"].append(realised_pr_auc(p, y))
    return {m: np.concatenate(v) if v else np.array([]) for m, v in out.items()}


def estimate(
    p: np.ndarray,
    draws: int = DRAWS,
    level: float = LEVEL,
    seed: int = SEED,
    recalibration: "Recalibration | None" = None,
) -> dict[str, Estimate]:
    """The expected ROC AUC and PR AUC of the scores ``p`` of one scoring date, taken as calibrated probabilities
    or recalibrated by ``recalibration`` (fitted on matured labels of the same model), each with the ``level``
    percentile interval of its realised value over ``draws`` label vectors (see the module: the spread of the
    realised metric if the calibration holds; with a recalibration, its uncertainty is drawn too)."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    if draws < 1:
        raise ValueError(f"draws must be at least 1, got {draws}")
    p = _checked(p)
    sims = simulated(p, draws, seed, recalibration)
    q = p if recalibration is None else recalibration.apply(p)  # monotone: the order of p is kept
    points = {"roc_auc": expected_roc_auc(q), "pr_auc": expected_pr_auc(q)}
    out = {}
    for m in METRICS:
        lo, hi = interval(sims[m], level)
        out[m] = Estimate(points[m], lo, hi, level, int(np.isfinite(sims[m]).sum()))
    return out
