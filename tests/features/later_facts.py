"""What may happen at or after a snapshot's as_of, for the point-in-time tests: new rows dated then, and changes of
existing rows whose time lies then (an invoice paid, failed or voided later, a ticket escalated later, a contact
promoted later). None of it may change a feature of the snapshot.

One kind of row is the state at as_of when dated exactly at it: a subscription row starting at as_of serves it
("active at as_of" is half-open, ``features.rollups.active_at``), so new subscription rows start strictly after
as_of. Events (usage, emails, tickets, invoices, NPS) at as_of stay invisible, and are drawn exactly at it often.

A state change is drawn only for a row whose state at as_of is known to be the one the change leaves behind: an
invoice still open at as_of (by every time it carries, and by the rules that date a status without one), a ticket
not yet high or urgent, a contact not yet in a role.
"""

from collections.abc import Mapping
from typing import Any

import pandas as pd
from hypothesis import strategies as st

from features.contract import EMAIL_EVENT_TYPES, PRIORITIES, TABLES
from tests.factories import T0, as_contract
from tests.features.checks import failed_time, voided_time

DAY = pd.Timedelta(days=1)
Rows = dict[str, list[dict[str, object]]]
Changes = dict[str, dict[int, dict[str, object]]]  # table -> row position -> new values
INVOICE_CHANGES = ("paid", "failed", "void", "failed without a time")


def _days(d: float | None) -> pd.Timestamp | None:
    return None if d is None else T0 + pd.Timedelta(days=d)


