"""The contract's registry matches DESIGN.md, and its schemas accept valid data and name what is wrong."""

import pandas as pd
import pandera.pandas as pa
import pytest

from features.contract import TABLES
from tests.factories import as_contract, valid_tables

# The table in DESIGN.md, "The data contract": required columns ; optional columns (and the times of state changes
# that DESIGN.md, "Snapshots, labels, no leakage", has the contract carry: failed_at, voided_at, escalated_at,
# role_since).
DESIGN = {
    "accounts": ("account_id", "account_id created_at", "name segment industry region csm_owner touch_model"),
    "subscriptions": (
        "subscription_id",
        "subscription_id account_id start_at mrr seats",
        "end_at cancelled_at plan status",
    ),
    # DESIGN.md: usage may come as counts per period, with or without user ids.
    "usage_events": (None, "account_id ts event_type", "user_id event_count duration_secs"),
    "support_tickets": (
        "ticket_id",
        "ticket_id account_id created_at",
        "resolved_at priority csat category escalated_at",
    ),
    "email_events": (None, "account_id ts event", "campaign_id"),
    "invoices": ("invoice_id", "invoice_id account_id issued_at due_at amount", "paid_at status failed_at voided_at"),
    "nps_responses": (None, "account_id ts score", ""),
    "contacts": ("contact_id", "contact_id account_id role", "created_at left_at role_since"),
    # DESIGN.md: "churn may come as its own table of churn events".
    "churn_events": (None, "account_id churned_at", "reason kind"),
}


def test_registry_matches_the_design() -> None:
    assert list(TABLES) == list(DESIGN)
    for name, (key, required, optional) in DESIGN.items():
        spec = TABLES[name]
        assert (spec.key, spec.required, spec.optional) == (key, tuple(required.split()), tuple(optional.split()))
    # DESIGN.md: "only accounts and subscriptions are indispensable".
    assert [n for n, s in TABLES.items() if not s.optional_table] == ["accounts", "subscriptions"]
    assert [n for n, s in TABLES.items() if s.event_table] == ["usage_events", "email_events"]
    assert TABLES["invoices"].time_columns == ("issued_at", "due_at", "paid_at", "failed_at", "voided_at")
    assert TABLES["subscriptions"].kind("mrr") == "number"
    assert TABLES["subscriptions"].kind("seats") == "count"
    assert TABLES["accounts"].kind("segment") == "text"


@pytest.mark.parametrize("name", list(valid_tables()))
def test_valid_factory_tables_pass(name: str) -> None:
    frame = valid_tables()[name]
    pd.testing.assert_frame_equal(TABLES[name].schema.validate(frame), frame)


def _failures(table: str, rows: dict[str, object]) -> set[tuple[object, str]]:
    """(column, check) of every failure of a one-row frame; row rules report column None."""
    with pytest.raises(pa.errors.SchemaErrors) as raised:
        TABLES[table].schema.validate(as_contract(table, rows), lazy=True)
    cases = raised.value.failure_cases
    return {
        (None if ctx == "DataFrameSchema" else col, check)
        for ctx, col, check in zip(cases["schema_context"], cases["column"], cases["check"], strict=True)
    }


SUB = {"subscription_id": ["S1"], "account_id": ["A1"], "start_at": ["2024-02-01"], "mrr": [10.0], "seats": [2]}
INVOICE = {
    "invoice_id": ["I1"],
    "account_id": ["A1"],
    "issued_at": ["2024-01-01"],
    "due_at": ["2024-01-31"],
    "amount": [5.0],
}


