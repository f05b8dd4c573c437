"""The rollups of ``features.rollups`` in a form only DuckDB runs, for speed, and the inputs of the fast build.

``features.rollups`` stays the portable definition (Spark takes it through sqlglot). The fast build
(``pipelines.snapshots.build_fast``) runs the registry's own SQL unchanged, but over copies of its
inputs that DuckDB handles much faster (``inputs``): account ids as integers (joins and GROUP BYs on an integer
instead of a string) and times as naive UTC TIMESTAMPs (a TIMESTAMPTZ cast to DATE or shifted by an INTERVAL goes
through ICU's calendar, about 10x the cost; in UTC both give the same days and instants). The rollups here build the
tables the registry reads (``totals``' running totals and ``milestone_first``), keyed the same way, and
``tests/pipelines/snapshots/test_fast_build.py`` asserts that both builds give equal snapshots. Each difference was
measured on the benchmark (28,000 accounts, 10.4 M usage events, 2 cores; monthly / weekly snapshots):

- Days come from ``make_timestamp(epoch_us(ts))``: casting a TIMESTAMPTZ to DATE goes through ICU's calendar and
  costs about 10x as much (1.2 s against 0.1 s per scan of the usage events); windows filter on ``ts`` itself.
- The usage events are read once into ``usage`` (integer account, hashed user and event type, day, and the row's
  event_count and duration_secs); the rollups of usage read that. Distinct-count islands run LAG/LEAD partitioned
  by (account, hash): over each feature's last day per bucket, and over every usage row for users (``_islands``).
- Running totals are summed per account and bucket here, then summed cumulatively and read at each edge in numpy
  (``pipelines.snapshots.running``), instead of probe rows merged into the daily rows' window sort.

``$raw`` is the schema of the warehouse's raw tables (the build runs in its own catalog, where ``raw`` holds the
copies), ``$first``/``$last`` the DATE bounds of the days the windows reach.
"""

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import NamedTuple

from features.config import FeatureConfig
from features.event_types import counted_value, last_day
from features.rollups import (
    EMAIL_COUNTS,
    EVENTS,
    LONGEST_WINDOW_DAYS,
    ROWS_SEP,
    USAGE_AMOUNTS,
    Count,
    Totals,
    count_sql,
    exists_at,
    island_steps,
    matches,
    quoted,
    served_rows,
    totals,
    type_counts,
    usage_counts,
)
from features.sql import literal

DAY = "CAST(make_timestamp(epoch_us(ts)) AS DATE)"  # the UTC day of a TIMESTAMPTZ, without ICU
DAYS = "ts >= TIMESTAMPTZ '$first 00:00:00+00' AND ts < TIMESTAMPTZ '$last 00:00:00+00'"
TIMESTAMPTZ = "TIMESTAMP WITH TIME ZONE"
# The raw tables the registry's own SQL and the spine read (the usage and email events only feed the rollups below).
COPIED = ("accounts", "subscriptions", "support_tickets", "invoices", "nps_responses", "contacts",
          "churn_events")  # fmt: skip


def inputs(columns: Mapping[str, Sequence[tuple[str, str]]]) -> dict[str, str]:
    """SELECT statements by table name, in order: ``account_ids`` (account_id, aid: a dense integer per distinct
    id), then ``raw.<table>`` for each of ``columns`` (table -> [(column, DuckDB type)]): the table with
    account_id replaced by its aid and every TIMESTAMPTZ column by the same instant as a naive UTC TIMESTAMP. A row
    whose account is not in the accounts table is left out: no snapshot can see it."""
    out = {
        "account_ids": "SELECT account_id, CAST(row_number() OVER () AS INTEGER) AS aid "
        "FROM (SELECT DISTINCT account_id FROM $raw.accounts WHERE account_id IS NOT NULL)"
    }
    for table, cols in columns.items():
        select = ", ".join(
            "k.aid AS account_id" if c == "account_id"
            else f'make_timestamp(epoch_us(t."{c}")) AS "{c}"' if kind == TIMESTAMPTZ
            else f't."{c}"'
            for c, kind in cols
        )  # fmt: skip
        out[f"raw.{table}"] = f"SELECT {select} FROM $raw.{table} t JOIN account_ids k ON k.account_id = t.account_id"
    return out


