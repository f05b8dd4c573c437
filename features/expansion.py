"""The expansion label of snapshots (pure SQL text, run by the engine over ``raw.subscriptions`` and
``raw.churn_events`` like ``features.labels``): ``expansion_arr``, the expansion revenue a snapshot's account
realised within the horizon. It reads the future: a label, never a feature.

expansion_arr: the largest amount by which the account's total MRR at a subscription start t within
(as_of, as_of + horizon] exceeds its total at as_of (the spine's), times 12; 0 when it never does (no start within
the horizon, only decreases, or a churn). The totals are the upsell label's (``features.labels.totals_sql``): the
rows that are service (never a trial) serving t, after a churn event only the rows started after it; so an add-on
counts by its own size added to the rest, a plan change by the new row's size less the old one's. Unlike the upsell
label it has no margin: every increase is revenue. It reads what the upsell label reads (``LabelConfig.reads_days``
of "upsell": the horizon), and is NULL (unlabeled) when the data end before as_of + horizon.
"""

from features.labels import SERVICE, LabelConfig, totals_sql

# MRR sums are floating point: an increase smaller than this is rounding, not revenue.
DECIMALS = 6


def expansion_sql(cfg: LabelConfig, empty_tables: frozenset[str] = frozenset()) -> str:
    """Needs ``spine`` (account_id, as_of, mrr) and a one-row table ``data_end(ts)``, as ``features.labels.
    labels_sql``; ``empty_tables``: the tables with no rows (``features.catalog.Coverage``), which say whether churn
    events end rows. Returns account_id, as_of, expansion_arr (see the module)."""
    h, reads = cfg.horizon_days, cfg.reads_days("upsell")
    events = "churn_events" not in empty_tables
    return f"""
WITH service AS ({SERVICE}),
{totals_sql(events)},
peak AS (
    SELECT s.account_id, s.as_of, MAX(g.mrr) AS mrr
    FROM spine s JOIN totals g ON g.account_id = s.account_id AND g.t > s.as_of AND g.t <= s.as_of + INTERVAL {h} DAY
    GROUP BY 1, 2
)
SELECT s.account_id, s.as_of,
    CASE WHEN s.as_of + INTERVAL {reads} DAY > e.ts THEN NULL
         ELSE ROUND(12 * GREATEST(COALESCE(p.mrr, 0) - s.mrr, 0), {DECIMALS}) END AS expansion_arr
FROM spine s CROSS JOIN data_end e
LEFT JOIN peak p ON p.account_id = s.account_id AND p.as_of = s.as_of
"""
