"""The ``customer-table`` and ``customer-month-table`` shapes: feature tables as a warehouse team computes them with
pandas from the raw tables, one row per customer at one as_of, or per customer and month start.

Written independently of the product's feature code (``features``): plain pandas over the world's tables, reading
only what is known at as_of: events in windows that end before it (``as_of - N days <= time < as_of``), and states
as at as_of (a subscription row, a contact's role or a cancellation that begins at or before it; the time a state
ends only once it has come). The population at an as_of is the accounts with a
subscription row in force then (``start_at <= as_of < end_at``).

The label ``churned`` follows the subscription rule of ``features.labels`` (the product's own churn definition,
not the generator's latent state): subscription rows separated by gaps of at most ``LABELS.grace_days`` days form
one stretch of service, and an account churned when the stretch in force at as_of ends within
``LABELS.horizon_days`` days after it. Only as_of dates whose label is known are written: as_of plus
``LABELS.reads_days("churn")`` days lies within the data (whose end is the last usage event).

Columns (``FEATURES``): customer_id, [as_of,] plan, segment, region, industry, tenure_days, mrr, seats,
mrr_change_90d, cancel_pending, logins_30d, events_30d, active_users_30d, days_since_last_login, tickets_90d,
avg_csat_90d, late_invoices_180d, failed_payments_180d, last_nps, has_champion, churned.
"""

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from features.labels import LABELS
from pipelines.generate.shapes.world import as_text, read, write_csv

TABLES = ("accounts", "subscriptions", "usage_events", "support_tickets", "invoices", "nps_responses", "contacts")
FEATURES = (
    "plan", "segment", "region", "industry", "tenure_days", "mrr", "seats", "mrr_change_90d", "cancel_pending",
    "logins_30d", "events_30d", "active_users_30d", "days_since_last_login", "tickets_90d", "avg_csat_90d",
    "late_invoices_180d", "failed_payments_180d", "last_nps", "has_champion",
)  # fmt: skip
DAY = pd.Timedelta(days=1)


def write_customer_table(world: Path, folder: Path) -> dict[str, int]:
    """``customer_table.csv`` at the latest as_of with a known label, and ``oracle.csv`` (customer_id, as_of,
    p_churn: the generator's oracle for the same rows) when the world has an oracle."""
    tables = read_tables(world)
    table = customer_table(tables)
    rows = {"customer_table.csv": write_csv(table.drop(columns="as_of"), folder / "customer_table.csv")}
    return rows | _write_oracle(world, table, folder)


def write_customer_month_table(world: Path, folder: Path) -> dict[str, int]:
    """``customer_month_table.csv`` at every month start with a known label, and ``oracle.csv`` as above."""
    table = customer_month_table(read_tables(world))
    rows = {"customer_month_table.csv": write_csv(_dated(table), folder / "customer_month_table.csv")}
    return rows | _write_oracle(world, table, folder)


def read_tables(world: Path) -> dict[str, pd.DataFrame]:
    return {t: read(world, t) for t in TABLES}


def labeled_dates(tables: Mapping[str, pd.DataFrame]) -> list[pd.Timestamp]:
    """Month starts after the data's first month whose churn label is known by the data's end."""
    ts = tables["usage_events"]["ts"]
    first, end = ts.min(), ts.max()
    last = end - LABELS.reads_days("churn") * DAY
    starts = pd.date_range(first.tz_convert(None).to_period("M").to_timestamp() + pd.DateOffset(months=1),
                           last.tz_convert(None), freq="MS", tz="UTC")  # fmt: skip
    return list(starts)