def _edges(name: str) -> str:
    """The column of ``buckets`` that gives each day its bucket for the running totals ``name``."""
    return f"e_{name}"


def _buckets(ts: Mapping[str, Totals]) -> str:
    """``buckets``: each day of [$first, $last) with, per running total, its bucket: the first day after it at
    which that total is read (as_of - lag, over every snapshot date and lag); NULL past the last such day."""
    cols = ", ".join(
        f"(SELECT MIN(e.edge) FROM (SELECT DISTINCT CAST(as_of AS DATE) - l.lag AS edge FROM snapshot_dates, "
        f"(VALUES {', '.join(f'({lag})' for lag in t.lags)}) l(lag)) e WHERE e.edge > d.day) AS {_edges(name)}"
        for name, t in ts.items()
    )
    days = "SELECT CAST(unnest(generate_series(DATE '$first', DATE '$last' - 1, INTERVAL 1 DAY)) AS DATE) AS day"
    return f"SELECT d.day, {cols} FROM ({days}) d"


def _islands(key: str, where: str, windows: tuple[int, ...], totals: str, per_bucket: bool = True) -> str:
    """The steps of ``features.rollups.island_steps`` summed per bucket of ``totals`` (see ``rollups``). With
    ``per_bucket``, each key's last day in each bucket first stands for the bucket (at a read day, "seen within n
    days" depends only on the key's last day before it, which is a bucket's last day); without, the islands run
    over every usage row (a repeat of a key on a day has its neighbour on that day: it starts and ends nothing)."""
    edge = _edges(totals)
    cols = ", ".join(dict.fromkeys(["account_id", *key.split(", ")]))
    seen = (
        f"SELECT {cols}, MAX(u.day) AS day FROM usage u JOIN buckets b ON b.day = u.day "
        f"WHERE {where} AND b.{edge} IS NOT NULL GROUP BY {cols}, b.{edge}"
        if per_bucket else f"SELECT {cols}, day FROM usage WHERE {where}"
    )  # fmt: skip
    return f"""
        WITH seen AS ({seen}),
        ordered AS (
            SELECT account_id, day, LAG(day) OVER w AS prev, LEAD(day) OVER w AS nxt
            FROM seen WINDOW w AS (PARTITION BY {key} ORDER BY day)
        ),
        {island_steps(windows, _days_between)}
        SELECT s.account_id, b.{edge} AS day, {", ".join(f"CAST(SUM(s.a{n}) AS INTEGER) AS a{n}" for n in windows)}
        FROM steps s JOIN buckets b ON b.day = s.day WHERE b.{edge} IS NOT NULL GROUP BY 1, 2"""


def _distinct_few(key: str, where: str, windows: tuple[int, ...], t: Totals) -> str:
    """Per spine row, as the running sums of ``_islands`` read at each lag of ``t`` (``a<n>_c<lag>``), for a build
    of ``FEW_DATES``: the distinct keys seen in [x - n, x) at each read day x = as_of - lag, counted directly over
    the account's usage rows (one row per key, flagged per window, then summed). A key seen on day d counts at x in
    the islands' form when d < x <= d + n: the same days. One date's build: user and feature totals 0.15 -> 0.07
    CPU-seconds (``benchmarks/retrain.py``'s world)."""
    reach = max(lag + n for lag in t.lags for n in windows)
    cols = [(f"a{n}_c{lag}", lag, n) for lag in t.lags for n in windows if lag in t.lags_of(f"a{n}")]
    flags = ", ".join(f"MAX(CASE WHEN u.day >= s.as_of_day - {lag + n} AND u.day < s.as_of_day - {lag} THEN 1 "
                      f"ELSE 0 END) AS {c}" for c, lag, n in cols)  # fmt: skip
    return f"""
        WITH seen AS (
            SELECT s.account_id, s.as_of, {flags} FROM spine s
            JOIN (SELECT * FROM usage WHERE {where}) u
            ON u.account_id = s.account_id AND u.day >= s.as_of_day - {reach} AND u.day < s.as_of_day
            GROUP BY s.account_id, s.as_of, u.{key.split(", ")[-1]})
        SELECT s.account_id, s.as_of, {", ".join(f"CAST(COALESCE(SUM(k.{c}), 0) AS BIGINT) AS {c}" for c, _, _ in cols)}
        FROM spine s LEFT JOIN seen k ON k.account_id = s.account_id AND k.as_of = s.as_of GROUP BY 1, 2"""


