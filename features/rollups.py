"""Rollups: events summed once per account and day (and per user, per event type), so that every window of every
snapshot is computed from at most one row per account-day instead of re-reading the raw events.

Cost then grows with accounts x days, not with events x snapshots. Each rollup covers the days [first, last) that
the requested snapshots' windows reach; it is a definition (SQL), run by the engine in ``pipelines.features``.
"""

from features.config import FeatureConfig

LONGEST_WINDOW_DAYS = 90  # of the windows computed from rollups


def _quoted(names: tuple[str, ...]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def rollups(cfg: FeatureConfig) -> dict[str, str]:
    """SELECT statements by rollup name; ``$first`` and ``$last`` are the DATE bounds of the days they cover."""
    not_feature = _quoted((cfg.login_event, *cfg.milestones))
    days = "CAST(ts AS DATE) >= DATE '$first' AND CAST(ts AS DATE) < DATE '$last'"
    return {
        "usage_daily": f"""
            SELECT account_id, CAST(ts AS DATE) AS day, COUNT(*) AS events,
                   SUM(CASE WHEN event_type = '{cfg.login_event}' THEN 1 ELSE 0 END) AS logins
            FROM raw.usage_events WHERE {days} GROUP BY 1, 2""",
        "usage_user_daily": f"""
            SELECT DISTINCT account_id, user_id, CAST(ts AS DATE) AS day
            FROM raw.usage_events WHERE {days}""",
        "usage_type_daily": f"""
            SELECT DISTINCT account_id, event_type, CAST(ts AS DATE) AS day
            FROM raw.usage_events WHERE {days} AND event_type NOT IN ({not_feature})""",
        "email_daily": f"""
            SELECT account_id, CAST(ts AS DATE) AS day,
                   SUM(CASE WHEN event = 'sent' THEN 1 ELSE 0 END) AS sent,
                   SUM(CASE WHEN event = 'open' THEN 1 ELSE 0 END) AS opens,
                   SUM(CASE WHEN event = 'click' THEN 1 ELSE 0 END) AS clicks,
                   SUM(CASE WHEN event = 'bounce' THEN 1 ELSE 0 END) AS bounces,
                   SUM(CASE WHEN event = 'unsubscribe' THEN 1 ELSE 0 END) AS unsubscribes
            FROM raw.email_events WHERE {days} GROUP BY 1, 2""",
        "milestone_first": f"""
            SELECT account_id, event_type, MIN(ts) AS first_ts
            FROM raw.usage_events WHERE event_type IN ({_quoted(cfg.milestones)}) AND CAST(ts AS DATE) < DATE '$last'
            GROUP BY 1, 2""",
    }


# The spine: every account active at each as_of, with the subscription row that covers as_of. A row covers as_of
# when it started before as_of and had not ended by then; an account created at or after as_of has no snapshot.
# cancelled_at is kept only when the cancellation was made before as_of.
SPINE = """
SELECT account_id, as_of, CAST(as_of AS DATE) AS as_of_day, created_at, segment, industry, region, touch_model,
       mrr, seats, plan, row_start, cancelled_at
FROM (
    SELECT a.account_id, d.as_of, a.created_at, a.segment, a.industry, a.region, a.touch_model,
           x.mrr, x.seats, x.plan, x.start_at AS row_start,
           CASE WHEN x.cancelled_at < d.as_of THEN x.cancelled_at END AS cancelled_at,
           ROW_NUMBER() OVER (PARTITION BY a.account_id, d.as_of ORDER BY x.start_at DESC) AS k
    FROM snapshot_dates d
    JOIN raw.subscriptions x ON x.start_at < d.as_of AND (x.end_at IS NULL OR x.end_at > d.as_of)
    JOIN raw.accounts a ON a.account_id = x.account_id AND a.created_at < d.as_of
) t
WHERE k = 1
"""
