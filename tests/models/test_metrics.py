"""Metrics against independent references: brute-force pair counting for ROC AUC, hand-computed frames for the
ranking metrics and the calibration error."""

import itertools

import numpy as np
import pytest

from models.metrics import evaluate, expected_calibration_error, top_mask


def brute_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Share of (positive, negative) pairs ranked correctly, ties counting one half."""
    pos, neg = p[y == 1], p[y == 0]
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_roc_auc_equals_pair_counting() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.2).astype(float)
    p = np.round(rng.random(300) * 0.5 + 0.3 * y, 2)  # rounded: plenty of ties
    assert evaluate(y, p)["roc_auc"] == pytest.approx(brute_auc(y, p), abs=1e-12)


def test_ranking_metrics_on_a_hand_computed_frame() -> None:
    # 20 rows; the top 10% are the 2 highest scores: rows 0 (positive, ARR 100) and 1 (negative).
    p = np.array([0.9, 0.8] + [0.1] * 18)
    y = np.array([1, 0] + [1, 1, 1] + [0] * 15, dtype=float)
    arr = np.array([100.0, 500.0] + [300.0, 50.0, 50.0] + [10.0] * 15)
    m = evaluate(y, p, arr)
    assert m["capture_top_decile"] == pytest.approx(1 / 4)
    assert m["lift_top_decile"] == pytest.approx((1 / 2) / (4 / 20))
    assert m["revenue_captured_top_decile"] == pytest.approx(100 / (100 + 300 + 50 + 50))
    assert m["brier"] == pytest.approx(np.mean((p - y) ** 2))


def test_ece_by_hand() -> None:
    # Two equal-count bins: predictions [.1 .1] with outcomes [0 1] -> |0.5 - 0.1|; [.8 .8] with [1 1] -> |1 - .8|.
    p = np.array([0.1, 0.1, 0.8, 0.8])
    y = np.array([0, 1, 1, 1], dtype=float)
    assert expected_calibration_error(y, p, bins=2) == pytest.approx((2 * 0.4 + 2 * 0.2) / 4)
    assert expected_calibration_error(np.array([0.0, 1.0] * 50), np.full(100, 0.5)) == pytest.approx(0.0)


def test_top_mask_takes_the_highest_and_at_least_one() -> None:
    assert top_mask(np.array([0.1, 0.9, 0.5]), 0.1).tolist() == [False, True, False]
    assert top_mask(np.arange(20.0)).sum() == 2


def test_one_class_is_refused_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match="both classes"):
        evaluate(np.zeros(5), np.linspace(0, 1, 5))
