"""Hand-dated contract tables for edge cases: name only what a test is about, the rest gets plain defaults."""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from features.contract import TABLES
from tests.factories import as_contract

AS_OF = pd.Timestamp("2024-06-01", tz="UTC")
DAY = pd.Timedelta(days=1)
US = pd.Timedelta(microseconds=1)
LONG_AGO = pd.Timestamp("2023-01-01", tz="UTC")

Row = Mapping[str, Any]
# Per table: the key column numbered automatically (prefix), and defaults for required columns.
_DEFAULTS: dict[str, tuple[str | None, dict[str, Any]]] = {
    "accounts": (None, {"created_at": LONG_AGO}),
    "subscriptions": ("S", {"start_at": LONG_AGO, "mrr": 100.0, "seats": 10, "plan": "pro", "status": "active"}),
    "usage_events": (None, {"user_id": "U1", "event_type": "report_run"}),
    "support_tickets": ("T", {"priority": "normal"}),
    "email_events": (None, {}),
    "invoices": ("I", {"amount": 100.0}),
    "nps_responses": (None, {}),
    "contacts": ("P", {}),
    "churn_events": (None, {}),
}


def day(text: str) -> pd.Timestamp:
    """A UTC time from ISO text (``2024-05-31`` or ``2024-05-31T10:00``)."""
    return pd.Timestamp(text, tz="UTC")


def midnight(ts: pd.Timestamp) -> datetime:
    return datetime(ts.year, ts.month, ts.day, tzinfo=UTC)


def _frame(table: str, rows: Sequence[Row]) -> pd.DataFrame:
    key, defaults = _DEFAULTS[table]
    filled = []
    for i, row in enumerate(rows, 1):
        full = {**defaults, **row}
        if key is not None:
            full.setdefault(TABLES[table].key or "", f"{key}{i}")
        if table == "invoices":
            full.setdefault("due_at", full["issued_at"])
            full.setdefault("status", "paid" if full.get("paid_at") is not None else "open")
        filled.append(full)
    columns: dict[str, object] = {c: [r.get(c) for r in filled] for c in TABLES[table].columns}
    return as_contract(table, columns)


def world(plain: Sequence[str] = ("A1",), **rows: Sequence[Row]) -> dict[str, pd.DataFrame]:
    """Contract tables. ``plain`` are ids of plain accounts (created long ago, one open subscription row of MRR 100
    and 10 seats since then); rows given for ``accounts`` or ``subscriptions`` are added to those, rows of other
    tables default to account A1."""
    unknown = set(rows) - set(TABLES)
    if unknown:
        raise ValueError(f"not contract tables: {sorted(unknown)}")
    base_accounts = [{"account_id": a} for a in plain]
    base_subs = [{"account_id": a} for a in plain]
    out = {}
    for table in TABLES:
        given = [dict(r) for r in rows.get(table, ())]
        if table not in ("accounts", "subscriptions"):
            for r in given:
                r.setdefault("account_id", "A1")
        if table == "accounts":
            given = base_accounts + given
        elif table == "subscriptions":
            given = base_subs + given
        out[table] = _frame(table, given)
    return out


def at(frame: pd.DataFrame, account: str = "A1", as_of: pd.Timestamp = AS_OF) -> pd.Series:
    """One snapshot row of a result frame."""
    hit = frame[(frame["account_id"] == account) & (frame["as_of"] == as_of)]
    assert len(hit) == 1, f"{len(hit)} rows for ({account}, {as_of})"
    return hit.iloc[0]


def assert_values(row: pd.Series, expected: Mapping[str, float | str | None]) -> None:
    """Features of one snapshot row equal hand-computed values (None = unknown)."""
    wrong = {}
    for name, want in expected.items():
        got = row[name]
        if want is None:
            ok = pd.isna(got)
        elif isinstance(want, str):
            ok = got == want
        else:
            ok = not pd.isna(got) and abs(float(got) - want) <= 1e-9 * max(1.0, abs(want))
        if not ok:
            wrong[name] = (got, want)
    assert not wrong, f"(got, expected) for {row['account_id']} at {row['as_of']}: {wrong}"
