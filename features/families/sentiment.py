"""Sentiment: what the account answers in NPS surveys, and how that moves."""

from functools import partial

from features.config import FeatureConfig
from features.registry import Family, Feature, Source, count, flag, score, since
from features.sql import days_since, in_window

F = partial(Feature, family="sentiment")
YEAR = in_window(365, 0, "CAST(n.ts AS DATE)")


def family(cfg: FeatureConfig) -> Family:
    feats = (
        F(name="nps_latest", description="latest NPS answer (0-10)", unit="score", sql="arg_max(n.score, n.ts)",
          says=score("latest NPS answer", out_of=10)),
        F(name="nps_mean_365d", description="mean NPS answer of the last year", unit="score",
          sql=f"AVG(CASE WHEN {YEAR} THEN n.score END)", says=score("mean NPS answer", "of the last year", out_of=10)),
        F(name="nps_responses_365d", description="NPS answers in the last year", unit="answers",
          sql=f"COUNT(CASE WHEN {YEAR} THEN 1 END)", says=count("NPS answers", "in the last year")),
        F(name="days_since_nps", description="days since the latest NPS answer (731: none in two years)",
          unit="days", sql=days_since("CAST(n.ts AS DATE)", 730),
          says=since("the latest NPS answer", 730, span="two years")),
    )  # fmt: skip
    derived = (
        F(name="nps_detractor", description="whether the latest NPS answer was 0 to 6", unit="flag",
          sql="CASE WHEN nps_latest <= 6 THEN 1 WHEN nps_latest IS NOT NULL THEN 0 END",
          says=flag(yes="the latest NPS answer was 0 to 6", no="the latest NPS answer was 7 or more")),
        F(name="nps_change", description="latest NPS answer minus the mean of the year's earlier answers",
          unit="points",
          sql="CASE WHEN nps_responses_365d >= 2 AND days_since_nps <= 365 THEN nps_latest - "
              "(nps_mean_365d * nps_responses_365d - nps_latest) / (nps_responses_365d - 1) END",
          says=count("latest NPS answer minus the mean of the year's earlier answers", unit="points")),
    )  # fmt: skip
    join = (
        "spine s LEFT JOIN raw.nps_responses n ON n.account_id = s.account_id AND n.ts < s.as_of "
        "AND n.ts >= s.as_of - INTERVAL 730 DAY"
    )
    return Family("sentiment", (Source("nps", join, feats),), derived, tables=("nps_responses",))
