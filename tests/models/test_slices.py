"""The slices refuse a training set that leaves the trees nothing to grow on, naming the fix; their dates are
derived from the training set's when not given; the refit slice keeps the calibration and tuning accounts out."""

import pandas as pd
import pytest

from features.split import bucket
from models.config import TrainConfig
from models.slices import SALT, inner_slices, refit_trees, settled, training_slices


def test_no_date_before_the_gap_is_refused_with_the_fix() -> None:
    dates = pd.date_range("2025-01-01", periods=5, freq="MS", tz="UTC")  # the latest 2 start on 2025-04-01
    rows = pd.DataFrame([(f"A{i}", d) for i in range(50) for d in dates], columns=["account_id", "as_of"])
    kw = {"inner_dates": 2, "stop_share": 0.2, "calibrate_share": 0.2}
    # 2025-01-01 + 60 days is before 2025-04-01, 2025-02-01 + 60 days after it
    ok = inner_slices(rows["account_id"], rows["as_of"], gap_days=60, **kw)
    assert set(rows.loc[ok.fit, "as_of"]) == {dates[0]}
    with pytest.raises(ValueError, match=r"no training date lies 120 days .* lower --inner-dates"):
        inner_slices(rows["account_id"], rows["as_of"], gap_days=120, **kw)
    with pytest.raises(ValueError, match="has 2 snapshot dates"):
        inner_slices(rows["account_id"], rows["as_of"].where(rows["as_of"] < dates[2], dates[0]), gap_days=0, **kw)


def test_inner_dates_are_derived_from_the_dates_so_a_short_history_trains() -> None:
    """9 months of data with a 30-day horizon and 30 days of grace (a 60-day read window) leave 5 training dates:
    2 inner dates would leave the trees 1 date (January: February + 60 days is past April 1st), so 1 is taken."""
    dates = pd.date_range("2025-01-01", periods=5, freq="MS", tz="UTC")
    rows = pd.DataFrame([(f"A{i}", d) for i in range(200) for d in dates], columns=["account_id", "as_of"])
    short = settled(TrainConfig(), rows["as_of"], gap_days=60)
    assert (short.inner_dates, short.gap_days) == (1, 60)
    s = training_slices(rows, "churn", TrainConfig(gap_days=60))
    assert set(rows.loc[s.stop, "as_of"]) == {dates[-1]}
    assert set(rows.loc[s.fit, "as_of"]) == set(dates[:3])  # Jan, Feb, Mar + 60 days end by May 1st
    long = pd.Series(pd.date_range("2024-01-01", periods=14, freq="MS", tz="UTC"))
    assert settled(TrainConfig(), long, gap_days=120).inner_dates == 2  # the demo's 14 training dates
    assert settled(TrainConfig(inner_dates=3), long, gap_days=120).inner_dates == 3  # given: kept


def test_the_refit_grows_on_every_date_of_every_account_but_the_calibration_and_tuning_ones() -> None:
    """The refit slice, written out from its rule: the accounts whose salted bucket is in neither the calibration
    nor the tuning share, each at every training date (the latest too), and none of the calibration rows' accounts;
    ``refit_trees`` by hand."""
    dates = pd.date_range("2025-01-01", periods=8, freq="MS", tz="UTC")
    rows = pd.DataFrame([(f"A{i}", d) for i in range(400) for d in dates], columns=["account_id", "as_of"])
    s = inner_slices(rows["account_id"], rows["as_of"], inner_dates=2, gap_days=60, stop_share=0.2,
                     calibrate_share=0.2, tune_share=0.1)  # fmt: skip
    b = bucket(rows["account_id"], SALT).to_numpy() / 10_000
    expected = ~((b >= 0.2) & (b < 0.5))  # calibration [0.2, 0.4), tuning [0.4, 0.5)
    assert (s.refit == expected).all()
    refit_accounts = set(rows.loc[s.refit, "account_id"])
    assert not refit_accounts & set(rows.loc[s.calibrate | s.tune, "account_id"])
    assert set(rows.loc[s.refit, "as_of"]) == set(dates)
    assert (s.refit >= s.fit).all() and (s.refit >= s.stop).all()  # it holds the fit and stop rows
    assert s.counts()["refit"] == int(expected.sum())
    assert refit_trees(100, fit_rows=1000, refit_rows=2500) == 158  # 100 * sqrt(2.5) = 158.1
    assert refit_trees(100, fit_rows=1000, refit_rows=1000) == 100
    assert refit_trees(1, fit_rows=1000, refit_rows=500) == 1  # never fewer than stopping found
    one_date = inner_slices(rows["account_id"], pd.Series(dates[0], index=rows.index), inner_dates=2, gap_days=60,
                            stop_share=0.2, calibrate_share=0.2)  # fmt: skip
    assert (one_date.refit == ~((b >= 0.2) & (b < 0.4))).all()
