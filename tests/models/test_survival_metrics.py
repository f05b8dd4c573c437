"""The survival metrics against slow, obviously correct references on tiny hand-made rows."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from models.metrics import expected_calibration_error
from models.survival_metrics import (
    calibration_error,
    censoring_survival,
    concordance,
    curve_metrics,
    integrated_brier,
    judged_times,
    survival_table,
    td_auc,
)


def brute_concordance(d: np.ndarray, e: np.ndarray, risk: np.ndarray) -> float:
    """Every pair once: comparable when the earlier time is a churn; concordant when its risk is higher."""
    num = den = 0.0
    for i in range(len(d)):
        for j in range(len(d)):
            if e[i] == 1 and d[i] < d[j]:
                den += 1
                num += 1.0 if risk[i] > risk[j] else 0.5 if risk[i] == risk[j] else 0.0
    return num / den


def test_concordance_matches_the_pairwise_loop_with_censored_rows() -> None:
    rng = np.random.default_rng(0)
    d = rng.permutation(np.arange(1.0, 41.0))  # distinct times
    e = rng.integers(0, 2, 40)
    risk = np.round(rng.normal(size=40), 1)  # some ties in risk
    assert concordance(d, e, risk) == pytest.approx(brute_concordance(d, e, risk))


def test_time_dependent_auc_without_censoring_is_the_plain_auc_of_churn_by_then() -> None:
    rng = np.random.default_rng(1)
    d = rng.uniform(1, 200, 300)
    p = rng.uniform(size=300) + (d < 60)
    assert td_auc(d, np.ones(300, int), p, 60) == pytest.approx(roc_auc_score(d <= 60, p))


def test_censoring_survival_is_the_kaplan_meier_of_the_censorings() -> None:
    d, e = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1, 0, 1, 0])
    # at risk of censoring at 2: 3 rows, one censored -> 2/3; at 4: the last one -> 0
    np.testing.assert_allclose(censoring_survival(d, e, np.array([0.5, 2.0, 3.5, 4.0])), [1, 2 / 3, 2 / 3, 0])


def test_integrated_brier_without_censoring_is_the_mean_squared_error_integrated_by_trapezoids() -> None:
    d = np.array([10.0, 40.0, 70.0, 100.0, 130.0])
    curve = np.array([[0.2, 0.5, 0.6], [0.1, 0.3, 0.9], [0.0, 0.1, 0.2], [0.3, 0.3, 0.4], [0.1, 0.1, 0.1]])
    times = [30, 60, 90]
    brier = [np.mean(((d <= t).astype(float) - curve[:, j]) ** 2) for j, t in enumerate(times)]
    by_hand = ((brier[0] + brier[1]) / 2 * 30 + (brier[1] + brier[2]) / 2 * 30) / 60
    assert integrated_brier(d, np.ones(5, int), curve, times) == pytest.approx(by_hand)


def test_calibration_error_without_censoring_is_the_product_s_own() -> None:
    rng = np.random.default_rng(2)
    d, p = rng.uniform(1, 300, 500), rng.uniform(size=500)
    want = expected_calibration_error((d <= 90).astype(float), p)
    assert calibration_error(d, np.ones(500, int), p, 90) == pytest.approx(want)


def test_calibration_error_weights_the_followed_rows_by_hand() -> None:
    # rows: churn at 10, censored at 20 (unknown at 50: weight 0), followed past 50 (x2)
    d, e, p = np.array([10.0, 20.0, 60.0, 80.0]), np.array([1, 0, 0, 0]), np.array([0.9, 0.5, 0.2, 0.1])
    # G: censoring KM; at 10 -> 1 (no censoring yet); at 50 -> 2/3 (one of three at risk censored at 20)
    # one bin: weights 1, 1.5, 1.5; observed sum w y = 1, predicted sum w p = 0.9 + 0.3 + 0.15
    got = calibration_error(d, e, p, 50, bins=1)
    assert got == pytest.approx(abs(1.0 - (0.9 + 1.5 * 0.2 + 1.5 * 0.1)) / 4.0)


def test_times_past_the_follow_up_are_not_judged() -> None:
    rng = np.random.default_rng(3)
    d = np.minimum(rng.uniform(1, 400, 400), rng.uniform(90, 150, 400))
    e = (d < 100).astype(int)
    assert judged_times(d, e, (30, 60, 90, 180, 365)) == [30, 60, 90]
    curve = np.tile(np.linspace(0.1, 0.9, 12), (400, 1))
    got = curve_metrics(d, e, curve, times=(*range(30, 331, 30), 365))
    assert {"auc_30", "auc_90", "ece_90", "concordance", "ibs"} <= set(got) and "auc_180" not in got


def test_the_table_gives_every_metric_an_interval() -> None:
    rng = np.random.default_rng(4)
    n = 300
    risk = rng.uniform(size=n)
    t = rng.exponential(100 / (0.5 + risk))
    c = rng.uniform(60, 160, n)
    d, e = np.minimum(t, c), (t <= c).astype(int)
    times = (*range(30, 331, 30), 365)
    curve = 1 - np.exp(-np.outer(0.5 + risk, times) / 100)
    table = survival_table(d, e, {"good": curve, "flat": np.tile(curve.mean(0), (n, 1))}, np.arange(n) // 2,
                           times=times, resamples=30)  # fmt: skip
    good, flat = table.metrics["good"], table.metrics["flat"]
    assert good["auc_90"] > 0.6 and flat["auc_90"] == pytest.approx(0.5)
    assert good["concordance"] > flat["concordance"] and good["ibs"] < flat["ibs"]
    for k, v in good.items():
        lo, hi = table.intervals["good"][k]
        # an error's bootstrap sits above it (small samples add noise to the bins): its interval need not hold it
        assert lo < hi and (k.startswith("ece") or lo <= v <= hi), k
