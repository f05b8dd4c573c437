"""Churn and upsell labels of snapshots (pure SQL text; the engine runs it over ``raw.subscriptions`` and
``raw.churn_events``), and the one owner of the time rules: ``LabelConfig`` holds the horizon, the grace period and
the margin, and says how far past its as_of each target's label reads (``reads_days``); ``derived_labels`` fits
them to the data's span when a command is not given them. Labels, the time split, the generator's oracle and every
summary read them from here (the pipelines store the configuration used beside the labels).

The labels read the subscription rows that are service: a row whose status is ``trial`` never is (it puts no
account in the spine, adds nothing to a total, and its end is no churn). A snapshot's totals are those of the spine
(``features.rollups.spine_sql``): the MRR and seats summed over the rows serving as_of.

churn, when the table ``churn_events`` has no rows: the account's service stops within (as_of, as_of + horizon]
and does not resume within the grace period (subscription rows separated by a gap of at most ``grace`` days count as
one continuous stretch of service); ``service_ends_at`` is the end of the stretch running at as_of, if it ends.
churn, when ``churn_events`` has rows (it then defines churn, not the ends of the subscriptions, which such exports
often leave open): the account has a churn event c within (as_of, as_of + horizon] and no subscription starts
within (c, c + grace] (a restart within the grace period undoes the event); ``service_ends_at`` is the first such c
after as_of, if any. Which rule applies is decided by the data (``features.catalog.Coverage``), never guessed.
upsell: at some subscription start t within (as_of, as_of + horizon], the total MRR or seats of the rows serving t
(started at or before t and not ended by then; after a churn event, only the rows started after it) exceed the
snapshot's totals by more than ``margin``: an add-on counts by its own size added to the rest, a plan change by the
new row's size (the old one ends as it starts).
A label is NULL (unlabeled) when the data end too early to know it: churn needs the horizon and the grace period
after it inside the data (one rule for every snapshot, so that churners are not over- or under-represented among
the labeled snapshots near the end); upsell needs the horizon inside the data.
"""

import json
from dataclasses import asdict, dataclass
from datetime import datetime

from features.rollups import NOT_TRIAL, active_at

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

    def to_json(self) -> str:
        """The fields by name as JSON, as the pipelines store them beside the labels (``from_json`` reads it)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "LabelConfig":
        return cls(**json.loads(text))


LABELS = LabelConfig()  # the product's time rules for a year-like history; every default elsewhere reads this one
SHORT_HORIZON_DAYS = 30  # the horizon of a history too short for LABELS' (see ``derived_labels``)
# A history is year-like when it holds a month before the first snapshot, a year of snapshots whose labels are
# known, and LABELS' read window for churn (horizon plus grace) after the last of them: 30 + 365 + 120 days.
YEAR_LIKE_DAYS = 30 + 365 + LABELS.horizon_days + LABELS.grace_days


def derived_labels(
    first: datetime,
    last: datetime,
    horizon_days: int | None = None,
    grace_days: int | None = None,
    margin: float | None = None,
) -> LabelConfig:
    """The time rules for data observed from ``first`` to ``last``; each value given wins over the derived one.

    The horizon is LABELS' (90 days) when the data span at least ``YEAR_LIKE_DAYS`` (about 17 months), else
    ``SHORT_HORIZON_DAYS`` (30): with a 90-day horizon and 30 days of grace, a label is known only 4 months after
    its snapshot, so 12 months of data leave too few labeled dates to train on, while a 30-day horizon labels
    7 monthly snapshots of a 9-month history. The grace period (30 days) and the margin (10%) are LABELS' whatever
    the span: they say what churn and upsell are, not how long the data run."""
    year_like = (last - first).days >= YEAR_LIKE_DAYS
    return LabelConfig(
        horizon_days=(LABELS.horizon_days if year_like else SHORT_HORIZON_DAYS)
        if horizon_days is None
        else horizon_days,
        grace_days=LABELS.grace_days if grace_days is None else grace_days,
        margin=LABELS.margin if margin is None else margin,
    )


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


OPEN_END = "TIMESTAMPTZ '9999-12-31 00:00:00+00'"  # the end of a row that has none
SERVICE = f"SELECT * FROM raw.subscriptions x WHERE {NOT_TRIAL}"  # the subscription rows that are service


def churn_from_subscriptions(cfg: LabelConfig) -> str:
    """The CTEs up to ``outcome`` (the spine's account_id, as_of, mrr, seats, and ``ended``: when the service
    running at as_of stops for longer than the grace period, ``OPEN_END`` if never) from the ends of the stretches
    of service."""
    return f"""ordered AS (
    SELECT account_id, start_at, COALESCE(end_at, {OPEN_END}) AS end_at,
           MAX(COALESCE(end_at, {OPEN_END})) OVER (
               PARTITION BY account_id ORDER BY start_at ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
           ) AS prev_end
    FROM service
),
flagged AS (
    SELECT *, SUM(CASE WHEN prev_end IS NULL OR start_at > prev_end + INTERVAL {cfg.grace_days} DAY THEN 1 ELSE 0 END)
              OVER (PARTITION BY account_id ORDER BY start_at ROWS UNBOUNDED PRECEDING) AS stretch
    FROM ordered
),
stretches AS (
    SELECT account_id, stretch, MIN(start_at) AS start_at, MAX(end_at) AS end_at FROM flagged GROUP BY 1, 2
),
outcome AS (
    SELECT s.account_id, s.as_of, s.mrr, s.seats, MIN(t.end_at) AS ended
    FROM spine s JOIN stretches t ON t.account_id = s.account_id AND {active_at("t", "s.as_of")}
    GROUP BY 1, 2, 3, 4
)"""


def churn_from_events(cfg: LabelConfig) -> str:
    """The CTEs up to ``outcome`` (as ``churn_from_subscriptions``; ``ended`` NULL when no churn event is final)
    from the churn events that no subscription start within the grace period after them undoes."""
    return f"""final_events AS (
    SELECT c.account_id, c.churned_at
    FROM raw.churn_events c
    LEFT JOIN service x ON x.account_id = c.account_id AND x.start_at > c.churned_at
         AND x.start_at <= c.churned_at + INTERVAL {cfg.grace_days} DAY
    WHERE x.account_id IS NULL
),
outcome AS (
    SELECT s.account_id, s.as_of, s.mrr, s.seats, MIN(c.churned_at) AS ended
    FROM spine s LEFT JOIN final_events c ON c.account_id = s.account_id AND c.churned_at > s.as_of
    GROUP BY 1, 2, 3, 4
)"""


def totals_sql(events: bool) -> str:
    """The CTEs ``instants`` and ``totals`` (account_id, t, mrr, seats): at each subscription start t, the totals
    of the rows serving t; after a churn event (``events``: the data have them), only the rows started after it.
    Needs ``service``. The upsell label and the expansion label (``features.expansion``) both read them."""
    # After a churn event, a row started at or before it no longer serves (as in the spine).
    ended = (
        "LEFT JOIN raw.churn_events c ON c.account_id = x.account_id AND c.churned_at >= x.start_at "
        "AND c.churned_at <= i.t WHERE c.account_id IS NULL"
        if events else ""
    )  # fmt: skip
    return f"""instants AS (SELECT DISTINCT account_id, start_at AS t FROM service),
