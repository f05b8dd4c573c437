"""Relationship: the people on the customer's side: a champion, admins, and whether the champion just left."""

from functools import partial

from features.config import FeatureConfig
from features.registry import Family, Feature, Source, count, flag, since
from features.sql import days_since, in_window

F = partial(Feature, family="relationship")
# Present: arrived before as_of and not yet left. A contact without created_at may have arrived after as_of, so
# counts as present only from role_since (held a role then), or never (that also leaves out the LEFT JOIN's row
# of an account without contacts).
PRESENT = "(COALESCE(c.created_at, c.role_since) < s.as_of AND (c.left_at IS NULL OR c.left_at >= s.as_of))"
# A contact's role is as of the export. It counts from role_since on, when the export has that time (before it,
# a plain contact); without role_since, from the contact's arrival (rule: README, "What the features assume
# about your data").
ROLE_KNOWN = "(c.role_since IS NULL OR c.role_since < s.as_of)"
CHAMPION = f"(c.role = 'champion' AND {ROLE_KNOWN})"
ADMIN = f"(c.role = 'admin' AND {ROLE_KNOWN})"
# A departure is a champion's when the contact held the role before leaving; a dated departure counts even when
# the arrival is unknown.
CHAMPION_LEFT = "(c.role = 'champion' AND (c.role_since IS NULL OR c.role_since < c.left_at))"


def family(cfg: FeatureConfig) -> Family:
    feats = (
        F(name="champions", description="champions at the customer at the snapshot", unit="contacts",
          sql=f"COUNT(CASE WHEN {CHAMPION} AND {PRESENT} THEN 1 END)",
          says=count("champions at the customer", "at the snapshot")),
        F(name="admins", description="admins at the customer at the snapshot", unit="contacts",
          sql=f"COUNT(CASE WHEN {ADMIN} AND {PRESENT} THEN 1 END)",
          says=count("admins at the customer", "at the snapshot")),
        F(name="contacts", description="known contacts at the customer at the snapshot", unit="contacts",
          sql=f"COUNT(CASE WHEN {PRESENT} THEN 1 END)",
          says=count("known contacts at the customer", "at the snapshot")),
        F(name="champion_left_90d", description="champions who left in the last 90 days", unit="contacts",
          sql=f"COUNT(CASE WHEN {CHAMPION_LEFT} AND {in_window(90, 0, 'CAST(c.left_at AS DATE)')} THEN 1 END)",
          says=count("champions who left", "in the last 90 days")),
        F(name="days_since_champion_left", description="days since a champion last left (366: none in a year)",
          unit="days",
          sql=days_since(f"CASE WHEN {CHAMPION_LEFT} AND {in_window(365, 0, 'CAST(c.left_at AS DATE)')} "
                         "THEN CAST(c.left_at AS DATE) END", 365),
          says=since("a champion last left", 365, span="a year")),
        F(name="champion_tenure_days", description="days the current champion has been in the role", unit="days",
          sql=f"date_diff('day', MAX(CASE WHEN {CHAMPION} AND {PRESENT} "
              "THEN CAST(COALESCE(c.role_since, c.created_at) AS DATE) END), s.as_of_day)",
          says=count("days the current champion has been in the role")),
    )  # fmt: skip
    derived = (
        F(
            name="has_champion",
            description="whether the customer has a champion",
            unit="flag",
            sql="CASE WHEN champions > 0 THEN 1 ELSE 0 END",
            says=flag(yes="the customer has a champion", no="the customer has no champion"),
        ),
    )
    # Contacts who left before the 365 days of the longest window count in no feature, so they are not joined (366:
    # the windows start at a UTC day, which may be up to a day before as_of - 365 days).
    join = (
        "spine s LEFT JOIN raw.contacts c ON c.account_id = s.account_id "
        "AND (c.created_at IS NULL OR c.created_at < s.as_of) "
        "AND (c.left_at IS NULL OR c.left_at >= s.as_of - INTERVAL 366 DAY)"
    )
    return Family("relationship", (Source("contacts", join, feats),), derived, tables=("contacts",))
