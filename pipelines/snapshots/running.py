"""The fast build's running totals (``usage_totals``, ``email_totals``, ...), summed and read in numpy.

``features.rollups.totals`` defines them: per spine row, ``<value>_c<lag>`` is the sum of a daily table's ``value``
over the days before as_of - lag, and ``<last>`` the last day before as_of on which its condition held. The fast
build's daily tables (``fast_sql``) hold one row per account and *bucket*, the days between two read days, keyed by
the read day that closes it; a read at day x takes every bucket whose key is at or before x.

Here those rows, sorted by (account, day), are summed cumulatively (whole numbers over all rows at once, DOUBLEs per
account) and read at each as_of - lag by a binary search of the sorted keys: linear work and one search per lag.
Written by hand because DuckDB's form of the same, a cumulative window per account read by an ASOF JOIN per lag and
the lags joined back on the key, measured far slower: on the weekly build of ``benchmarks/features.py --accounts
10000`` (52 dates, 17 counted event types) the usage totals took 2.1 s (window 1.1 CPU-s, ASOF joins 1.0, their joins
0.4) and the event types' packing before them 0.9 s, against 0.7 s here for both (the whole build, in-process: 8.2 s
-> 5.5 s). The portable definition stays ``features.rollups._running`` (the portable build and Spark run it), and
``tests/pipelines/snapshots/test_fast_build.py`` asserts that both builds give equal snapshots.
"""

import itertools
from collections.abc import Sequence
from datetime import date
from typing import NamedTuple

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from features.event_types import LAGS, counted_value, last_day
from features.rollups import Totals

SHIFT = 32  # a row's key: its account's integer id above its day (days since $first) in the low 32 bits


class Rows(NamedTuple):
    """Bucket rows sorted by (account, day): their ``keys`` (``SHIFT``), each value's running sums and each last's
    latest row with a day. Every array has one more entry than there are rows, read for row -1 (none)."""

    keys: np.ndarray
    # value -> running sums: a whole number's over all rows (exact: read as differences), a DOUBLE's per account
    sums: dict[str, np.ndarray]
    lasts: dict[str, tuple[np.ndarray, np.ndarray]]  # last -> (the latest row with a day at or before each, days)


# The rows summed at once: the arrays live outside DuckDB's memory cap, so a large build is read in slices of
# accounts whose daily rows are about this many (the weekly demo build, 540,000 rows, is one; 17 counted types
# cost about 200 bytes a row).
SLICE_ROWS = 1_000_000


