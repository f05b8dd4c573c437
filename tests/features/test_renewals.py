"""Next renewal and ARR up for renewal against a row-by-row Python reference (written here with dateutil's calendar
months), on random accounts with plan changes, notices, monthly and annual invoices; and the cases by hand: an
anniversary exactly at as_of, a notice given after as_of (a later fact, never read)."""

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import duckdb
import numpy as np
import pandas as pd
import pytest
from dateutil.relativedelta import relativedelta

from features.renewals import MONTHLY_GAP_DAYS, TERM_MONTHS, renewals_sql

DATES = [datetime(2025, m, 1, tzinfo=UTC) for m in (3, 6, 9, 12)]


def warehouse(subs: pd.DataFrame, invoices: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE SCHEMA raw")
    con.register("s", subs)
    con.execute("CREATE TABLE raw.subscriptions AS SELECT subscription_id, account_id, CAST(start_at AS TIMESTAMPTZ) "
                "AS start_at, mrr, seats, CAST(end_at AS TIMESTAMPTZ) AS end_at, CAST(cancelled_at AS TIMESTAMPTZ) "
                "AS cancelled_at, plan, status FROM s")  # fmt: skip
    con.register("i", invoices)
    con.execute("CREATE TABLE raw.invoices AS SELECT account_id, CAST(issued_at AS TIMESTAMPTZ) AS issued_at FROM i")
    con.execute("CREATE TABLE snapshot_dates AS SELECT unnest(CAST(? AS TIMESTAMPTZ[])) AS as_of", [DATES])
    return con


def got(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    sql = renewals_sql(frozenset({"churn_events"}))
    return con.sql(f"{sql} ORDER BY account_id, as_of").to_arrow_table().to_pandas()


def reference(subs: pd.DataFrame, invoices: pd.DataFrame) -> pd.DataFrame:
    out = []
    for as_of in DATES:
        t = pd.Timestamp(as_of)
        for acct, rows in subs.groupby("account_id"):
            serving = rows[(rows.start_at <= t) & (rows.end_at.isna() | (rows.end_at > t)) & (rows.status != "trial")]
            if serving.empty:
                continue
            notice = serving[(serving.cancelled_at < t) & (serving.end_at > t)]
            issued = sorted(invoices[(invoices.account_id == acct) & (invoices.issued_at < t)].issued_at)
            gaps = [(b - a) / timedelta(days=1) for a, b in pairwise(issued)]
            gaps = [float(np.floor(g)) for g in gaps]
            term = 1 if gaps and np.median(gaps) < MONTHLY_GAP_DAYS else TERM_MONTHS
            first = rows[rows.status != "trial"].start_at.min()
            if len(notice):
                nxt = notice.end_at.min()
            else:
                k = 0
                while first + relativedelta(months=k) <= t:
                    k += term
                nxt = first + relativedelta(months=k)
            out.append((acct, t, nxt, 12 * serving.mrr.sum(), term, bool(len(notice))))
    return pd.DataFrame(out, columns=["account_id", "as_of", "next_renewal_at", "renewal_arr", "term_months",
                                      "notice_given"])  # fmt: skip


def random_world(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    subs, invoices = [], []
    for a in range(60):
        acct = f"A{a:03d}"
        first = pd.Timestamp("2023-06-01", tz="UTC") + pd.Timedelta(days=int(rng.integers(0, 600)),
                                                                     hours=int(rng.integers(0, 24)))  # fmt: skip
        change = first + pd.Timedelta(days=int(rng.integers(20, 400)))
        cancelled = change + pd.Timedelta(days=int(rng.integers(30, 400))) if rng.random() < 0.4 else None
        end = cancelled + pd.Timedelta(days=int(rng.integers(1, 90))) if cancelled is not None else None
        subs.append((f"{acct}-1", acct, first, 100.0, 5, change, None, "starter", "ended"))
        subs.append((f"{acct}-2", acct, change, float(rng.integers(50, 500)), 8, end, cancelled, "growth", "active"))
        monthly = rng.random() < 0.5
        step = pd.DateOffset(months=1 if monthly else 12)
        day = first
        while day < pd.Timestamp("2026-01-01", tz="UTC"):
            invoices.append((acct, day))
            day = day + step
    cols = ["subscription_id", "account_id", "start_at", "mrr", "seats", "end_at", "cancelled_at", "plan", "status"]
    s = pd.DataFrame(subs, columns=cols)
    for c in ("end_at", "cancelled_at"):
        s[c] = pd.to_datetime(s[c], utc=True)
    return s, pd.DataFrame(invoices, columns=["account_id", "issued_at"])


@pytest.mark.parametrize("seed", [1, 2])
def test_renewals_equal_the_row_by_row_reference(seed: int) -> None:
    subs, invoices = random_world(seed)
    want = reference(subs, invoices).sort_values(["account_id", "as_of"]).reset_index(drop=True)
    have = got(warehouse(subs, invoices))
    assert len(have) == len(want) > 100
    for c in ("next_renewal_at", "as_of"):
        have[c] = pd.to_datetime(have[c], utc=True)
        want[c] = pd.to_datetime(want[c], utc=True)
    pd.testing.assert_frame_equal(have, want, check_dtype=False)
    assert have.notice_given.any() and (have.term_months == 1).any() and (have.term_months == 12).any()


def test_an_anniversary_at_as_of_has_happened_and_a_later_notice_is_not_read() -> None:
    t = pd.Timestamp
    subs = pd.DataFrame(
        [("s1", "a", t("2024-03-01", tz="UTC"), 100.0, 1, None, None, "starter", "active"),
         # cancelled on 2025-03-10, after the 2025-03-01 snapshot: unknown there, known at 2025-06-01
         ("s2", "b", t("2024-07-20", tz="UTC"), 50.0, 1, t("2025-06-30", tz="UTC"), t("2025-03-10", tz="UTC"),
          "starter", "active")],
        columns=["subscription_id", "account_id", "start_at", "mrr", "seats", "end_at", "cancelled_at", "plan",
                 "status"],
    )  # fmt: skip
    for c in ("end_at", "cancelled_at"):
        subs[c] = pd.to_datetime(subs[c], utc=True)
    have = got(warehouse(subs, pd.DataFrame({"account_id": pd.Series([], dtype=str),
                                             "issued_at": pd.Series([], dtype="datetime64[us, UTC]")})))  # fmt: skip
    a = have[have.account_id == "a"].set_index("as_of")["next_renewal_at"]
    assert pd.Timestamp(a.iloc[0]) == t("2026-03-01", tz="UTC")  # 2025-03-01 is as_of itself: renewed then
    b = have[have.account_id == "b"].set_index("as_of")
    assert list(b.notice_given) == [False, True]  # at 2025-03-01 the notice of 2025-03-10 was not yet given
    assert [pd.Timestamp(d) for d in b.next_renewal_at] == [t("2025-07-20", tz="UTC"), t("2025-06-30", tz="UTC")]
    assert b.renewal_arr.iloc[0] == 600.0
