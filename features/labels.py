"""Churn and upsell labels of snapshots (pure SQL text; the engine runs it over ``raw.subscriptions``), and the
one owner of the time rules: ``LabelConfig`` holds the horizon, the grace period and the margin, and says how far
past its as_of each target's label reads (``reads_days``). Labels, the time split, the generator's oracle and every
summary read them from here.

churn: the account's service stops within (as_of, as_of + horizon] and does not resume within the grace period
(subscription rows separated by a gap of at most ``grace`` days count as one continuous stretch of service).
upsell: a subscription row starting within (as_of, as_of + horizon] has MRR or seats above those at as_of by more
than ``margin``. A label is NULL (unlabeled) when the data end too early to know it: churn needs the horizon and
the grace period after it inside the data (one rule for every snapshot, so that churners are not over- or
under-represented among the labeled snapshots near the end); upsell needs the horizon inside the data.
"""

from dataclasses import dataclass

TARGETS = ("churn", "upsell")


@dataclass(frozen=True)
class LabelConfig:
    horizon_days: int = 90  # both targets: what happens within (as_of, as_of + horizon]
    grace_days: int = 30  # churn: a stop of service followed by a return within this many days is not churn
    margin: float = 0.10  # upsell: MRR or seats must exceed those at as_of by more than this share

    def __post_init__(self) -> None:
        if self.horizon_days < 1 or self.grace_days < 0 or self.margin < 0:
            raise ValueError(f"horizon_days must be >= 1, grace_days and margin >= 0; got {self}")

    def reads_days(self, target: str) -> int:
        """How many days past its as_of a ``target`` label reads the data: the horizon, plus the grace period for
        churn (a service that stops on the horizon's last day is churn only if it has not resumed ``grace_days``
        later). A label is known once the data run this far; a training row may be used against a validation
        period only when this window ends before the period starts."""
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
        return self.horizon_days + (self.grace_days if target == "churn" else 0)


LABELS = LabelConfig()  # the product's time rules; every default elsewhere reads this one

# When the data begin and end (labels mature against the end): the usage events' times when there are any (the
# densest record of activity), else every other dated record of the customers' activity. Subscriptions' end
# times are left out: a contract's end is often scheduled in the future.
OBSERVED = {"support_tickets": "created_at", "email_events": "ts", "invoices": "issued_at", "nps_responses": "ts",
            "churn_events": "churned_at", "subscriptions": "start_at"}  # fmt: skip


def bounds_sql(empty_tables: frozenset[str] = frozenset()) -> str:
    """A query for (first, last): the data's first and last observed times (``OBSERVED``), given the tables that
    have no rows (``features.catalog.Coverage``)."""
    if "usage_events" not in empty_tables:
        return "SELECT min(ts), max(ts) FROM raw.usage_events"
    parts = [f"SELECT min({c}) AS first, max({c}) AS last FROM raw.{t}" for t, c in OBSERVED.items()
             if t not in empty_tables]  # fmt: skip
    return "SELECT min(first), max(last) FROM (" + " UNION ALL ".join(parts) + ") t"


def labels_sql(cfg: LabelConfig) -> str:
    """Needs ``spine`` (account_id, as_of, mrr, seats) and a one-row table ``data_end(ts)``."""
    h, g, m = cfg.horizon_days, cfg.grace_days, cfg.margin
    churn_reads, upsell_reads = cfg.reads_days("churn"), cfg.reads_days("upsell")
    return f"""
WITH ordered AS (
    SELECT account_id, start_at, COALESCE(end_at, TIMESTAMPTZ '9999-12-31 00:00:00+00') AS end_at,
           MAX(COALESCE(end_at, TIMESTAMPTZ '9999-12-31 00:00:00+00')) OVER (
               PARTITION BY account_id ORDER BY start_at ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
           ) AS prev_end
    FROM raw.subscriptions
),
flagged AS (
    SELECT *, SUM(CASE WHEN prev_end IS NULL OR start_at > prev_end + INTERVAL {g} DAY THEN 1 ELSE 0 END)
              OVER (PARTITION BY account_id ORDER BY start_at ROWS UNBOUNDED PRECEDING) AS stretch
    FROM ordered
),
stretches AS (
    SELECT account_id, stretch, MIN(start_at) AS began, MAX(end_at) AS ended FROM flagged GROUP BY 1, 2
),
outcome AS (
    SELECT s.account_id, s.as_of, s.mrr, s.seats, MIN(t.ended) AS ended
    FROM spine s JOIN stretches t ON t.account_id = s.account_id AND t.began < s.as_of AND t.ended > s.as_of
    GROUP BY 1, 2, 3, 4
),
growth AS (
    SELECT s.account_id, s.as_of, MAX(x.mrr) AS max_mrr, MAX(x.seats) AS max_seats
    FROM spine s JOIN raw.subscriptions x ON x.account_id = s.account_id
         AND x.start_at > s.as_of AND x.start_at <= s.as_of + INTERVAL {h} DAY
    GROUP BY 1, 2
)
SELECT o.account_id, o.as_of,
    CASE WHEN o.as_of + INTERVAL {churn_reads} DAY > e.ts THEN NULL
         WHEN o.ended <= o.as_of + INTERVAL {h} DAY THEN 1 ELSE 0 END AS churn,
    CASE WHEN o.as_of + INTERVAL {upsell_reads} DAY > e.ts THEN NULL
         WHEN g.max_mrr > o.mrr * (1 + {m}) OR g.max_seats > o.seats * (1 + {m}) THEN 1 ELSE 0 END AS upsell,
    CASE WHEN o.ended < TIMESTAMPTZ '9999-12-31 00:00:00+00' THEN o.ended END AS service_ends_at
FROM outcome o CROSS JOIN data_end e
LEFT JOIN growth g ON g.account_id = o.account_id AND g.as_of = o.as_of
"""
