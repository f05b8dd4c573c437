"""Qini and uplift at k against brute-force computations, and the T-learner on data with a known uplift."""

import numpy as np
import pytest

from models.uplift import qini_coefficient, qini_curve, t_learner, uplift_at


def _qini_by_hand(score: np.ndarray, y: np.ndarray, t: np.ndarray) -> list[float]:
    order = sorted(range(len(score)), key=lambda i: -score[i])  # sorted() is stable: ties by row order
    out = []
    for k in range(1, len(score) + 1):
        top = order[:k]
        n1 = sum(1 for i in top if t[i])
        n0 = k - n1
        c1 = sum(y[i] for i in top if t[i])
        c0 = sum(y[i] for i in top if not t[i])
        out.append((c0 * n1 / n0 if n0 else 0.0) - c1)
    return out


def test_the_qini_curve_and_coefficient_equal_brute_force() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        n = int(rng.integers(5, 40))
        score = rng.integers(0, 5, n).astype(float)  # ties on purpose
        y, t = (rng.random(n) < 0.3).astype(float), rng.random(n) < 0.6
        by_hand = _qini_by_hand(list(score), list(y), list(t))
        assert qini_curve(score, y, t) == pytest.approx(by_hand)
        line = [k / n * by_hand[-1] for k in range(1, n + 1)]
        coefficient = sum(q - v for q, v in zip(by_hand, line, strict=True)) / n / n
        assert qini_coefficient(score, y, t) == pytest.approx(coefficient)


def test_uplift_at_k_by_hand() -> None:
    score = np.array([5.0, 4, 3, 2, 1, 0])
    y = np.array([0.0, 1, 1, 1, 0, 1])
    t = np.array([True, False, True, False, True, False])
    # top half: rows 0 (treated, 0), 1 (held out, 1), 2 (treated, 1): 1.0 - 0.5
    assert uplift_at(score, y, t, 0.5) == pytest.approx(0.5)
    assert np.isnan(uplift_at(score, y, np.ones(6, bool), 0.5))


def test_the_right_ranking_beats_its_reverse() -> None:
    rng = np.random.default_rng(4)
    n = 20_000
    tau = rng.uniform(0, 0.3, n)  # churn prevented by the play
    t = rng.random(n) < 0.7
    y = (rng.random(n) < 0.35 - t * tau).astype(float)
    assert qini_coefficient(tau, y, t) > 0.01 > abs(qini_coefficient(rng.random(n), y, t))
    assert qini_coefficient(-tau, y, t) < 0


def test_the_t_learner_finds_who_the_play_helps() -> None:
    rng = np.random.default_rng(5)
    n = 6000
    x = rng.normal(0, 1, (n, 3))
    tau = 0.25 * (x[:, 0] > 0)  # helps only where the first feature is positive
    t = rng.random(n) < 0.7
    y = (rng.random(n) < 0.3 - t * tau).astype(float)
    got = t_learner(x, y, t, seed=1)
    assert got[x[:, 0] > 0].mean() - got[x[:, 0] <= 0].mean() > 0.15
    assert qini_coefficient(got, y, t) > 0.8 * qini_coefficient(tau, y, t)
