"""The numpy running totals of the fast build against a brute-force sum of each account's rows."""

import numpy as np
import pytest

from pipelines.snapshots.running import SHIFT, _read, _rows

FIRST = "2024-01-01"


def brute(rows: list[tuple[int, int, int, float, int]], account: int, day: int) -> tuple[int, float, int | None]:
    """Sums of the account's rows on days at or before ``day``, and the last of their days with a ``last`` (a
    bucket row's last day is in its bucket, so it is the bucket's day or none here)."""
    seen = [r for r in rows if r[0] == account and r[1] <= day]
    lasts = [r[4] for r in seen if r[4] >= 0]
    return sum(r[2] for r in seen), sum(r[3] for r in seen), max(lasts) if lasts else None


@pytest.mark.parametrize("seed", range(5))
def test_read_equals_brute_force_sums(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = sorted(
        {(int(a), int(d)): (int(a), int(d), int(rng.integers(-3, 50)), float(rng.random() * 100),
                            int(d) if rng.random() < 0.6 else -1)
         for a, d in zip(rng.integers(1, 6, 60), rng.integers(0, 200, 60), strict=True)}.values()
    )  # fmt: skip
    keys = np.array([(a << SHIFT) + d for a, d, *_ in rows], np.int64)
    got_rows = _rows(
        keys,
        {"n": np.array([r[2] for r in rows], np.int64), "secs": np.array([r[3] for r in rows])},
        {"last_day": np.array([r[4] for r in rows], np.int64)},
    )
    # Spine rows of every account, including one with no rows at all (6) and reads before any row.
    spine = [(a, d) for a in range(1, 8) for d in range(0, 260, 13)]
    at = np.array([(a << SHIFT) + d for a, d in spine], np.int64)
    got = _read(got_rows, at, {"n": (0, 30), "secs": (0, 90)}, FIRST)
    for j, (a, d) in enumerate(spine):
        for lag in (0, 30, 90):
            n, secs, last = brute(rows, a, d - lag)
            if lag in (0, 30):
                assert got[f"n_c{lag}"][j].as_py() == n, (a, d, lag)
            if lag in (0, 90):
                assert got[f"secs_c{lag}"][j].as_py() == pytest.approx(secs, rel=1e-12, abs=1e-9), (a, d, lag)
        _, _, last = brute(rows, a, d)
        want = None if last is None else np.datetime64(FIRST) + np.timedelta64(last, "D")
        assert got["last_day"][j].as_py() == (None if want is None else want.astype(object)), (a, d)


def test_an_account_keeps_its_precision_after_a_huge_one() -> None:
    # Running sums restart per account: summed across accounts, 1e17 seconds before would leave an account's
    # 0.25-second rows with a precision of 16 seconds.
    keys = np.array([(1 << SHIFT) + 0, (2 << SHIFT) + 0, (2 << SHIFT) + 5], np.int64)
    rows = _rows(keys, {"secs": np.array([1e17, 0.25, 0.5])}, {})
    at = np.array([(2 << SHIFT) + 10], np.int64)
    got = _read(rows, at, {"secs": (0,)}, FIRST)
    assert got["secs_c0"][0].as_py() == 0.75


def test_type_counts_in_a_bucket_without_usage_rows_are_refused() -> None:
    # Each type's events are placed on the usage rows of their bucket; one whose bucket has none would be lost.
    import duckdb

    from pipelines.snapshots.running import _type_columns

    with duckdb.connect() as con:
        con.execute("CREATE TABLE type_days (account_id INTEGER, day DATE, k INTEGER, n BIGINT, seen DATE)")
        con.execute("INSERT INTO type_days VALUES (1, DATE '2024-01-05', 0, 3, DATE '2024-01-04'), "
                    "(2, DATE '2024-01-08', 1, 2, DATE '2024-01-07')")  # fmt: skip
        usage = np.array([(1 << SHIFT) + 4, (2 << SHIFT) + 7], np.int64)
        counts, seen = _type_columns(con, FIRST, ("a", "b"), usage, "TRUE")
        assert counts[:, :-1].tolist() == [[3, 0], [0, 2]] and seen[:, :-1].tolist() == [[3, -1], [-1, 6]]
        with pytest.raises(RuntimeError, match="bucket without usage rows"):
            _type_columns(con, FIRST, ("a", "b"), usage[:1], "TRUE")
