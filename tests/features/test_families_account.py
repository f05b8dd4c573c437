"""Payments, growth, sentiment, relationship and firmographics on hand-dated rows: the engine equals the
reference, and both equal values worked out by hand."""

from features.catalog import features
from tests.features.checks import assert_matches_reference
from tests.features.worlds import AS_OF, DAY, LONG_AGO, US, assert_values, at, day, midnight, world

DATES = [midnight(AS_OF)]


def test_payments_late_overdue_and_unpaid_at_the_snapshot() -> None:
    tables = world(
        ("A1", "A2"),
        invoices=[
            # Paid late in the evening of its due day: on time.
            {"issued_at": day("2024-04-01"), "due_at": day("2024-05-01"), "paid_at": day("2024-05-01T23:00")},
            # Paid three days late.
            {"issued_at": day("2024-04-01"), "due_at": day("2024-05-01"), "paid_at": day("2024-05-04T01:00")},
            # Due before as_of and paid exactly at as_of: unpaid and overdue at the snapshot.
            {"issued_at": day("2024-05-01"), "due_at": day("2024-05-31"), "paid_at": AS_OF},
            # Not yet due: unpaid, not overdue.
            {"issued_at": day("2024-05-15"), "due_at": day("2024-06-14")},
            # Failed without failed_at: failed on its due day; still owed, so unpaid and overdue.
            {"issued_at": day("2024-05-20"), "status": "failed"},
            # Void without voided_at: void from its issue, never owed.
            {"issued_at": day("2024-05-10"), "due_at": day("2024-05-11"), "status": "void"},
            {"issued_at": AS_OF, "amount": 9999.0},  # issued at as_of: not seen
            # No status (an optional column): owed like an open invoice.
            {"issued_at": day("2024-05-25"), "due_at": day("2024-05-26"), "amount": 1200.0, "status": None},
        ],
    )
    got = assert_matches_reference(tables, DATES)
    assert_values(
        at(got, "A1"),
        {
            "invoices_180d": 7, "late_invoices_180d": 4, "days_late_mean_180d": 1.5, "failed_payments_180d": 1,
            "overdue_invoices": 3, "overdue_amount": 1400.0, "unpaid_amount": 1500.0,
            "last_invoice_amount": 1200.0, "billing_months": 12,
        },
    )  # fmt: skip
    assert_values(
        at(got, "A2"),
        {"invoices_180d": 0, "overdue_invoices": 0, "overdue_amount": 0.0, "unpaid_amount": 0.0,
         "days_late_mean_180d": None, "last_invoice_amount": None, "billing_months": None},
    )  # fmt: skip


def test_payments_read_failures_and_voids_through_their_times() -> None:
    tables = world(
        invoices=[
            # Failed after as_of: at the snapshot only unpaid (and overdue).
            {"issued_at": day("2024-05-01"), "due_at": day("2024-05-31"), "status": "failed",
             "failed_at": AS_OF + DAY, "amount": 100.0},
            # Voided exactly at as_of: still owed at the snapshot.
            {"issued_at": day("2024-05-01"), "due_at": day("2024-05-10"), "status": "void", "voided_at": AS_OF,
             "amount": 200.0},
            # Voided before as_of: owed nothing, late in nothing.
            {"issued_at": day("2024-04-01"), "due_at": day("2024-04-15"), "status": "void",
             "voided_at": day("2024-05-01"), "amount": 400.0},
            # Failed before as_of: a failure, and still owed.
            {"issued_at": day("2024-03-01"), "status": "failed", "failed_at": day("2024-03-01T00:05"),
             "amount": 800.0},
            # Failed without failed_at, due after as_of: by the rule it fails when due, so not yet.
            {"issued_at": day("2024-05-25"), "due_at": day("2024-06-10"), "status": "failed", "amount": 1600.0},
            # The card failed, the retry three days later went through: a failure and a late payment.
            {"issued_at": day("2024-02-01"), "failed_at": day("2024-02-01T00:10"), "paid_at": day("2024-02-04"),
             "amount": 3200.0},
            # Failed more than 180 days ago: no recent failure, but still owed and overdue.
            {"issued_at": day("2023-11-01"), "status": "failed", "failed_at": day("2023-11-01"), "amount": 6400.0},
        ],
    )  # fmt: skip
    got = assert_matches_reference(tables, DATES)
    assert_values(
        at(got),
        {
            "invoices_180d": 6, "failed_payments_180d": 2, "late_invoices_180d": 4, "days_late_mean_180d": 3.0,
            "overdue_invoices": 4, "overdue_amount": 7500.0, "unpaid_amount": 9100.0, "last_invoice_amount": 1600.0,
        },
    )  # fmt: skip


