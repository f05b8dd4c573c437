"""The book's revenue retention over the next period (``models.forecast``), forecast from the warehouse's snapshots,
and its walk-forward backtest.

A period runs from a snapshot date d to the snapshot date ``months`` later (a quarter by default): the book is the
accounts in the snapshot at d with their ARR (12 x MRR of the rows serving d), their end ARR that of the snapshot
at the end (0 when the account is in no snapshot there: no longer a customer).

The backtest replays the forecast at every snapshot date q whose period has ended, as it would have run at q: a
churn model (``models.estimator.fit_on_slices``, as ``churn train`` fits it) trained only on the labels known at q
(as_of + the label's read window <= q), its probabilities for the accounts at q, and the past periods that had
ended by q (their shocks and retained-ARR ratios, from the same model's probabilities at their start). Nothing
after q is read but the realised figures the forecast is judged on.
"""

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from features.labels import LabelConfig
from models.estimator import fit_on_slices
from models.family import Model
from models.forecast import LEVELS, Forecast, forecast, past_period, realised
from models.hazard_model import HazardModel
from pipelines.snapshots.labels import stored_label_config

SAME_PERIOD_DAYS = 5  # a period this close to the churn label's horizon uses the churn model's probabilities
MIN_PERIODS = 3  # past periods before a backtest date: fewer give no spread worth the name


def snapshot_books(con: duckdb.DuckDBPyConnection, months: int = 3) -> pd.DataFrame:
    """Every snapshot row's account_id, as_of, segment, arr and end_arr (``months`` later; NaN when that snapshot
    date is not in the warehouse: the period has not ended)."""
    return con.sql(f"""
        WITH dates AS (SELECT DISTINCT as_of FROM features.snapshots)
        SELECT s.account_id, s.as_of, CAST(s.segment AS VARCHAR) AS segment, 12 * coalesce(s.mrr, 0) AS arr,
            CASE WHEN e.as_of IS NULL THEN NULL ELSE 12 * coalesce(x.mrr, 0) END AS end_arr
        FROM features.snapshots s
        LEFT JOIN dates e ON e.as_of = s.as_of + INTERVAL {int(months)} MONTH
        LEFT JOIN features.snapshots x ON x.account_id = s.account_id AND x.as_of = e.as_of
        ORDER BY s.as_of, s.account_id""").to_arrow_table().to_pandas()  # fmt: skip


