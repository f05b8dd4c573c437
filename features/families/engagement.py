"""Engagement: how much, how broadly and how recently the account uses the product."""

from functools import partial

from features.config import FeatureConfig
from features.registry import Family, Feature, Source, change, count, share, since
from features.sql import days_since_day, level, ratio, total, totals_join, trend

F = partial(Feature, family="engagement")
TREND_WINDOW = "over the last 30 days against the 30 before"


def family(cfg: FeatureConfig) -> Family:
    usage = [
        F(name=f"events_{n}d", description=f"product events in the last {n} days", unit="events",
          sql=total("events", n), says=count("product events", f"in the last {n} days")) for n in (7, 30, 90)
    ] + [
        F(name="events_prev_30d", description="product events 31 to 60 days ago", unit="events",
          sql=total("events", 30, skip=30), says=count("product events", "31 to 60 days ago")),
    ] + [
        F(name=f"logins_{n}d", description=f"logins in the last {n} days", unit="logins",
          sql=total("logins", n), says=count("logins", f"in the last {n} days")) for n in (7, 30, 90)
    ] + [
        F(name="logins_prev_30d", description="logins 31 to 60 days ago", unit="logins",
          sql=total("logins", 30, skip=30), says=count("logins", "31 to 60 days ago")),
    ] + [
        F(name=f"active_days_{n}d", description=f"days with any product event in the last {n} days", unit="days",
          sql=total("active", n), says=count("days with any product event", f"in the last {n} days"))
        for n in (7, 30, 90)
    ] + [
        F(name=f"exports_{n}d", description=f"exports of data from the product in the last {n} days",
          unit="exports", sql=total("exports", n), says=count("exports", f"in the last {n} days"))
        for n in (30, 90)
    ] + [
        F(name="days_since_last_event", description="days since the last product event (91: none in 90 days)",
          unit="days", sql=days_since_day("d.last_event_day", 90), says=since("the last product event", 90)),
        F(name="days_since_last_login", description="days since the last login (91: none in 90 days)",
          unit="days", sql=days_since_day("d.last_login_day", 90), says=since("the last login", 90)),
    ]  # fmt: skip
    users = [
        F(name=f"active_users_{n}d", description=f"distinct users active in the last {n} days", unit="users",
          sql=level(f"a{n}"), says=count("distinct users active", f"in the last {n} days")) for n in (7, 30)
    ] + [
        F(name="active_users_prev_30d", description="distinct users active 31 to 60 days ago", unit="users",
          sql=level("a30", skip=30), says=count("distinct users active", "31 to 60 days ago")),
    ]  # fmt: skip
    breadth = [
        F(name=f"features_used_{n}d", description=f"distinct product features used in the last {n} days",
          unit="features", sql=level(f"a{n}"),
          says=count("distinct product features used", f"in the last {n} days")) for n in (30, 90)
    ]  # fmt: skip
    hours = [
        F(name=f"usage_hours_{n}d", description=f"hours of product use in the last {n} days", unit="hours",
          sql=f"({total('seconds', n)}) / 3600", says=count("hours of product use", f"in the last {n} days"))
        for n in (7, 30)
    ]  # fmt: skip
    derived = (
        F(name="events_trend_30d", description="change in product events, last 30 days against the 30 before",
          unit="ratio", sql=trend("events_30d", "events_prev_30d"), says=change("product events", TREND_WINDOW)),
        F(name="logins_trend_30d", description="change in logins, last 30 days against the 30 before",
          unit="ratio", sql=trend("logins_30d", "logins_prev_30d"), says=change("logins", TREND_WINDOW)),
        F(name="active_users_trend_30d", description="change in active users, last 30 days against the 30 before",
          unit="ratio", sql=trend("active_users_30d", "active_users_prev_30d"),
          says=change("active users", TREND_WINDOW)),
        F(name="active_users_per_seat_7d", description="share of paid seats active in the last 7 days",
          unit="users per seat", sql=ratio("active_users_7d", "seats"),
          says=share("share of paid seats active", "in the last 7 days")),
        F(name="active_users_per_seat_30d", description="share of paid seats active in the last 30 days",
          unit="users per seat", sql=ratio("active_users_30d", "seats"),
          says=share("share of paid seats active", "in the last 30 days")),
        F(name="events_per_seat_30d", description="product events per paid seat in the last 30 days",
          unit="events per seat", sql=ratio("events_30d", "seats"),
          says=count("product events per paid seat", "in the last 30 days")),
        F(name="events_per_active_user_30d", description="product events per active user in the last 30 days",
          unit="events per user", sql=ratio("events_30d", "active_users_30d"),
          says=count("product events per active user", "in the last 30 days")),
        F(name="login_share_30d", description="share of the last 30 days' product events that were logins",
          unit="share", sql=ratio("logins_30d", "events_30d"),
          says=share("share of the last 30 days' product events that were logins")),
    )  # fmt: skip
    return Family(
        "engagement",
        (
            Source("usage", totals_join("usage_totals"), tuple(usage), per_row=True),
            Source("users", totals_join("user_totals"), tuple(users), per_row=True, needs=("usage_events.user_id",)),
            Source("breadth", totals_join("feature_totals"), tuple(breadth), per_row=True),
            # Only exports with durations say how long the product was used (event counts alone do not).
            Source(
                "time", totals_join("usage_totals"), tuple(hours), per_row=True, needs=("usage_events.duration_secs",)
            ),
        ),
        derived,
        tables=("usage_events",),
    )
