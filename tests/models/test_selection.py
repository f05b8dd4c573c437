"""The choice of family and settings on the training rows: folds that keep every fit row's label window off the
dates it is judged on (against a brute-force enumeration), a planted leak caught, folds of accounts on a table with
one date, and the right family winning where the truth is linear and rows are few, and where it is an interaction."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from models import selection
from models.config import TrainConfig
from models.selection import Fold, check_fold, cut_folds, select, time_fold_count


def _rows(accounts: int, dates: pd.DatetimeIndex) -> pd.DataFrame:
    return pd.DataFrame([(f"A{i}", d) for i in range(accounts) for d in dates], columns=["account_id", "as_of"])


@pytest.mark.parametrize(("freq", "gap"), [("MS", 60), ("MS", 120), ("W-MON", 30), ("W-MON", 90)])
def test_no_fit_row_reads_into_its_judged_dates(freq: str, gap: int) -> None:
    dates = pd.date_range("2024-01-01", periods=14 if freq == "MS" else 40, freq=freq, tz="UTC")
    rows = _rows(120, dates)
    folds, how = cut_folds(rows["account_id"], rows["as_of"], folds=None, gap_days=gap)
    assert len(folds) == 3 and "time folds" in how
    block = 1 if freq == "MS" else 4
    judged_dates = []
    for f in folds:
        judged = rows[f.judge]
        first = judged["as_of"].min()
        judged_dates.append(sorted(set(judged["as_of"])))
        # Brute force, row by row: every row the fold learns from has a label that ends by the first judged date,
        # and belongs to an account the fold does not judge.
        judged_accounts = set(judged["account_id"])
        for i in np.flatnonzero(f.fit | f.stop):
            row = rows.iloc[i]
            assert row["as_of"] + pd.Timedelta(days=gap) <= first
            assert row["account_id"] not in judged_accounts
        # ... and every row that could be used that way is (no fit row thrown away), split between fit and stop.
        usable = [i for i in range(len(rows)) if rows["as_of"].iloc[i] + pd.Timedelta(days=gap) <= first
                  and rows["account_id"].iloc[i] not in judged_accounts]  # fmt: skip
        assert sorted(np.flatnonzero(f.fit | f.stop)) == usable
        assert not (f.fit & f.stop).any()
    # one block of the latest dates per fold, the latest first
    expected = [list(dates[len(dates) - (k + 1) * block : len(dates) - k * block]) for k in range(3)]
    assert judged_dates == expected
    groups = [set(rows.loc[f.judge, "account_id"]) for f in folds]
    assert not (groups[0] & groups[1]) and not (groups[1] & groups[2])


def test_a_planted_leak_is_caught() -> None:
    dates = pd.date_range("2024-01-01", periods=10, freq="MS", tz="UTC")
    rows = _rows(60, dates)
    fold = cut_folds(rows["account_id"], rows["as_of"], folds=None, gap_days=60)[0][0]
    check_fold(fold, rows["account_id"], rows["as_of"])  # the real fold passes
    late = (rows["as_of"] == dates[-2]).to_numpy() & ~rows["account_id"].isin(rows.loc[fold.judge, "account_id"])
    leaky = replace(fold, fit=fold.fit | late.to_numpy())  # fit rows whose 60-day label reads the judged date
    with pytest.raises(ValueError, match="past its first judged date"):
        check_fold(leaky, rows["account_id"], rows["as_of"])
    shared = replace(fold, fit=fold.fit | (rows["as_of"] == dates[0]).to_numpy())  # the judged accounts too
    with pytest.raises(ValueError, match=r"share \d+ accounts"):
        check_fold(shared, rows["account_id"], rows["as_of"])


def test_select_refuses_leaky_folds(monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard is wired in: ``select`` on folds cut with the gap forgotten stops before fitting anything."""
    rows, _ = _linear(accounts=200, seed=1)
    real = selection.cut_folds

    def no_gap(account_id: pd.Series, as_of: pd.Series, *, folds: int | None, gap_days: int) -> tuple[list[Fold], str]:
        cut, how = real(account_id, as_of, folds=folds, gap_days=0)
        return [replace(f, gap_days=gap_days) for f in cut], how

    monkeypatch.setattr(selection, "cut_folds", no_gap)
    with pytest.raises(ValueError, match="past its first judged date"):
        select(rows, "churn", TrainConfig(gap_days=60))