def _days_between(a: str, b: str) -> str:
    """Days from DATE ``a`` to DATE ``b``: DuckDB subtracts dates to an integer."""
    return f"{b} - {a}"


def _bucketed(name: str, t: Totals, daily: str) -> str:
    """The rows of ``daily`` summed per account and bucket of ``name``; each of ``t.lasts`` becomes the last day
    in the bucket on which its condition held."""
    edge = _edges(name)
    cols = ", ".join(
        [f"SUM(d.{v}) AS {v}" for v in t.values]
        + [f"MAX(CASE WHEN {cond} THEN d.day END) AS {n}" for n, cond in t.lasts.items()]
    )
    return f"""
        SELECT d.account_id, b.{edge} AS day, {cols}
        FROM {daily} d JOIN buckets b ON b.day = d.day WHERE b.{edge} IS NOT NULL GROUP BY 1, 2"""


# At most this many snapshot dates, the distinct users and features are counted directly per spine row
# (``_distinct_few``) instead of by islands summed per bucket: the islands pay per account partition, which a build
# of one date (the monthly retrain's) does not recoup.
FEW_DATES = 2


def _count(c: Count, hashed: bool) -> str:
    """``features.rollups.count_sql`` in DuckDB's faster form: COUNT of a CASE instead of SUM when rows weigh 1,
    and over ``usage``, whose event types are hashes (``hashed``: its ``event`` column holds
    ``hash(event_type)``)."""
    if c.day or c.column is None:
        return count_sql(c)
    match = matches(c, "event", lambda v: f"hash({literal(v)})") if hashed else matches(c, c.column)
    if c.weight != "1":
        return f"SUM(CASE WHEN {match} THEN {c.weight} ELSE 0 END) AS {c.name}"
    return f"COUNT(CASE WHEN {match} THEN 1 END) AS {c.name}"


class Rollup(NamedTuple):
    """One table of the fast rollups, with the build's tables it reads (besides the warehouse's ``$raw``): the
    build drops an intermediate table as soon as no later statement reads it. It is created by ``sql``, or, given
    ``totals``, is those running totals, summed and read by ``pipelines.snapshots.running`` (numpy) from their
    daily table, with the counts and last days of the counted event types' columns ``types`` (``type_days``)."""

    sql: str
    reads: tuple[str, ...]
    totals: Totals | None = None
    types: tuple[str, ...] = ()


# Users' islands run per bucket (each user's last day in a bucket standing for it) when the buckets are long: a
# GROUP BY per bucket pays for itself only when it folds many days into one row. One date's build (the monthly
# retrain's new date; buckets of 30 and 60 days): user_daily 0.19 s -> 0.07 s; monthly snapshots the same either
# way (22 dates: 0.82 s against 0.84 s); weekly ones slower per bucket (3.1 s -> 4.1 s for the whole build).
LONG_BUCKETS_DAYS = 14


def _long_user_buckets(cfg: FeatureConfig, dates: Sequence[datetime]) -> bool:
    """Whether the buckets of the user totals for snapshots at ``dates`` last ``LONG_BUCKETS_DAYS`` on average."""
    if not dates:
        return False
    t = totals(cfg)["user_totals"]
    reads = {(d - timedelta(days=lag)).date() for d in dates for lag in t.lags}
    span = (max(dates) - min(dates)).days + LONGEST_WINDOW_DAYS
    return span / len(reads) >= LONG_BUCKETS_DAYS


