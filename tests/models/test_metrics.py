"""Metrics against independent references: brute-force pair counting for ROC AUC, hand-computed frames for the
ranking metrics and the calibration error, scikit-learn for the Brier score and log loss, analytic standard errors
for the bootstrap intervals."""

import itertools

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, log_loss

from models.metrics import bootstrap, evaluate, expected_calibration_error, interval, resampled_rows, top_mask


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
    assert m["brier"] == pytest.approx(brier_score_loss(y, p))
    assert m["log_loss"] == pytest.approx(log_loss(y, p))


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


def test_bootstrap_keeps_an_accounts_rows_together() -> None:
    groups = np.array(["a", "c", "a", "b", "c", "a"])
    size = {"a": 3, "b": 1, "c": 2}
    for idx in resampled_rows(groups, 50, seed=1):
        drawn = pd.Series(groups[idx]).value_counts()
        assert sum(n // size[g] for g, n in drawn.items()) == 3  # as many accounts as there are
        assert all(n % size[g] == 0 for g, n in drawn.items())  # whole accounts only


def test_bootstrap_intervals_match_the_analytic_ones_for_independent_rows() -> None:
    """One row per account: the 95% interval of the positive rate is the binomial one (p +- 1.96 sqrt(p(1-p)/n)),
    and that of ROC AUC has the width of Hanley and McNeil's standard error (1982)."""
    rng = np.random.default_rng(3)
    n = 4000
    y = (rng.random(n) < 0.2).astype(float)
    p = rng.normal(0, 1, n) + 1.2 * y
    draws = bootstrap(y, {"m": p}, np.arange(n), resamples=400, seed=2)["m"]
    lo, hi = interval(draws["positive_rate"])
    se = np.sqrt(y.mean() * (1 - y.mean()) / n)
    assert (hi - lo) == pytest.approx(2 * 1.96 * se, rel=0.15)
    auc, n1, n0 = evaluate(y, p)["roc_auc"], y.sum(), n - y.sum()
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    se_auc = np.sqrt((auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n0 - 1) * (q2 - auc**2)) / (n1 * n0))
    lo, hi = interval(draws["roc_auc"])
    assert (hi - lo) == pytest.approx(2 * 1.96 * se_auc, rel=0.15)
    assert lo < auc < hi


def test_bootstrap_by_account_widens_the_interval_of_repeated_snapshots() -> None:
    """Each account seen at 9 dates with the same outcome: 9 rows carry the information of one, so the interval
    must be about 3 (sqrt 9) times as wide as if every row were its own account."""
    rng = np.random.default_rng(4)
    y1 = (rng.random(500) < 0.3).astype(float)
    y = np.repeat(y1, 9)
    score = {"m": np.repeat(rng.random(500), 9)}
    by_account = interval(bootstrap(y, score, np.repeat(np.arange(500), 9), seed=1)["m"]["positive_rate"])
    by_row = interval(bootstrap(y, score, np.arange(4500), seed=1)["m"]["positive_rate"])
    ratio = (by_account[1] - by_account[0]) / (by_row[1] - by_row[0])
    assert 2.4 < ratio < 3.6, ratio
