"""Data health of the warehouse's raw tables at a scoring date (as_of), from what had arrived before it: rows per
day and per week, freshness (the latest arrival time against as_of), and three flags:

- a table that stopped arriving: rows before, but none in the ``stale_days`` before as_of (an alert);
- a day with no rows in an event table (``empty_day_tables``) within ``lookback_days`` before as_of (a warning);
- an event type whose count in the last week before as_of is below ``type_drop_fraction`` of its median over the
  ``trailing_weeks`` before that (an alert): how a tracking outage of one event type shows while the table as a
  whole still arrives. Types whose median is below ``type_drop_min_weekly`` are too rare to judge.

A table's arrival time is its first required time column (``ARRIVAL``: usage_events.ts, invoices.issued_at, ...).
Weeks are counted back from as_of (week 0 is the 7 days just before it), so that the last week is always whole.
The flags are pure functions of the counts; the queries that get the counts are below them.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd

from features.contract import TABLES
from pipelines.monitor.config import Alert, HealthConfig

DAY = timedelta(days=1)
WEEK = timedelta(days=7)


def _arrival(name: str) -> str | None:
    spec = TABLES[name]
    required = [c for c in spec.time_columns if c in spec.required]
    candidates = required or list(spec.time_columns)
    return candidates[0] if candidates else None


ARRIVAL: dict[str, str] = {t: c for t in TABLES if (c := _arrival(t)) is not None}
"""Each contract table's arrival time column."""
EVENT_TYPES: dict[str, str] = {"usage_events": "event_type", "email_events": "event"}
"""The event tables' type column, whose weekly counts per type are watched for drops."""


# -- the flags: pure functions of the counts ---------------------------------------------------------------------


def stale_alert(
    table: str, latest: datetime | None, rows_before: int, as_of: datetime, stale_days: int
) -> Alert | None:
    """An alert when ``table`` had rows before as_of but its latest arrived ``stale_days`` or more before it."""
    if rows_before == 0 or latest is None:
        return None
    days = (as_of - latest) / DAY
    if days < stale_days:
        return None
    return Alert(as_of, "stale_table", "alert", table, round(days, 2), stale_days,
                 f"raw.{table} has stopped arriving: its latest row ({ARRIVAL[table]} {latest:%Y-%m-%d %H:%M}) is "
                 f"{days:.1f} days before {as_of:%Y-%m-%d}, over the {stale_days} allowed; check the export or the "
                 "ingest of this table")  # fmt: skip


def empty_days(daily: pd.Series, start: datetime, end: datetime) -> list[datetime]:
    """The days in [start, end) (midnights, UTC) that ``daily`` (rows per day, indexed by the day's midnight) has
    no rows on: days missing from it count as empty."""
    days = pd.date_range(start, end, freq="D", inclusive="left", tz="UTC")
    counts = daily.reindex(days, fill_value=0)
    return [d.to_pydatetime() for d in counts.index[counts.to_numpy() == 0]]


@dataclass(frozen=True)
class Drop:
    event_type: str
    last_week: int  # rows in the 7 days before as_of
    median: float  # median rows a week over the trailing weeks before that
    table_ratio: float  # the same ratio (last week / trailing median) for all types together, at most 1

    @property
    def ratio(self) -> float:
        """The type's last week against its trailing median."""
        return self.last_week / self.median


def type_drops(weekly: pd.DataFrame, trailing_weeks: int, fraction: float, min_weekly: float) -> list[Drop]:
    """The event types of ``weekly`` (columns event_type, week — 0 for the 7 days before as_of, 1 for the 7 before
    those, ... — and rows; weeks without a row count 0) that fell on their own: week 0 against the median of weeks
    1..trailing_weeks is below ``fraction`` of the same ratio for all types together (capped at 1). A season that
    lowers every type (the year-end holidays) is no drop; one type gone is. Types whose median is below
    ``min_weekly`` (or 1) are not judged."""

    def ratio(counts: pd.Series) -> tuple[int, float]:
        full = counts.groupby(level=0).sum().reindex(range(trailing_weeks + 1), fill_value=0)
        return int(full.iloc[0]), float(np.median(full.iloc[1:].to_numpy()))

    last_all, median_all = ratio(weekly.set_index("week")["rows"])
    table_ratio = min(last_all / median_all, 1.0) if median_all > 0 else 1.0
    out = []
    for event_type, g in weekly.groupby("event_type", sort=True):
        last, median = ratio(g.set_index("week")["rows"])
        if median >= max(min_weekly, 1) and last / median < fraction * table_ratio:
            out.append(Drop(str(event_type), last, median, table_ratio))
    return out


# -- the counts, from the warehouse -------------------------------------------------------------------------------