def rollups(cfg: FeatureConfig, dates: Sequence[datetime] = ()) -> dict[str, Rollup]:
    """SELECT statements by table name, each with the tables it reads, in the order they must be created (as
    ``features.rollups.rollups``, plus intermediate tables: ``usage``, ``buckets`` and the per-day tables that
    ``totals`` read per bucket); they need ``account_ids``, ``snapshot_dates`` and ``spine``.

    Each running total is read only at as_of - lag for its lags, so it keeps one row per account and *bucket*,
    the days between two such read days, instead of one per day: a read sees whole buckets. Monthly snapshots
    read usage at 60 days of a year, weekly ones at 4 days of 7 (``buckets``). ``dates``, the snapshot dates,
    decide whether users' islands run per bucket too (``LONG_BUCKETS_DAYS``); the tables are the same either way."""
    not_feature = ", ".join(f"hash({literal(n)})" for n in (cfg.login_event, *cfg.milestones))
    ts = totals(cfg)
    types = tuple(t.column for t in cfg.event_types)
    typed = {*map(counted_value, types), *map(last_day, types)}
    # The usage totals without the types' counts and last days, which ``type_days`` holds apart.
    ts["usage_totals"] = usage = replace(
        ts["usage_totals"], values=tuple(v for v in ts["usage_totals"].values if v not in typed),
        lasts={n: c for n, c in ts["usage_totals"].lasts.items() if n not in typed}, value_lags={},
    )  # fmt: skip
    email = ts["email_totals"]
    amounts = [f"SUM({column}) AS {name}" for name, column in USAGE_AMOUNTS.items()]
    seen = f"{EVENTS} > 0"  # a row standing for no event makes no user, feature or milestone seen
    # The islands' keys, the rows that count and the windows of the distinct counts (``user_totals``,
    # ``feature_totals``).
    users = ("account_id, uid", f"uid IS NOT NULL AND {seen}", (7, 30))
    features = ("account_id, event", f"event NOT IN ({not_feature}) AND {seen}", (30, 90))
    daily = {
        # Users and event types as 64-bit hashes: the islands partition and sort by (account, hash) instead of
        # strings, and no table of distinct (account, user) keys is built and joined (monthly: 1.1 s -> 0.4 s).
        # Two users of one account share a hash with probability about n^2 / 2^65 for n users of that account.
        # A row without a user has none (NULL, where hash() would give NULL a value). The row's event_count and
        # duration_secs keep their names, so that the portable measures (``EVENTS``, ``USAGE_AMOUNTS``) read them.
        "usage": f"""
            SELECT k.aid AS account_id, CASE WHEN e.user_id IS NOT NULL THEN hash(e.account_id, e.user_id) END AS uid,
                   {DAY} AS day, hash(e.event_type) AS event, e.event_count, e.duration_secs
            FROM $raw.usage_events e JOIN account_ids k ON k.account_id = e.account_id
            WHERE {DAYS}""",
        "buckets": _buckets(ts),
        "usage_days": f"""
            SELECT account_id, day,
                   {ROWS_SEP.join([*(_count(c, hashed=True) for c in usage_counts(cfg)), *amounts])}
            FROM usage GROUP BY 1, 2""",
        **({"type_days": _type_days(cfg)} if types else {}),
        "usage_daily": _bucketed("usage_totals", usage, "usage_days"),
        "user_daily": _islands(*users, "user_totals", _long_user_buckets(cfg, dates)),
        "feature_daily": _islands(*features, "feature_totals"),
        "email_days": f"""
            SELECT k.aid AS account_id, {DAY} AS day,
                   {ROWS_SEP.join(_count(c, hashed=False) for c in EMAIL_COUNTS)}
            FROM $raw.email_events e JOIN account_ids k ON k.account_id = e.account_id
            WHERE {DAYS} GROUP BY 1, 2""",
        "email_daily": _bucketed("email_totals", email, "email_days"),
        "milestone_first": f"""
            SELECT k.aid AS account_id, event_type, make_timestamp(epoch_us(MIN(ts))) AS first_ts
            FROM $raw.usage_events e JOIN account_ids k ON k.account_id = e.account_id
            WHERE event_type IN ({quoted(cfg.milestones)}) AND {seen} AND ts < TIMESTAMPTZ '$last 00:00:00+00'
            GROUP BY 1, 2""",
    }
    reads = {
        "usage": ("account_ids",), "buckets": ("snapshot_dates",), "usage_days": ("usage",),
        "type_days": ("usage", "buckets"), "usage_daily": ("usage_days", "buckets"),
        "user_daily": ("usage", "buckets"), "feature_daily": ("usage", "buckets"), "email_days": ("account_ids",),
        "email_daily": ("email_days", "buckets"), "milestone_first": ("account_ids",),
    }  # fmt: skip
    running = {
        name: Rollup("", (t.daily, "spine", *(("type_days",) if name == "usage_totals" and types else ())), t,
                     types if name == "usage_totals" else ())
        for name, t in ts.items()
    }  # fmt: skip
    if 0 < len(set(dates)) <= FEW_DATES:  # the distinct counts read the usage rows directly: no islands
        for name, (key, where, windows) in {"user_totals": users, "feature_totals": features}.items():
            del daily[ts[name].daily]
            running[name] = Rollup(_distinct_few(key, where, windows, ts[name]), ("usage", "spine"))
    return {name: Rollup(sql, reads[name]) for name, sql in daily.items()} | running


