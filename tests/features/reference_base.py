"""What every reference family needs: the spine, one snapshot's cut of the raw tables, and per-account tallies.

Written the plain pandas way, from the raw contract tables only (never the engine's rollups): cut each table at
as_of, keep a window by comparing times, group by account. Windows compare times, not dates: because as_of is a
midnight UTC, "the last N days" is ``as_of - N days <= t < as_of``.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.config import FeatureConfig

# The time that dates each row of a table: a row is visible at as_of only when this time is < as_of.
TIME_OF = {
    "usage_events": "ts",
    "email_events": "ts",
    "nps_responses": "ts",
    "support_tickets": "created_at",
    "invoices": "issued_at",
    "subscriptions": "start_at",
    "accounts": "created_at",
}
DAY = pd.Timedelta(days=1)


def reference_spine(
    accounts: pd.DataFrame,
    subscriptions: pd.DataFrame,
    as_of: pd.Timestamp,
    churn_events: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Accounts served at ``as_of``, indexed by account_id, with their totals and the latest-started row serving it.

    A row serves as_of when it is active at as_of (half-open: start_at <= as_of < end_at, so a row starting exactly
    at as_of serves it and one ending exactly then does not), is not a trial, and no churn event at or before as_of
    came at or after its start (so an account whose last churn event is no earlier than the start of every such row
    has churned and not restarted: it is left out). The account must exist at as_of (created at or before it).
    Columns: the account's, then mrr and seats summed over the rows serving as_of, then plan, row_start and
    cancelled_at (kept only when made before as_of) of the latest-started of them (the greatest subscription_id
    among rows starting together).
    """
    s = subscriptions
    covers = (s["start_at"] <= as_of) & (s["end_at"].isna() | (s["end_at"] > as_of))
    if "status" in s:  # hand-made frames may leave out the optional columns
        covers &= s["status"].ne("trial").fillna(True).astype(bool)
    rows = s[covers]
    known = None if churn_events is None else churn_events[churn_events["churned_at"] <= as_of]
    if known is not None and len(known):
        last = rows["account_id"].map(known.groupby("account_id")["churned_at"].max())
        rows = rows[last.isna() | (rows["start_at"] > last)]
    totals = rows.groupby("account_id")[["mrr", "seats"]].sum()
    order = ["start_at", "subscription_id"] if "subscription_id" in rows else ["start_at"]
    latest = rows.sort_values(order, kind="stable").drop_duplicates("account_id", keep="last")
    latest = latest[["account_id", "plan", "start_at", "cancelled_at"]].rename(columns={"start_at": "row_start"})
    latest = latest.join(totals, on="account_id")[["account_id", "mrr", "seats", "plan", "row_start", "cancelled_at"]]
    known_accounts = accounts[accounts["created_at"] < as_of].drop(columns=["name", "csm_owner"])
    spine = known_accounts.merge(latest, on="account_id", how="inner").set_index("account_id").sort_index()
    spine["cancelled_at"] = spine["cancelled_at"].where(spine["cancelled_at"] < as_of)
    return spine


@dataclass(frozen=True)
class Cut:
    """One snapshot: its time, its spine, and the raw tables (each sorted by its ``TIME_OF`` column). ``tuned``: the
    tables are cut by binary search on their times; otherwise by comparing every row's time, as a notebook does."""

    as_of: pd.Timestamp
    spine: pd.DataFrame
    tables: Mapping[str, pd.DataFrame]
    cfg: FeatureConfig
    tuned: bool = True

    @property
    def ids(self) -> pd.Index:
        return self.spine.index

    def ago(self, days: int) -> pd.Timestamp:
        return self.as_of - pd.Timedelta(days=days)

    def before(self, table: str, days: int | None = None) -> pd.DataFrame:
        """Rows dated before as_of (and, given ``days``, no earlier than ``days`` days before it)."""
        frame = self.tables[table]
        times = frame[TIME_OF[table]]
        if not self.tuned:
            keep = times < self.as_of
            return frame[keep if days is None else keep & (times >= self.ago(days))]
        first = 0 if days is None else int(times.searchsorted(self.ago(days), side="left"))
        return frame.iloc[first : int(times.searchsorted(self.as_of, side="left"))]

    def in_last(self, times: pd.Series, days: int, skip: int = 0) -> pd.Series:
        """``times`` within the ``days`` days before as_of, after skipping the last ``skip`` days."""
        return (times >= self.ago(days + skip)) & (times < self.ago(skip))

    def days_before(self, times: pd.Series) -> pd.Series:
        """Whole days from the (UTC) date of each time to the date of as_of."""
        return (self.as_of.normalize() - times.dt.floor("D")) // DAY

    def count(self, rows: pd.DataFrame, where: pd.Series | None = None) -> pd.Series:
        """Rows per account (0 for accounts without any)."""
        ids = rows["account_id"] if where is None else rows.loc[_mask(where), "account_id"]
        return ids.value_counts().reindex(self.ids, fill_value=0).astype("float64")

    def agg(self, rows: pd.DataFrame, values: pd.Series, how: str, where: pd.Series | None = None) -> pd.Series:
        """``how`` (sum, mean, min, max, nunique, first, last) of ``values`` per account, NaN when it has no rows."""
        if where is not None:
            rows, values = rows[_mask(where)], values[_mask(where)]
        out = values.groupby(rows["account_id"]).agg(how)
        return out.reindex(self.ids)

    def days_since(self, rows: pd.DataFrame, times: pd.Series, cap: int, where: pd.Series | None = None) -> pd.Series:
        """Days since the latest of ``times`` within ``cap`` days; ``cap + 1`` when there is none."""
        recent = (times >= self.ago(cap)) & (times < self.as_of)
        where = recent if where is None else recent & where
        return self.agg(rows, self.days_before(times).astype("float64"), "min", where).fillna(cap + 1)


def _mask(where: pd.Series) -> pd.Series:
    """A plain boolean mask: unknown (NA, as from comparing a null category) counts as false, as in SQL."""
    return where.fillna(False).astype(bool)


def as_float(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="raise").astype("float64")


def ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    """num / den, NaN when den is 0 or unknown."""
    num, den = as_float(num), as_float(den)
    return num / den.where(den != 0)


def trend(cur: pd.Series, prev: pd.Series) -> pd.Series:
    """cur / prev - 1 (0.5 = up 50%), NaN when prev is 0."""
    return ratio(cur, prev) - 1


def round_half_away(values: pd.Series) -> pd.Series:
    """Rounding as SQL does it (half away from zero), not numpy's half to even."""
    return np.sign(values) * np.floor(np.abs(values) + 0.5)


def flag(condition: pd.Series) -> pd.Series:
    return condition.fillna(False).astype("float64")
