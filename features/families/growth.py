"""Contract and growth: tenure, what the account pays, how that changed, and a pending cancellation."""

from functools import partial

from features.config import FeatureConfig
from features.registry import Family, Feature, Source, category, change, count, flag, money, since
from features.rollups import NOT_TRIAL, active_at
from features.sql import in_window, trend

F = partial(Feature, family="growth")
NOTICE = "cancellation_pending"  # the flag that the customer had given notice to cancel before as_of


def _at(days: int, col: str) -> str:
    """``col`` summed over the subscription rows active at the time ``days`` days before as_of (``active_at``),
    trials left out, as for the spine (else an account with overlapping rows would seem to change MRR when it did
    not)."""
    t = f"s.as_of - INTERVAL {days} DAY"
    covers = f"{active_at('x', t)} AND {NOT_TRIAL}"
    return f"SUM(CASE WHEN {covers} THEN x.{col} END)"


def family(cfg: FeatureConfig) -> Family:
    started = in_window(365, 0, "CAST(x.start_at AS DATE)")
    history = (
        F(name="mrr_90d_ago", description="monthly recurring revenue 90 days ago", unit="currency",
          sql=_at(90, "mrr"), says=money("monthly recurring revenue", "90 days ago")),
        F(name="mrr_180d_ago", description="monthly recurring revenue 180 days ago", unit="currency",
          sql=_at(180, "mrr"), says=money("monthly recurring revenue", "180 days ago")),
        F(name="seats_90d_ago", description="paid seats 90 days ago", unit="seats", sql=_at(90, "seats"),
          says=count("paid seats", "90 days ago")),
        F(name="contract_changes_365d", description="changes of seats, plan or term in the last year",
          unit="changes", sql=f"COUNT(CASE WHEN {started} AND x.prev_mrr IS NOT NULL THEN 1 END)",
          says=count("changes of seats, plan or term", "in the last year")),
        F(name="downgrades_365d", description="changes that lowered MRR in the last year", unit="changes",
          sql=f"COUNT(CASE WHEN {started} AND x.mrr < x.prev_mrr THEN 1 END)",
          says=count("changes that lowered MRR", "in the last year")),
        F(name="upgrades_365d", description="changes that raised MRR in the last year", unit="changes",
          sql=f"COUNT(CASE WHEN {started} AND x.mrr > x.prev_mrr THEN 1 END)",
          says=count("changes that raised MRR", "in the last year")),
        F(name="service_gaps_365d", description="times service stopped and resumed in the last year (late payment)",
          unit="gaps", sql=f"COUNT(CASE WHEN {started} AND x.prev_end < x.start_at THEN 1 END)",
          says=count("times service stopped for late payment and resumed", "in the last year")),
    )  # fmt: skip
    derived = (
        F(name="tenure_days", description="days since sign-up", unit="days",
          sql="date_diff('day', CAST(created_at AS DATE), as_of_day)", says=since("sign-up")),
        F(name="mrr", description="monthly recurring revenue", unit="currency", sql="mrr",
          says=money("monthly recurring revenue")),
        F(name="arr", description="annual recurring revenue", unit="currency", sql="mrr * 12",
          says=money("annual recurring revenue")),
        F(name="seats", description="paid seats", unit="seats", sql="seats", says=count("paid seats")),
        F(name="price_per_seat", description="monthly revenue per paid seat", unit="currency per seat",
          sql="CAST(mrr AS DOUBLE) / NULLIF(seats, 0)", says=money("monthly revenue per paid seat")),
        F(name="plan", description="plan", unit="category", sql="plan", categorical=True, says=category("plan")),
        F(name="days_on_current_terms", description="days since seats, plan or term last changed", unit="days",
          sql="date_diff('day', CAST(row_start AS DATE), as_of_day)",
          says=since("seats, plan or term last changed")),
        F(name="days_to_anniversary", description="days to the next yearly anniversary of sign-up", unit="days",
          sql="365 - date_diff('day', CAST(created_at AS DATE), as_of_day) % 365",
          says=count("days to the next yearly anniversary of sign-up")),
        F(name=NOTICE, description="whether the customer has given notice to cancel", unit="flag",
          sql="CASE WHEN cancelled_at IS NOT NULL THEN 1 ELSE 0 END",
          says=flag(yes="the customer has given notice to cancel", no="the customer has not given notice to cancel")),
        F(name="mrr_change_90d", description="change in MRR over the last 90 days", unit="ratio",
          sql=trend("mrr", "mrr_90d_ago"), says=change("MRR", "over the last 90 days")),
        F(name="mrr_change_180d", description="change in MRR over the last 180 days", unit="ratio",
          sql=trend("mrr", "mrr_180d_ago"), says=change("MRR", "over the last 180 days")),
        F(name="seats_change_90d", description="change in paid seats over the last 90 days", unit="ratio",
          sql=trend("seats", "seats_90d_ago"), says=change("paid seats", "over the last 90 days")),
    )  # fmt: skip
    # The previous row of the same account is known from the moment the next one starts.
    rows = (
        "(SELECT *, LAG(mrr) OVER (PARTITION BY account_id ORDER BY start_at) AS prev_mrr, "
        "LAG(end_at) OVER (PARTITION BY account_id ORDER BY start_at) AS prev_end FROM raw.subscriptions)"
    )
    join = f"spine s LEFT JOIN {rows} x ON x.account_id = s.account_id AND x.start_at < s.as_of"
    return Family("growth", (Source("history", join, history),), derived)