def test_contract_history_and_who_has_a_snapshot() -> None:
    april, gap = day("2024-04-01"), day("2024-03-05")
    tables = world(
        (),
        accounts=[
            {"account_id": "C1", "created_at": day("2023-03-15T10:00")},
            {"account_id": "C2", "created_at": LONG_AGO},
            {"account_id": "C3", "created_at": AS_OF + US},  # created after as_of: no snapshot then
            {"account_id": "C4", "created_at": LONG_AGO},
        ],
        subscriptions=[
            {"account_id": "C1", "start_at": day("2023-03-15T10:00"), "end_at": day("2024-01-10")},
            {"account_id": "C1", "start_at": day("2024-01-10"), "end_at": day("2024-03-01"), "mrr": 150.0,
             "seats": 15},
            # After a gap, fewer seats; notice to cancel given the day before as_of.
            {"account_id": "C1", "start_at": day("2024-03-20"), "mrr": 120.0, "seats": 12, "plan": "team",
             "cancelled_at": day("2024-05-31")},
            # Overlapping rows (a base plan and an add-on): summed, then as 90 days ago; the plan is the latest's.
            {"account_id": "C2", "start_at": day("2024-01-01"), "mrr": 1000.0, "plan": "enterprise"},
            {"account_id": "C2", "start_at": day("2024-02-01"), "mrr": 50.0, "seats": 1, "plan": "addon",
             "cancelled_at": AS_OF},  # notice given at as_of: not known yet
            {"account_id": "C2", "start_at": AS_OF + US, "mrr": 5000.0},  # starts after as_of: not seen
            {"account_id": "C3", "start_at": AS_OF - DAY},
            {"account_id": "C4", "start_at": LONG_AGO, "end_at": day("2024-05-01")},  # churned in May
        ],
    )  # fmt: skip
    dates = [midnight(gap), midnight(april), *DATES]
    got = assert_matches_reference(tables, dates)
    assert set(got.loc[got["as_of"] == AS_OF, "account_id"]) == {"C1", "C2"}
    assert set(got.loc[got["as_of"] == april, "account_id"]) == {"C1", "C2", "C4"}
    assert set(got.loc[got["as_of"] == gap, "account_id"]) == {"C2", "C4"}  # C1 is between two rows
    assert_values(
        at(got, "C1"),
        {
            "tenure_days": 444, "days_to_anniversary": 365 - 444 % 365, "days_on_current_terms": 73,
            "mrr": 120.0, "arr": 1440.0, "seats": 12, "price_per_seat": 10.0, "plan": "team",
            "mrr_90d_ago": None, "mrr_180d_ago": 100.0, "seats_90d_ago": None,
            "mrr_change_90d": None, "mrr_change_180d": 0.2, "seats_change_90d": None,
            "contract_changes_365d": 2, "upgrades_365d": 1, "downgrades_365d": 1, "service_gaps_365d": 1,
            "cancellation_pending": 1,
        },
    )  # fmt: skip
    assert_values(
        at(got, "C2"),
        {"mrr": 1050.0, "seats": 11, "plan": "addon", "mrr_90d_ago": 1050.0, "mrr_change_90d": 0.0,
         "seats_change_90d": 0.0, "cancellation_pending": 0, "contract_changes_365d": 1, "downgrades_365d": 1},
    )  # fmt: skip


def test_sentiment_latest_answer_and_its_change() -> None:
    tables = world(
        ("A1", "A2", "A3", "A4"),
        nps_responses=[
            {"ts": AS_OF - 400 * DAY, "score": 9},  # more than a year ago: latest only if nothing newer
            {"ts": AS_OF - 200 * DAY, "score": 3},
            {"ts": AS_OF - 100 * DAY, "score": 5},
            {"ts": AS_OF - US, "score": 10},
            {"ts": AS_OF, "score": 0},  # at as_of: not seen
            {"account_id": "A2", "ts": AS_OF - 400 * DAY, "score": 4},
            {"account_id": "A3", "ts": AS_OF - 730 * DAY - US, "score": 2},  # too old to count at all
            {"account_id": "A4", "ts": AS_OF - 10 * DAY, "score": 6},
            {"account_id": "A4", "ts": AS_OF - 5 * DAY, "score": 8},
        ],
    )
    got = assert_matches_reference(tables, DATES)
    assert_values(
        at(got, "A1"),
        {"nps_latest": 10, "nps_mean_365d": 6.0, "nps_responses_365d": 3, "days_since_nps": 1,
         "nps_detractor": 0, "nps_change": 10 - (3 + 5) / 2},
    )  # fmt: skip
    assert_values(
        at(got, "A2"),
        {"nps_latest": 4, "nps_mean_365d": None, "nps_responses_365d": 0, "days_since_nps": 400,
         "nps_detractor": 1, "nps_change": None},
    )  # fmt: skip
    assert_values(at(got, "A3"), {"nps_latest": None, "days_since_nps": 731, "nps_detractor": None})
    assert_values(at(got, "A4"), {"nps_latest": 8, "nps_change": 2.0, "nps_detractor": 0})


