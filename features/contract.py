"""The data contract: the canonical input tables, as declarative pandera schemas (no I/O here).

A validated frame has exactly the contract's columns, in order, with these dtypes: ids and text ``string``,
times ``datetime64[us, UTC]``, amounts (money, durations) ``float64``, counts ``Int64``. Required columns are
non-nullable; optional columns are nullable (and are all-null when the input lacks them). Check ``error`` texts
are written to be read by people: ingest turns them into quarantine reasons such as
``"score: must be between 0 and 10 (got 11)"``.

State fields without a time of their own (an invoice's ``status``, a ticket's ``priority``, a contact's ``role``)
come with optional times of their changes where exports carry them: ``failed_at`` and ``voided_at`` (invoices),
``escalated_at`` (tickets), ``role_since`` (contacts). Features read state through those times, and under rules
written down in the README where they are missing.
"""

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pandas as pd

with warnings.catch_warnings():
    # When PySpark is installed (the Spark engine), pandera imports pandas-on-Spark (pyspark.pandas) only to patch
    # its typing, and that import warns that PySpark "does not yet fully support pandas >= 3.0.0". The contract
    # never touches pandas-on-Spark; the Spark engine's own pandas use is proven by its equality tests.
    warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
    import pandera.pandas as pa

ColumnKind = Literal["text", "time", "number", "count"]

TIME = pd.DatetimeTZDtype(unit="us", tz="UTC")

SEGMENTS = ("enterprise", "mid_market", "smb")
TOUCH_MODELS = ("high", "low", "tech")
SUBSCRIPTION_STATUSES = ("active", "ended", "cancelled", "trial")  # a trial is never "active" service
CHURN_KINDS = ("voluntary", "involuntary")
PRIORITIES = ("low", "normal", "high", "urgent")
EMAIL_EVENT_TYPES = ("sent", "open", "click", "bounce", "unsubscribe")
INVOICE_STATUSES = ("paid", "open", "failed", "void")
CONTACT_ROLES = ("champion", "admin", "user")


def _text(*checks: pa.Check, required: bool = False) -> pa.Column:
    return pa.Column("string", list(checks), nullable=not required)


def _choice(values: Sequence[str], *, required: bool = False) -> pa.Column:
    return _text(pa.Check.isin(values, error=f"must be one of {', '.join(values)}"), required=required)


def _time(*, required: bool = False) -> pa.Column:
    return pa.Column(TIME, nullable=not required)


def _amount(*, required: bool = False) -> pa.Column:  # money, durations: a number >= 0
    return pa.Column("float64", pa.Check.ge(0, error="must be >= 0"), nullable=not required)


def _count(low: int, high: int | None = None, *, required: bool = False) -> pa.Column:
    if high is None:
        check = pa.Check.ge(low, error=f"must be >= {low}")
    else:
        check = pa.Check.in_range(low, high, error=f"must be between {low} and {high}")
    return pa.Column("Int64", check, nullable=not required)


def _not_before(later: str, earlier: str) -> pa.Check:
    """Row rule ``later >= earlier``, checked only where both are set."""

    def check(df: pd.DataFrame) -> pd.Series:
        return df[later].isna() | df[earlier].isna() | (df[later] >= df[earlier])

    return pa.Check(check, error=f"{later} before {earlier}")


def _schema(name: str, columns: dict[str, pa.Column], checks: Sequence[pa.Check] = ()) -> pa.DataFrameSchema:
    # strict + ordered: ingest hands over exactly the contract's columns, so anything else is a bug upstream.
    return pa.DataFrameSchema(columns, checks=list(checks), name=name, strict=True, ordered=True)


ACCOUNTS = _schema(
    "accounts",
    {
        "account_id": _text(required=True),
        "created_at": _time(required=True),
        "name": _text(),
        "segment": _choice(SEGMENTS),
        "industry": _text(),
        "region": _text(),
        "csm_owner": _text(),
        "touch_model": _choice(TOUCH_MODELS),
    },
)

SUBSCRIPTIONS = _schema(
    "subscriptions",
    {
        "subscription_id": _text(required=True),
        "account_id": _text(required=True),
        "start_at": _time(required=True),
        "mrr": _amount(required=True),
        "seats": _count(1, required=True),
        "end_at": _time(),
        "cancelled_at": _time(),
        "plan": _text(),
        "status": _choice(SUBSCRIPTION_STATUSES),
    },
    [_not_before("end_at", "start_at"), _not_before("end_at", "cancelled_at")],
)

# A row is one event, or (with ``event_count``) that many events of one type in a period that starts at ``ts``
# (a day's or an hour's counts per feature, as product-analytics exports give them). ``user_id`` is optional:
# without it the features that need users (active users, users per seat) are off and say so.
USAGE_EVENTS = _schema(
    "usage_events",
    {
        "account_id": _text(required=True),
        "ts": _time(required=True),
        "event_type": _text(required=True),
        "user_id": _text(),
        "event_count": _count(0),  # events the row stands for; missing = 1
        "duration_secs": _amount(),  # time spent in them, when the export has it
    },
)

