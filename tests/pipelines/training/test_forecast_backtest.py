"""The forecast's backtest on the small generated world: the books' end ARR against a pandas reference, and no
training row whose label was unknown at the backtest date (a planted leak, labels known only later, is caught)."""

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

import pipelines.forecast as fc
from features.labels import LabelConfig
from pipelines.forecast import backtest, backtest_table, snapshot_books, summary
from tests.models.conftest import World


def test_end_arr_is_the_account_s_arr_three_months_later_or_zero(world: World) -> None:
    with duckdb.connect(str(world.warehouse), read_only=True) as con:
        books = snapshot_books(con)
        snaps = con.sql("SELECT account_id, as_of, mrr FROM features.snapshots").to_arrow_table().to_pandas()
    snaps["as_of"] = pd.to_datetime(snaps["as_of"], utc=True)
    dates = set(snaps["as_of"])
    later = snaps.assign(as_of=snaps["as_of"] - pd.DateOffset(months=3), end=12 * snaps["mrr"].fillna(0))
    ref = snaps.merge(later[["account_id", "as_of", "end"]], on=["account_id", "as_of"], how="left")
    ended = (ref["as_of"] + pd.DateOffset(months=3)).isin(dates)
    ref["end"] = ref["end"].where(~ended, ref["end"].fillna(0.0)).where(ended)
    books["as_of"] = pd.to_datetime(books["as_of"], utc=True)
    got = books.merge(ref[["account_id", "as_of", "end"]], on=["account_id", "as_of"])
    assert len(got) == len(snaps) == len(books)
    pd.testing.assert_series_equal(got["end_arr"], got["end"], check_names=False)
    assert (got["end_arr"] == 0).sum() > 50  # accounts gone within the quarter: a real share, not none


def test_every_backtest_date_trains_only_on_labels_known_then(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[pd.Series] = []
    fit = fc.fit_on_slices

    def spy(rows: pd.DataFrame, target: str) -> object:
        seen.append(pd.to_datetime(rows["as_of"], utc=True))
        return fit(rows, target)

    monkeypatch.setattr(fc, "fit_on_slices", spy)
    with duckdb.connect(str(world.warehouse), read_only=True) as con:
        reads = pd.Timedelta(days=(fc.stored_label_config(con) or LabelConfig()).reads_days("churn"))
        points = backtest(con, draws=300, every=4)
    assert points and len(seen) >= len(points)
    by_date = {pt.as_of: s for pt, s in zip(points, seen[-len(points) :], strict=True)}
    for q, as_of in by_date.items():
        assert (as_of + reads <= q).all(), f"a training row at {q} read a label unknown then"
    s = summary(backtest_table(points))
    assert set(s["measure"]) == {"grr", "nrr"} and (s["dates"] == len(points)).all()


def test_the_book_forecast_is_of_the_latest_snapshot_and_stored_once_per_date(world: World, tmp_path: Path) -> None:
    copy = tmp_path / "w.duckdb"
    copy.write_bytes(world.warehouse.read_bytes())
    train = world.datasets["churn"]
    model = fc.fit_on_slices(train[train["split"] == "train"].drop(columns="split"), "churn")
    with duckdb.connect(str(copy)) as con:
        f = fc.book_forecast(con, model, "test", draws=400)
        fc.store_forecast(con, f)
        fc.store_forecast(con, f)  # again: the date's rows replaced, not doubled
        ((latest, n, arr),) = con.execute(
            "SELECT as_of, count(*), 12 * sum(coalesce(mrr, 0)) FROM features.snapshots "
            "WHERE as_of = (SELECT max(as_of) FROM features.snapshots) GROUP BY 1"
        ).fetchall()
        stored = con.execute("SELECT count(*), count(DISTINCT as_of) FROM forecast.book").fetchall()
    assert f.as_of == pd.Timestamp(latest) and f.accounts == n and f.arr == pytest.approx(arr)
    groups = 1 + train["segment"].nunique()
    assert stored == [(2 * groups, 1)]
    doc = fc.forecast_document(f)
    assert {r["measure"] for r in doc["figures"]} == {"grr", "nrr"}  # type: ignore[union-attr]


class Curve:
    """A churn curve that records the horizons it is asked for and answers a known probability."""

    def __init__(self, p: float) -> None:
        self.p, self.asked = p, list[list[int]]()

    def churn_within(self, rows: pd.DataFrame, horizons: list[int]) -> np.ndarray:
        self.asked.append(list(horizons))
        return np.full((len(rows), len(horizons)), self.p)


def test_a_period_other_than_the_labels_horizon_reads_the_churn_curve(world: World, tmp_path: Path) -> None:
    train = world.datasets["churn"]
    model = fc.fit_on_slices(train[train["split"] == "train"].drop(columns="split"), "churn")
    curve = Curve(0.3)
    with duckdb.connect(str(world.warehouse), read_only=True) as con:
        quarter = fc.book_forecast(con, model, "m", months=3, draws=300, curve=curve)  # type: ignore[arg-type]
        assert curve.asked == [] and quarter.model == "m"  # the label's 90 days: the churn model's own
        half = fc.book_forecast(con, model, "m", months=6, draws=300, curve=curve)  # type: ignore[arg-type]
        alone = fc.book_forecast(con, model, "m", months=6, draws=300)
    assert curve.asked == [[182]] and "churn within 182 days from its hazard model" in half.model
    assert "its 90-day probabilities (no hazard model)" in alone.model
    # every account at 0.3, past periods included: the shock is fitted to the same probabilities, so the forecast
    # differs from the one with the model's probabilities
    assert half.forecast.frame()["point"].tolist() != alone.forecast.frame()["point"].tolist()