def raw_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The contract tables the warehouse's raw schema holds, in the contract's order."""
    have = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'"
    ).fetchall()}  # fmt: skip
    return [t for t in ARRIVAL if t in have]


def table_health(
    con: duckdb.DuckDBPyConnection, as_of: datetime, cfg: HealthConfig
) -> tuple[pd.DataFrame, list[Alert]]:
    """The health rows (``HEALTH_COLUMNS``) and alerts of every raw table at ``as_of``, from rows before it."""
    weeks = cfg.trailing_weeks + 1
    start = as_of - max(weeks * WEEK, cfg.lookback_days * DAY)
    rows: list[dict[str, object]] = []
    alerts: list[Alert] = []
    for table in raw_tables(con):
        col = ARRIVAL[table]
        latest, before = con.execute(f"SELECT max({col}), count(*) FROM raw.{table} WHERE {col} < ?",
                                     [as_of]).fetchall()[0]  # fmt: skip
        days = None if latest is None else (as_of - latest) / DAY
        rows.append(_row(as_of, table, None, "days_since_latest", None, days, latest))
        rows.append(_row(as_of, table, None, "rows_before", None, before))
        stale_days = cfg.stale_days_by_table.get(table, cfg.stale_days)
        if (a := stale_alert(table, latest, before, as_of, stale_days)) is not None:
            alerts.append(a)
        per_day = _counts(con, f"SELECT date_trunc('day', {col}) AS day, count(*) AS rows FROM raw.{table} "
                               f"WHERE {col} >= ? AND {col} < ? GROUP BY 1 ORDER BY 1", [start, as_of])  # fmt: skip
        daily = pd.Series(per_day["rows"].to_numpy(), index=pd.DatetimeIndex(per_day["day"]), dtype="int64")
        for r in per_day.to_dict("records"):
            rows.append(_row(as_of, table, None, "rows_day", r["day"], r["rows"]))
        weekly = _weekly(con, table, col, None, as_of, weeks)
        for r in weekly.to_dict("records"):
            rows.append(_row(as_of, table, None, "rows_week", as_of - (int(r["week"]) + 1) * WEEK, r["rows"]))
        if table in cfg.empty_day_tables and before:
            # Only the days since the table's first row count: a table that starts within the window is not empty
            # before it starts.
            first = con.execute(f"SELECT min({col}) FROM raw.{table}").fetchall()[0][0]
            lo = max(_midnight(as_of - cfg.lookback_days * DAY), _midnight(first) + DAY)
            for day in empty_days(daily, lo, _midnight(as_of)):
                words = (f"raw.{table} has no rows on {day:%Y-%m-%d}, within the {cfg.lookback_days} days before "
                         f"{as_of:%Y-%m-%d}: check the export or the tracking of that day")  # fmt: skip
                alerts.append(Alert(as_of, "empty_day", "warn", table, 0, 0, words))
        if table in EVENT_TYPES and table in cfg.type_drop_tables:
            by_type = _weekly(con, table, col, EVENT_TYPES[table], as_of, weeks)
            for r in by_type.to_dict("records"):
                period = as_of - (int(r["week"]) + 1) * WEEK
                rows.append(_row(as_of, table, str(r["event_type"]), "rows_week", period, r["rows"]))
            for d in type_drops(by_type, cfg.trailing_weeks, cfg.type_drop_fraction, cfg.type_drop_min_weekly):
                alerts.append(Alert(
                    as_of, "event_type_drop", "alert", f"{table}.{d.event_type}", d.last_week,
                    round(cfg.type_drop_fraction * d.table_ratio * d.median, 2),
                    f"{d.event_type} events in raw.{table} fell to {d.last_week:,} in the week before "
                    f"{as_of:%Y-%m-%d}, {d.ratio:.0%} of their median of {d.median:,.0f} a week over the "
                    f"{cfg.trailing_weeks} weeks before, while all event types together were at "
                    f"{d.table_ratio:.0%} of theirs: check the tracking of this event type",
                ))  # fmt: skip
    return pd.DataFrame(rows, columns=list(HEALTH_COLUMNS)), alerts


HEALTH_COLUMNS = ("as_of", "table_name", "event_type", "metric", "period_start", "value", "latest_at")
"""``monitor.health``: per as_of and raw table (and event type, else NULL), a metric: rows_day (rows on the day
starting period_start), rows_week (rows in the 7 days starting period_start), rows_before (rows before as_of) or
days_since_latest (as_of minus the latest arrival, latest_at)."""


def _row(as_of: datetime, table: str, event_type: str | None, metric: str, period: object, value: object,
         latest: datetime | None = None) -> dict[str, object]:  # fmt: skip
    number = None if value is None else float(value)  # type: ignore[arg-type]
    return {"as_of": as_of, "table_name": table, "event_type": event_type, "metric": metric, "period_start": period,
            "value": number, "latest_at": latest}  # fmt: skip


def _weekly(con: duckdb.DuckDBPyConnection, table: str, col: str, type_col: str | None, as_of: datetime,
            weeks: int) -> pd.DataFrame:  # fmt: skip
    """Rows per week counted back from as_of (week 0: the 7 days before it), per type when ``type_col`` is given."""
    by = f"CAST({type_col} AS VARCHAR)" if type_col else "NULL"
    sql = (f"SELECT {by} AS event_type, CAST(floor(epoch(CAST(? AS TIMESTAMPTZ) - {col}) / 604800) AS INTEGER) "
           f"AS week, count(*) AS rows FROM raw.{table} WHERE {col} >= ? AND {col} < ? GROUP BY 1, 2")  # fmt: skip
    return _counts(con, sql, [as_of, as_of - weeks * WEEK, as_of])


def _counts(con: duckdb.DuckDBPyConnection, sql: str, params: list[object]) -> pd.DataFrame:
    return con.sql(sql, params=params).to_arrow_table().to_pandas()


def _midnight(t: datetime) -> datetime:
    return pd.Timestamp(t).tz_convert("UTC").normalize().to_pydatetime()
