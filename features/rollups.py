"""Rollups: events summed once per account and day, then running totals read at each snapshot's window edges.

Every windowed feature is a difference of running totals: the sum over [as_of - n, as_of) equals the running
total of days before as_of minus that of days before as_of - n. So each account-day row is read once, whatever
the number of snapshots, and cost grows with accounts x days (plus snapshots x window edges), not with events x
snapshots. Distinct counts (active users, features used) become running totals too: a key seen on day d and next
on day d' counts as "seen in the last n days" for as_of in (d, min(d', d + n)], so it adds +1 on day d and -1 on
day min(d', d + n).

These are definitions (SQL text); ``pipelines.snapshots`` and the Spark engine run them, after the tables
``snapshot_dates`` and ``spine`` exist, with ``$first``/``$last`` the DATE bounds of the days the windows reach
(``window_bounds``).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from features.config import FeatureConfig
from features.event_types import LAGS, counted_value, last_day
from features.sql import literal

LONGEST_WINDOW_DAYS = 90  # the farthest any running-total window reaches back from as_of
DAYS = "CAST(ts AS DATE) >= DATE '$first' AND CAST(ts AS DATE) < DATE '$last'"
# The events a usage row stands for: a row of counts per period holds event_count of them (0 = none: such a row
# makes no day, user, feature or milestone seen); a row without it is one event.
EVENTS = "COALESCE(event_count, 1)"


def window_bounds(dates: Sequence[datetime]) -> dict[str, str]:
    """``$first``/``$last`` of the rollups for snapshots at ``dates``: the days the windows reach."""
    first = (min(dates) - timedelta(days=LONGEST_WINDOW_DAYS)).date().isoformat()
    return {"first": first, "last": max(dates).date().isoformat()}


def quoted(names: tuple[str, ...]) -> str:
    return ", ".join(map(literal, names))


def island_steps(windows: tuple[int, ...], gap: Callable[[str, str], str]) -> str:
    """The islands logic, written once for every engine: the CTEs ``flagged`` and ``steps`` over ``ordered``
    (account_id, day, and ``prev`` / ``nxt``, the key's previous and next day), whose ``steps`` rows are +1/-1 per
    account and day, one column ``a<n>`` per window: their running total is the number of distinct keys seen in the
    last n days. ``gap(a, b)`` is the engine's SQL for the days from day ``a`` to day ``b``.

    A key seen on days d1 < d2 < ... counts for as_of in the union of (d, d + n]; days less than n apart make
    one island (first, last + n], so only an island's first day (+1) and its last day + n (-1) need a row.
    """
    flags = ", ".join(
        f"CASE WHEN prev IS NULL OR {gap('prev', 'day')} > {n} THEN 1 ELSE 0 END AS s{n}, "
        f"CASE WHEN nxt IS NULL OR {gap('day', 'nxt')} > {n} THEN 1 ELSE 0 END AS e{n}"
        for n in windows
    )
    starts = " + ".join(f"s{n}" for n in windows)
    ends = " UNION ALL ".join(
        f"SELECT account_id, day + {n} AS day, "
        + ", ".join(f"-e{m}" if m == n else "0" for m in windows)
        + f" FROM flagged WHERE e{n} = 1"
        for n in windows
    )
    return f"""flagged AS (SELECT account_id, day, {flags} FROM ordered),
        steps ({", ".join(["account_id", "day", *(f"a{n}" for n in windows)])}) AS (
            SELECT account_id, day, {", ".join(f"s{n}" for n in windows)} FROM flagged WHERE {starts} > 0
            UNION ALL {ends}
        )"""


def _days_between(a: str, b: str) -> str:
    return f"date_diff('day', {a}, {b})"


def _islands(key: str, where: str, windows: tuple[int, ...]) -> str:
    """Per account and day: the +1/-1 steps of ``island_steps`` for the distinct ``key``s of the usage events that
    stand for at least one event (a row whose key is NULL names no key)."""
    return f"""
        WITH seen AS (
            SELECT DISTINCT account_id, {key}, CAST(ts AS DATE) AS day FROM raw.usage_events
            WHERE {where} AND {EVENTS} > 0 AND {key} IS NOT NULL
        ),
        ordered AS (
            SELECT account_id, day,
                   LAG(day) OVER (PARTITION BY account_id, {key} ORDER BY day) AS prev,
                   LEAD(day) OVER (PARTITION BY account_id, {key} ORDER BY day) AS nxt
            FROM seen
        ),
        {island_steps(windows, _days_between)}
        SELECT account_id, day, {", ".join(f"SUM(a{n}) AS a{n}" for n in windows)} FROM steps GROUP BY 1, 2"""


@dataclass(frozen=True)
class Totals:
    """Running totals of a daily table, read per spine row: ``<value>_c<lag>`` = total of ``value`` over the days
    before as_of - lag, and ``<name>`` = the last day before as_of on which ``lasts[name]`` held. ``amounts`` are
    the values that are not whole numbers (DOUBLE sums, e.g. seconds), which an engine must not pack as integers.
    ``value_lags`` gives the values read at only some of ``lags`` (value -> those lags)."""

    daily: str
    values: tuple[str, ...]
    lags: tuple[int, ...]
    lasts: dict[str, str] = field(default_factory=dict)
    amounts: tuple[str, ...] = ()
    value_lags: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def lags_of(self, value: str) -> tuple[int, ...]:
        """The lags at which ``value`` is read."""
        return self.value_lags.get(value, self.lags)


@dataclass(frozen=True)
class Count:
    """A number per account and day that running totals sum: the day's rows, only those whose ``column`` equals
    ``value`` (or, with ``not_in``, whose ``column`` is none of those), each weighing ``weight`` (an expression
    over the row), or (``day``) 1 for a day with a row of positive weight."""

    name: str
    column: str | None = None
    value: str | None = None
    day: bool = False
    weight: str = "1"
    not_in: tuple[str, ...] = ()


def usage_counts(cfg: FeatureConfig = FeatureConfig()) -> tuple[Count, ...]:
    """The daily measures of the usage events, summed by ``usage_totals``: a new one is a line here (both builds and
    Spark render it) and its features in its family. Each row weighs the events it stands for (``EVENTS``)."""
    return (
        Count("events", weight=EVENTS),
        Count("logins", "event_type", cfg.login_event, weight=EVENTS),
        Count("active", day=True, weight=EVENTS),
        Count("exports", "event_type", "export", weight=EVENTS),
    )


def type_counts(cfg: FeatureConfig) -> tuple[Count, ...]:
    """The daily count of each counted event type (``features.event_types``), summed with the usage totals; the
    rest type counts the types not named. Each row weighs the events it stands for (``EVENTS``)."""
    named = tuple(t.name for t in cfg.event_types if not t.rest)
    return tuple(
        Count(counted_value(t.column), "event_type", None if t.rest else t.name, weight=EVENTS,
              not_in=named if t.rest else ())
        for t in cfg.event_types
    )  # fmt: skip


# Amounts per account and day summed from the usage rows (DOUBLE, NULL on a day without any): name -> column.
USAGE_AMOUNTS = {"seconds": "duration_secs"}


EMAIL_COUNTS = tuple(Count(name, "event", event) for name, event in (
    ("sent", "sent"), ("opens", "open"), ("clicks", "click"), ("bounces", "bounce"), ("unsubscribes", "unsubscribe"),
))  # fmt: skip
ROWS_SEP = ",\n                   "  # between the columns of a daily table's SELECT


def count_sql(c: Count) -> str:
    """``c`` as a column of a GROUP BY over (account, day)."""
    if c.day:
        return f"1 AS {c.name}" if c.weight == "1" else f"MAX(CASE WHEN {c.weight} > 0 THEN 1 ELSE 0 END) AS {c.name}"
    if c.column is None:
        return f"COUNT(*) AS {c.name}" if c.weight == "1" else f"SUM({c.weight}) AS {c.name}"
    return f"SUM(CASE WHEN {matches(c, c.column)} THEN {c.weight} ELSE 0 END) AS {c.name}"


def matches(c: Count, column: str, literal_of: Callable[[str], str] = literal) -> str:
    """The condition that a row's ``column`` is ``c``'s value (or none of ``c.not_in``), each value written by
    ``literal_of`` (an engine may compare hashes)."""
    if c.value is None:
        return f"{column} NOT IN ({', '.join(map(literal_of, c.not_in))})" if c.not_in else "TRUE"
    return f"{column} = {literal_of(c.value)}"


USAGE_LAGS = (0, 7, 30, 60, 90)  # the edges of the usage running totals; the event types' (``LAGS``) are some


def totals(cfg: FeatureConfig) -> dict[str, Totals]:
    """The running totals the registry reads, by table name. The counted event types' daily counts and last days
    are columns of the usage totals (one window pass over the usage days for both), each count read at the edges
    its features read (``features.event_types.LAGS``)."""
    types = type_counts(cfg)
    return {
        "usage_totals": Totals(
            "usage_daily", (*(c.name for c in usage_counts(cfg)), *(c.name for c in types), *USAGE_AMOUNTS),
            USAGE_LAGS,
            {"last_event_day": "events > 0", "last_login_day": "logins > 0"}
            | {last_day(t.column): f"{counted_value(t.column)} > 0" for t in cfg.event_types},
            amounts=tuple(USAGE_AMOUNTS), value_lags={c.name: LAGS for c in types},
        ),
        "user_totals": Totals("user_daily", ("a7", "a30"), (0, 30)),
        "feature_totals": Totals("feature_daily", ("a30", "a90"), (0,)),
        "email_totals": Totals(
            "email_daily", tuple(c.name for c in EMAIL_COUNTS), (0, 30, 60, 90), {"last_open_day": "opens > 0"},
        ),
    }  # fmt: skip


TOTALS_TABLES = ("usage_totals", "user_totals", "feature_totals", "email_totals")  # every name ``totals`` gives


def _running(t: Totals) -> str:
    """The ``Totals`` per spine row, from probe rows merged into the daily rows' window sort."""
    daily, values, lags, lasts = t.daily, t.values, t.lags, t.lasts
    zeros = ", ".join("0" for _ in values)
    # One probe per spine row and window edge (constant intervals: every engine's SQL shifts a date by those).
    probes = " UNION ALL ".join(
        f"SELECT account_id, CAST(as_of_day - INTERVAL {lag} DAY AS DATE), 1, as_of, {lag}, {zeros} FROM spine"
        for lag in lags
    )
    # A probe sorts before the data of its own day, so that its running total covers the days before it only.
    order = "PARTITION BY account_id ORDER BY day, probe DESC ROWS UNBOUNDED PRECEDING"
    running = ", ".join(f"SUM({v}) OVER ({order}) AS {v}" for v in values)
    last = ", ".join(
        f"MAX(CASE WHEN probe = 0 AND {cond} THEN day END) OVER ({order}) AS {n}" for n, cond in lasts.items()
    )
    pivot = ", ".join(f"MAX(CASE WHEN lag = {lag} THEN {v} END) AS {v}_c{lag}" for v in values for lag in t.lags_of(v))
    pivot_last = ", ".join(f"MAX(CASE WHEN lag = 0 THEN {n} END) AS {n}" for n in lasts)
    return f"""
        WITH merged AS (
            SELECT account_id, day, 0 AS probe, CAST(NULL AS TIMESTAMPTZ) AS as_of, -1 AS lag, {", ".join(values)}
            FROM {daily}
            UNION ALL {probes}
        ),
        totals AS (SELECT account_id, as_of, lag, probe, {running}{", " + last if lasts else ""} FROM merged)
        SELECT account_id, as_of, {pivot}{", " + pivot_last if lasts else ""}
        FROM totals WHERE probe = 1 GROUP BY account_id, as_of"""


def rollups(cfg: FeatureConfig) -> dict[str, str]:
    """SELECT statements by table name, in the order they must be created."""
    not_feature = quoted((cfg.login_event, *cfg.milestones))
    usage = [
        *map(count_sql, (*usage_counts(cfg), *type_counts(cfg))),
        *(f"SUM({c}) AS {n}" for n, c in USAGE_AMOUNTS.items()),
    ]
    return {
        "usage_daily": f"""
            SELECT account_id, CAST(ts AS DATE) AS day,
                   {ROWS_SEP.join(usage)}
            FROM raw.usage_events WHERE {DAYS} GROUP BY 1, 2""",
        "user_daily": _islands("user_id", DAYS, (7, 30)),
        "feature_daily": _islands("event_type", f"{DAYS} AND event_type NOT IN ({not_feature})", (30, 90)),
        "email_daily": f"""
            SELECT account_id, CAST(ts AS DATE) AS day,
                   {ROWS_SEP.join(count_sql(c) for c in EMAIL_COUNTS)}
            FROM raw.email_events WHERE {DAYS} GROUP BY 1, 2""",
        "milestone_first": f"""
            SELECT account_id, event_type, MIN(ts) AS first_ts
            FROM raw.usage_events
            WHERE event_type IN ({quoted(cfg.milestones)}) AND {EVENTS} > 0 AND CAST(ts AS DATE) < DATE '$last'
            GROUP BY 1, 2""",
    } | {name: _running(t) for name, t in totals(cfg).items()}  # fmt: skip


# The spine: every account served at each as_of, with its totals and the latest-started row that serves it. A row
# serves as_of when it is active at as_of (``active_at``: half-open, start_at <= as_of < end_at, so a renewal or a
# plan change exactly at as_of is served by the new row, and a row ending at as_of no longer serves), is not a
# trial, and no churn event at or before as_of came at or after its start (a churn event ends every row started by
# then: an account churned and not restarted since has no snapshot, and one that restarted is summed over its new
# rows only). MRR and seats are the sums over the rows serving as_of (concurrent add-ons and overlapping
# subscriptions add up); plan, row_start and cancelled_at are those of the latest-started of them (of rows starting
# together, the greatest subscription_id). An account exists once created (``exists_at``): one created exactly at
# as_of has no history before it and no snapshot then (as in the generator's oracle), but is in every later one that
# a row serves; one created after as_of has none. cancelled_at is kept only when made before as_of.


def active_at(row: str, at: str) -> str:
    """The SQL condition that the subscription row ``row`` (a table alias with start_at and end_at) is active at the
    time ``at`` (an SQL expression): half-open, ``start_at <= at < end_at``, an open end never reached. The one
    rule for "active at as_of": the spine, the labels, the growth features and the summaries all call it."""
    return f"{row}.start_at <= {at} AND ({row}.end_at IS NULL OR {row}.end_at > {at})"


def exists_at(account: str, at: str) -> str:
    """The SQL condition that the account ``account`` (a table alias with created_at) has a snapshot at the time
    ``at``: created before it (at its creation instant it has no history to read)."""
    return f"{account}.created_at < {at}"


ACTIVE_ROW = active_at("x", "d.as_of")
NOT_TRIAL = "COALESCE(x.status, '') <> 'trial'"  # a trial is never service (features.contract)
# Rows a churn event ended (anti-join: kept where no such event matched); needs ``x`` (start_at) and ``d`` (as_of).
CHURNED_SINCE = (
    "LEFT JOIN raw.churn_events c ON c.account_id = x.account_id AND c.churned_at >= x.start_at "
    "AND c.churned_at <= d.as_of"
)


def served_rows(columns: str, empty_tables: frozenset[str] = frozenset()) -> str:
    """The ``columns`` (of ``x``, the subscription rows, and ``d``, the snapshot dates) of every row serving an as_of
    (see the rule above), given the tables with no rows (``features.catalog.Coverage``): without churn events their
    rule is left out, and the table need not exist (a warehouse ingested before it joined the contract)."""
    if "churn_events" in empty_tables:
        return f"SELECT {columns} FROM snapshot_dates d JOIN raw.subscriptions x ON {ACTIVE_ROW} WHERE {NOT_TRIAL}"
    return (
        f"SELECT {columns} FROM snapshot_dates d JOIN raw.subscriptions x ON {ACTIVE_ROW} {CHURNED_SINCE} "
        f"WHERE {NOT_TRIAL} AND c.account_id IS NULL"
    )


def spine_sql(empty_tables: frozenset[str] = frozenset()) -> str:
    """The spine (see the rule above), given the tables with no rows (``features.catalog.Coverage``)."""
    rows = served_rows(
        "x.account_id, d.as_of, x.subscription_id, x.mrr, x.seats, x.plan, x.start_at, x.cancelled_at", empty_tables
    )
    return f"""
WITH served AS ({rows}),
ranked AS (
    SELECT account_id, as_of, plan, start_at, cancelled_at,
           SUM(mrr) OVER (PARTITION BY account_id, as_of) AS mrr,
           CAST(SUM(seats) OVER (PARTITION BY account_id, as_of) AS BIGINT) AS seats,
           ROW_NUMBER() OVER (PARTITION BY account_id, as_of ORDER BY start_at DESC, subscription_id DESC) AS k
    FROM served
)
SELECT a.account_id, r.as_of, CAST(r.as_of AS DATE) AS as_of_day, a.created_at, a.segment, a.industry, a.region,
       a.touch_model, r.mrr, r.seats, r.plan, r.start_at AS row_start,
       CASE WHEN r.cancelled_at < r.as_of THEN r.cancelled_at END AS cancelled_at
FROM ranked r JOIN raw.accounts a ON a.account_id = r.account_id AND {exists_at("a", "r.as_of")}
WHERE r.k = 1
"""