# Churn as its own table of events (a CRM's "churned" records): when it has rows, it defines churn for the labels
# instead of the end of the subscriptions (features.labels).
CHURN_EVENTS = _schema(
    "churn_events",
    {
        "account_id": _text(required=True),
        "churned_at": _time(required=True),
        "reason": _text(),
        "kind": _choice(CHURN_KINDS),
    },
)

SUPPORT_TICKETS = _schema(
    "support_tickets",
    {
        "ticket_id": _text(required=True),
        "account_id": _text(required=True),
        "created_at": _time(required=True),
        "resolved_at": _time(),
        "priority": _choice(PRIORITIES),
        "csat": _count(1, 5),
        "category": _text(),
        # When the ticket was raised to its current priority, if later than its creation.
        "escalated_at": _time(),
    },
    [_not_before("resolved_at", "created_at"), _not_before("escalated_at", "created_at")],
)

EMAIL_EVENTS = _schema(
    "email_events",
    {
        "account_id": _text(required=True),
        "ts": _time(required=True),
        "event": _choice(EMAIL_EVENT_TYPES, required=True),
        "campaign_id": _text(),
    },
)

INVOICES = _schema(
    "invoices",
    {
        "invoice_id": _text(required=True),
        "account_id": _text(required=True),
        "issued_at": _time(required=True),
        "due_at": _time(required=True),
        "amount": _amount(required=True),
        "paid_at": _time(),
        "status": _choice(INVOICE_STATUSES),
        "failed_at": _time(),  # when a payment of the invoice failed
        "voided_at": _time(),  # when the invoice was voided
    },
    [
        _not_before("due_at", "issued_at"),
        _not_before("paid_at", "issued_at"),
        _not_before("failed_at", "issued_at"),
        _not_before("voided_at", "issued_at"),
        pa.Check(
            lambda df: ~((df["status"] == "paid").fillna(False) & df["paid_at"].isna()),
            error="status is paid but paid_at is missing",
        ),
        # 'void' may follow a payment (a refund), so only open and failed contradict a payment date.
        pa.Check(
            lambda df: ~(df["status"].isin(["open", "failed"]) & df["paid_at"].notna()),
            error="paid_at is set but status is not paid",
        ),
    ],
)

NPS_RESPONSES = _schema(
    "nps_responses",
    {
        "account_id": _text(required=True),
        "ts": _time(required=True),
        "score": _count(0, 10, required=True),
    },
)

CONTACTS = _schema(
    "contacts",
    {
        "contact_id": _text(required=True),
        "account_id": _text(required=True),
        "role": _choice(CONTACT_ROLES, required=True),
        "created_at": _time(),
        "left_at": _time(),
        # When the contact took their current role, if later than their arrival (e.g. a user made champion).
        "role_since": _time(),
    },
    [_not_before("left_at", "created_at"), _not_before("role_since", "created_at")],
)


@dataclass(frozen=True)
class TableSpec:
    """One contract table: its schema and what ingest needs to know about it."""

    name: str
    schema: pa.DataFrameSchema
    key: str | None
    required: tuple[str, ...]
    optional: tuple[str, ...]
    time_columns: tuple[str, ...]
    optional_table: bool
    event_table: bool

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.schema.columns)

    def kind(self, column: str) -> ColumnKind:
        """How a column is parsed from raw input: text, time, number (float) or count (integer)."""
        dtype = str(self.schema.columns[column].dtype)
        if dtype.startswith("datetime64"):
            return "time"
        if dtype == "float64":
            return "number"
        if dtype == "Int64":
            return "count"
        return "text"


def _spec(
    schema: pa.DataFrameSchema, key: str | None, *, optional_table: bool = False, event_table: bool = False
) -> TableSpec:
    cols = schema.columns
    assert schema.name is not None
    return TableSpec(
        name=schema.name,
        schema=schema,
        key=key,
        required=tuple(c for c, col in cols.items() if not col.nullable),
        optional=tuple(c for c, col in cols.items() if col.nullable),
        time_columns=tuple(c for c, col in cols.items() if str(col.dtype).startswith("datetime64")),
        optional_table=optional_table,
        event_table=event_table,
    )


# Tables whose rows are states in force from their first time on: a snapshot at as_of sees those that began at or
# before it. The other tables' rows are events, seen strictly before as_of.
STATE_TABLES = ("accounts", "subscriptions", "contacts")

# Only accounts and subscriptions are required: any other table may be missing or declared absent in the mapping,
# and the feature families that read it are then off (features.catalog.available).
# Ingest order matters: accounts first, since every other table's account_id must name an accepted account.
TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        _spec(ACCOUNTS, "account_id"),
        _spec(SUBSCRIPTIONS, "subscription_id"),
        _spec(USAGE_EVENTS, None, optional_table=True, event_table=True),
        _spec(SUPPORT_TICKETS, "ticket_id", optional_table=True),
        _spec(EMAIL_EVENTS, None, optional_table=True, event_table=True),
        _spec(INVOICES, "invoice_id", optional_table=True),
        _spec(NPS_RESPONSES, None, optional_table=True),
        _spec(CONTACTS, "contact_id", optional_table=True),
        _spec(CHURN_EVENTS, None, optional_table=True),
    )
}