def _training_rows(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.sql(
        "SELECT f.*, l.churn AS label FROM features.snapshots f JOIN features.labels l USING (account_id, as_of) "
        "ORDER BY f.as_of, f.account_id"
    ).to_arrow_table().to_pandas()  # fmt: skip


@dataclass(frozen=True)
class BacktestPoint:
    as_of: pd.Timestamp
    forecast: Forecast
    realised: dict[tuple[str, str], float]
    training_rows: int


def backtest(con: duckdb.DuckDBPyConnection, months: int = 3, draws: int = 2000, every: int = 1) -> list[BacktestPoint]:
    """The forecast at every ``every``-th snapshot date whose period has ended and that has ``MIN_PERIODS`` past
    periods ended before it, each as it would have run then (see the module's docstring)."""
    cfg = stored_label_config(con) or LabelConfig()
    reads = pd.Timedelta(days=cfg.reads_days("churn"))
    books = snapshot_books(con, months)
    rows = _training_rows(con)
    dates = sorted(books["as_of"].unique())
    ended = [d for d in dates if books.loc[books["as_of"] == d, "end_arr"].notna().all()]
    points: list[BacktestPoint] = []
    for q in ended[::-1][::every][::-1]:
        q = pd.Timestamp(q)
        past = [pd.Timestamp(d) for d in dates if pd.Timestamp(d) + pd.DateOffset(months=months) <= q]
        train = rows[(rows["label"].notna()) & (pd.to_datetime(rows["as_of"]) + reads <= q)]
        if len(past) < MIN_PERIODS:
            continue
        try:
            model = fit_on_slices(train.assign(label=train["label"].astype("int8")), "churn")
        except ValueError:  # too few labeled dates at q for the model's slices (``models.slices``): not yet
            continue
        scored = rows[rows["as_of"].isin([*past, q])]
        p = pd.Series(model.predict_proba(model.prepare(scored))[:, 1], index=scored.index)
        keyed = books.merge(
            scored[["account_id", "as_of"]].assign(p_churn=p.to_numpy()), on=["account_id", "as_of"], how="inner"
        )
        history = [past_period(keyed[keyed["as_of"] == d]) for d in past]
        book = keyed[keyed["as_of"] == q]
        points.append(BacktestPoint(q, forecast(book, history, draws=draws, seed=len(points)), realised(book),
                                    len(train)))  # fmt: skip
    return points


def backtest_table(points: list[BacktestPoint]) -> pd.DataFrame:
    """One row per backtest date, group and measure: the forecast, its intervals and the realised figure, with
    whether each interval covered it."""
    out = []
    for pt in points:
        f = pt.forecast.frame()
        f["as_of"] = pt.as_of
        f["realised"] = [pt.realised[g, m] for g, m in zip(f["group"], f["measure"], strict=True)]
        for level in LEVELS:
            k = round(level * 100)
            f[f"covered{k}"] = (f[f"lo{k}"] <= f["realised"]) & (f["realised"] <= f[f"hi{k}"])
        out.append(f)
    table = pd.concat(out, ignore_index=True)
    table["error"] = table["point"] - table["realised"]
    return table


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per group and measure: backtest dates, mean absolute error (points of retention), mean error (bias), and the
    share of dates each interval covered the realised figure."""
    g = table.groupby(["group", "measure"], sort=False)
    out = g.agg(dates=("error", "size"), mean_abs_error=("error", lambda e: float(np.mean(np.abs(e)))),
                bias=("error", "mean"))  # fmt: skip
    for level in LEVELS:
        k = round(level * 100)
        out[f"covered{k}"] = g[f"covered{k}"].mean()
    return out.reset_index()


@dataclass(frozen=True)
class BookForecast:
    as_of: pd.Timestamp
    months: int
    forecast: Forecast
    accounts: int
    arr: float
    model: str  # which churn model gave the probabilities


def book_forecast(
    con: duckdb.DuckDBPyConnection, model: Model, model_name: str, months: int = 3, draws: int = 4000,
    curve: HazardModel | None = None,
) -> BookForecast:  # fmt: skip
    """The forecast of the latest snapshot date's book over the next ``months``, with churn probabilities at that
    date and at the start of every past period that has ended (``models.forecast``): ``model``'s when the period is
    its label's horizon (within ``SAME_PERIOD_DAYS``), else P(churn within the period) from ``curve`` (the churn
    model's hazard model) when there is one. Without a curve, ``model``'s probabilities stand for a period they
    were not made for; the past periods' shocks then carry the difference (the model name says so)."""
    books = snapshot_books(con, months)
    if books.empty:
        raise ValueError("the warehouse has no feature snapshots: run `churn features build` first")
    dates = sorted(pd.Timestamp(d) for d in books["as_of"].unique())
    latest = dates[-1]
    past = [d for d in dates if d + pd.DateOffset(months=months) <= latest]
    if len(past) < 2:
        raise ValueError(f"the forecast needs at least 2 ended {months}-month periods before {latest:%Y-%m-%d}, "
                         f"the snapshots hold {len(past)}: build snapshots over a longer history, or pass a "
                         "shorter --months")  # fmt: skip
    rows = _training_rows(con)
    scored = rows[rows["as_of"].isin([*past, latest])]
    p = model.predict_proba(model.prepare(scored))[:, 1]
    days = round(months * 365 / 12)
    horizon = (stored_label_config(con) or LabelConfig()).horizon_days
    if abs(days - horizon) > SAME_PERIOD_DAYS:
        if curve is not None:
            p = curve.churn_within(scored, [days])[:, 0]
            model_name += f", churn within {days} days from its hazard model"
        else:
            model_name += f", its {horizon}-day probabilities (no hazard model)"
    keyed = books.merge(scored[["account_id", "as_of"]].assign(p_churn=p), on=["account_id", "as_of"])
    book = keyed[keyed["as_of"] == latest]
    history = [past_period(keyed[keyed["as_of"] == d]) for d in past]
    return BookForecast(latest, months, forecast(book, history, draws=draws), len(book), float(book["arr"].sum()),
                        model_name)  # fmt: skip


def store_forecast(con: duckdb.DuckDBPyConnection, f: BookForecast) -> None:
    """Replace the rows of ``f``'s date and period length in ``forecast.book`` (as_of, months, group, measure,
    point, lo80 .. hi95, accounts, arr, model, made_at)."""
    frame = f.forecast.frame().assign(as_of=f.as_of, months=f.months, accounts=f.accounts, arr=f.arr, model=f.model,
                                      made_at=pd.Timestamp.now(tz="UTC"))  # fmt: skip
    con.execute("CREATE SCHEMA IF NOT EXISTS forecast")
    con.register("_forecast", frame)
    try:
        con.execute("CREATE TABLE IF NOT EXISTS forecast.book AS SELECT * FROM _forecast WHERE false")
        con.begin()
        con.execute("DELETE FROM forecast.book WHERE as_of = ? AND months = ?", [f.as_of, f.months])
        con.execute("INSERT INTO forecast.book BY NAME SELECT * FROM _forecast")
        con.commit()
    finally:
        con.unregister("_forecast")


def forecast_document(f: BookForecast) -> dict[str, object]:
    """What the server shows (GET /v1/forecast, the Forecast page): the date, the period, the book, and per group
    and measure the point forecast and its intervals."""
    return {
        "as_of": f.as_of.isoformat(), "months": f.months, "accounts": f.accounts, "arr": round(f.arr, 2),
        "model": f.model, "draws": f.forecast.draws, "past_periods": f.forecast.periods,
        "figures": [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()}
                    for r in f.forecast.frame().to_dict("records")],
    }  # fmt: skip
