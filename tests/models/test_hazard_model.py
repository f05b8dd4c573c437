"""The discrete-time hazard model on a synthetic book whose true hazard is known: a feature that doubles the
hazard is recovered, the curve never falls with the horizon, and each horizon is calibrated."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.config import TrainConfig
from models.hazard import HORIZONS, INTERVAL_ENDS
from models.hazard_model import INTERVAL, HazardModel, censored_at, fit_hazard, load_hazard, person_period, save

BASE = 0.03  # the true hazard per 30-day interval; ``risky`` rows have twice it
GRACE = 30


def book(n: int, seed: int, dates: int = 18) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """``n`` snapshots (one per account) at monthly dates, a 0/1 feature ``risky`` that doubles the hazard and a
    noise feature; the true churn day of each, and its survival times censored at the data's end (less grace)."""
    rng = np.random.default_rng(seed)
    starts = pd.date_range("2024-01-01", periods=dates, freq="MS", tz="UTC")
    as_of = starts[rng.integers(0, dates, n)]
    risky = rng.integers(0, 2, n)
    h = BASE * (1 + risky)
    # the churn's interval is geometric in the hazard, its day uniform inside the 30 days
    day = (rng.geometric(h) - 1) * 30 + rng.uniform(0, 30, n)
    rows = pd.DataFrame({"account_id": [f"A{i}" for i in range(n)], "as_of": as_of, "risky": risky.astype(float),
                         "noise": rng.normal(size=n), "label": 0})  # fmt: skip
    follow = ((starts[-1] + pd.Timedelta(days=400 - GRACE)) - pd.Series(as_of)).dt.days.to_numpy(dtype=float)
    duration, event = censored_at(day, np.ones(n, int), follow)
    return rows, day, duration, event


@pytest.fixture(scope="module")
def fitted() -> HazardModel:
    rows, _, duration, event = book(8000, seed=1, dates=12)
    cfg = TrainConfig.for_target("churn", min_child_samples=200, inner_dates=2, gap_days=120)
    return fit_hazard(rows, duration, event, cfg, GRACE)


def test_person_period_rows_repeat_the_features_and_drop_barely_followed_intervals() -> None:
    X = pd.DataFrame({"f": [1.0, 2.0, 3.0]})
    # row 0: churns on day 45; row 1: followed 31 days (1 day into interval 1: left out); row 2: 50 days
    pp, y = person_period(X, np.array([45.0, 31.0, 50.0]), np.array([1, 0, 0]))
    assert pp["f"].tolist() == [1.0, 1.0, 2.0, 3.0, 3.0]
    assert pp[INTERVAL].tolist() == [0, 1, 0, 0, 1] and y.tolist() == [0, 1, 0, 0, 0]


def test_the_feature_that_doubles_the_hazard_is_recovered(fitted: HazardModel) -> None:
    rows, _, _, _ = book(2000, seed=2)
    h = fitted.hazards(rows)
    assert h.shape == (2000, len(INTERVAL_ENDS))
    risky = rows["risky"].to_numpy() == 1
    ratio = h[risky, :6].mean() / h[~risky, :6].mean()
    assert 1.6 < ratio < 2.5, ratio
    assert abs(h[~risky, :6].mean() - BASE) < 0.01


def test_the_curve_never_falls_with_the_horizon(fitted: HazardModel) -> None:
    rows, _, _, _ = book(500, seed=3)
    p = fitted.churn_within(rows)
    assert p.shape == (500, len(HORIZONS)) and np.all(np.diff(p, axis=1) >= -1e-12)
    assert np.all((p >= 0) & (p <= 1))
    days = fitted.median_day(rows)
    # at twice 3% a month, half the risky accounts are gone after about 11 months; the others within a year: not
    assert all(d is None for d, r in zip(days, rows["risky"], strict=True) if r == 0)


def test_each_horizon_is_calibrated(fitted: HazardModel) -> None:
    rows, day, _, _ = book(4000, seed=4)
    p = fitted.churn_within(rows)
    for j, horizon in enumerate(HORIZONS):
        for risky in (0, 1):
            pick = rows["risky"].to_numpy() == risky
            observed = float((day[pick] <= horizon).mean())
            assert abs(p[pick, j].mean() - observed) < 0.035, (horizon, risky, p[pick, j].mean(), observed)


def test_saved_and_loaded_it_predicts_the_same(fitted: HazardModel, tmp_path: Path) -> None:
    rows, _, _, _ = book(50, seed=5)
    again = load_hazard(save(fitted, tmp_path))
    np.testing.assert_array_equal(again.churn_within(rows), fitted.churn_within(rows))
    with pytest.raises(TypeError, match="not a HazardModel"):
        (tmp_path / "x.pkl").write_bytes(__import__("pickle").dumps({"a": 1}))
        load_hazard(tmp_path / "x.pkl")


def test_too_few_churns_is_a_clear_error() -> None:
    rows, _, duration, _ = book(100, seed=6)
    with pytest.raises(ValueError, match="at least 20"):
        fit_hazard(rows, duration, np.zeros(100, int), TrainConfig(), GRACE)
