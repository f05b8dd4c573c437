"""The performance estimated from calibrated probabilities (``models.estimated``) against references computed here:
scikit-learn's curves on expected counts (each row as a positive of weight p and a negative of weight 1 - p), an
exhaustive enumeration of every label vector of a tiny example, Monte-Carlo averages of scikit-learn's realised AUC,
the interval's coverage of labels drawn from p, and a planted miscalibration that the estimate cannot see through."""

import itertools

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit, logit
from sklearn.metrics import average_precision_score, roc_auc_score

from models.estimated import (
    Recalibration,
    estimate,
    expected_pr_auc,
    expected_roc,
    expected_roc_auc,
    fit_recalibration,
    realised_pr_auc,
    realised_roc_auc,
    simulated_labels,
)


def probabilities(n: int, seed: int, decimals: int | None = None) -> np.ndarray:
    """Churn-like probabilities (mean about 0.09, long right tail); rounded, they hold ties."""
    p = np.random.default_rng(seed).beta(0.6, 6.0, size=n)
    return np.round(p, decimals) if decimals is not None else p


def weighted(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row twice, as a positive weighing p and a negative weighing 1 - p: sklearn's curves on these are the
    curves of the expected confusion counts."""
    return np.r_[np.ones(len(p)), np.zeros(len(p))], np.r_[p, p], np.r_[p, 1 - p]


@pytest.mark.parametrize("decimals", [None, 2])
def test_the_expected_roc_auc_is_sklearns_on_expected_counts(decimals: int | None) -> None:
    p = probabilities(3000, seed=1, decimals=decimals)
    y, s, w = weighted(p)
    assert expected_roc_auc(p) == pytest.approx(roc_auc_score(y, s, sample_weight=w), abs=1e-12)


@pytest.mark.parametrize("p", [[0.04, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 0.9], [0.05, 0.3, 0.3, 0.3, 0.5, 0.7, 0.7, 0.95]])
def test_tiny_example_by_exhaustive_enumeration(p: list[float]) -> None:
    """Every one of the 256 label vectors of 8 rows (the second example with ties), weighted by its probability."""
    p = np.array(p)
    thresholds = np.unique(p)[::-1]
    tp, fp, positives = np.zeros(len(thresholds)), np.zeros(len(thresholds)), 0.0
    mean_auc, both, precision_mass = 0.0, 0.0, 0.0
    for labels in itertools.product((0, 1), repeat=len(p)):
        y = np.array(labels)
        weight = float(np.prod(np.where(y == 1, p, 1 - p)))
        tp += weight * np.array([y[p >= t].sum() for t in thresholds])
        fp += weight * np.array([(1 - y[p >= t]).sum() for t in thresholds])
        positives += weight * y.sum()
        if y.any():
            precision_mass += weight * y.sum() * average_precision_score(y, p)
        if 0 < y.sum() < len(y):
            mean_auc += weight * roc_auc_score(y, p)
            both += weight
    tpr, fpr = np.r_[0, tp / positives], np.r_[0, fp / (len(p) - positives)]
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    # The ROC estimate is the area under the curve of the expected confusion counts, exactly.
    got_fpr, got_tpr = expected_roc(p)
    np.testing.assert_allclose(got_fpr, fpr, atol=1e-12)
    np.testing.assert_allclose(got_tpr, tpr, atol=1e-12)
    assert expected_roc_auc(p) == pytest.approx(area, abs=1e-12)
    # The PR estimate is E[n_pos x AP] / E[n_pos], exactly.
    assert expected_pr_auc(p) == pytest.approx(precision_mass / positives, abs=1e-12)
    # The expected realised AUC (given both classes) is a ratio's expectation, not a ratio of expectations: on 8
    # rows they part by 0.03 (a row never pairs with itself in a realised AUC); the module documents the O(1/n) gap,
    # which test_expected_auc_is_the_mean_realised_auc shows closed on 1500 rows.
    assert abs(expected_roc_auc(p) - mean_auc / both) < 0.04


def test_expected_auc_is_the_mean_realised_auc() -> None:
    p = probabilities(1500, seed=2)
    rng = np.random.default_rng(3)
    realised = [roc_auc_score(y, p) for y in simulated_labels(p, 1000, rng)]
    precision = [average_precision_score(y, p) for y in simulated_labels(p, 1000, rng)]
    assert abs(expected_roc_auc(p) - np.mean(realised)) < 0.003  # Monte-Carlo error about 0.0007
    assert abs(expected_pr_auc(p) - np.mean(precision)) < 0.005  # the PR AUC's spread is twice the ROC AUC's


def test_the_vectorised_realised_metrics_are_sklearns() -> None:
    p = probabilities(400, seed=4, decimals=2)  # ties, which both take together as one threshold
    labels = simulated_labels(p, 30, np.random.default_rng(5))
    labels[0] = False  # one class only: no AUC
    roc, pr = realised_roc_auc(p, labels), realised_pr_auc(p, labels)
    assert np.isnan(roc[0]) and np.isnan(pr[0])
    np.testing.assert_allclose(roc[1:], [roc_auc_score(y, p) for y in labels[1:]], atol=1e-12)
    np.testing.assert_allclose(pr[1:], [average_precision_score(y, p) for y in labels[1:]], atol=1e-12)


def test_the_interval_covers_the_realised_auc_about_90_percent_of_the_time() -> None:
    rng = np.random.default_rng(6)
    covered = []
    for i in range(200):
        p = probabilities(400, seed=100 + i)
        e = estimate(p, draws=400, seed=i)["roc_auc"]
        y = rng.random(len(p)) < p
        covered.append(e.low <= roc_auc_score(y, p) <= e.high)
        assert e.low < e.value < e.high
    # 200 draws of a 90% event: 2.5 standard deviations either side is 0.85 to 0.95.
    assert 0.85 <= np.mean(covered) <= 0.95


def test_a_miscalibrated_model_gets_an_estimate_that_misses() -> None:
    """Probabilities squashed toward 0.5 rank the rows as well as the true ones, so the realised AUC is the same;
    but they claim every row is nearly a coin toss, so the AUC expected from them is far lower: the estimate is only
    as good as the calibration."""
    p = probabilities(3000, seed=7)
    squashed = 0.5 + 0.2 * (p - 0.5)
    y = np.random.default_rng(8).random(len(p)) < p
    realised = roc_auc_score(y, squashed)
    assert realised == roc_auc_score(y, p)
    honest, fooled = estimate(p)["roc_auc"], estimate(squashed)["roc_auc"]
    assert honest.low <= realised <= honest.high
    assert fooled.high < realised
    assert realised - fooled.value > 0.1


def test_the_estimate_is_seeded_and_refuses_what_is_no_probability() -> None:
    p = probabilities(500, seed=9)
    assert estimate(p, seed=1) == estimate(p, seed=1)
    with pytest.raises(ValueError, match="drop the rows that were not scored"):
        estimate(np.r_[p, np.nan])
    with pytest.raises(ValueError, match="level must lie strictly between 0 and 1, got 90"):
        estimate(p, level=90)
    assert np.isnan(expected_roc_auc(np.zeros(5))) and np.isnan(estimate(np.zeros(5))["roc_auc"].low)


def platt_by_hand(p: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) maximising the likelihood of y under expit(a + b logit p) by scipy's BFGS on the log-likelihood and its
    gradient written here, and the inverse of the negative log-likelihood's Hessian there, by central differences.
    Probabilities are clipped to [1e-6, 1 - 1e-6] first, as the documented map does."""
    x = logit(np.clip(p, 1e-6, 1 - 1e-6))

    def nll(ab: np.ndarray) -> float:
        q = np.clip(expit(ab[0] + ab[1] * x), 1e-12, 1 - 1e-12)
        return float(-np.sum(y * np.log(q) + (1 - y) * np.log(1 - q)))

    def grad(ab: np.ndarray) -> np.ndarray:
        r = expit(ab[0] + ab[1] * x) - y
        return np.array([r.sum(), (r * x).sum()])

    ab = minimize(nll, np.array([0.0, 1.0]), jac=grad, method="BFGS", options={"gtol": 1e-8}).x
    h, hess = 1e-4, np.zeros((2, 2))
    for i, j in itertools.product(range(2), range(2)):
        ei, ej = np.eye(2)[i] * h, np.eye(2)[j] * h
        hess[i, j] = (nll(ab + ei + ej) - nll(ab + ei - ej) - nll(ab - ei + ej) + nll(ab - ei - ej)) / (4 * h * h)
    return ab, np.linalg.inv(hess)


def test_the_recalibration_is_the_likelihoods_maximum_with_its_covariance() -> None:
    rng = np.random.default_rng(11)
    truth = probabilities(4000, seed=12)
    overconfident = expit(1.6 * logit(truth) - 0.5)  # what the map must undo: b = 1/1.6, a = -0.5/1.6 . b
    y = (rng.random(len(truth)) < truth).astype(float)
    fitted = fit_recalibration(overconfident, y)
    assert fitted is not None and fitted.rows == len(y)
    ab, cov = platt_by_hand(overconfident, y)
    assert (fitted.a, fitted.b) == pytest.approx(tuple(ab), abs=1e-4)
    np.testing.assert_allclose(fitted.cov, cov, rtol=1e-3)
    # The true map lies within about three standard errors.
    true_b = 1 / 1.6
    assert abs(fitted.b - true_b) < 3 * np.sqrt(fitted.cov[1, 1])
    assert abs(fitted.a - 0.5 * true_b) < 3 * np.sqrt(fitted.cov[0, 0])
    # Too few rows, one class, or a map that would reverse the order: none.
    assert fit_recalibration(overconfident[:100], y[:100]) is None
    assert fit_recalibration(overconfident, np.zeros(len(y))) is None
    assert fit_recalibration(overconfident, 1 - y) is None


def test_a_recalibrated_estimate_covers_what_the_miscalibrated_one_missed() -> None:
    """A model whose probabilities are overconfident (the true ones pushed apart on the logit scale): the AUC
    expected from them as they are overstates the realised one and its interval misses it nearly always; fitted on
    a matured sample of the same model (other accounts, same process), the recalibrated estimate's interval covers
    the realised AUC about as often as its level says."""
    rng = np.random.default_rng(13)
    raw, recalibrated = [], []
    for i in range(60):
        truth_ref, truth = probabilities(3000, seed=200 + i), probabilities(3000, seed=400 + i)
        model_ref, model = (expit(1.8 * logit(t) + 0.9) for t in (truth_ref, truth))
        fitted = fit_recalibration(model_ref, (rng.random(len(truth_ref)) < truth_ref).astype(float))
        y = rng.random(len(truth)) < truth
        realised = roc_auc_score(y, model)
        for out, recal in ((raw, None), (recalibrated, fitted)):
            e = estimate(model, draws=300, seed=i, recalibration=recal)["roc_auc"]
            out.append((e.low <= realised <= e.high, e.value - realised))
    assert np.mean([c for c, _ in raw]) < 0.2 and np.mean([e for _, e in raw]) > 0.02
    # 60 draws of a 90% event: about 2.6 standard deviations below is 0.80.
    assert np.mean([c for c, _ in recalibrated]) >= 0.8
    assert abs(np.mean([e for _, e in recalibrated])) < 0.005


def test_a_recalibration_keeps_the_order_and_draws_around_its_map() -> None:
    p = probabilities(1000, seed=14)
    recal = Recalibration(-0.3, 0.7, np.array([[1e-4, 0.0], [0.0, 1e-4]]), 5000)
    q = recal.apply(p)
    assert (np.argsort(q, kind="stable") == np.argsort(p, kind="stable")).all()
    drawn = recal.drawn(p, 2000, np.random.default_rng(15))
    np.testing.assert_allclose(drawn.mean(axis=0), q, atol=2e-3)
    # With no uncertainty, the interval is that of labels drawn from the recalibrated probabilities.
    exact = Recalibration(-0.3, 0.7, np.zeros((2, 2)), 5000)
    assert estimate(p, draws=300, seed=3, recalibration=exact)["roc_auc"].value == pytest.approx(expected_roc_auc(q))
