"""A snapshot date's input fingerprint moves when a row it could read changes, and only then: planted changes
before, after and across the date, against a warehouse loaded from tiny literal tables."""

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipelines.snapshots.fingerprint import changed_dates, fingerprints

D1, D2, D3 = (datetime(2025, m, 1, tzinfo=UTC) for m in (2, 3, 4))
T = pd.Timestamp


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    c = duckdb.connect(str(tmp_path / "w.duckdb"))
    c.execute("SET TimeZone = 'UTC'")
    c.execute("CREATE SCHEMA raw")
    c.execute("CREATE TABLE raw.usage_events (account_id VARCHAR, ts TIMESTAMPTZ, event_type VARCHAR, user_id VARCHAR,"
              " event_count BIGINT, duration_secs DOUBLE)")  # fmt: skip
    c.execute("INSERT INTO raw.usage_events VALUES ('a', '2025-01-10', 'login', 'u', NULL, NULL), ('a', "
              "'2025-02-10', 'login', 'u', NULL, NULL), ('b', '2025-03-10', 'export', 'v', NULL, NULL)")  # fmt: skip
    c.execute("CREATE TABLE raw.invoices (invoice_id VARCHAR, account_id VARCHAR, issued_at TIMESTAMPTZ, "
              "due_at TIMESTAMPTZ, paid_at TIMESTAMPTZ, failed_at TIMESTAMPTZ, voided_at TIMESTAMPTZ, "
              "amount DOUBLE, status VARCHAR)")  # fmt: skip
    c.execute("INSERT INTO raw.invoices VALUES ('i1', 'a', '2025-01-20', '2025-02-05', NULL, NULL, NULL, 100, 'open')")
    return c


def prints(con: duckdb.DuckDBPyConnection) -> dict[tuple[datetime, str], tuple[int, str]]:
    f = fingerprints(con, [D1, D2, D3])
    return {(T(a).to_pydatetime(), t): (r, d) for a, t, r, d in f.itertuples(index=False)}


def moved(before: dict, after: dict, table: str) -> list[datetime]:  # type: ignore[type-arg]
    return [d for d in (D1, D2, D3) if before[d, table] != after[d, table]]


def test_rows_counted_are_those_visible_at_each_date(con: duckdb.DuckDBPyConnection) -> None:
    got = prints(con)
    # By hand: usage events before Feb 1: 1; before Mar 1: 2; before Apr 1: 3. The invoice issued Jan 20: always.
    assert [got[d, "usage_events"][0] for d in (D1, D2, D3)] == [1, 2, 3]
    assert [got[d, "invoices"][0] for d in (D1, D2, D3)] == [1, 1, 1]
    assert set(t for _, t in got) == {"usage_events", "invoices"}  # only the contract tables the warehouse holds


def test_a_change_moves_the_dates_that_could_read_it_and_no_other(con: duckdb.DuckDBPyConnection) -> None:
    before = prints(con)
    con.execute("UPDATE raw.usage_events SET event_type = 'logout' WHERE ts = '2025-02-10'")
    assert moved(before, prints(con), "usage_events") == [D2, D3]
    before = prints(con)
    con.execute("INSERT INTO raw.usage_events VALUES ('c', '2025-04-15', 'login', 'w', NULL, NULL)")  # after all dates
    assert moved(before, prints(con), "usage_events") == []
    con.execute("DELETE FROM raw.usage_events WHERE ts = '2025-01-10'")
    assert moved(before, prints(con), "usage_events") == [D1, D2, D3]


def test_a_time_filled_in_later_moves_only_the_dates_after_it(con: duckdb.DuckDBPyConnection) -> None:
    before = prints(con)
    con.execute("UPDATE raw.invoices SET paid_at = '2025-03-15'")  # paid between D2 and D3: D1 and D2 cannot know
    assert moved(before, prints(con), "invoices") == [D3]


def test_changed_dates_are_the_new_ones_and_those_whose_inputs_moved(con: duckdb.DuckDBPyConnection) -> None:
    stored = fingerprints(con, [D1, D2])
    con.execute("INSERT INTO raw.usage_events VALUES ('c', '2025-02-20', 'login', 'w', NULL, NULL)")
    now = fingerprints(con, [D1, D2, D3])
    assert changed_dates(now, stored, [D1, D2]) == [D2, D3]  # D2 read the new row; D3 is new
    assert changed_dates(now, None, [D1, D2]) == [D1, D2, D3]  # nothing stored: every date
    assert changed_dates(fingerprints(con, [D1, D2]), fingerprints(con, [D1, D2]), [D1, D2]) == []


