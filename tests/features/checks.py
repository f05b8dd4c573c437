"""Run the engine on contract frames and compare it with the reference."""

from collections.abc import Mapping, Sequence
from datetime import datetime

import duckdb
import pandas as pd

from features.catalog import families
from features.config import FeatureConfig
from features.labels import LabelConfig
from pipelines.snapshots import build_fast, build_labels, read_snapshots
from tests.features.reference import load_raw, reference_labels, reference_snapshots
from tests.features.reference_base import TIME_OF

KEY = ["as_of", "account_id"]
# The tables whose rows are part of the state at an as_of equal to their time (half-open "active at as_of").
STATE_FROM = {"subscriptions": "start_at"}


def engine_snapshots(
    tables: Mapping[str, pd.DataFrame], dates: Sequence[datetime], cfg: FeatureConfig = FeatureConfig()
) -> pd.DataFrame:
    """``build_fast`` of every family (tables with no rows included: their SQL is under test too) on ``tables``
    loaded into a fresh in-memory DuckDB."""
    with duckdb.connect() as con:
        load_raw(con, tables)
        build_fast(con, dates, cfg, families=families(cfg))
        return read_snapshots(con)


def engine_labels(
    tables: Mapping[str, pd.DataFrame], dates: Sequence[datetime], cfg: LabelConfig, data_end: datetime
) -> pd.DataFrame:
    with duckdb.connect() as con:
        load_raw(con, tables)
        return build_labels(con, dates, cfg, data_end)


def normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in key order; numbers as float64 (NULL = NaN), strings as ``str`` (NULL = NaN)."""
    out = frame.sort_values(KEY, ignore_index=True)
    for col in out.columns:
        if pd.api.types.is_numeric_dtype(out[col].dtype) and not pd.api.types.is_bool_dtype(out[col].dtype):
            out[col] = out[col].astype("float64")
        elif col != "as_of" and not isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = out[col].astype("str")
    return out


def assert_same(left: pd.DataFrame, right: pd.DataFrame, names: tuple[str, str] = ("engine", "reference")) -> None:
    """Equal up to row order and float rounding; on failure, name the features that differ and where."""
    a, b = normalised(left), normalised(right)
    assert list(a.columns) == list(b.columns), "columns differ"
    pd.testing.assert_frame_equal(a[KEY], b[KEY], obj="snapshot keys")
    bad = []
    for col in a.columns[2:]:
        try:
            pd.testing.assert_series_equal(a[col], b[col], check_exact=False, rtol=1e-9, atol=1e-12)
        except AssertionError:
            diff = a[col].ne(b[col]) & ~(a[col].isna() & b[col].isna())
            if pd.api.types.is_float_dtype(a[col].dtype):
                diff &= ~((a[col] - b[col]).abs() <= 1e-9 * b[col].abs() + 1e-12)
            shown = pd.DataFrame({"account_id": a["account_id"], "as_of": a["as_of"], names[0]: a[col],
                                  names[1]: b[col]})[diff]  # fmt: skip
            bad.append(f"{col}: {int(diff.sum())} rows differ, e.g.\n{shown.head(5).to_string()}")
    assert not bad, f"{names[0]} and {names[1]} differ:\n" + "\n".join(bad)


def assert_matches_reference(
    tables: Mapping[str, pd.DataFrame], dates: Sequence[datetime], cfg: FeatureConfig = FeatureConfig()
) -> pd.DataFrame:
    """The engine's snapshots equal the reference's; returns the engine's (sorted by as_of, account_id)."""
    got = engine_snapshots(tables, dates, cfg)
    assert_same(got, reference_snapshots(tables, dates, cfg))
    return normalised(got)


