"""The effect estimator against closed forms on hand-made frames, and the coverage of its intervals on a fast
simulation with a known effect."""

import numpy as np
import pandas as pd
import pytest

from models.effects import adjusted_effect, difference_in_means, effects_table, hc2_ols, naive_effect

Y = np.array([1, 0, 0, 1, 0, 0, 1, 1, 0, 1], float)
T = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0], bool)
R = np.array([0.9, 0.1, 0.2, 0.6, 0.3, 0.1, 0.7, 0.8, 0.2, 0.5])


def test_the_difference_in_means_and_its_neyman_error_by_hand() -> None:
    got = difference_in_means(Y, T)
    # treated: 1, 0, 0, 1, 0 (mean 0.4, variance 0.3); held out: 0, 1, 1, 0, 1 (mean 0.6, variance 0.3)
    assert got.estimate == pytest.approx(0.4 - 0.6)
    assert got.se == pytest.approx(np.sqrt(0.3 / 5 + 0.3 / 5))
    assert (got.treated, got.control) == (5, 5)


def test_without_a_covariate_the_regression_is_the_difference_in_means_with_the_same_error() -> None:
    beta, cov = hc2_ols(np.column_stack([np.ones(10), T]), Y)
    plain = difference_in_means(Y, T)
    assert beta[1] == pytest.approx(plain.estimate)
    assert np.sqrt(cov[1, 1]) == pytest.approx(plain.se)  # HC2 of a binary regressor is Neyman's variance


def test_the_adjusted_effect_is_lins_closed_form() -> None:
    # Lin (2013): each group's mean moved to the overall mean risk along its own least-squares slope.
    xbar = R.mean()
    moved = []
    for g in (T, ~T):
        slope = np.polyfit(R[g], Y[g], 1)[0]
        moved.append(Y[g].mean() - slope * (R[g].mean() - xbar))
    assert adjusted_effect(Y, T, R).estimate == pytest.approx(moved[0] - moved[1])


def test_a_risk_that_explains_the_outcome_shrinks_the_error() -> None:
    rng = np.random.default_rng(0)
    risk = rng.beta(1, 6, 4000)
    t = rng.random(4000) < 0.7
    y = (rng.random(4000) < risk).astype(float)
    assert adjusted_effect(y, t, risk).se < difference_in_means(y, t).se


def test_the_90_percent_interval_covers_a_known_effect_about_90_percent_of_the_time() -> None:
    # CSM-like data: risk varies, 30% held out, the play removes 30% of each treated account's risk.
    rng = np.random.default_rng(1)
    hits, reps, n = 0, 400, 1500
    for _ in range(reps):
        risk = rng.beta(1.2, 8, n)
        t = rng.random(n) >= 0.3
        tau = -0.3 * risk
        y = (rng.random(n) < risk + t * tau).astype(float)
        hits += adjusted_effect(y, t, risk).covers(float(tau.mean()), 0.90)  # the sample's own average effect
    assert 0.86 <= hits / reps <= 0.95  # binomial sd of the share over 400 runs: 0.015


def test_the_naive_comparison_is_biased_when_the_riskier_accounts_are_chosen() -> None:
    rng = np.random.default_rng(2)
    risk = rng.beta(1.2, 8, 20_000)
    acted = rng.random(20_000) < np.clip(4 * risk, 0, 1)  # riskier accounts first; the play does nothing
    y = (rng.random(20_000) < risk).astype(float)
    got = naive_effect(y, acted)
    assert got.estimate > 5 * got.se  # a "harmful" play out of nothing


def test_the_table_has_each_play_and_all_with_both_levels() -> None:
    frame = pd.DataFrame({"play": ["a"] * 5 + ["b"] * 5, "y": Y, "treated": T[[0, 5, 1, 6, 2, 7, 3, 8, 4, 9]],
                          "risk": R, "acted": T[[0, 5, 1, 6, 2, 7, 3, 8, 4, 9]]})  # fmt: skip
    table = effects_table(frame)
    assert table.play.tolist() == ["a", "b", "all"]
    assert (table.lo95 < table.lo90).all() and (table.hi90 < table.hi95).all()
    whole = adjusted_effect(frame.y, frame.treated, frame.risk)
    assert table.effect.iloc[-1] == pytest.approx(whole.estimate)


def test_a_group_too_small_is_refused_naming_the_counts() -> None:
    with pytest.raises(ValueError, match="at least 2 accounts in each group; got 1 treated and 3 held out"):
        difference_in_means(np.array([1.0, 0, 1, 0]), np.array([True, False, False, False]))
