"""The fast build's running totals (``usage_totals``, ``email_totals``, ...), summed and read in numpy.

``features.rollups.totals`` defines them: per spine row, ``<value>_c<lag>`` is the sum of a daily table's ``value``
over the days before as_of - lag, and ``<last>`` the last day before as_of on which its condition held. The fast
build's daily tables (``fast_sql``) hold one row per account and *bucket*, the days between two read days, keyed by
the read day that closes it; a read at day x takes every bucket whose key is at or before x.

Here those rows, sorted by (account, day), are summed cumulatively (one ``np.cumsum`` with each account's sum
restarted at its first row) and read at each as_of - lag by a binary search of the sorted keys: linear work and
one search per lag. DuckDB's form of the same, a cumulative window per account read by an ASOF JOIN per lag and the
lags joined back on the key, cost more than the rest of the build's rollups: on the weekly demo build (10,000
accounts, 52 dates, 17 counted event types) the usage totals took 2.1 s (window 1.1 CPU-s, ASOF joins 1.0, their
joins 0.4) and the per-type packing before them 0.9 s; ``benchmarks/features.py`` measures the whole build. The
portable definition stays ``features.rollups._running`` (the portable build and Spark run it), and
``tests/pipelines/snapshots/test_fast_build.py`` asserts that both builds give equal snapshots.
"""

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
    """Bucket rows sorted by (account, day): their ``keys`` (``SHIFT``), and per row each value's running sum over
    its account's rows so far and each last's day (days since $first)."""

    keys: np.ndarray
    sums: dict[str, np.ndarray]  # value -> running sums per row (restarted per account)
    lasts: dict[str, np.ndarray]  # last -> its day per row (-1: none)


def create(con: duckdb.DuckDBPyConnection, name: str, t: Totals, first: str, types: Sequence[str] = ()) -> None:
    """Create table ``name`` (account_id, as_of, the totals of ``t`` per spine row) from ``t.daily``'s bucket rows
    (account_id, day, the values and lasts of ``t``); ``first`` is the build's first day ($first). ``types``, the
    counted event types' columns (``features.event_types``), adds each one's count at ``LAGS`` and its last day,
    read from ``type_days`` (account_id, day, k, n, seen: the k-th type's events and last day in the bucket)."""
    spine = con.execute(
        f"SELECT account_id, as_of, CAST(as_of_day - DATE '{first}' AS BIGINT) AS day FROM spine"
    ).fetchnumpy()  # fmt: skip
    at = (np.asarray(spine["account_id"], np.int64) << SHIFT) + np.asarray(spine["day"], np.int64)
    values = list(t.values)
    cols = ", ".join(
        [f"CAST({v} AS {'DOUBLE' if v in t.amounts else 'BIGINT'}) AS {v}" for v in values]
        + [f"CAST({n} - DATE '{first}' AS BIGINT) AS {n}" for n in t.lasts]
    )
    got = con.execute(
        f"SELECT (CAST(account_id AS BIGINT) << {SHIFT}) + CAST(day - DATE '{first}' AS BIGINT) AS key, {cols} "
        f"FROM {t.daily} ORDER BY key"
    ).fetchnumpy()  # fmt: skip
    out: dict[str, pa.Array] = {"account_id": pa.array(spine["account_id"]), "as_of": pa.array(spine["as_of"])}
    rows = _rows(
        np.asarray(got["key"], np.int64),
        {v: _filled(got[v], 0) for v in values},
        {n: _filled(got[n], -1) for n in t.lasts},
    )
    out |= _read(rows, at, {v: t.lags_of(v) for v in values}, first)
    if types:
        out |= _read(_type_rows(con, first, types), at, {counted_value(c): LAGS for c in types}, first)
    table = pa.table(out)
    view = f"_{name}_arrow"
    con.register(view, table)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {view}")
    finally:
        con.unregister(view)