@pytest.mark.parametrize(
    ("table", "rows", "expected"),
    [
        ("subscriptions", {**SUB, "end_at": ["2024-01-01"]}, {(None, "end_at before start_at")}),
        (
            "subscriptions",
            {**SUB, "end_at": ["2024-03-01"], "cancelled_at": ["2024-04-01"]},
            {(None, "end_at before cancelled_at")},
        ),
        ("subscriptions", {**SUB, "mrr": [-1.0], "seats": [0]}, {("mrr", "must be >= 0"), ("seats", "must be >= 1")}),
        (
            "subscriptions",
            {**SUB, "status": ["paused"]},
            {("status", "must be one of active, ended, cancelled, trial")},
        ),
        (
            "support_tickets",
            {
                "ticket_id": ["T1"],
                "account_id": ["A1"],
                "created_at": ["2024-01-02"],
                "resolved_at": ["2024-01-01"],
                "csat": [6],
            },
            {(None, "resolved_at before created_at"), ("csat", "must be between 1 and 5")},
        ),
        ("invoices", {**INVOICE, "due_at": ["2023-12-31"]}, {(None, "due_at before issued_at")}),
        ("invoices", {**INVOICE, "paid_at": ["2023-12-31"], "status": ["paid"]}, {(None, "paid_at before issued_at")}),
        ("invoices", {**INVOICE, "status": ["paid"]}, {(None, "status is paid but paid_at is missing")}),
        (
            "invoices",
            {**INVOICE, "paid_at": ["2024-01-05"], "status": ["failed"]},
            {(None, "paid_at is set but status is not paid")},
        ),
        (
            "invoices",
            {**INVOICE, "failed_at": ["2023-12-31"], "status": ["failed"]},
            {(None, "failed_at before issued_at")},
        ),
        (
            "invoices",
            {**INVOICE, "voided_at": ["2023-12-31"], "status": ["void"]},
            {(None, "voided_at before issued_at")},
        ),
        (
            "support_tickets",
            {"ticket_id": ["T1"], "account_id": ["A1"], "created_at": ["2024-01-02"], "escalated_at": ["2024-01-01"]},
            {(None, "escalated_at before created_at")},
        ),
        (
            "contacts",
            {
                "contact_id": ["P1"],
                "account_id": ["A1"],
                "role": ["champion"],
                "created_at": ["2024-02-01"],
                "role_since": ["2024-01-01"],
            },
            {(None, "role_since before created_at")},
        ),
        (
            "nps_responses",
            {"account_id": ["A1"], "ts": ["2024-01-01"], "score": [11]},
            {("score", "must be between 0 and 10")},
        ),
        (
            "contacts",
            {
                "contact_id": ["P1"],
                "account_id": ["A1"],
                "role": ["owner"],
                "created_at": ["2024-02-01"],
                "left_at": ["2024-01-01"],
            },
            {(None, "left_at before created_at"), ("role", "must be one of champion, admin, user")},
        ),
        (
            "email_events",
            {"account_id": [None], "ts": ["2024-01-01"], "event": ["open"]},
            {("account_id", "not_nullable")},
        ),
    ],
)
def test_checks_name_the_rule(table: str, rows: dict[str, object], expected: set[tuple[object, str]]) -> None:
    assert _failures(table, rows) == expected


@pytest.mark.parametrize(
    ("table", "rows"),
    [
        ("invoices", {**INVOICE, "paid_at": ["2024-01-05"], "status": ["void"]}),  # refunded after payment
        ("invoices", {**INVOICE, "paid_at": ["2024-01-05"]}),  # status unknown
        # A card payment failed, then the retry went through.
        ("invoices", {**INVOICE, "failed_at": ["2024-01-31"], "paid_at": ["2024-02-03"], "status": ["paid"]}),
        ("invoices", {**INVOICE, "failed_at": ["2024-01-01"], "status": ["failed"]}),  # failed at issue
        # A contact without a known arrival, champion since a known day.
        ("contacts", {"contact_id": ["P1"], "account_id": ["A1"], "role": ["champion"], "role_since": ["2024-01-01"]}),
        ("subscriptions", {**SUB, "end_at": ["2024-03-01"], "cancelled_at": ["2024-02-15"]}),
    ],
)
def test_allowed_edge_rows_pass(table: str, rows: dict[str, object]) -> None:
    TABLES[table].schema.validate(as_contract(table, rows), lazy=True)