def test_a_rating_or_a_role_known_only_later_moves_only_the_dates_that_can_read_it(
    con: duckdb.DuckDBPyConnection,
) -> None:
    con.execute("CREATE TABLE raw.support_tickets (ticket_id VARCHAR, account_id VARCHAR, created_at TIMESTAMPTZ, "
                "resolved_at TIMESTAMPTZ, priority VARCHAR, csat BIGINT, category VARCHAR, "
                "escalated_at TIMESTAMPTZ)")  # fmt: skip
    con.execute("INSERT INTO raw.support_tickets VALUES ('t', 'a', '2025-01-05', NULL, 'low', NULL, 'bug', NULL)")
    con.execute("CREATE TABLE raw.contacts (contact_id VARCHAR, account_id VARCHAR, role VARCHAR, "
                "created_at TIMESTAMPTZ, left_at TIMESTAMPTZ, role_since TIMESTAMPTZ)")  # fmt: skip
    con.execute("INSERT INTO raw.contacts VALUES ('c', 'a', 'user', '2025-01-02', NULL, NULL)")
    before = prints(con)
    # Resolved and rated between D2 and D3 (an export taken later shows both): D1 and D2 could not read either.
    con.execute("UPDATE raw.support_tickets SET resolved_at = '2025-03-20', csat = 2")
    assert moved(before, prints(con), "support_tickets") == [D3]
    # Made champion on Feb 15: the features count the role from then on.
    con.execute("UPDATE raw.contacts SET role = 'champion', role_since = '2025-02-15'")
    assert moved(before, prints(con), "contacts") == [D2, D3]


def test_the_per_day_sums_equal_every_date_joined_to_every_row(con: duckdb.DuckDBPyConnection) -> None:
    """The reference: each date joined to each event row it sees, hashed row by row (written here, not imported)."""
    con.execute("INSERT INTO raw.usage_events VALUES ('a', '2025-02-01 00:00:00', 'login', 'u', 2, 1.5), "
                "('a', '2025-01-31 23:59:59.999999', 'login', 'u', NULL, NULL), ('b', NULL, 'login', 'v', 1, NULL), "
                "('b', '2025-03-01 00:00:00.000001', 'export', 'v', NULL, NULL)")  # fmt: skip
    reference = con.execute(
        "WITH d AS (SELECT unnest(CAST(? AS TIMESTAMPTZ[])) AS as_of) SELECT d.as_of, count(*), CAST(sum(hash("
        "r.account_id, r.ts, r.event_type, r.user_id, r.event_count, r.duration_secs)) AS VARCHAR) FROM d "
        "JOIN raw.usage_events r ON r.ts < d.as_of OR r.ts IS NULL GROUP BY 1 ORDER BY 1", [[D1, D2, D3]]
    ).fetchall()  # fmt: skip
    got = fingerprints(con, [D1, D2, D3])
    got = got[got["table_name"] == "usage_events"]
    assert [(T(a).to_pydatetime(), r, d) for a, _, r, d in got.itertuples(index=False)] == reference
    assert [r for _, r, _ in reference] == [3, 5, 7]  # by hand: the undated row counts at every date


def test_settled_and_in_flight_rows_of_a_table_with_several_times_equal_every_date_joined_to_every_row(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """Tickets settled before a date, in flight across it (resolved later, rated later), with a time exactly at a
    date, and undated: the digest equals each date joined to each visible row masked at that date (the reference,
    written here)."""
    con.execute("CREATE TABLE raw.support_tickets (ticket_id VARCHAR, account_id VARCHAR, created_at TIMESTAMPTZ, "
                "resolved_at TIMESTAMPTZ, priority VARCHAR, csat BIGINT, category VARCHAR, "
                "escalated_at TIMESTAMPTZ)")  # fmt: skip
    con.execute("INSERT INTO raw.support_tickets VALUES "
                "('t1', 'a', '2025-01-05', '2025-01-07', 'low', 5, 'bug', NULL), "  # settled before every date
                "('t2', 'a', '2025-01-20', '2025-03-01', 'high', 1, 'bug', '2025-02-10'), "  # resolved at D2 itself
                "('t3', 'b', '2025-02-01', NULL, 'low', 3, 'billing', NULL), "  # created at D1, never resolved
                "('t4', 'b', '2025-02-03', '2025-02-03 10:00', 'low', NULL, 'bug', '2025-03-25'), "  # escalated late
                "('t5', 'b', NULL, '2025-02-20', 'low', 4, 'bug', NULL), "  # undated: at every date, masked there
                "('t6', 'a', '2025-03-01', '2025-03-01 00:00:00.000001', 'low', 2, 'bug', NULL)")  # fmt: skip
    reference = con.execute(
        "WITH d AS (SELECT unnest(CAST(? AS TIMESTAMPTZ[])) AS as_of) SELECT d.as_of, count(*), CAST(sum(hash("
        "r.ticket_id, r.account_id, CASE WHEN r.created_at < d.as_of THEN r.created_at END, "
        "CASE WHEN r.resolved_at < d.as_of THEN r.resolved_at END, r.priority, "
        "CASE WHEN r.resolved_at < d.as_of THEN r.csat END, r.category, "
        "CASE WHEN r.escalated_at < d.as_of THEN r.escalated_at END)) AS VARCHAR) FROM d "
        "JOIN raw.support_tickets r ON r.created_at < d.as_of OR r.created_at IS NULL GROUP BY 1 ORDER BY 1",
        [[D1, D2, D3]],
    ).fetchall()  # fmt: skip
    got = fingerprints(con, [D1, D2, D3])
    got = got[got["table_name"] == "support_tickets"]
    assert [(T(a).to_pydatetime(), r, d) for a, _, r, d in got.itertuples(index=False)] == reference
    assert [r for _, r, _ in reference] == [3, 5, 6]  # by hand: t1, t2, t5; then t3, t4; then t6
