"""The retention forecast against references written here: the shock's equation solved by bisection, the
independent-accounts case against its closed-form mean and variance, and the intervals' coverage on periods
simulated from the forecast's own assumptions with a known shock spread."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from models.forecast import Period, churn_shock, forecast, past_period, realised


def test_the_shock_makes_the_predicted_churned_arr_equal_the_realised() -> None:
    rng = np.random.default_rng(1)
    arr, p = rng.uniform(1, 100, 500), rng.uniform(0.01, 0.3, 500)
    churned = (rng.random(500) < np.clip(p * 1.8, 0, 1)).astype(float)  # more churn than predicted
    lo, hi = -8.0, 8.0  # the reference: plain bisection on the ARR-weighted gap
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if np.sum(arr * expit(logit(p) + mid)) < np.sum(arr * churned) else (lo, mid)
    z = churn_shock(arr, p, churned)
    assert z == pytest.approx((lo + hi) / 2, abs=1e-5)
    assert z > 0
    assert churn_shock(arr, p, np.zeros(500)) == -8.0  # nobody churned: the bound, not an error


def test_without_shock_spread_or_growth_the_forecast_is_the_independent_accounts_sum() -> None:
    rng = np.random.default_rng(2)
    n = 400
    book = pd.DataFrame({"segment": "smb", "arr": rng.uniform(1, 50, n), "p_churn": rng.uniform(0.02, 0.4, n)})
    flat = Period({"smb": 0.0}, {"smb": 1.0}, {"smb": 1.0})
    f = forecast(book, [flat, flat, flat], draws=20_000, seed=3)
    a, p = book["arr"].to_numpy(), book["p_churn"].to_numpy()
    mean = np.sum(a * (1 - p)) / a.sum()
    sd = np.sqrt(np.sum(a**2 * p * (1 - p))) / a.sum()
    assert f.point["all", "nrr"] == pytest.approx(mean, abs=4 * sd / np.sqrt(20_000) + 1e-4)
    assert f.point["all", "grr"] == pytest.approx(f.point["all", "nrr"])
    lo, hi = f.interval["all", "nrr", 0.9]
    assert (hi - lo) / 2 == pytest.approx(1.645 * sd, rel=0.06)


def test_the_90_percent_interval_covers_about_90_percent_of_periods_drawn_with_a_shared_shock() -> None:
    """Periods drawn as the forecast assumes (a segment-wide shock N(0.3, 0.4^2) on the logit, then independent
    accounts; survivors grow 2% or 5%): the intervals built from 12 past periods of the same world cover the
    realised NRR in 90% of 120 new periods, within binomial noise."""
    rng = np.random.default_rng(4)
    n = 300
    book = pd.DataFrame({"segment": np.where(np.arange(n) % 3 == 0, "ent", "smb"), "arr": rng.uniform(5, 80, n),
                         "p_churn": rng.uniform(0.02, 0.25, n)})  # fmt: skip

    def period() -> pd.DataFrame:
        z = rng.normal(0.3, 0.4)
        churned = rng.random(n) < expit(logit(book["p_churn"]) + z)
        growth = rng.choice([1.02, 1.05])
        return book.assign(end_arr=np.where(churned, 0.0, book["arr"] * growth))

    history = [past_period(period()) for _ in range(12)]
    hits = []
    for k in range(120):
        f = forecast(book, history, draws=600, seed=k)
        lo, hi = f.interval["all", "nrr", 0.9]
        hits.append(lo <= realised(period())["all", "nrr"] <= hi)
    share = float(np.mean(hits))
    assert 0.80 <= share <= 0.98, share


def test_fewer_than_two_past_periods_is_refused_with_the_fix() -> None:
    book = pd.DataFrame({"segment": ["smb"], "arr": [1.0], "p_churn": [0.1]})
    with pytest.raises(ValueError, match="longer history"):
        forecast(book, [Period({"smb": 0.0}, {"smb": 1.0}, {"smb": 1.0})])


def test_realised_retention_by_hand() -> None:
    book = pd.DataFrame({"segment": ["a", "a", "b"], "arr": [100.0, 50.0, 10.0], "end_arr": [120.0, 0.0, 5.0]})
    got = realised(book)
    assert got["all", "nrr"] == pytest.approx(125 / 160)
    assert got["all", "grr"] == pytest.approx((100 + 0 + 5) / 160)
    assert got["a", "nrr"] == pytest.approx(120 / 150)
    assert got["b", "grr"] == pytest.approx(0.5)
