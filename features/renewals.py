"""Renewals: each account's next renewal date at as_of and the ARR up for renewal, from its subscriptions (and
the cadence of its invoices, when there are invoices). Pure SQL text, run by the engine like ``features.labels``.

No column of the contract holds a contract's term, so the renewal is inferred, from what was known at as_of only:

- notice given (a row serving as_of has ``cancelled_at`` before as_of): the service ends at that row's ``end_at``,
  the date the ARR is lost unless the account is saved; an ``end_at`` without a notice before as_of is a later fact
  (an export shows a row's end once it happened) and is never read;
- otherwise the account renews on the anniversaries of its first service start, every 12 months, or every month
  when its invoices issued before as_of came about monthly (the median gap between them under
  ``MONTHLY_GAP_DAYS``); renewals are co-termed (a plan change or seats added mid-term keep the date). An
  anniversary that falls exactly at as_of has happened: the next one is a term later.

ARR up for renewal: 12 x the MRR of the rows serving as_of (``features.rollups.served_rows``), what the account pays
now. ``tests/features/test_renewals.py`` checks the rules against a row-by-row Python reference.
"""

from features.rollups import NOT_TRIAL, served_rows

MONTHLY_GAP_DAYS = 45  # invoices closer than this (median) mean monthly terms
TERM_MONTHS = 12  # the term without invoices, or with invoices further apart


def renewals_sql(empty_tables: frozenset[str] = frozenset()) -> str:
    """Needs ``snapshot_dates`` (as_of) and the raw tables; ``empty_tables``: the tables with no rows
    (``features.catalog.Coverage``). Returns account_id, as_of, next_renewal_at, renewal_arr, term_months,
    notice_given (one row per account served at each as_of)."""
    rows = served_rows("x.account_id, d.as_of, x.mrr, x.end_at, x.cancelled_at", empty_tables)
    if "invoices" in empty_tables:
        cadence = "SELECT NULL::VARCHAR AS account_id, NULL::TIMESTAMPTZ AS as_of, NULL::DOUBLE AS gap WHERE false"
    else:
        cadence = """
            SELECT g.account_id, d.as_of, median(g.gap) AS gap
            FROM (SELECT account_id, issued_at,
                         date_diff('day', LAG(issued_at) OVER (PARTITION BY account_id ORDER BY issued_at),
                                   issued_at) AS gap
                  FROM raw.invoices) g
            JOIN snapshot_dates d ON g.issued_at < d.as_of
            WHERE g.gap IS NOT NULL GROUP BY 1, 2"""
    return f"""
WITH served AS ({rows}),
now AS (
    SELECT account_id, as_of, 12 * SUM(mrr) AS renewal_arr,
           MIN(CASE WHEN cancelled_at < as_of AND end_at > as_of THEN end_at END) AS ends_at
    FROM served GROUP BY 1, 2
),
first AS (SELECT x.account_id, MIN(x.start_at) AS first_start FROM raw.subscriptions x WHERE {NOT_TRIAL} GROUP BY 1),
cadence AS ({cadence}),
termed AS (
    SELECT n.*, f.first_start,
           CASE WHEN c.gap < {MONTHLY_GAP_DAYS} THEN 1 ELSE {TERM_MONTHS} END AS term_months
    FROM now n JOIN first f USING (account_id) LEFT JOIN cadence c USING (account_id, as_of)
),
anniversary AS (
    SELECT *, CAST(date_diff('month', first_start, as_of) // term_months * term_months AS INTEGER) AS k
    FROM termed
)
SELECT account_id, as_of,
       COALESCE(ends_at, CASE WHEN first_start + to_months(k) > as_of THEN first_start + to_months(k)
                              ELSE first_start + to_months(k + term_months) END) AS next_renewal_at,
       renewal_arr, term_months, ends_at IS NOT NULL AS notice_given
FROM anniversary
"""
