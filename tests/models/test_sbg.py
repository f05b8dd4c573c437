import numpy as np
from scipy.special import betaln

from models.sbg import SBG, fit_sbg


def test_survival_matches_a_brute_force_integral() -> None:
    m = SBG(alpha=0.7, beta=3.0)
    theta = np.random.default_rng(0).beta(0.7, 3.0, size=400_000)
    for t in (1, 3, 12):
        assert abs(m.survival(t) - np.mean((1 - theta) ** t)) < 3e-3
    assert m.survival(0) == 1.0
    assert abs(m.survival(1) - np.exp(betaln(0.7, 4.0) - betaln(0.7, 3.0))) < 1e-12


def test_fit_recovers_known_parameters_from_simulated_censored_data() -> None:
    rng = np.random.default_rng(1)
    n, horizon = 20_000, 12
    theta = rng.beta(0.8, 2.5, size=n)
    t = rng.geometric(theta)  # the period of churn, >= 1
    seen = rng.integers(1, horizon + 1, size=n)  # each account followed for a different number of periods
    event = (t <= seen).astype(int)
    periods = np.where(event == 1, t, seen)
    m = fit_sbg(periods, event)
    assert abs(m.alpha - 0.8) < 0.1
    assert abs(m.beta - 2.5) < 0.35
