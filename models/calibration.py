"""Calibration of raw scores (log-odds) into probabilities: Platt scaling or isotonic regression.

Both are fitted on the calibration slice (other accounts, later dates: ``models.slices``), never on the rows the
trees were grown on. ``choose`` compares them by cross-validated Brier score on that slice, since fitting and
scoring on the same rows would always favour isotonic regression (it can memorise), and takes isotonic regression
only on a slice large enough for it.
"""

from typing import Protocol

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold


class Calibrator(Protocol):
    def __call__(self, raw: np.ndarray) -> np.ndarray: ...


class Platt:
    """p = sigmoid(a * raw + b) with a > 0: strictly increasing, so it never reorders the model's ranking.

    On a slice where the raw scores show no positive relation with the outcome (a fitted slope of zero or below:
    noise on a small slice), a negative slope would turn the ranking upside down (seen: ROC AUC 0.67 became 0.33);
    then the slope stays 1 and only the level ``b`` is fitted (calibration in the large), and ``slope_fixed_`` says
    so.
    """

    name = "platt"

    def fit(self, raw: np.ndarray, y: np.ndarray) -> "Platt":
        lr = LogisticRegression(C=1e6).fit(raw.reshape(-1, 1), y)
        self.a_, self.b_ = float(lr.coef_[0, 0]), float(lr.intercept_[0])
        self.slope_fixed_ = self.a_ <= 0
        if self.slope_fixed_:
            x, t = np.asarray(raw, dtype=float), np.asarray(y, dtype=float)

            def loss(b: float) -> float:
                z = x + b
                return float(np.mean(np.logaddexp(0, z) - t * z))

            self.a_, self.b_ = 1.0, float(minimize_scalar(loss, bounds=(-50, 50), method="bounded").x)
        return self

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.a_ * np.asarray(raw, dtype=float) + self.b_)))


class Isotonic:
    """A non-decreasing step function of the raw score, clipped to the fitted range."""

    name = "isotonic"

    def fit(self, raw: np.ndarray, y: np.ndarray) -> "Isotonic":
        self.iso_ = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
        return self

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        return np.asarray(self.iso_.predict(np.asarray(raw, dtype=float)))


KINDS: dict[str, type[Platt] | type[Isotonic]] = {"platt": Platt, "isotonic": Isotonic}
# Isotonic regression overfits small slices (Niculescu-Mizil and Caruana, 2005: worse than Platt below about 1,000
# rows), and its steps tie the scores they flatten: on a 367-row slice with 25 positives it took a model's ROC AUC
# from 0.67 to 0.56. "auto" considers it only on a slice at least this large.
ISOTONIC_MIN_ROWS, ISOTONIC_MIN_POSITIVES = 1000, 100


def cv_brier(kind: str, raw: np.ndarray, y: np.ndarray, seed: int, folds: int = 5) -> float:
    """Brier score of ``kind`` fitted on 4/5 of the slice and scored on the other 1/5, over 5 folds."""
    out = np.empty(len(y))
    for fit_idx, test_idx in StratifiedKFold(folds, shuffle=True, random_state=seed).split(raw, y):
        out[test_idx] = KINDS[kind]().fit(raw[fit_idx], y[fit_idx])(raw[test_idx])
    return float(np.mean((out - y) ** 2))


def choose(raw: np.ndarray, y: np.ndarray, method: str, seed: int) -> tuple[Platt | Isotonic, dict[str, float]]:
    """The calibrator to use (fitted on the whole slice) and the cross-validated Brier of each candidate."""
    if y.sum() < 5 or (1 - y).sum() < 5:
        raise ValueError(
            f"the calibration slice has {int(y.sum())} positives of {len(y)} rows; it needs at least 5 of each. "
            "Bring more accounts, or give the calibration more rows: a larger --calibrate-share of churn train, and "
            "for a table with snapshot dates a longer history or a larger --inner-dates."
        )
    scores = {k: cv_brier(k, raw, y, seed) for k in KINDS}
    large = len(y) >= ISOTONIC_MIN_ROWS and y.sum() >= ISOTONIC_MIN_POSITIVES
    kind = (min(scores, key=scores.__getitem__) if large else "platt") if method == "auto" else method
    return KINDS[kind]().fit(raw, y), scores
