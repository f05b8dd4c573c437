"""Rates that describe a warehouse's customer base: churn and expansion, computed from the raw tables alone."""

from dataclasses import dataclass

import duckdb

# An account is active at t when one of its subscriptions covers t; it churns when its last subscription ends
# (status cancelled) and it expands when a subscription starting within the horizon has more MRR or seats than
# the one that covered t by more than the margin. Snapshots whose horizon runs past the data are left out.
RATES_SQL = """
WITH snapshots AS (
    SELECT unnest(generate_series(
        date_trunc('month', (SELECT min(ts) FROM raw.usage_events)) + INTERVAL 1 MONTH,
        (SELECT max(ts) FROM raw.usage_events) - INTERVAL (?) DAY, INTERVAL 1 MONTH)) AS as_of
),
churned AS (
    SELECT account_id, max(end_at) AS churned_at FROM raw.subscriptions
    GROUP BY account_id HAVING bool_and(end_at IS NOT NULL) AND bool_or(status = 'cancelled')
),
active AS (
    SELECT s.as_of, x.account_id, a.segment, x.mrr, x.seats
    FROM snapshots s JOIN raw.subscriptions x ON x.start_at <= s.as_of AND (x.end_at IS NULL OR x.end_at > s.as_of)
    JOIN raw.accounts a USING (account_id)
),
outcomes AS (
    SELECT t.as_of, t.account_id, t.segment,
        coalesce(c.churned_at > t.as_of AND c.churned_at <= t.as_of + INTERVAL (?) DAY, false) AS churn,
        EXISTS (SELECT 1 FROM raw.subscriptions y WHERE y.account_id = t.account_id
                AND y.start_at > t.as_of AND y.start_at <= t.as_of + INTERVAL (?) DAY
                AND (y.mrr > t.mrr * (1 + ?) OR y.seats > t.seats * (1 + ?))) AS expand
    FROM active t LEFT JOIN churned c USING (account_id)
)
SELECT segment, count(*) AS snapshots, avg(churn::INT) AS churn_rate, avg(expand::INT) AS expansion_rate
FROM outcomes GROUP BY ROLLUP (segment) ORDER BY segment NULLS FIRST
"""


@dataclass(frozen=True)
class Rates:
    segment: str  # "all" for the whole base
    snapshots: int  # (account, monthly as_of) pairs whose horizon is inside the data
    churn_rate: float  # share of snapshots whose account churned within the horizon
    expansion_rate: float  # share of snapshots whose account expanded within the horizon


def rates(con: duckdb.DuckDBPyConnection, horizon_days: int = 90, margin: float = 0.1) -> list[Rates]:
    """Churn and expansion within ``horizon_days`` of each monthly snapshot, overall and by segment."""
    rows = con.execute(RATES_SQL, [horizon_days, horizon_days, horizon_days, margin, margin]).fetchall()
    return [Rates(seg or "all", int(n), float(c or 0), float(e or 0)) for seg, n, c, e in rows]


def table_rows(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows per raw table of the warehouse."""
    names = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw' ORDER BY table_name"
    ).fetchall()]  # fmt: skip
    return {n: int(con.execute(f'SELECT count(*) FROM raw."{n}"').fetchone()[0]) for n in names}  # type: ignore[index]
