"""Calibration never reorders the model's ranking: on a slice where noise gives the scores a negative relation
with the outcome, Platt scaling keeps the slope at 1 and fits the level alone."""

import numpy as np
import pytest

from models.calibration import Isotonic, Platt, choose


def test_platt_follows_a_positive_relation() -> None:
    rng = np.random.default_rng(0)
    raw = rng.normal(0, 1, 5000)
    y = (rng.random(5000) < 1 / (1 + np.exp(-(2 * raw - 1)))).astype(float)
    p = Platt().fit(raw, y)
    assert not p.slope_fixed_ and p.a_ == pytest.approx(2, abs=0.2) and p.b_ == pytest.approx(-1, abs=0.2)


def test_platt_never_turns_the_ranking_upside_down() -> None:
    rng = np.random.default_rng(1)
    raw = rng.normal(-2, 1, 400)
    y = (rng.random(400) < 1 / (1 + np.exp(-(-0.5 * raw - 4)))).astype(float)  # higher score, fewer positives
    p = Platt().fit(raw, y)
    assert p.slope_fixed_ and p.a_ == 1.0
    out = p(raw)
    assert (np.diff(out[np.argsort(raw)]) >= 0).all()  # the order of the raw scores is kept
    assert out.mean() == pytest.approx(y.mean(), abs=1e-6)  # the level: mean predicted = observed rate


def test_auto_takes_isotonic_only_on_a_slice_large_enough_for_it() -> None:
    """A step-shaped relation that isotonic regression fits better than a sigmoid: chosen on 5,000 rows, refused
    (Platt instead) on 600 rows, whatever their cross-validated Brier scores say."""
    rng = np.random.default_rng(2)

    def slice_of(n: int) -> tuple[np.ndarray, np.ndarray]:
        raw = rng.normal(0, 1, n)
        return raw, (rng.random(n) < np.where(raw > 1.0, 0.6, 0.05)).astype(float)

    raw, y = slice_of(5000)
    chosen, brier = choose(raw, y, "auto", seed=0)
    assert brier["isotonic"] < brier["platt"] and isinstance(chosen, Isotonic)
    raw, y = slice_of(600)
    chosen, brier = choose(raw, y, "auto", seed=0)
    assert brier["isotonic"] < brier["platt"] and isinstance(chosen, Platt)
