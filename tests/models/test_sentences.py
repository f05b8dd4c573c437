"""Reasons in plain words, from the phrases the registry declares with each feature (hand-written expectations)."""

from dataclasses import replace

import pytest

from features.catalog import feature, features
from features.config import FeatureConfig
from features.registry import Feature, Phrase
from models.sentences import sentence

CUSTOM = FeatureConfig(milestones=("connected", "shared"), onboarding_days=30)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        # a relative change: up, down, none, unknown
        ("logins_trend_30d", -0.62, "logins fell 62% over the last 30 days against the 30 before"),
        ("active_users_trend_30d", 0.25, "active users rose 25% over the last 30 days against the 30 before"),
        ("logins_trend_30d", 0.0, "logins did not change over the last 30 days against the 30 before"),
        ("mrr_change_90d", -0.2, "MRR fell 20% over the last 90 days"),
        ("mrr_change_180d", 0.5, "MRR rose 50% over the last 180 days"),
        ("logins_trend_30d", None, "change in logins over the last 30 days against the 30 before: unknown"),
        # a flag: both wordings, and unknown
        ("cancellation_pending", 1.0, "the customer has given notice to cancel"),
        ("cancellation_pending", 0.0, "the customer has not given notice to cancel"),
        ("has_champion", 1.0, "the customer has a champion"),
        ("has_champion", 0.0, "the customer has no champion"),
        ("nps_detractor", 0.0, "the latest NPS answer was 7 or more"),
        ("milestone_integration_connected", 0.0, "integration connected has not happened"),
        ("onboarding_complete", 0.0, "not every success milestone has been reached"),
        ("nps_detractor", None, "whether the latest NPS answer was 0 to 6: unknown"),
        # days since: capped (none in the span) and not, unknown
        ("days_since_last_login", 91.0, "days since the last login: none in 90 days"),
        ("days_since_last_login", 12.0, "days since the last login: 12"),
        ("days_since_last_open", 91.0, "days since a campaign email was last opened: none in 90 days"),
        ("days_since_champion_left", 366.0, "days since a champion last left: none in a year"),
        ("days_since_nps", 731.0, "days since the latest NPS answer: none in two years"),
        ("days_since_nps", 400.0, "days since the latest NPS answer: 400"),
        ("tenure_days", 1500.0, "days since sign-up: 1,500"),
        ("days_since_last_login", None, "days since the last login: unknown"),
        # a share
        ("open_rate_30d", 0.254, "share of emails sent in the last 30 days that were opened: 25%"),
        ("active_users_per_seat_30d", 0.12, "share of paid seats active in the last 30 days: 12%"),
        ("open_rate_30d", float("nan"), "share of emails sent in the last 30 days that were opened: unknown"),
        # a count: thousands, two decimals below 10, whole above, with a unit where the subject lacks one
        ("open_tickets", 3.0, "tickets open at the snapshot: 3"),
        ("active_users_30d", 4.0, "distinct users active in the last 30 days: 4"),
        ("events_30d", 12345.0, "product events in the last 30 days: 12,345"),
        ("events_per_seat_30d", 2.5, "product events per paid seat in the last 30 days: 2.50"),
        ("resolution_hours_90d", 30.4, "mean hours to resolve tickets opened in the last 90 days: 30"),
        ("billing_months", 1.0, "months the latest invoice covers: 1"),
        ("champions", 2.0, "champions at the customer at the snapshot: 2"),
        ("nps_change", -2.5, "latest NPS answer minus the mean of the year's earlier answers: -2.50 points"),
        ("tickets_30d", None, "support tickets opened in the last 30 days: unknown"),
        # money
        ("mrr", 1250.0, "monthly recurring revenue: 1,250"),
        ("price_per_seat", 45.25, "monthly revenue per paid seat: 45"),
        ("overdue_amount", 0.0, "amount past due and unpaid at the snapshot: 0"),
        # a score on its scale
        ("nps_latest", 9.0, "latest NPS answer: 9 of 10"),
        ("nps_latest", None, "latest NPS answer: unknown"),
        ("csat_mean_90d", 4.25, "mean satisfaction rating of tickets opened in the last 90 days: 4.25 of 5"),
        # a category
        ("segment", "enterprise", "market segment: enterprise"),
        ("touch_model", "tech", "customer success touch model: tech"),
        ("plan", None, "plan: unknown"),
    ],
)
def test_sentence(name: str, value: object, expected: str) -> None:
    assert sentence(feature(name), value) == expected


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("milestone_shared", 1.0, "shared has happened"),
        ("milestone_connected", 0.0, "connected has not happened"),
        ("milestones_in_onboarding", 2.0, "success milestones reached within 30 days of sign-up: 2"),
    ],
)
def test_sentences_follow_the_feature_config(name: str, value: object, expected: str) -> None:
    assert sentence(feature(name, CUSTOM), value) == expected


TYPICAL = {"count": 3.0, "share": 0.4, "change": -0.2, "days_since": 12.0, "flag": 1.0, "money": 1200.0,
           "score": 7.0, "category": "enterprise"}  # fmt: skip


def _every_feature() -> list[Feature]:
    return [*features(), *features(CUSTOM)]


def test_every_registered_feature_has_a_phrase_that_reads() -> None:
    for f in _every_feature():
        p = f.says
        assert isinstance(p, Phrase), f"{f.name} declares no phrase (says=...)"
        assert p.subject.strip(), f.name
        assert (p.kind == "category") == f.categorical, f.name
        if p.kind == "flag":
            assert p.no.strip() and p.no != p.subject, f.name
        known, unknown = sentence(f, TYPICAL[p.kind]), sentence(f, None)
        assert known.strip() and not known.endswith("unknown"), (f.name, known)
        assert unknown.endswith(": unknown"), (f.name, unknown)


def test_a_flag_reads_differently_when_not_set() -> None:
    for f in _every_feature():
        if f.says is not None and f.says.kind == "flag":
            assert sentence(f, 1.0) != sentence(f, 0.0), f.name
            assert "not so" not in sentence(f, 0.0), f.name


def test_rewording_a_description_changes_no_sentence() -> None:
    for f in _every_feature():
        reworded = replace(f, description="something else (99: none in a week), change in things, whether so")
        for value in (TYPICAL[f.says.kind] if f.says else None, None):
            assert sentence(reworded, value) == sentence(f, value), f.name
    assert sentence(replace(feature("has_champion"), description="reworded"), 0.0) == "the customer has no champion"


def test_a_feature_without_a_phrase_is_refused() -> None:
    bare = Feature(name="planted", family="support", description="planted", unit="tickets", sql="1")
    with pytest.raises(ValueError, match="'planted' declares no phrase"):
        sentence(bare, 1.0)