def _type_rows(con: duckdb.DuckDBPyConnection, first: str, types: Sequence[str]) -> Rows:
    """``type_days``' long rows (one per account, bucket and type present) as one row per (account, bucket) with
    each type's events and last day."""
    got = con.execute(
        f"SELECT (CAST(account_id AS BIGINT) << {SHIFT}) + CAST(day - DATE '{first}' AS BIGINT) AS key, "
        f"CAST(k AS BIGINT) AS k, CAST(n AS BIGINT) AS n, CAST(seen - DATE '{first}' AS BIGINT) AS seen "
        "FROM type_days ORDER BY key"
    ).fetchnumpy()  # fmt: skip
    key, k = np.asarray(got["key"], np.int64), np.asarray(got["k"], np.intp)
    new = np.ones(len(key), bool)
    np.not_equal(key[1:], key[:-1], out=new[1:])
    row = np.cumsum(new) - 1
    counts = np.zeros((len(types), int(new.sum())), np.int64)
    counts[k, row] = _filled(got["n"], 0)
    seen = np.full(counts.shape, -1, np.int64)
    seen[k, row] = _filled(got["seen"], -1)
    return _rows(
        key[new],
        {counted_value(c): counts[j] for j, c in enumerate(types)},
        {last_day(c): seen[j] for j, c in enumerate(types)},
    )


def _filled(column: object, missing: int) -> np.ndarray:
    """A fetched column with its NULLs (a masked array's masked entries) as ``missing``."""
    return np.ma.filled(column, missing) if np.ma.isMaskedArray(column) else np.asarray(column)


def _rows(keys: np.ndarray, values: dict[str, np.ndarray], lasts: dict[str, np.ndarray]) -> Rows:
    """``Rows`` of sorted ``keys``: each value's running sums over its account's rows (pandas' grouped cumsum, run
    per account: a sum carried across accounts would leave a DOUBLE the precision of every account before it)."""
    frame = pd.DataFrame({v: np.asarray(x, np.float64 if x.dtype.kind == "f" else np.int64) for v, x in values.items()})
    sums = frame.groupby(keys >> SHIFT, sort=False).cumsum() if len(keys) else frame
    return Rows(keys, {v: sums[v].to_numpy() for v in values}, lasts)


def _read(rows: Rows, at: np.ndarray, lags: dict[str, tuple[int, ...]], first: str) -> dict[str, pa.Array]:
    """The columns of each spine row at key ``at``: ``<value>_c<lag>`` for each value's ``lags`` (0 when the
    account has no row by then), and each last day at lag 0 as a DATE (NULL for none)."""
    keys = rows.keys
    own = np.searchsorted(keys, (at >> SHIFT) << SHIFT, side="left")  # each spine row's account's first row
    where: dict[int, np.ndarray] = {}

    def row_at(lag: int) -> np.ndarray:
        """The last row of the spine row's account at or before as_of - ``lag``; -1 if none."""
        if lag not in where:
            i = np.searchsorted(keys, at - lag, side="right") - 1
            where[lag] = np.where(i >= own, i, -1)
        return where[lag]

    out: dict[str, pa.Array] = {}
    for v, y in rows.sums.items():
        for lag in lags[v]:
            i = row_at(lag)
            out[f"{v}_c{lag}"] = pa.array(np.where(i >= 0, y[i], 0) if len(y) else np.zeros(len(at), y.dtype))
    epoch = (date.fromisoformat(first) - date(1970, 1, 1)).days
    for n, days in rows.lasts.items():
        i = row_at(0)
        held = np.flatnonzero(days >= 0)
        j = np.searchsorted(held, i, side="right") - 1  # the account's last row with a day, at or before i
        r = held[np.maximum(j, 0)] if len(held) else np.zeros(len(i), np.intp)
        ok = (i >= 0) & (j >= 0) & (r >= own) if len(held) else np.zeros(len(i), bool)
        day = np.where(ok, days[r] + epoch, 0).astype(np.int32) if len(held) else np.zeros(len(i), np.int32)
        out[n] = pa.array(day, mask=~ok).cast(pa.date32())
    return out