def test_one_date_gives_folds_of_accounts() -> None:
    rows = _rows(300, pd.DatetimeIndex([pd.Timestamp("2025-01-01", tz="UTC")]))
    folds, how = cut_folds(rows["account_id"], rows["as_of"], folds=None, gap_days=120)
    assert len(folds) == 3 and "accounts" in how and "one date" in how
    assert sum(f.judge.sum() for f in folds) == len(rows)  # every account judged once
    for f in folds:
        check_fold(f, rows["account_id"], rows["as_of"])
        assert (f.fit | f.stop | f.judge).all()


def test_short_histories_get_fewer_folds_and_a_clear_error_when_asked_too_many() -> None:
    dates = pd.date_range("2024-01-01", periods=5, freq="MS", tz="UTC")
    # 70-day gap: judging 2024-05-01 leaves 2 fit dates (Jan, Feb); judging April leaves only January
    assert time_fold_count(dates.to_numpy(), 70) == 1
    rows = _rows(50, dates)
    with pytest.raises(ValueError, match=r"--folds 3 .* allow \(1\).*Lower --folds"):
        cut_folds(rows["account_id"], rows["as_of"], folds=3, gap_days=70)
    folds, how = cut_folds(rows["account_id"], rows["as_of"], folds=None, gap_days=150)  # no time fold possible
    assert len(folds) == 3
    assert "folds of accounts" in how and "too few for time folds" in how


def _linear(accounts: int, seed: int) -> tuple[pd.DataFrame, TrainConfig]:
    """A linear truth on 4 of 12 features, over 8 monthly dates."""
    rng = np.random.default_rng(seed)
    rows = _rows(accounts, pd.date_range("2024-01-01", periods=8, freq="MS", tz="UTC"))
    x = rng.normal(size=(len(rows), 12))
    logit = -1.0 + x[:, 0] - 0.8 * x[:, 1] + 0.6 * x[:, 2] + 0.4 * x[:, 3]
    rows[[f"x{j}" for j in range(12)]] = x
    rows["label"] = (rng.random(len(rows)) < 1 / (1 + np.exp(-logit))).astype(int)
    return rows, TrainConfig(gap_days=30)


def test_logistic_regression_wins_where_the_truth_is_linear_and_rows_are_few() -> None:
    rows, cfg = _linear(accounts=60, seed=3)  # 480 rows
    chosen = select(rows, "churn", cfg)
    assert chosen.family == "logistic", chosen.metrics()
    assert chosen.margin is not None and chosen.margin > 0
    assert set(chosen.scores) == {c.name for c in selection.lightgbm_grid() + selection.logistic_grid()}


def test_lightgbm_wins_on_a_strong_interaction() -> None:
    rng = np.random.default_rng(4)
    rows = _rows(1500, pd.date_range("2024-01-01", periods=6, freq="MS", tz="UTC"))
    x = rng.normal(size=(len(rows), 6))
    rows[[f"x{j}" for j in range(6)]] = x
    logit = np.where(x[:, 0] * x[:, 1] > 0, 1.5, -2.5)  # churn where the two agree in sign: no linear trace
    rows["label"] = (rng.random(len(rows)) < 1 / (1 + np.exp(-logit))).astype(int)
    chosen = select(rows, "churn", TrainConfig(gap_days=30))
    assert chosen.family == "lightgbm", chosen.metrics()
    assert chosen.margin is not None and chosen.margin > 0.1
