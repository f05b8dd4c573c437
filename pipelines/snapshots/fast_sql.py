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
- Running totals are cumulative sums per account read with an ASOF JOIN at each edge, instead of probe rows
  merged into the daily rows' window sort (usage totals, weekly: 12.2 s -> 3.9 s with the cumulative sums), and
  up to three sums share one window aggregate, packed in a HUGEINT (``PACKED``).

``$raw`` is the schema of the warehouse's raw tables (the build runs in its own catalog, where ``raw`` holds the
copies), ``$first``/``$last`` the DATE bounds of the days the windows reach.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import NamedTuple

from features.config import FeatureConfig
from features.event_types import LAGS, counted_value, last_day
from features.rollups import (
    EMAIL_COUNTS,
    EVENTS,
    LONGEST_WINDOW_DAYS,
    ROWS_SEP,
    TOTALS_TABLES,
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


# Running sums are packed PACKED per HUGEINT window sum, BITS bits each: DuckDB's cost for a cumulative window grows
# with the number of aggregates, not their width (weekly usage totals 3.8 s -> 2.9 s, email 2.6 s -> 2.2 s; the
# whole weekly build 23.4 s -> 21.3 s, medians of 3 alternated runs on a busy day). A packed total decodes
# exactly while every running sum stays in [0, 2^BITS): each is a count (of events, days, emails) or a number of
# distinct keys seen, and ``_bounded`` checks that no account's values come near 2^BITS (a trillion).
PACKED, BITS = 3, 40


def _counts(t: Totals) -> tuple[str, ...]:
    """The values of ``t`` that are whole numbers, which the running totals pack (``amounts`` are summed apart)."""
    return tuple(v for v in t.values if v not in t.amounts)


def _packs(t: Totals) -> list[tuple[str, ...]]:
    counts = _counts(t)
    return [counts[i : i + PACKED] for i in range(0, len(counts), PACKED)]


def _bounded(t: Totals) -> str:
    """A one-row table, or an error if a running sum of ``t`` could outgrow its packed field: an account's sum of
    a column's absolute values bounds each of its running sums of that column."""
    sums = ", ".join(f"SUM(ABS({v})) AS {v}" for v in _counts(t))
    worst = ", ".join(f"MAX({v})" for v in _counts(t))
    return f"""
        SELECT CASE WHEN GREATEST({worst}) >= {1 << BITS}
               THEN error('feature build: an account''s running total in {t.daily} reaches 2^{BITS} (over a '
                          || 'trillion), more than the packed totals of the fast build hold: build with '
                          || 'build_portable(...)') END AS ok
        FROM (SELECT {sums} FROM {t.daily} GROUP BY account_id)"""


class Field(NamedTuple):
    """A running sum read from bits [shift, shift + bits) of the cumulative sum of a daily table's column ``pack``
    (already packed there), as ``name`` at ``lags``; a ``day`` is a day number (1 = $first, 0 = none), read at lag 0
    as that DATE (NULL for none)."""

    name: str
    pack: str
    shift: int
    bits: int
    lags: tuple[int, ...]
    day: bool = False


def _field(f: Field, lag: int, at: Callable[[int, str], str]) -> str:
    """``f`` decoded from its pack read at as_of - ``lag`` (``at(lag, column)``: where that reading is)."""
    return f"CAST(({at(lag, f.pack)} >> {f.shift}) & {(1 << f.bits) - 1} AS BIGINT)"


# At most this many snapshot dates, the running totals are summed per spine row over its account's bucket rows
# (a join and one GROUP BY) instead of a cumulative window read by an ASOF JOIN per lag: DuckDB's window pays per
# account partition, which a build of one date (the monthly retrain's, a few buckets per account) does not recoup
# (usage totals of one date: 0.11 s -> 0.04 s); with many dates the join grows with dates x buckets.
FEW_DATES = 2


def _running(t: Totals, fields: Sequence[Field] = (), few: bool = False) -> str:
    """Per spine row, as ``features.rollups._running``: cumulative sums over the bucket rows (a bucket's day is
    the read day that closes it, so a read at day x takes the last bucket at or before x), looked up at each
    as_of - lag by one ASOF JOIN per lag. The sums of counts are packed (``PACKED``), amounts summed apart;
    ``fields`` are read from columns of ``t.daily`` packed before (``_type_days``), in the same window pass.
    ``few`` (``FEW_DATES``): the same sums as one conditional sum per lag over the account's bucket rows."""
    packs = _packs(t)
    # Each value's place: its pack (column p<k>) and its field's shift in it.
    own = [Field(v, f"p{k}", BITS * (len(p) - 1 - j), BITS, t.lags_of(v)) for k, p in enumerate(packs)
           for j, v in enumerate(p)]  # fmt: skip
    shift = {f.name: f.shift for f in own}
    d = "d." if few else ""  # the bucket rows' alias
    # Multiplied, not shifted: a bucket's island steps can be negative (only running sums are non-negative).
    packed = [" + ".join(f"CAST({d}{v} AS HUGEINT) * {1 << shift[v]}" for v in p) for p in packs]
    # What each running column sums (the last days, ``t.lasts``, are kept: the last non-NULL in day order).
    summed = {f"p{k}": e for k, e in enumerate(packed)}
    summed |= {c: f"{d}{c}" for c in [*dict.fromkeys(f.pack for f in fields), *t.amounts]}
    by_name = {f.name: f for f in own}

    def read(lag: int, at: Callable[[int, str], str]) -> list[str]:
        """The values read at as_of - ``lag``, per spine row; ``at(lag, column)`` is a running column there."""
        return (
            [f"COALESCE({at(lag, v)}, 0) AS {v}_c{lag}" if v in t.amounts
             else f"COALESCE({_field(by_name[v], lag, at)}, 0) AS {v}_c{lag}"
             for v in t.values if lag in t.lags_of(v)]
            + [f"{at(0, n)} AS {n}" for n in t.lasts if lag == 0]
            + [f"CASE WHEN {_field(f, 0, at)} > 0 THEN DATE '$first' + CAST({_field(f, 0, at)} - 1 AS INTEGER) "
               f"END AS {f.name}" if f.day else f"COALESCE({_field(f, lag, at)}, 0) AS {f.name}_c{lag}"
               for f in fields if lag in f.lags]
        )  # fmt: skip

    def used(lag: int) -> list[str]:
        """The running columns (``summed``'s and ``t.lasts``) the reads at ``lag`` take, in order."""
        found: dict[str, None] = {}

        def note(_: int, column: str) -> str:
            found[column] = None
            return column

        read(lag, note)
        return list(found)

    # Both ways leave the running columns each lag reads as <column>_<lag>, decoded once at the end.
    decoded = ", ".join(c for lag in t.lags for c in read(lag, lambda lag, c: f"{c}_{lag}"))
    if few:
        # A bucket's last day is in the bucket, so the last non-NULL in day order is the largest.
        sums = ", ".join(
            f"MAX(CASE WHEN d.day <= s.as_of_day THEN d.{c} END) AS {c}_{lag}" if c in t.lasts
            else f"SUM(CASE WHEN d.day <= s.as_of_day - {lag} THEN {summed[c]} END) AS {c}_{lag}"
            for lag in t.lags for c in used(lag)
        )  # fmt: skip
        return f"""
        WITH c AS MATERIALIZED (
            SELECT s.account_id, s.as_of, {sums} FROM spine s
            LEFT JOIN {t.daily} d ON d.account_id = s.account_id AND d.day <= s.as_of_day GROUP BY 1, 2)
        SELECT account_id, as_of, {decoded} FROM c"""
    window = "WINDOW w AS (PARTITION BY account_id ORDER BY day ROWS UNBOUNDED PRECEDING)"
    # DuckDB's LAST_VALUE ... IGNORE NULLS window costs less than its MAX (the same, as above).
    cums = ", ".join([f"SUM({e}) OVER w AS {c}" for c, e in summed.items()]
                     + [f"LAST_VALUE({n} IGNORE NULLS) OVER w AS {n}" for n in t.lasts])  # fmt: skip

    def joined(lag: int) -> str:
        """The running columns the reads at ``lag`` use, still packed: decoded after the lags are joined, the
        joins carry 16-byte packs of three values instead of 8 bytes a value."""
        cols = ", ".join(f"c{lag}.{c} AS {c}_{lag}" for c in used(lag))
        return f"""r{lag} AS MATERIALIZED (
            SELECT s.account_id, s.as_of, {cols} FROM spine s
            ASOF LEFT JOIN cum c{lag} ON c{lag}.account_id = s.account_id AND s.as_of_day - {lag} >= c{lag}.day)"""

    # One ASOF JOIN per lag from the spine alone, joined after: chained, each join sorted the columns the joins
    # before it had added (weekly, 17 types: 6.2 s against 2.4 s).
    first, *others = t.lags
    return f"""
        WITH cum AS MATERIALIZED (SELECT account_id, day, {cums} FROM {t.daily} {window}),
        {", ".join(map(joined, t.lags))}
        SELECT account_id, as_of, {decoded}
        FROM r{first} {" ".join(f"JOIN r{lag} USING (account_id, as_of)" for lag in others)}"""


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
    """One statement of the fast rollups, with the build's tables it reads (besides the warehouse's ``$raw``): the
    build drops an intermediate table as soon as no later statement reads it."""

    sql: str
    reads: tuple[str, ...]


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
    fields = _type_fields(cfg)
    # The usage totals as the fast build sums them apart from the types' packed columns (``_type_fields``).
    typed = {f.name for f in fields}
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
        # The types' check comes before usage_daily, so that type_days is dropped once usage_daily holds it.
        **({"type_days": _type_days(cfg), "type_days_bounded": _type_bounded()} if fields else {}),
        "usage_daily": _usage_daily(cfg, usage),
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
        "type_days": ("usage", "buckets"), "type_days_bounded": ("type_days",),
        "usage_daily": ("usage_days", "buckets", "type_days"),
        "user_daily": ("usage", "buckets"), "feature_daily": ("usage", "buckets"), "email_days": ("account_ids",),
        "email_daily": ("email_days", "buckets"), "milestone_first": ("account_ids",),
    }  # fmt: skip
    checks = {f"{name}_bounded": Rollup(_bounded(t), (t.daily,)) for name, t in ts.items()}
    few = 0 < len(set(dates)) <= FEW_DATES
    running = {
        name: Rollup(_running(t, fields if name == "usage_totals" else (), few), (t.daily, "spine"))
        for name, t in ts.items()
    }
    if few:  # the distinct counts read the usage rows directly: no islands, nothing to bound
        for name, (key, where, windows) in {"user_totals": users, "feature_totals": features}.items():
            del daily[ts[name].daily], checks[f"{name}_bounded"]
            running[name] = Rollup(_distinct_few(key, where, windows, ts[name]), ("usage", "spine"))
    return {name: Rollup(sql, reads[name]) for name, sql in daily.items()} | checks | running


