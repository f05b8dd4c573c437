"""Reasons in plain words, from the registry's descriptions and units (hand-written expectations)."""

import pytest

from features.catalog import feature
from models.sentences import sentence


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("logins_trend_30d", -0.62, "logins fell 62% over the last 30 days against the 30 before"),
        ("active_users_trend_30d", 0.25, "active users rose 25% over the last 30 days against the 30 before"),
        ("mrr_change_90d", -0.2, "MRR fell 20% over the last 90 days"),
        ("cancellation_pending", 1.0, "the customer has given notice to cancel"),
        ("has_champion", 0.0, "not so: the customer has a champion"),
        ("days_since_last_login", 91.0, "days since the last login: none in 90 days"),
        ("days_since_last_login", 12.0, "days since the last login: 12"),
        ("open_rate_30d", 0.254, "share of emails sent in the last 30 days that were opened: 25%"),
        ("open_tickets", 3.0, "tickets open at the snapshot: 3"),
        ("active_users_30d", 4.0, "distinct users active in the last 30 days: 4"),
        ("segment", "enterprise", "market segment: enterprise"),
        ("nps_latest", None, "latest NPS answer (0-10): unknown"),
        ("nps_latest", 9.0, "latest NPS answer (0-10): 9"),
        ("billing_months", 1.0, "months the latest invoice covers: 1"),
        ("active_users_per_seat_30d", 0.12, "share of paid seats active in the last 30 days: 12%"),
    ],
)
def test_sentence(name: str, value: object, expected: str) -> None:
    assert sentence(feature(name), value) == expected