def assert_labels_match(
    tables: Mapping[str, pd.DataFrame],
    dates: Sequence[datetime],
    cfg: LabelConfig = LabelConfig(),
    data_end: datetime | None = None,
) -> pd.DataFrame:
    """``build_labels`` equals the brute-force reference; returns the engine's labels."""
    assert data_end is not None
    got = engine_labels(tables, dates, cfg, data_end)
    want = reference_labels(
        tables["subscriptions"], tables["accounts"], dates, cfg, data_end, tables.get("churn_events")
    )
    assert_same(got, want)
    return normalised(got)


def failed_time(invoices: pd.DataFrame) -> pd.Series:
    """When each invoice's payment failed: failed_at, or for a failed status without it, the due time (the rule)."""
    failed = invoices["status"].eq("failed").fillna(False).astype(bool)
    return invoices["failed_at"].where(invoices["failed_at"].notna(), invoices["due_at"].where(failed))


def voided_time(invoices: pd.DataFrame) -> pd.Series:
    """When each invoice was voided: voided_at, or for a void status without it, the issue time (the rule)."""
    void = invoices["status"].eq("void").fillna(False).astype(bool)
    return invoices["voided_at"].where(invoices["voided_at"].notna(), invoices["issued_at"].where(void))


def _forget(frame: pd.DataFrame, column: str, later: pd.Series) -> None:
    frame[column] = frame[column].mask(later.fillna(False).astype(bool))


def censored(tables: Mapping[str, pd.DataFrame], as_of: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """The tables as they stood at ``as_of``: rows dated at or after it removed (but subscription rows starting
    exactly at it, which are the state at as_of: ``features.rollups.active_at``), later times
    forgotten, and states set at or after it (a payment, a failure, a void, an escalation, a promotion) back to what
    they were."""
    out = {}
    for name, frame in tables.items():
        if name in STATE_FROM:
            frame = frame[frame[STATE_FROM[name]] <= as_of]
        elif name in TIME_OF:
            frame = frame[frame[TIME_OF[name]] < as_of]
        elif name == "contacts":
            frame = frame[frame["created_at"].isna() | (frame["created_at"] < as_of)]
        elif name == "churn_events":
            # A churn event at as_of already ends the service at as_of (as an end at as_of does).
            frame = frame[frame["churned_at"] <= as_of]
        frame = frame.copy()
        if name == "support_tickets":
            frame["resolved_at"] = frame["resolved_at"].where(frame["resolved_at"] < as_of)
            # Escalated later: its earlier priority is unknown, taken as normal.
            later = frame["escalated_at"] >= as_of
            frame["priority"] = frame["priority"].mask(later, "normal")
            _forget(frame, "escalated_at", later)
        elif name == "invoices":
            status = frame["status"]
            # A state is forgotten when its time is at or after as_of: a failed or void status without its time
            # is dated by the features' rule (failed when due, void from issue).
            undone = (
                (status.eq("paid") & (frame["paid_at"] >= as_of))
                | (status.eq("failed") & (failed_time(frame) >= as_of))
                | (status.eq("void") & (voided_time(frame) >= as_of))
            ).fillna(False)
            for column in ("paid_at", "failed_at", "voided_at"):
                _forget(frame, column, frame[column] >= as_of)
            back = pd.Series("open", index=frame.index, dtype=status.dtype).mask(frame["paid_at"].notna(), "paid")
            frame["status"] = status.mask(undone, back)
        elif name == "subscriptions":
            # An end after as_of is not known yet (an end exactly at as_of already stops the service at as_of).
            frame["end_at"] = frame["end_at"].where(frame["end_at"] <= as_of)
            frame["cancelled_at"] = frame["cancelled_at"].where(frame["cancelled_at"] < as_of)
        elif name == "contacts":
            frame["left_at"] = frame["left_at"].where(frame["left_at"] < as_of)
            # Promoted later: a plain contact until then.
            later = frame["role_since"] >= as_of
            frame["role"] = frame["role"].mask(later, "user")
            _forget(frame, "role_since", later)
        out[name] = frame.reset_index(drop=True)
    return out