def test_relationship_people_present_at_the_snapshot() -> None:
    tables = world(
        ("A1", "A2", "A3"),
        contacts=[
            {"role": "champion", "created_at": LONG_AGO, "left_at": AS_OF},  # leaves at as_of: still there
            {"role": "champion", "created_at": day("2024-01-01"), "left_at": AS_OF - US},  # just left
            {"role": "admin"},  # no dates: arrival unknown, so not counted as present
            {"role": "user", "created_at": AS_OF},  # joins at as_of: not seen
            {"role": "admin", "created_at": LONG_AGO, "left_at": AS_OF - 100 * DAY},
            {"role": "champion", "created_at": day("2024-02-01T15:00")},
            {"account_id": "A3", "role": "champion", "created_at": LONG_AGO, "left_at": day("2023-07-01")},
            {"account_id": "A3", "role": "champion"},
            {"account_id": "A3", "role": "admin", "created_at": LONG_AGO},
        ],
    )
    got = assert_matches_reference(tables, DATES)
    assert_values(
        at(got, "A1"),
        {"champions": 2, "admins": 0, "contacts": 2, "champion_left_90d": 1, "days_since_champion_left": 1,
         "champion_tenure_days": 121, "has_champion": 1},
    )  # fmt: skip
    assert_values(
        at(got, "A2"),
        {"champions": 0, "admins": 0, "contacts": 0, "champion_left_90d": 0, "days_since_champion_left": 366,
         "champion_tenure_days": None, "has_champion": 0},
    )  # fmt: skip
    assert_values(
        at(got, "A3"),
        {"champions": 0, "admins": 1, "contacts": 1, "champion_left_90d": 0, "days_since_champion_left": 336,
         "champion_tenure_days": None, "has_champion": 0},
    )  # fmt: skip


def test_relationship_roles_count_from_role_since() -> None:
    tables = world(
        ("A1", "A2"),
        contacts=[
            {"role": "champion", "created_at": LONG_AGO, "role_since": AS_OF - 30 * DAY},
            {"role": "champion", "created_at": LONG_AGO, "role_since": AS_OF},  # promoted at as_of: a plain contact
            {"role": "admin", "created_at": LONG_AGO, "role_since": AS_OF + DAY},  # promoted after as_of
            {"role": "admin", "created_at": day("2024-01-01")},  # no role_since: admin since arrival
            # Arrival unknown, departure dated: a champion who left 10 days ago.
            {"role": "champion", "left_at": AS_OF - 10 * DAY},
            # Arrival unknown, but champion since 5 days ago: there since then.
            {"role": "champion", "role_since": AS_OF - 5 * DAY},
            {"role": "user"},  # no times at all: not counted
            {"role": "champion", "created_at": LONG_AGO, "role_since": AS_OF - 200 * DAY, "left_at": AS_OF - 100 * DAY},
            # Left before taking the role: not a champion's departure.
            {"account_id": "A2", "role": "champion", "created_at": LONG_AGO, "role_since": AS_OF - 2 * DAY,
             "left_at": AS_OF - 3 * DAY},
        ],
    )  # fmt: skip
    got = assert_matches_reference(tables, DATES)
    assert_values(
        at(got, "A1"),
        {"champions": 2, "admins": 1, "contacts": 5, "champion_left_90d": 1, "days_since_champion_left": 10,
         "champion_tenure_days": 5, "has_champion": 1},
    )  # fmt: skip
    assert_values(
        at(got, "A2"),
        {"champions": 0, "contacts": 0, "champion_left_90d": 0, "days_since_champion_left": 366, "has_champion": 0},
    )  # fmt: skip


def test_firmographics_are_categories_and_null_stays_unknown() -> None:
    tables = world(
        (),
        accounts=[
            {"account_id": "F1", "segment": "smb", "industry": "retail", "region": "EMEA", "touch_model": "tech"},
            {"account_id": "F2"},
        ],
        subscriptions=[{"account_id": "F1"}, {"account_id": "F2"}],
    )
    got = assert_matches_reference(tables, DATES)
    assert_values(at(got, "F1"), {"segment": "smb", "industry": "retail", "region": "EMEA", "touch_model": "tech"})
    assert_values(at(got, "F2"), {"segment": None, "industry": None, "region": None, "touch_model": None})


def test_a_date_without_any_active_account_gives_no_rows() -> None:
    tables = world((), accounts=[{"account_id": "Z1", "created_at": AS_OF + DAY}],
                   subscriptions=[{"account_id": "Z1", "start_at": AS_OF + DAY}])  # fmt: skip
    got = assert_matches_reference(tables, DATES)
    assert got.empty and list(got.columns) == ["account_id", "as_of", *(f.name for f in features())]