def create(con: duckdb.DuckDBPyConnection, name: str, t: Totals, first: str, types: Sequence[str] = ()) -> None:
    """Create table ``name`` (account_id, as_of, the totals of ``t`` per spine row) from
    ``t.daily``'s bucket rows (account_id, day, the values and lasts of ``t``); ``first`` is the build's first day
    ($first). ``types``, the counted event types' columns (``features.event_types``), adds each one's count at
    ``LAGS`` and its last day, read from ``type_days`` (account_id, day, k, n, seen: the k-th type's events and
    last day in the bucket). Accounts are read in slices of about ``SLICE_ROWS`` daily rows."""
    ((rows, top),) = con.execute(f"SELECT count(*), coalesce(max(account_id), 0) FROM {t.daily}").fetchall()
    slices = max(1, -(-int(rows) // SLICE_ROWS))
    edges = [int(top) * i // slices for i in range(slices + 1)]
    edges[-1] = 2**31  # every account at or past the last edge, spine rows without daily rows included
    view = f"_{name}_arrow"
    for i, (lo, hi) in enumerate(itertools.pairwise(edges)):
        accounts = f"account_id > {lo} AND account_id <= {hi}" if i else f"account_id <= {hi}"
        con.register(view, _slice(con, t, first, types, accounts))
        try:
            con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {view}" if i == 0 else
                        f"INSERT INTO {name} SELECT * FROM {view}")  # fmt: skip
        finally:
            con.unregister(view)


def _slice(con: duckdb.DuckDBPyConnection, t: Totals, first: str, types: Sequence[str], accounts: str) -> pa.Table:
    """The totals of ``create`` for the spine rows of the ``accounts`` (a condition on account_id)."""
    spine = con.execute(
        f"SELECT account_id, as_of, CAST(as_of_day - DATE '{first}' AS BIGINT) AS day FROM spine WHERE {accounts}"
    ).fetchnumpy()  # fmt: skip
    at = (np.asarray(spine["account_id"], np.int64) << SHIFT) + np.asarray(spine["day"], np.int64)
    order = np.argsort(at, kind="stable")
    at = at[order]
    cols = ", ".join(
        [f"CAST({v} AS {'DOUBLE' if v in t.amounts else 'BIGINT'}) AS {v}" for v in t.values]
        + [f"CAST({n} - DATE '{first}' AS INTEGER) AS {n}" for n in t.lasts]
    )
    got = con.execute(
        f"SELECT {_key(first)} AS key, {cols} FROM {t.daily} WHERE {accounts} ORDER BY key"
    ).fetchnumpy()  # fmt: skip
    keys = np.asarray(got["key"], np.int64)
    rows = _rows(keys, {v: _filled(got[v], 0) for v in t.values}, {n: _filled(got[n], -1) for n in t.lasts})
    lags = {v: t.lags_of(v) for v in t.values}
    if types:
        counts, seen = _type_columns(con, first, types, keys, accounts)
        np.cumsum(counts[:, :-1], axis=1, out=counts[:, :-1])
        for j, c in enumerate(types):
            rows.sums[counted_value(c)] = counts[j]
            rows.lasts[last_day(c)] = _latest(seen[j])
            lags[counted_value(c)] = LAGS
    out = {"account_id": pa.array(spine["account_id"][order]), "as_of": pa.array(spine["as_of"][order])}
    return pa.table(out | _read(rows, at, lags, first))


def _type_columns(
    con: duckdb.DuckDBPyConnection, first: str, types: Sequence[str], keys: np.ndarray, accounts: str
) -> tuple[np.ndarray, np.ndarray]:
    """``type_days``' long rows (one per account, bucket and type present) placed on the daily rows of ``keys``
    (a bucket with events of a type has usage rows): per type (in ``types``' order) and row, its events, and its
    last day (-1: none); each with one more entry per type, for row -1."""
    got = con.execute(
        f"SELECT {_key(first)} AS key, CAST(k AS BIGINT) AS k, CAST(n AS BIGINT) AS n, "
        f"CAST(seen - DATE '{first}' AS INTEGER) AS seen "
        f"FROM type_days WHERE {accounts}"
    ).fetchnumpy()  # fmt: skip
    key, k = np.asarray(got["key"], np.int64), np.asarray(got["k"], np.intp)
    row = np.searchsorted(keys, key)
    if len(key) and (row.max() >= len(keys) or (keys[row] != key).any()):
        raise RuntimeError("feature build: event type counts in a bucket without usage rows (a bug: please report it)")
    counts = np.zeros((len(types), len(keys) + 1), np.int64)
    counts[k, row] = _filled(got["n"], 0)
    seen = np.full(counts.shape, -1, np.int32)
    seen[k, row] = _filled(got["seen"], -1)
    return counts, seen


def _key(first: str) -> str:
    """The SQL of a bucket row's key (``SHIFT``): its account above its day, counted from ``first``."""
    return f"(CAST(account_id AS BIGINT) << {SHIFT}) + CAST(day - DATE '{first}' AS BIGINT)"


def _filled(column: object, missing: int) -> np.ndarray:
    """A fetched column with its NULLs (a masked array's masked entries) as ``missing``."""
    return np.ma.filled(column, missing) if np.ma.isMaskedArray(column) else np.asarray(column)


def _rows(keys: np.ndarray, values: dict[str, np.ndarray], lasts: dict[str, np.ndarray]) -> Rows:
    """``Rows`` of sorted ``keys`` with ``values`` per row and ``lasts``' days per row (-1: none)."""
    return Rows(
        keys,
        {v: _running_sums(x, keys) for v, x in values.items()},
        {n: _latest(_padded(d, -1)) for n, d in lasts.items()},
    )


def _padded(x: np.ndarray, last: int) -> np.ndarray:
    return np.append(x, np.array([last], x.dtype))


def _running_sums(x: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Running sums of ``x`` over the rows of ``keys``, then 0. Whole numbers are summed over all rows at once
    (exact in int64; a read subtracts the sum before the account's first row); a DOUBLE per account (pandas'
    grouped cumsum), since a sum carried across accounts would leave it the precision of every account before."""
    if x.dtype.kind == "f":
        return _padded(pd.Series(x).groupby(keys >> SHIFT, sort=False).cumsum().to_numpy(), 0)
    out = np.zeros(len(x) + 1, np.int64)
    np.cumsum(x, out=out[:-1])
    return out


def _latest(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the latest row at or before each row whose day is set (-1: none), ``days``), both with one more entry."""
    n = len(days) - 1
    latest = np.full(n + 1, -1, np.int64)
    np.maximum.accumulate(np.where(days[:n] >= 0, np.arange(n), -1), out=latest[:n])
    return latest, days


def _read(rows: Rows, at: np.ndarray, lags: dict[str, tuple[int, ...]], first: str) -> dict[str, pa.Array]:
    """The columns of each spine row at key ``at`` (sorted: the searches run faster): ``<value>_c<lag>`` for each
    value's ``lags`` (0 when the account has no row by then), and each last day at lag 0 as a DATE (NULL for
    none)."""
    keys = rows.keys
    own = np.searchsorted(keys, (at >> SHIFT) << SHIFT, side="left")  # each spine row's account's first row
    before = own - 1  # the row before it (-1 for the first account: every array's last entry)
    where: dict[int, np.ndarray] = {}

    def row_at(lag: int) -> np.ndarray:
        """The last row of the spine row's account at or before as_of - ``lag``; ``before`` if none."""
        if lag not in where:
            where[lag] = np.maximum(np.searchsorted(keys, at - lag, side="right") - 1, before)
        return where[lag]

    out: dict[str, pa.Array] = {}
    for v, y in rows.sums.items():
        if y.dtype.kind == "f":  # summed per account: none reads the last entry, 0
            for lag in lags[v]:
                i = row_at(lag)
                out[f"{v}_c{lag}"] = pa.array(y[np.where(i >= own, i, -1)])
        else:
            base = y[before]
            for lag in lags[v]:
                out[f"{v}_c{lag}"] = pa.array(y[row_at(lag)] - base)
    epoch = (date.fromisoformat(first) - date(1970, 1, 1)).days
    for name, (latest, days) in rows.lasts.items():
        r = latest[row_at(0)]
        ok = r >= own  # r is -1 for none, or a row of an earlier account when this one has no day yet
        out[name] = pa.array(np.where(ok, days[r] + epoch, 0).astype(np.int32), mask=~ok).cast(pa.date32())
    return out