# Intermediate tables of ``rollups``, dropped once the running totals exist (their names follow no configuration).
INTERMEDIATE = ("usage", "buckets", "usage_days", "email_days", "type_days", "usage_daily", "user_daily",
                "feature_daily", "email_daily", "type_days_bounded",
                *(f"{name}_bounded" for name in TOTALS_TABLES))  # fmt: skip


# The counted event types' counts and last days are packed before the window pass, in ``type_days``: per type,
# each bucket in which it occurred holds its events and the step from the type's previous last day to this
# bucket's (days counted from $first, 1 = $first), so that the steps' running sum at a read day is the type's last
# day before it (0: none). A type's field holds its count (COUNT_BITS) above its last day (DAY_BITS), three types
# to a HUGEINT: the window sums a column for every three types, where a sum per count and a LAST_VALUE window per
# type, in a second window pass read by chained ASOF JOINs, cost 3x the build without types (weekly, 17 types).
COUNT_BITS, DAY_BITS, TYPES_PACKED = 30, 12, 3
TYPE_BITS = COUNT_BITS + DAY_BITS


def _type_fields(cfg: FeatureConfig) -> list[Field]:
    """Where each counted type's count and last day sit in ``usage_daily``'s packed columns ``types<j>`` (types
    numbered in ``cfg.event_types``' order)."""
    out = []
    for k, t in enumerate(cfg.event_types):
        pack, shift = f"types{k // TYPES_PACKED}", TYPE_BITS * (k % TYPES_PACKED)
        out += [Field(counted_value(t.column), pack, shift + DAY_BITS, COUNT_BITS, LAGS),
                Field(last_day(t.column), pack, shift, DAY_BITS, (0,), day=True)]  # fmt: skip
    return out