def with_dated_states(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """``tables`` (the factory's) plus rows whose states carry their times: invoices failed, voided, failed then
    paid, or failed without a time; tickets escalated; contacts promoted, or without an arrival time."""
    extra: dict[str, dict[str, list[Any]]] = {
        "invoices": {
            "invoice_id": ["I7", "I8", "I9", "I10", "I11", "I12"],
            "account_id": ["A1", "A2", "A2", "A3", "A1", "A5"],
            "issued_at": [_days(d) for d in (50, 60, 85, 100, 120, 130)],
            "due_at": [_days(d) for d in (80, 90, 115, 100, 150, 160)],
            "amount": [5000.0, 1200.5, 1200.5, 99.0, 5000.0, 0.0],
            "paid_at": [_days(d) for d in (None, None, None, 103, None, None)],
            "status": ["failed", "void", "open", "paid", "failed", "open"],
            "failed_at": [_days(d) for d in (80, None, None, 100.01, None, None)],
            "voided_at": [_days(d) for d in (None, 70, None, None, None, None)],
        },
        "support_tickets": {
            "ticket_id": ["T5", "T6", "T7", "T8"],
            "account_id": ["A1", "A2", "A5", "A4"],
            "created_at": [_days(d) for d in (40, 80, 120, 88)],
            "resolved_at": [_days(d) for d in (None, 96, None, 89)],
            "priority": ["urgent", "high", "normal", "low"],
            "category": ["bug", "billing", None, "bug"],
            "escalated_at": [_days(d) for d in (44, 95, None, None)],
        },
        "contacts": {
            "contact_id": ["P6", "P7", "P8", "P9", "P10"],
            "account_id": ["A2", "A3", "A5", "A5", "A1"],
            "role": ["user", "champion", "admin", "champion", "user"],
            "created_at": [_days(d) for d in (10, 12, None, None, 30)],
            "left_at": [_days(d) for d in (None, None, None, 100, 150)],
            "role_since": [_days(d) for d in (None, 60, 50, None, None)],
        },
    }
    out = dict(tables)
    for name, columns in extra.items():
        out[name] = pd.concat([tables[name], as_contract(name, columns)], ignore_index=True)
    return out


def later_time(draw: st.DrawFn, as_of: pd.Timestamp) -> pd.Timestamp:
    """A time at or after as_of (often exactly at it)."""
    micros = draw(st.one_of(st.just(0), st.integers(0, 3 * 86_400_000_000), st.integers(0, 400 * 86_400_000_000)))
    return as_of + pd.Timedelta(microseconds=micros)


def after_time(draw: st.DrawFn, as_of: pd.Timestamp) -> pd.Timestamp:
    """A time strictly after as_of (often a microsecond after it)."""
    return later_time(draw, as_of) + pd.Timedelta(microseconds=1)


@st.composite
def later_rows(draw: st.DrawFn, as_of: pd.Timestamp, accounts: list[str]) -> Rows:
    """Rows for every table, each dated at or after as_of (a subscription row strictly after it; other times of a
    row are later still)."""
    acct = st.sampled_from(accounts)
    few = st.integers(0, 3)
    rows: Rows = {name: [] for name in TABLES}
    for i in range(draw(few)):
        rows["accounts"].append({"account_id": f"NEW{i + 2}", "created_at": later_time(draw, as_of)})
    for i in range(draw(few)):
        start = after_time(draw, as_of)
        end = draw(st.sampled_from([None, start + DAY, start + 40 * DAY]))
        rows["subscriptions"].append(
            {"subscription_id": f"X{i}", "account_id": draw(acct), "start_at": start, "end_at": end,
             "cancelled_at": draw(st.sampled_from([None, start])), "mrr": draw(st.sampled_from([0.0, 10.0, 1e4])),
             "seats": draw(st.integers(1, 50)), "plan": draw(st.sampled_from(["pro", "addon", None]))}
        )  # fmt: skip
    kinds = ["login", "report_run", "export", "integration_connected", "first_report_created", "brand_new"]
    for _ in range(draw(st.integers(0, 8))):
        rows["usage_events"].append(
            {"account_id": draw(acct), "user_id": draw(st.sampled_from(["U1", "U2", "U99"])),
             "ts": later_time(draw, as_of), "event_type": draw(st.sampled_from(kinds))}
        )  # fmt: skip
    for _ in range(draw(few)):
        rows["email_events"].append(
            {"account_id": draw(acct), "ts": later_time(draw, as_of), "event": draw(st.sampled_from(EMAIL_EVENT_TYPES))}
        )
    for i in range(draw(few)):
        created = later_time(draw, as_of)
        rows["support_tickets"].append(
            {"ticket_id": f"X{i}", "account_id": draw(acct), "created_at": created,
             "resolved_at": draw(st.sampled_from([None, created, created + DAY])),
             "priority": draw(st.sampled_from([*PRIORITIES, None])), "csat": draw(st.sampled_from([None, 1, 5])),
             "category": draw(st.sampled_from(["billing", "bug", None])),
             "escalated_at": draw(st.sampled_from([None, created, created + DAY]))}
        )  # fmt: skip
    for i in range(draw(few)):
        issued = later_time(draw, as_of)
        paid = draw(st.sampled_from([None, issued, issued + 40 * DAY]))
        status = "paid" if paid is not None else draw(st.sampled_from(["open", "failed", "void", None]))
        rows["invoices"].append(
            {"invoice_id": f"X{i}", "account_id": draw(acct), "issued_at": issued, "due_at": issued + 30 * DAY,
             "amount": draw(st.sampled_from([0.0, 99.0, 5e4])), "paid_at": paid, "status": status,
             "failed_at": issued + 30 * DAY if status == "failed" and draw(st.booleans()) else None,
             "voided_at": issued + DAY if status == "void" and draw(st.booleans()) else None}
        )  # fmt: skip
    for _ in range(draw(few)):
        rows["nps_responses"].append(
            {"account_id": draw(acct), "ts": later_time(draw, as_of), "score": draw(st.integers(0, 10))}
        )
    for i in range(draw(few)):
        created = later_time(draw, as_of)
        rows["contacts"].append(
            {"contact_id": f"X{i}", "account_id": draw(acct), "created_at": created,
             "role": draw(st.sampled_from(["champion", "admin", "user"])),
             "left_at": draw(st.sampled_from([None, created, created + DAY])),
             "role_since": draw(st.sampled_from([None, created + DAY / 2]))}
        )  # fmt: skip
    return rows


def _unknown_or_later(times: pd.Series, as_of: pd.Timestamp) -> pd.Series:
    return times.isna() | (times >= as_of)


def open_invoices(invoices: pd.DataFrame, as_of: pd.Timestamp) -> list[int]:
    """Positions of invoices issued before as_of and open at it: not paid, failed or voided before it."""
    ok = (invoices["issued_at"] < as_of) & _unknown_or_later(invoices["paid_at"], as_of)
    ok &= _unknown_or_later(failed_time(invoices), as_of) & _unknown_or_later(voided_time(invoices), as_of)
    return [int(i) for i in ok.to_numpy().nonzero()[0]]


def plain_tickets(tickets: pd.DataFrame, as_of: pd.Timestamp) -> list[int]:
    """Positions of tickets opened before as_of that are not high or urgent at it (never escalated before it)."""
    later = tickets["escalated_at"] >= as_of
    plain = tickets["escalated_at"].isna() & ~tickets["priority"].isin(["high", "urgent"]).fillna(False)
    ok = (tickets["created_at"] < as_of) & (later | plain)
    return [int(i) for i in ok.to_numpy().nonzero()[0]]


def plain_contacts(contacts: pd.DataFrame, as_of: pd.Timestamp) -> list[int]:
    """Positions of contacts who arrived before as_of (or at an unknown time), had not left by it, and held no role
    at it (users since they arrived, or promoted only at or after as_of)."""
    arrived = contacts["created_at"].isna() | (contacts["created_at"] < as_of)
    since = contacts["role_since"]
    plain = (since >= as_of) | (since.isna() & contacts["role"].eq("user").fillna(False))
    ok = arrived & _unknown_or_later(contacts["left_at"], as_of) & plain
    return [int(i) for i in ok.to_numpy().nonzero()[0]]


def invoice_change(kind: str, when: pd.Timestamp) -> dict[str, object]:
    """The new values of an invoice that, from ``when`` on, is paid, failed or void (``INVOICE_CHANGES``)."""
    cleared: dict[str, object] = {"paid_at": None, "failed_at": None, "voided_at": None}
    if kind == "paid":
        return cleared | {"status": "paid", "paid_at": when}
    if kind == "failed":
        return cleared | {"status": "failed", "failed_at": when}
    if kind == "void":
        return cleared | {"status": "void", "voided_at": when}
    return cleared | {"status": "failed"}  # dated by the rule: failed on its due day


def promotion(contact: pd.Series, role: str, when: pd.Timestamp) -> dict[str, object]:
    """A contact takes ``role`` at ``when`` (no later than their departure)."""
    left = contact["left_at"]
    return {"role": role, "role_since": when if pd.isna(left) else min(when, left)}


@st.composite
def state_changes(draw: st.DrawFn, base: Mapping[str, pd.DataFrame], as_of: pd.Timestamp) -> Changes:
    """Changes of existing rows of ``base`` dated at or after as_of."""
    changes: Changes = {"invoices": {}, "support_tickets": {}, "contacts": {}}
    invoices = base["invoices"]
    for i in open_invoices(invoices, as_of):
        kinds = [k for k in INVOICE_CHANGES if k != "failed without a time" or invoices["due_at"].iloc[i] >= as_of]
        kind = draw(st.sampled_from([None, *kinds]))
        if kind is not None:
            changes["invoices"][i] = invoice_change(kind, later_time(draw, as_of))
    for i in plain_tickets(base["support_tickets"], as_of):
        if draw(st.booleans()):
            priority = draw(st.sampled_from(["high", "urgent"]))
            changes["support_tickets"][i] = {"priority": priority, "escalated_at": later_time(draw, as_of)}
    contacts = base["contacts"]
    for i in plain_contacts(contacts, as_of):
        if draw(st.booleans()):
            role = draw(st.sampled_from(["champion", "admin"]))
            changes["contacts"][i] = promotion(contacts.iloc[i], role, later_time(draw, as_of))
    return changes


def with_later(base: Mapping[str, pd.DataFrame], rows: Rows, changes: Changes) -> dict[str, pd.DataFrame]:
    """``base`` with ``changes`` made to its rows and ``rows`` added (contract frames; ``base`` is left as it is)."""
    out = {}
    for name, frame in base.items():
        edits = changes.get(name, {})
        if edits:
            frame = frame.copy()
            for i, values in edits.items():
                for column, value in values.items():
                    frame.iloc[i, frame.columns.get_loc(column)] = pd.NA if value is None else value
        added = rows.get(name, [])
        if added:
            frame = pd.concat([frame, as_contract(name, pd.DataFrame(added, columns=list(TABLES[name].columns)))])
        out[name] = frame.reset_index(drop=True)
    return out