def customer_table(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per customer at the latest labeled as_of (columns: customer_id, as_of, ``FEATURES``, churned)."""
    return labeled(tables, _known(tables)[-1:])


def customer_month_table(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per customer and labeled month start (columns: customer_id, as_of, ``FEATURES``, churned)."""
    return labeled(tables, _known(tables))


def labeled(tables: Mapping[str, pd.DataFrame], dates: list[pd.Timestamp]) -> pd.DataFrame:
    """The features at each of ``dates`` (at least one), with the label ``churned``."""
    out = pd.concat([features_at(tables, d) for d in dates], ignore_index=True)
    churned = churn_labels(tables["subscriptions"], out[["customer_id", "as_of"]])
    return out.assign(churned=churned.astype("Int64").to_numpy())


def features_at(tables: Mapping[str, pd.DataFrame], as_of: pd.Timestamp) -> pd.DataFrame:
    """The features of the accounts with a subscription in force at ``as_of``, from what is known at it."""
    t = as_of
    subs = tables["subscriptions"]
    terms = _in_force(subs, t)
    out = terms[["account_id", "plan", "mrr", "seats"]].rename(columns={"account_id": "customer_id"})
    out.insert(1, "as_of", t)
    ids = out["customer_id"]
    acc = tables["accounts"].set_index("account_id")
    for col in ("segment", "region", "industry"):
        out[col] = ids.map(acc[col])
    # pandas.read_csv reads the text NA (North America) as a missing value: the warehouse team spells it out.
    out["region"] = out["region"].replace({"NA": "North America"})
    out["tenure_days"] = (t - ids.map(acc["created_at"])).dt.days
    before = _in_force(subs, t - 90 * DAY).set_index("account_id")["mrr"]
    out["mrr_change_90d"] = (out["mrr"] / ids.map(before) - 1).round(4)
    pending = subs[(subs["cancelled_at"] <= t) & (subs["end_at"].isna() | (subs["end_at"] > t))]["account_id"]
    out["cancel_pending"] = ids.isin(pending).astype(int)

    usage = _window(tables["usage_events"], "ts", t, 30)
    logins = usage[usage["event_type"] == "login"]
    out["logins_30d"] = _count(ids, logins)
    out["events_30d"] = _count(ids, usage)
    out["active_users_30d"] = ids.map(usage.groupby("account_id")["user_id"].nunique()).fillna(0).astype(int)
    all_logins = tables["usage_events"].query("event_type == 'login' and ts < @t")
    since = t - ids.map(all_logins.groupby("account_id")["ts"].max())
    out["days_since_last_login"] = since.dt.days.astype("Int64")  # whole days, floored

    tickets = tables["support_tickets"]
    out["tickets_90d"] = _count(ids, _window(tickets, "created_at", t, 90))
    rated = _window(tickets, "resolved_at", t, 90).dropna(subset=["csat"])
    out["avg_csat_90d"] = ids.map(rated.groupby("account_id")["csat"].mean()).round(2)

    inv = tables["invoices"]
    due = _window(inv, "due_at", t, 180)
    # Known at as_of: due before it and neither paid nor voided by the due date (a payment after as_of is still
    # "not paid by the due date").
    late = due[~(due["paid_at"] <= due["due_at"]) & ~(due["voided_at"] <= due["due_at"])]
    out["late_invoices_180d"] = _count(ids, late)
    out["failed_payments_180d"] = _count(ids, _window(inv, "failed_at", t, 180))

    nps = tables["nps_responses"]
    last = nps[nps["ts"] < t].sort_values("ts").drop_duplicates("account_id", keep="last")
    out["last_nps"] = ids.map(last.set_index("account_id")["score"]).astype("Int64")

    c = tables["contacts"]
    champion = (
        (c["role"] == "champion") & (c["created_at"] <= t) & (c["left_at"].isna() | (c["left_at"] > t))
        & (c["role_since"].isna() | (c["role_since"] <= t))
    )  # fmt: skip
    out["has_champion"] = ids.isin(c.loc[champion, "account_id"]).astype(int)
    return out[["customer_id", "as_of", *FEATURES]].reset_index(drop=True)


def churn_labels(subscriptions: pd.DataFrame, rows: pd.DataFrame) -> pd.Series:
    """1 when the stretch of service in force at each row's as_of ends within the horizon after it, else 0
    (``rows``: customer_id, as_of; every row's account has a subscription in force at its as_of)."""
    s = subscriptions.sort_values(["account_id", "start_at"])
    start = _days(s["start_at"])
    end = _days(s["end_at"]).fillna(np.inf)
    prev_end = end.groupby(s["account_id"]).cummax().groupby(s["account_id"]).shift()
    new = prev_end.isna() | (start > prev_end + LABELS.grace_days)
    stretches = (
        pd.DataFrame({"customer_id": s["account_id"], "began": start, "ended": end, "stretch": new.cumsum()})
        .groupby("stretch").agg(customer_id=("customer_id", "first"), began=("began", "min"), ended=("ended", "max"))
    )  # fmt: skip
    keyed = rows.assign(at=_days(rows["as_of"]), _row=np.arange(len(rows)))
    joined = keyed.merge(stretches, on="customer_id")
    hit = joined[(joined["began"] <= joined["at"]) & (joined["at"] < joined["ended"])].set_index("_row")
    churned = (hit["ended"] <= hit["at"] + LABELS.horizon_days).astype(int)
    return churned.reindex(np.arange(len(rows))).rename("churned")


def _known(tables: Mapping[str, pd.DataFrame]) -> list[pd.Timestamp]:
    dates = labeled_dates(tables)
    if not dates:
        raise ValueError(
            f"the data are too short for a known churn label: a month start needs {LABELS.reads_days('churn')} "
            "days of data after it; generate more --months"
        )
    return dates


def _in_force(subscriptions: pd.DataFrame, t: pd.Timestamp) -> pd.DataFrame:
    s = subscriptions
    running = s[(s["start_at"] <= t) & (s["end_at"].isna() | (s["end_at"] > t))]
    return running.sort_values("start_at").drop_duplicates("account_id", keep="last").sort_values("account_id")


def _window(frame: pd.DataFrame, column: str, t: pd.Timestamp, days: int) -> pd.DataFrame:
    """Rows whose ``column`` lies in [t - days, t)."""
    return frame[(frame[column] >= t - days * DAY) & (frame[column] < t)]


def _count(ids: pd.Series, rows: pd.DataFrame) -> pd.Series:
    return ids.map(rows.groupby("account_id").size()).fillna(0).astype(int)


def _days(times: pd.Series) -> pd.Series:
    return (times - pd.Timestamp(0, tz="UTC")) / DAY


def _dated(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(as_of=as_text(table["as_of"]))


def _write_oracle(world: Path, table: pd.DataFrame, folder: Path) -> dict[str, int]:
    path = world / "ground_truth" / "oracle.parquet"
    oracle = pd.read_parquet(path, columns=["account_id", "as_of", "p_churn"]) if path.exists() else None
    if oracle is None or oracle.empty:
        return {}
    rows = table[["customer_id", "as_of"]].merge(
        oracle.rename(columns={"account_id": "customer_id"}), on=["customer_id", "as_of"]
    )
    return {"oracle.csv": write_csv(_dated(rows), folder / "oracle.csv")}
