"""Evaluation metrics for a ranked probability: discrimination, calibration and what a CS team captures.

Peer-library metrics (scikit-learn) where they exist; the ranking metrics are defined here because they are the
product's own: the top decile is the 10% of rows with the highest score (ties broken by row order, stable).
"""

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

TOP = 0.10


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Weighted mean |observed rate - mean predicted| over ``bins`` equal-count bins of the predictions.

    Equal-count bins, because with a 6% base rate equal-width bins would put nearly every row in the first bin.
    """
    order = np.argsort(p, kind="stable")
    err = 0.0
    for idx in np.array_split(order, bins):
        if len(idx):
            err += len(idx) * abs(float(y[idx].mean()) - float(p[idx].mean()))
    return err / len(y)


def calibration_bins(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[tuple[float, float]]:
    """(mean predicted, observed rate) in the equal-count bins of ``expected_calibration_error``."""
    order = np.argsort(p, kind="stable")
    return [(float(p[i].mean()), float(y[i].mean())) for i in np.array_split(order, bins) if len(i)]


def top_mask(score: np.ndarray, share: float = TOP) -> np.ndarray:
    """True for the ``share`` of rows with the highest score (at least one row)."""
    k = max(1, round(share * len(score)))
    order = np.argsort(-score, kind="stable")
    mask = np.zeros(len(score), bool)
    mask[order[:k]] = True
    return mask


def evaluate(y: np.ndarray, p: np.ndarray, arr: np.ndarray | None = None) -> dict[str, float]:
    """Every metric of the model card. ``p`` may be any score for the ranking metrics, but Brier, log loss and ECE
    only mean something for probabilities. ``arr``: annual recurring revenue per row, for revenue captured."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if len(np.unique(y)) < 2:
        raise ValueError("evaluation needs both classes among the labels")
    top = top_mask(p)
    rate, top_rate = y.mean(), y[top].mean()
    out = {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, np.clip(p, 0, 1))),
        "log_loss": float(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1])),
        "ece": expected_calibration_error(y, np.clip(p, 0, 1)),
        "lift_top_decile": float(top_rate / rate),
        "capture_top_decile": float(y[top].sum() / y.sum()),
        "positive_rate": float(rate),
        "rows": float(len(y)),
    }
    if arr is not None:
        value = np.nan_to_num(np.asarray(arr, dtype=float)) * y
        out["revenue_captured_top_decile"] = float(value[top].sum() / value.sum()) if value.sum() > 0 else np.nan
    return out
