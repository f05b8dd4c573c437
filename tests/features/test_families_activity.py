"""Engagement, milestones, support and email on hand-dated rows: the engine equals the reference, and both equal
values worked out by hand, at the edges of as_of and of every window."""

from features.config import FeatureConfig
from tests.features.checks import assert_matches_reference
from tests.features.worlds import AS_OF, DAY, US, assert_values, at, day, midnight, world

DATES = [midnight(AS_OF)]


def _ev(account: str, ts: object, event_type: str = "report_run", user: str = "U1") -> dict[str, object]:
    return {"account_id": account, "ts": ts, "event_type": event_type, "user_id": user}


def test_engagement_counts_rows_before_as_of_within_each_window() -> None:
    tables = world(
        ("A1", "A2", "A3"),
        usage_events=[
            _ev("A1", AS_OF),  # at as_of: not seen yet
            _ev("A1", AS_OF - US, "login"),  # one microsecond before: seen
            _ev("A1", AS_OF - 7 * DAY, user="U2"),  # exactly 7 days before: in the last 7 days
            _ev("A1", AS_OF - 7 * DAY - US, user="U3"),  # just before that: in the last 30 only
            _ev("A1", AS_OF - 30 * DAY - US, "export"),  # 31 to 60 days ago
            _ev("A1", AS_OF - 60 * DAY, "export"),  # 31 to 60 days ago, at its far edge
            _ev("A1", AS_OF - 60 * DAY - US),  # older: in the last 90 only
            _ev("A1", AS_OF - 90 * DAY, "integration_connected"),  # edge of 90; a milestone, not a feature
            _ev("A1", AS_OF - 90 * DAY - US, "bulk_edit"),  # outside every window
            _ev("A2", AS_OF - 90 * DAY),
        ],
    )
    got = assert_matches_reference(tables, DATES)
    assert_values(
        at(got, "A1"),
        {
            "events_7d": 2, "events_30d": 3, "events_90d": 7, "events_prev_30d": 2,
            "logins_7d": 1, "logins_30d": 1, "logins_90d": 1, "logins_prev_30d": 0,
            "active_days_7d": 2, "active_days_30d": 3, "active_days_90d": 7, "exports_30d": 0, "exports_90d": 2,
            "days_since_last_event": 1, "days_since_last_login": 1,
            "active_users_7d": 2, "active_users_30d": 3, "active_users_prev_30d": 1,
            "features_used_30d": 1, "features_used_90d": 2,
            "events_trend_30d": 0.5, "logins_trend_30d": None, "active_users_trend_30d": 2.0,
            "active_users_per_seat_7d": 0.2, "active_users_per_seat_30d": 0.3, "events_per_seat_30d": 0.3,
            "events_per_active_user_30d": 1.0, "login_share_30d": 1 / 3,
        },
    )  # fmt: skip
    assert_values(at(got, "A2"), {"events_90d": 1, "events_30d": 0, "days_since_last_event": 90,
                                  "days_since_last_login": 91, "events_trend_30d": None})  # fmt: skip
    assert_values(
        at(got, "A3"),
        {"events_90d": 0, "active_users_30d": 0, "days_since_last_event": 91, "events_per_seat_30d": 0.0,
         "events_per_active_user_30d": None, "login_share_30d": None},
    )  # fmt: skip


def test_engagement_days_since_counts_utc_days_not_hours() -> None:
    tables = world(usage_events=[_ev("A1", day("2024-05-30T23:59:59.999999")), _ev("A1", day("2024-05-31T00:00"))])
    got = assert_matches_reference(tables, [*DATES, midnight(AS_OF + 2 * DAY)])
    assert at(got)["days_since_last_event"] == 1
    assert at(got, as_of=AS_OF + 2 * DAY)["days_since_last_event"] == 3
    assert at(got)["active_days_7d"] == 2


def test_milestones_with_a_custom_list_and_onboarding_period() -> None:
    cfg = FeatureConfig(milestones=("connected", "shared", "automated"), onboarding_days=14)
    m1_created = day("2024-05-01T10:00")
    tables = world(
        (),
        accounts=[
            {"account_id": "M1", "created_at": m1_created},
            {"account_id": "M2", "created_at": AS_OF - 14 * DAY},  # onboarding ends exactly at as_of
            {"account_id": "M3", "created_at": AS_OF - 14 * DAY + US},  # ends a microsecond after as_of
            {"account_id": "M4", "created_at": day("2024-01-01")},
        ],
        subscriptions=[{"account_id": a, "start_at": day("2024-01-01")} for a in ("M1", "M2", "M3", "M4")],
        usage_events=[
            _ev("M1", m1_created + 14 * DAY - US, "connected"),  # last moment of onboarding
            _ev("M1", m1_created + 14 * DAY, "shared"),  # first moment after it
            _ev("M1", m1_created + 15 * DAY, "shared"),  # a repeat does not count twice
            _ev("M1", AS_OF, "automated"),  # at as_of: not reached yet
            _ev("M2", AS_OF - 14 * DAY, "connected"),
            *(_ev("M3", AS_OF - 5 * DAY + i * US, m) for i, m in enumerate(("connected", "shared", "automated"))),
            _ev("M4", day("2024-02-01"), "integration_connected"),  # a default milestone, not configured here
            _ev("M4", day("2024-02-01"), "login"),
        ],
    )
    got = assert_matches_reference(tables, DATES, cfg)
    assert "milestone_integration_connected" not in got.columns
    assert_values(
        at(got, "M1"),
        {"milestones_reached": 2, "milestones_in_onboarding": 1, "days_to_first_value": 14,
         "milestone_connected": 1, "milestone_shared": 1, "milestone_automated": 0,
         "onboarding_complete": 0, "milestones_missed_in_onboarding": 2},
    )  # fmt: skip
    assert_values(
        at(got, "M2"),
        {"milestones_reached": 1, "milestones_in_onboarding": 1, "days_to_first_value": 0,
         "milestones_missed_in_onboarding": 2},
    )  # fmt: skip
    assert_values(
        at(got, "M3"),
        {"milestones_reached": 3, "milestones_in_onboarding": 3, "onboarding_complete": 1,
         "days_to_first_value": 9, "milestones_missed_in_onboarding": 0},
    )  # fmt: skip
    assert_values(
        at(got, "M4"),
        {"milestones_reached": 0, "days_to_first_value": None, "milestone_connected": 0,
         "milestones_missed_in_onboarding": 3},
    )  # fmt: skip