totals AS (
    SELECT i.account_id, i.t, SUM(x.mrr) AS mrr, SUM(x.seats) AS seats
    FROM instants i
    JOIN service x ON x.account_id = i.account_id AND {active_at("x", "i.t")}
    {ended}
    GROUP BY 1, 2
)"""


def labels_sql(cfg: LabelConfig, empty_tables: frozenset[str] = frozenset()) -> str:
    """Needs ``spine`` (account_id, as_of, mrr, seats) and a one-row table ``data_end(ts)``; ``empty_tables`` are
    the tables with no rows (``features.catalog.Coverage``), which choose the churn rule (see the module)."""
    h, m = cfg.horizon_days, cfg.margin
    churn_reads, upsell_reads = cfg.reads_days("churn"), cfg.reads_days("upsell")
    events = "churn_events" not in empty_tables
    outcome = churn_from_events(cfg) if events else churn_from_subscriptions(cfg)
    return f"""
WITH service AS ({SERVICE}),
{outcome},
{totals_sql(events)},
growth AS (
    SELECT s.account_id, s.as_of, MAX(g.mrr) AS max_mrr, MAX(g.seats) AS max_seats
    FROM spine s JOIN totals g ON g.account_id = s.account_id AND g.t > s.as_of AND g.t <= s.as_of + INTERVAL {h} DAY
    GROUP BY 1, 2
)
SELECT o.account_id, o.as_of,
    CASE WHEN o.as_of + INTERVAL {churn_reads} DAY > e.ts THEN NULL
         WHEN o.ended <= o.as_of + INTERVAL {h} DAY THEN 1 ELSE 0 END AS churn,
    CASE WHEN o.as_of + INTERVAL {upsell_reads} DAY > e.ts THEN NULL
         WHEN g.max_mrr > o.mrr * (1 + {m}) OR g.max_seats > o.seats * (1 + {m}) THEN 1 ELSE 0 END AS upsell,
    CASE WHEN o.ended < {OPEN_END} THEN o.ended END AS service_ends_at
FROM outcome o CROSS JOIN data_end e
LEFT JOIN growth g ON g.account_id = o.account_id AND g.as_of = o.as_of
"""


def service_ends_sql(cfg: LabelConfig, empty_tables: frozenset[str] = frozenset()) -> str:
    """account_id, as_of and ``service_ends_at`` (as ``labels_sql`` gives it) for the rows of ``spine`` (account_id,
    as_of, mrr, seats; mrr and seats may be NULL): the one column of the labels that can change after both labels
    are known, since it reads the data past the horizon (a stretch of service that ends later)."""
    events = "churn_events" not in empty_tables
    outcome = churn_from_events(cfg) if events else churn_from_subscriptions(cfg)
    return f"""
WITH service AS ({SERVICE}),
{outcome}
SELECT account_id, as_of, CASE WHEN ended < {OPEN_END} THEN ended END AS service_ends_at FROM outcome
"""