def _type_days(cfg: FeatureConfig) -> str:
    """Per account, bucket of ``usage_totals`` and counted type k (by ``type_counts``' order): its events ``n``,
    and its events and last day's step as its field in its pack (``_type_fields``), ``placed``."""
    which = " ".join(f"WHEN {matches(c, 'u.event', lambda v: f'hash({literal(v)})')} THEN {k}"
                     for k, c in enumerate(type_counts(cfg)))  # fmt: skip
    place = " ".join(f"WHEN {j} THEN {1 << (TYPE_BITS * j)}" for j in range(TYPES_PACKED))
    edge = _edges("usage_totals")
    return f"""
        WITH per_type AS (
            SELECT u.account_id, b.{edge} AS day, CASE {which} END AS k, SUM({EVENTS}) AS n,
                   CAST(MAX(CASE WHEN {EVENTS} > 0 THEN u.day END) - DATE '$first' + 1 AS BIGINT) AS seen
            FROM usage u JOIN buckets b ON b.day = u.day WHERE b.{edge} IS NOT NULL GROUP BY 1, 2, 3
        )
        SELECT account_id, day, k, n,
               (CAST(n AS HUGEINT) * {1 << DAY_BITS}
                + seen - COALESCE(LAG(seen) OVER (PARTITION BY account_id, k ORDER BY day), 0))
               * CASE k % {TYPES_PACKED} {place} END AS placed
        FROM per_type WHERE k IS NOT NULL AND seen IS NOT NULL"""


