"""Snapshot dates: the calendar of a build, and the days its windows reach."""

from datetime import UTC, date, datetime

import duckdb
import pandas as pd

from features.labels import bounds_sql


def snapshot_dates(start: date, end: date, every: str) -> list[datetime]:
    """Snapshot times (midnight UTC) from ``start`` to ``end`` inclusive: first days of months, or Mondays."""
    if every not in ("month", "week"):
        raise ValueError(f"every must be 'month' or 'week', got {every!r}")
    if end < start:
        raise ValueError(f"end ({end}) is before start ({start})")
    days = pd.date_range(start, end, freq="MS" if every == "month" else "W-MON")
    return [datetime(d.year, d.month, d.day, tzinfo=UTC) for d in days]


def data_bounds(con: duckdb.DuckDBPyConnection) -> tuple[datetime, datetime]:
    """First and last observed times in the warehouse (``features.labels.bounds_sql``: the usage events', else
    every other dated table's)."""
    from pipelines.snapshots.inputs import coverage

    ((first, last),) = con.execute(bounds_sql(coverage(con).empty_tables)).fetchall()
    if first is None or last is None:
        raise ValueError("the warehouse holds no dated rows: ingest data first (churn ingest SOURCE)")
    return first.astimezone(UTC), last.astimezone(UTC)


def default_dates(con: duckdb.DuckDBPyConnection, every: str = "month") -> list[datetime]:
    """Snapshot dates over the whole data: from the first month start after the data begin to the data end."""
    return dates_within(*data_bounds(con), every)


def dates_within(first: datetime, last: datetime, every: str = "month") -> list[datetime]:
    """Snapshot dates from the first month start after ``first`` (the data's first event) to ``last``."""
    start = (pd.Timestamp(first.date()) + pd.offsets.MonthBegin(1)).date()
    return snapshot_dates(start, last.date(), every)