def test_support_open_rated_and_windowed_tickets() -> None:
    tables = world(
        ("A1", "A2"),
        support_tickets=[
            # Opened before as_of and resolved after it: open at the snapshot, its rating not known yet.
            {"created_at": AS_OF - 2.5 * DAY, "resolved_at": AS_OF + DAY / 24, "priority": "high", "csat": 1},
            # Resolved exactly at as_of: still open at the snapshot.
            {"created_at": AS_OF - 10 * DAY, "resolved_at": AS_OF, "csat": 2},
            # Resolved a microsecond before as_of: closed, rated.
            {"created_at": AS_OF - 20 * DAY, "resolved_at": AS_OF - US, "priority": "urgent", "csat": 4},
            {"created_at": AS_OF, "priority": "urgent"},  # opened at as_of: not seen
            {"created_at": AS_OF - 90 * DAY, "resolved_at": AS_OF - 89 * DAY, "priority": "high",
             "category": "billing", "csat": 2},
            {"created_at": AS_OF - 90 * DAY - US},  # outside the 90 days, but still open
            {"created_at": AS_OF - 45 * DAY, "category": "bug", "priority": None},
        ],
    )  # fmt: skip
    got = assert_matches_reference(tables, DATES)
    assert_values(
        at(got, "A1"),
        {
            "tickets_30d": 3, "tickets_90d": 5, "tickets_prev_30d": 1, "high_priority_tickets_90d": 3,
            "urgent_tickets_30d": 1, "billing_tickets_90d": 1, "bug_tickets_90d": 1,
            "resolution_hours_90d": (20 * 24 - 1 / 3_600_000_000 + 24) / 2,
            "csat_mean_90d": 3.0, "csat_min_90d": 2.0, "low_csat_tickets_90d": 1, "days_since_last_ticket": 3,
            "open_tickets": 4, "open_high_priority_tickets": 1,
            "oldest_open_ticket_days": 90 + 1 / 86_400_000_000, "tickets_trend_30d": 2.0,
        },
    )  # fmt: skip
    assert_values(
        at(got, "A2"),
        {"tickets_90d": 0, "open_tickets": 0, "oldest_open_ticket_days": None, "days_since_last_ticket": 91,
         "csat_mean_90d": None, "tickets_trend_30d": None},
    )  # fmt: skip


def test_support_priority_counts_from_its_escalation() -> None:
    tables = world(
        support_tickets=[
            {"priority": "high", "created_at": AS_OF - 10 * DAY, "escalated_at": AS_OF - 5 * DAY},
            {"priority": "urgent", "created_at": AS_OF - 10 * DAY, "escalated_at": AS_OF},  # raised at as_of: normal
            # No escalated_at: urgent since it was opened.
            {"priority": "urgent", "created_at": AS_OF - 20 * DAY, "resolved_at": AS_OF - 19 * DAY},
            {"priority": "high", "created_at": AS_OF - 3 * DAY, "escalated_at": AS_OF + DAY},  # raised after as_of
            {"priority": "urgent", "created_at": AS_OF - 40 * DAY, "escalated_at": AS_OF - 35 * DAY,
             "resolved_at": AS_OF - DAY},
        ],
    )  # fmt: skip
    got = assert_matches_reference(tables, DATES)
    assert_values(
        at(got),
        {"tickets_30d": 4, "high_priority_tickets_90d": 3, "urgent_tickets_30d": 1, "open_tickets": 3,
         "open_high_priority_tickets": 1},
    )  # fmt: skip


def test_email_rates_and_windows() -> None:
    tables = world(
        ("A1", "A2"),
        email_events=[
            {"ts": AS_OF - DAY, "event": "sent"},
            {"ts": AS_OF - DAY, "event": "sent"},
            {"ts": AS_OF - US, "event": "open"},
            {"ts": AS_OF - 2 * DAY, "event": "click"},
            {"ts": AS_OF, "event": "sent"},  # at as_of: not seen
            {"ts": AS_OF - 30 * DAY - US, "event": "sent"},
            {"ts": AS_OF - 60 * DAY, "event": "open"},
            {"ts": AS_OF - 90 * DAY, "event": "unsubscribe"},
            {"ts": AS_OF - 90 * DAY - US, "event": "bounce"},
        ],
    )
    got = assert_matches_reference(tables, DATES)
    assert_values(
        at(got, "A1"),
        {
            "sent_30d": 2, "sent_90d": 3, "opens_30d": 1, "opens_90d": 2, "sent_prev_30d": 1, "opens_prev_30d": 1,
            "clicks_90d": 1, "bounces_90d": 0, "unsubscribes_90d": 1, "days_since_last_open": 1,
            "open_rate_30d": 0.5, "open_rate_90d": 2 / 3, "click_rate_90d": 0.5, "open_rate_trend_30d": -0.5,
        },
    )  # fmt: skip
    assert_values(at(got, "A2"), {"sent_90d": 0, "open_rate_30d": None, "days_since_last_open": 91})