def _type_bounded() -> str:
    """A one-row table, or an error if a type's packed running sums could outgrow their fields (as ``_bounded``):
    an account's events of every type, and the days the windows reach."""
    return f"""
        SELECT CASE WHEN MAX(n) >= {1 << COUNT_BITS} OR DATE '$last' - DATE '$first' >= {(1 << DAY_BITS) - 1}
               THEN error('feature build: an account''s events of the counted types reach 2^{COUNT_BITS} (over a '
                          || 'billion), or the snapshots'' windows span {(1 << DAY_BITS) - 1} days or more: more '
                          || 'than the packed totals of the fast build hold: build with build_portable(...)') END AS ok
        FROM (SELECT SUM(ABS(n)) AS n FROM type_days GROUP BY account_id)"""


def _usage_daily(cfg: FeatureConfig, usage: Totals) -> str:
    """``usage_daily``: the usage days summed per bucket (``_bucketed``), with the counted types' packed columns
    (``_type_fields``) summed from ``type_days`` beside them (a bucket with a type's events has usage rows)."""
    bucketed = _bucketed("usage_totals", usage, "usage_days")
    if not cfg.event_types:
        return bucketed
    packs = dict.fromkeys(f.pack for f in _type_fields(cfg))
    sums = ", ".join(f"SUM(CASE WHEN k // {TYPES_PACKED} = {j} THEN placed END) AS {p}" for j, p in enumerate(packs))
    return f"""
        SELECT u.*, t.* EXCLUDE (account_id, day)
        FROM ({bucketed}) u
        LEFT JOIN (SELECT account_id, day, {sums} FROM type_days GROUP BY 1, 2) t
        ON t.account_id = u.account_id AND t.day = u.day"""


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
