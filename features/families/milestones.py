"""Milestones: the configured key events reached, during onboarding or ever, and the time to first value."""

from functools import partial

from features.config import FeatureConfig
from features.registry import Family, Feature, Source, count, flag

F = partial(Feature, family="milestones")


def family(cfg: FeatureConfig) -> Family:
    n, days = len(cfg.milestones), cfg.onboarding_days
    # milestone_first has one row per account and milestone, so plain COUNTs count distinct milestones; DuckDB's
    # COUNT(DISTINCT) kept a set per snapshot and made this source about 3x slower (weekly: 7.7 s -> 2.8 s).
    reached = [
        F(name="milestones_reached", description="success milestones reached so far", unit="milestones",
          sql="COUNT(m.event_type)", says=count("success milestones reached", "so far")),
        F(name="milestones_in_onboarding", description=f"success milestones reached within {days} days of sign-up",
          unit="milestones",
          sql=f"COUNT(CASE WHEN m.first_ts < s.created_at + INTERVAL {days} DAY THEN m.event_type END)",
          says=count("success milestones reached", f"within {days} days of sign-up")),
        F(name="days_to_first_value", description="days from sign-up to the first success milestone",
          unit="days", sql="date_diff('day', CAST(s.created_at AS DATE), CAST(MIN(m.first_ts) AS DATE))",
          says=count("days from sign-up to the first success milestone")),
    ] + [
        F(name=f"milestone_{name}", description=f"whether {name.replace('_', ' ')} has happened", unit="flag",
          sql=f"MAX(CASE WHEN m.event_type = '{name}' THEN 1 ELSE 0 END)",
          says=flag(yes=f"{name.replace('_', ' ')} has happened", no=f"{name.replace('_', ' ')} has not happened"))
        for name in cfg.milestones
    ]  # fmt: skip
    derived = (
        F(name="onboarding_complete", description="whether every success milestone has been reached", unit="flag",
          sql=f"CASE WHEN milestones_reached = {n} THEN 1 ELSE 0 END",
          says=flag(yes="every success milestone has been reached",
                    no="not every success milestone has been reached")),
        F(name="milestones_missed_in_onboarding",
          description=f"milestones not reached in the first {days} days, once those days are over",
          unit="milestones",
          sql=f"CASE WHEN as_of >= created_at + INTERVAL {days} DAY THEN {n} - milestones_in_onboarding ELSE 0 END",
          says=count("milestones not reached", f"in the first {days} days, once those days are over")),
    )  # fmt: skip
    join = "spine s LEFT JOIN milestone_first m ON m.account_id = s.account_id AND m.first_ts < s.as_of"
    return Family("milestones", (Source("milestones", join, tuple(reached)),), derived, tables=("usage_events",))
