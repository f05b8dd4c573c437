"""Support: ticket volume and severity, how long tickets take, how customers rate them, what is open now."""

from functools import partial

from features.config import FeatureConfig
from features.registry import Family, Feature, Source, change, count, score, since
from features.sql import days_since, in_window, trend

F = partial(Feature, family="support")
DAY = "CAST(t.created_at AS DATE)"
# A ticket's priority is as of the export. It counts from escalated_at on, when the export has that time; before
# it, the earlier priority is unknown and the ticket counts as normal. Without escalated_at the priority is taken
# as set when the ticket was opened, and so is its category (rules: README, "What the features assume about your
# data").
RAISED = "(t.escalated_at IS NULL OR t.escalated_at < s.as_of)"
HIGH = f"(t.priority IN ('high', 'urgent') AND {RAISED})"
URGENT = f"(t.priority = 'urgent' AND {RAISED})"
RATED = "t.resolved_at < s.as_of"  # resolution and rating are known once the ticket is resolved


def _count(days: int, cond: str = "TRUE", skip: int = 0) -> str:
    return f"COUNT(CASE WHEN {in_window(days, skip, DAY)} AND {cond} THEN 1 END)"


def family(cfg: FeatureConfig) -> Family:
    recent = (
        F(name="tickets_30d", description="support tickets opened in the last 30 days", unit="tickets",
          sql=_count(30), says=count("support tickets opened", "in the last 30 days")),
        F(name="tickets_90d", description="support tickets opened in the last 90 days", unit="tickets",
          sql=_count(90), says=count("support tickets opened", "in the last 90 days")),
        F(name="tickets_prev_30d", description="support tickets opened 31 to 60 days ago", unit="tickets",
          sql=_count(30, skip=30), says=count("support tickets opened", "31 to 60 days ago")),
        F(name="high_priority_tickets_90d", description="high or urgent tickets opened in the last 90 days",
          unit="tickets", sql=_count(90, HIGH), says=count("high or urgent tickets opened", "in the last 90 days")),
        F(name="urgent_tickets_30d", description="urgent tickets opened in the last 30 days", unit="tickets",
          sql=_count(30, URGENT), says=count("urgent tickets opened", "in the last 30 days")),
        F(name="billing_tickets_90d", description="billing tickets opened in the last 90 days", unit="tickets",
          sql=_count(90, "t.category = 'billing'"), says=count("billing tickets opened", "in the last 90 days")),
        F(name="bug_tickets_90d", description="bug reports opened in the last 90 days", unit="tickets",
          sql=_count(90, "t.category = 'bug'"), says=count("bug reports opened", "in the last 90 days")),
        F(name="resolution_hours_90d", description="mean hours to resolve tickets opened in the last 90 days",
          unit="hours",
          sql=f"AVG(CASE WHEN {in_window(90, 0, DAY)} AND {RATED} "
              "THEN date_diff('microsecond', t.created_at, t.resolved_at) / 3600e6 END)",
          says=count("mean hours to resolve tickets opened", "in the last 90 days")),
        F(name="csat_mean_90d", description="mean satisfaction rating (1-5) of tickets opened in the last 90 days",
          unit="rating", sql=f"AVG(CASE WHEN {in_window(90, 0, DAY)} AND {RATED} THEN t.csat END)",
          says=score("mean satisfaction rating of tickets opened", "in the last 90 days", out_of=5)),
        F(name="csat_min_90d", description="lowest satisfaction rating of tickets opened in the last 90 days",
          unit="rating", sql=f"MIN(CASE WHEN {in_window(90, 0, DAY)} AND {RATED} THEN t.csat END)",
          says=score("lowest satisfaction rating of tickets opened", "in the last 90 days", out_of=5)),
        F(name="low_csat_tickets_90d", description="tickets rated 1 or 2 of 5 among those opened in 90 days",
          unit="tickets", sql=_count(90, f"{RATED} AND t.csat <= 2"),
          says=count("tickets rated 1 or 2 of 5 among those opened", "in the last 90 days")),
        F(name="days_since_last_ticket", description="days since the last ticket was opened (91: none in 90 days)",
          unit="days", sql=days_since(DAY, 90), says=since("the last ticket was opened", 90)),
    )  # fmt: skip
    # ticket_id IS NOT NULL: an account without tickets still has one row here (the LEFT JOIN's), not an open one.
    is_open = "(t.ticket_id IS NOT NULL AND (t.resolved_at IS NULL OR t.resolved_at >= s.as_of))"
    open_now = (
        F(name="open_tickets", description="tickets open at the snapshot", unit="tickets",
          sql=f"COUNT(CASE WHEN {is_open} THEN 1 END)", says=count("tickets open", "at the snapshot")),
        F(name="open_high_priority_tickets", description="high or urgent tickets open at the snapshot",
          unit="tickets", sql=f"COUNT(CASE WHEN {is_open} AND {HIGH} THEN 1 END)",
          says=count("high or urgent tickets open", "at the snapshot")),
        F(name="oldest_open_ticket_days", description="age in days of the oldest ticket open at the snapshot",
          unit="days",
          sql=f"MAX(CASE WHEN {is_open} THEN date_diff('microsecond', t.created_at, s.as_of) / 86400e6 END)",
          says=count("age in days of the oldest ticket open", "at the snapshot")),
    )  # fmt: skip
    derived = (
        F(
            name="tickets_trend_30d",
            description="change in tickets opened, last 30 days against the 30 before",
            unit="ratio",
            sql=trend("tickets_30d", "tickets_prev_30d"),
            says=change("tickets opened", "over the last 30 days against the 30 before"),
        ),
    )
    recent_join = (
        "spine s LEFT JOIN raw.support_tickets t ON t.account_id = s.account_id AND t.created_at < s.as_of "
        "AND t.created_at >= s.as_of - INTERVAL 90 DAY"
    )
    # Only open tickets are joined (every feature of this source counts open ones): the join no longer grows with
    # the account's whole ticket history.
    open_join = (
        "spine s LEFT JOIN raw.support_tickets t ON t.account_id = s.account_id AND t.created_at < s.as_of "
        "AND (t.resolved_at IS NULL OR t.resolved_at >= s.as_of)"
    )
    return Family(
        "support",
        (Source("tickets", recent_join, recent), Source("open", open_join, open_now)),
        derived,
        tables=("support_tickets",),
    )
