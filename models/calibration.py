"""Calibration of raw scores (log-odds) into probabilities: Platt scaling or isotonic regression.

Both are fitted on held-out time (the inner slice), never on the rows the trees were grown on. ``choose`` compares
them by cross-validated Brier score on that slice, since fitting and scoring on the same rows would always favour
isotonic regression (it can memorise).
"""

from typing import Protocol

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold


class Calibrator(Protocol):
    def __call__(self, raw: np.ndarray) -> np.ndarray: ...


class Platt:
    """p = sigmoid(a * raw + b): strictly monotone, two parameters."""

    name = "platt"

    def fit(self, raw: np.ndarray, y: np.ndarray) -> "Platt":
        lr = LogisticRegression(C=1e6).fit(raw.reshape(-1, 1), y)
        self.a_, self.b_ = float(lr.coef_[0, 0]), float(lr.intercept_[0])
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
            "Use more snapshot dates (TrainConfig.inner_dates) or more data."
        )
    scores = {k: cv_brier(k, raw, y, seed) for k in KINDS}
    kind = min(scores, key=scores.__getitem__) if method == "auto" else method
    return KINDS[kind]().fit(raw, y), scores