# Intermediate tables of ``rollups``, dropped once the running totals exist (their names follow no configuration).
INTERMEDIATE = ("usage", "buckets", "usage_days", "email_days", "type_days", "usage_daily", "user_daily",
                "feature_daily", "email_daily")  # fmt: skip


def _type_days(cfg: FeatureConfig) -> str:
    """Per account, bucket of ``usage_totals`` and counted type k (by ``type_counts``' order): its events ``n``
    and the last day ``seen`` on which it had one (``pipelines.snapshots.running`` reads them)."""
    which = " ".join(f"WHEN {matches(c, 'u.event', lambda v: f'hash({literal(v)})')} THEN {k}"
                     for k, c in enumerate(type_counts(cfg)))  # fmt: skip
    edge = _edges("usage_totals")
    return f"""
        SELECT * FROM (
            SELECT u.account_id, b.{edge} AS day, CASE {which} END AS k, SUM({EVENTS}) AS n,
                   MAX(CASE WHEN {EVENTS} > 0 THEN u.day END) AS seen
            FROM usage u JOIN buckets b ON b.day = u.day WHERE b.{edge} IS NOT NULL GROUP BY 1, 2, 3)
        WHERE k IS NOT NULL"""


def spine_sql(empty_tables: frozenset[str] = frozenset()) -> str:
    """As ``features.rollups.spine_sql`` (the same rows serving each as_of, ``served_rows``), with the latest-started
    row picked by arg_max over its rowid (by start_at, then subscription_id, as the portable order) in a GROUP BY on
    (account, as_of) that also sums MRR and seats, then joined for its columns: DuckDB turns the portable
    ROW_NUMBER() = 1 into an arg_max of a struct of every column, which was most of the spine's time (weekly: 1.7 s
    -> 0.3 s). Accounts are unique (ingest validates the key), so filtering them after the pick keeps the same
    rows."""
    rows = served_rows("x.rowid AS row, x.account_id, d.as_of, x.start_at, x.subscription_id, x.mrr, x.seats",
                       empty_tables)  # fmt: skip
    return f"""
WITH served AS ({rows}),
covering AS (
    SELECT account_id, as_of, arg_max(row, (start_at, subscription_id)) AS row, SUM(mrr) AS mrr,
           CAST(SUM(seats) AS BIGINT) AS seats
    FROM served GROUP BY 1, 2
)
SELECT a.account_id, c.as_of, CAST(c.as_of AS DATE) AS as_of_day, a.created_at, a.segment, a.industry, a.region,
       a.touch_model, c.mrr, c.seats, x.plan, x.start_at AS row_start,
       CASE WHEN x.cancelled_at < c.as_of THEN x.cancelled_at END AS cancelled_at
FROM covering c
JOIN raw.subscriptions x ON x.rowid = c.row
JOIN raw.accounts a ON a.account_id = c.account_id AND {exists_at("a", "c.as_of")}
"""
