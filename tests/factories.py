"""A tiny, valid dataset in contract form (5 accounts, all 8 tables), and helpers to write and read it back."""

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from features.contract import TABLES, TIME

T0 = pd.Timestamp("2024-01-01", tz="UTC")


def as_contract(table: str, data: dict[str, object] | pd.DataFrame) -> pd.DataFrame:
    """A frame with exactly the contract's columns and dtypes (missing optional columns all null)."""
    frame = pd.DataFrame(data)
    spec = TABLES[table]
    out: dict[str, pd.Series] = {}
    for column in spec.columns:
        dtype = spec.schema.columns[column].dtype.type
        if column not in frame:
            out[column] = pd.Series(None, index=frame.index, dtype=dtype)
        elif spec.kind(column) == "time":
            out[column] = pd.to_datetime(frame[column], utc=True).astype(TIME)
        else:
            out[column] = frame[column].astype(dtype)
    return pd.DataFrame(out)


def _days(*days: float | None) -> list[pd.Timestamp | None]:
    return [None if d is None else T0 + pd.Timedelta(days=d) for d in days]


def valid_tables(seed: int = 0) -> dict[str, pd.DataFrame]:
    """All 8 contract tables, valid and consistent; event tables drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    accounts = as_contract(
        "accounts",
        {
            "account_id": ["A1", "A2", "A3", "A4", "A5"],
            "created_at": _days(0, 3, 10, 40, 41.5),
            "name": ["Acme", "Globex", "Initech", "Umbrella", "Hooli"],
            "segment": ["enterprise", "mid_market", "smb", "smb", None],
            "industry": ["retail", "energy", "software", None, "software"],
            "region": ["NA", "EMEA", "APAC", "NA", "EMEA"],
            "csm_owner": ["dana", "lee", None, None, "dana"],
            "touch_model": ["high", "low", "tech", "tech", "high"],
        },
    )
    subscriptions = as_contract(
        "subscriptions",
        {
            "subscription_id": ["S1", "S2", "S3", "S4", "S5", "S6"],
            "account_id": ["A1", "A2", "A3", "A4", "A5", "A1"],
            "start_at": _days(0, 3, 10, 40, 42, 100),
            "mrr": [5000.0, 1200.5, 99.0, 49.0, 0.0, 750.25],
            "seats": [100, 20, 3, 1, 1, 10],
            "end_at": _days(None, None, 200, 160, None, None),
            "cancelled_at": _days(None, None, 150, None, None, None),
            "plan": ["enterprise", "pro", "starter", "starter", "free", "addon"],
            "status": ["active", "active", "cancelled", "ended", "active", "active"],
        },
    )
    n = 60
    usage = as_contract(
        "usage_events",
        {
            "account_id": rng.choice(accounts["account_id"].to_numpy(), n),
            "user_id": [f"U{i}" for i in rng.integers(1, 15, n)],
            "ts": T0 + pd.to_timedelta(np.sort(rng.integers(0, 200 * 86_400_000_000, n)), unit="us"),
            "event_type": rng.choice(["login", "report_run", "export", "integration_connected"], n),
        },
    )
    tickets = as_contract(
        "support_tickets",
        {
            "ticket_id": ["T1", "T2", "T3", "T4"],
            "account_id": ["A1", "A1", "A2", "A3"],
            "created_at": _days(5, 20.25, 30, 60),
            "resolved_at": _days(6, None, 30.5, 75),
            "priority": ["high", "low", "urgent", None],
            "csat": pd.array([5, None, 2, 4], dtype="Int64"),
            "category": ["billing", "bug", None, "how-to"],
        },
    )
    m = 20
    emails = as_contract(
        "email_events",
        {
            "account_id": rng.choice(accounts["account_id"].to_numpy(), m),
            "ts": T0 + pd.to_timedelta(np.sort(rng.integers(0, 200 * 86_400, m)), unit="s"),
            "event": rng.choice(["sent", "open", "click", "bounce", "unsubscribe"], m),
            "campaign_id": rng.choice(np.array(["C-spring", "C-summer", None], dtype=object), m),
        },
    )
    invoices = as_contract(
        "invoices",
        {
            "invoice_id": ["I1", "I2", "I3", "I4", "I5", "I6"],
            "account_id": ["A1", "A1", "A2", "A3", "A4", "A5"],
            "issued_at": _days(0, 31, 3, 10, 40, 42),
            "due_at": _days(30, 61, 33, 40, 70, 72),
            "amount": [5000.0, 5000.0, 1200.5, 99.0, 49.0, 0.0],
            "paid_at": _days(12, None, 40, None, 41, None),
            "status": ["paid", "open", "paid", "failed", "paid", "void"],
        },
    )
    nps = as_contract(
        "nps_responses",
        {"account_id": ["A1", "A2", "A2", "A5"], "ts": _days(50, 51, 120, 90), "score": [9, 6, 0, 10]},
    )
    contacts = as_contract(
        "contacts",
        {
            "contact_id": ["P1", "P2", "P3", "P4", "P5"],
            "account_id": ["A1", "A1", "A2", "A3", "A4"],
            "role": ["champion", "admin", "champion", "user", "admin"],
            "created_at": _days(0, 0, 3, None, 40),
            "left_at": _days(90, None, None, None, 100),
        },
    )
    return {
        "accounts": accounts,
        "subscriptions": subscriptions,
        "usage_events": usage,
        "support_tickets": tickets,
        "email_events": emails,
        "invoices": invoices,
        "nps_responses": nps,
        "contacts": contacts,
    }


def write_source(tables: dict[str, pd.DataFrame], folder: Path, fmt: str = "parquet") -> Path:
    """Write each frame as ``<table>.parquet`` or ``<table>.csv`` (ISO times, empty = null) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        if fmt == "parquet":
            frame.to_parquet(folder / f"{name}.parquet", index=False)
        else:
            frame.to_csv(folder / f"{name}.csv", index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
    return folder


def read_raw(warehouse: Path, table: str) -> pd.DataFrame:
    """A raw table of the warehouse, in contract form, rows sorted by all columns."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        frame = con.sql(f"SELECT * FROM raw.{table}").arrow().read_all().to_pandas()
    return sort_rows(as_contract(table, frame))


def sort_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns), ignore_index=True, na_position="first")


def read_sql(warehouse: Path, sql: str) -> pd.DataFrame:
    # Through Arrow: DuckDB's own .df() trips a pandas deprecation warning on time-zone-aware columns.
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(sql).arrow().read_all().to_pandas()
