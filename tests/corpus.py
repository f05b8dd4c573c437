"""The broken-input corpus: one small defect per case on top of the valid factory dataset, with its exact outcome.

A row case names the table and the exact reasons of each quarantined row (source_row -> reasons); a run case names
the fragments an ``IngestError`` message must contain. Used by the tests and by ``benchmarks/broken_corpus.py``.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from features.contract import TABLES
from tests.factories import valid_tables

Frames = dict[str, pd.DataFrame]


def as_text(tables: Frames) -> Frames:
    """The tables as CSV text cells (ISO times with Z, empty = null), ready to be broken cell by cell."""
    out: Frames = {}
    for name, frame in tables.items():
        spec = TABLES[name]
        cols = {}
        for c in frame.columns:
            s = frame[c]
            cols[c] = s.dt.strftime("%Y-%m-%dT%H:%M:%SZ") if spec.kind(c) == "time" else s.astype("string")
        out[name] = pd.DataFrame(cols).astype("string")
    return out


def write_text(frames: Frames, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        frame.to_csv(folder / f"{name}.csv", index=False)


@dataclass(frozen=True)
class Case:
    """``build(folder)`` writes the broken source. Either ``table`` + ``quarantined`` or ``error`` is set."""

    name: str
    build: Callable[[Path], None]
    table: str | None = None
    quarantined: dict[int, str] = field(default_factory=dict)
    error: tuple[str, ...] = ()


def edit(change: Callable[[Frames], None]) -> Callable[[Path], None]:
    """A builder: the valid dataset as CSV text, changed in place by ``change``."""

    def build(folder: Path) -> None:
        frames = as_text(valid_tables())
        change(frames)
        write_text(frames, folder)

    return build


def _set(table: str, row: int, column: str, value: str | None) -> Callable[[Frames], None]:
    """Set one cell; ``row`` is the 1-based source row (as in raw.quarantine)."""

    def change(frames: Frames) -> None:
        frames[table].loc[row - 1, column] = value

    return change


def _append(table: str, like_row: int, **values: str) -> Callable[[Frames], None]:
    def change(frames: Frames) -> None:
        frame = frames[table]
        new = frame.iloc[[like_row - 1]].copy()
        for column, value in values.items():
            new[column] = value
        frames[table] = pd.concat([frame, new], ignore_index=True)

    return change


def _then(*changes: Callable[[Frames], None]) -> Callable[[Frames], None]:
    def change(frames: Frames) -> None:
        for c in changes:
            c(frames)

    return change


def _drop_column(table: str, column: str) -> Callable[[Frames], None]:
    def change(frames: Frames) -> None:
        frames[table] = frames[table].drop(columns=[column])

    return change


def _drop_table(table: str) -> Callable[[Frames], None]:
    def change(frames: Frames) -> None:
        del frames[table]

    return change


def _write_bytes(file: str, data: bytes) -> Callable[[Path], None]:
    def build(folder: Path) -> None:
        edit(lambda frames: None)(folder)
        (folder / file).write_bytes(data)

    return build


def _latin1_accounts(folder: Path) -> None:
    frames = as_text(valid_tables())
    frames["accounts"].loc[1, "name"] = "Société Générale"
    write_text(frames, folder)
    (folder / "accounts.csv").write_bytes(frames["accounts"].to_csv(index=False).encode("latin-1"))


def _mixed_times(frames: Frames) -> None:
    ts = frames["email_events"]["ts"]
    frames["email_events"].loc[[2, 4], "ts"] = ts[[2, 4]].str.removesuffix("Z")


NAIVE = "ts: naive time in a column of time-zone-aware times"
SUBSCRIPTION_COLUMNS = "subscription_id, account_id, start_at, seats, end_at, cancelled_at, plan, status"

CASES: list[Case] = [
    Case(
        "wrong type (mrr 'abc')",
        edit(_set("subscriptions", 2, "mrr", "abc")),
        "subscriptions",
        {2: "mrr: not a number 'abc'"},
    ),
    Case(
        "not a whole number (seats 2.5)",
        edit(_set("subscriptions", 3, "seats", "2.5")),
        "subscriptions",
        {3: "seats: not a whole number '2.5'"},
    ),
    Case(
        "unparseable date",
        edit(_set("support_tickets", 2, "created_at", "yesterday")),
        "support_tickets",
        {2: "created_at: unparseable time 'yesterday'"},
    ),
    Case(
        "missing required value",
        edit(_set("usage_events", 4, "event_type", None)),
        "usage_events",
        {4: "event_type: missing"},
    ),
    Case(
        "value not allowed",
        edit(_set("support_tickets", 1, "priority", "P1")),
        "support_tickets",
        {1: "priority: must be one of low, normal, high, urgent (got P1)"},
    ),
    Case("exact duplicate row", edit(_append("subscriptions", 2)), "subscriptions", {7: "duplicate row"}),
    Case(
        "conflicting rows for a key",
        edit(_append("subscriptions", 2, mrr="999.0")),
        "subscriptions",
        {2: "conflicting rows for key subscription_id=S2", 7: "conflicting rows for key subscription_id=S2"},
    ),
    Case(
        "negative amount", edit(_set("invoices", 3, "amount", "-5")), "invoices", {3: "amount: must be >= 0 (got -5.0)"}
    ),
    Case(
        "NPS score 11",
        edit(_set("nps_responses", 2, "score", "11")),
        "nps_responses",
        {2: "score: must be between 0 and 10 (got 11)"},
    ),
    Case(
        "rows for an unknown account",
        edit(_then(_append("usage_events", 1, account_id="A9"), _append("usage_events", 2, account_id="A9"))),
        "usage_events",
        {61: "unknown account_id 'A9'", 62: "unknown account_id 'A9'"},
    ),
    Case(
        "end before start",
        edit(_set("subscriptions", 4, "end_at", "2024-01-31T00:00:00Z")),
        "subscriptions",
        {4: "end_at before start_at"},
    ),
    Case(
        "paid status without paid_at",
        edit(_set("invoices", 1, "paid_at", None)),
        "invoices",
        {1: "status is paid but paid_at is missing"},
    ),
    Case(
        "paid_at with status open",
        edit(_set("invoices", 2, "paid_at", "2024-02-10T00:00:00Z")),
        "invoices",
        {2: "paid_at is set but status is not paid"},
    ),
    Case(
        "payment failed or invoice voided before issue",
        edit(
            _then(
                _set("invoices", 4, "failed_at", "2024-01-05T00:00:00Z"),
                _set("invoices", 6, "voided_at", "2024-02-01T00:00:00Z"),
            )
        ),
        "invoices",
        {4: "failed_at before issued_at", 6: "voided_at before issued_at"},
    ),
    Case(
        "ticket escalated before it was opened",
        edit(_set("support_tickets", 2, "escalated_at", "2024-01-20T00:00:00Z")),
        "support_tickets",
        {2: "escalated_at before created_at"},
    ),
    Case(
        "contact in their role before they arrived",
        edit(_set("contacts", 3, "role_since", "2024-01-01T00:00:00Z")),
        "contacts",
        {3: "role_since before created_at"},
    ),
    Case("mixed naive and aware times", edit(_mixed_times), "email_events", {3: NAIVE, 5: NAIVE}),
    Case(
        "several reasons in one row",
        edit(_then(_set("subscriptions", 5, "mrr", "-1"), _set("subscriptions", 5, "seats", "0"))),
        "subscriptions",
        {5: "mrr: must be >= 0 (got -1.0); seats: must be >= 1 (got 0)"},
    ),
    Case(
        "missing column",
        edit(_drop_column("subscriptions", "mrr")),
        error=(
            "column mrr",
            "table subscriptions",
            "subscriptions.csv",
            f"columns found: {SUBSCRIPTION_COLUMNS}",
            "mapping file",
        ),
    ),
    Case(
        "missing required table",
        edit(_drop_table("subscriptions")),
        error=("required table subscriptions is missing", "subscriptions.parquet or subscriptions.csv"),
    ),
    Case("empty file (0 bytes)", _write_bytes("invoices.csv", b""), error=("invoices.csv", "empty")),
    Case("file with no header", _write_bytes("invoices.csv", b"\n\n"), error=("invoices.csv", "no header")),
    Case("file not UTF-8", _latin1_accounts, error=("accounts.csv", "not utf-8", "encoding")),
    Case(
        "unreadable Parquet",
        _write_bytes("usage_events.parquet", b"PAR1 this is not parquet PAR1"),
        error=("usage_events.parquet", "not a readable Parquet file"),
    ),
]
