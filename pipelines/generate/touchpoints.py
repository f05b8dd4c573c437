"""Support tickets, email campaigns and NPS surveys: the signals a CS team sees besides product usage."""

import numpy as np
import pyarrow as pa

from pipelines.generate.chunk import Chunk, nullable_times, pick, work_hours
from pipelines.generate.latent import sigmoid
from pipelines.generate.params import TICKET_CATEGORIES

PRIORITIES = ("low", "normal", "high", "urgent")
MEDIAN_HOURS = np.array([40.0, 24.0, 8.0, 4.0])  # time to resolve by priority
ESCALATED = 0.1  # share of high and urgent tickets opened at a lower priority and raised while open


def support_tickets(c: Chunk, health: np.ndarray, seats: np.ndarray, serving: np.ndarray) -> pa.Table:
    """Tickets arrive more often from big and unhappy accounts; a bad support experience is an urgent ticket
    that takes long to resolve and gets a poor rating. A few high and urgent tickets were raised to that priority
    while open (``escalated_at``); one raised after the end of the data is still normal."""
    rng = c.rng("support_tickets")
    lam = c.p.tickets_per_month * seats**0.45 * (1 + 0.8 * (health < 0)) / 30.4 * serving
    counts = rng.poisson(lam).ravel()
    row, day = np.divmod(np.repeat(np.arange(counts.size), counts), c.cal.n_days)
    bad = c.window("bad_support")
    br, bm = np.nonzero((bad >= 0) & (bad < c.cal.n_days))
    bday = bad[br, bm]
    ok = serving[br, bday]
    br, bday = br[ok], bday[ok]
    row, day = np.r_[row, br], np.r_[day, bday]
    shock = np.r_[np.zeros(len(day) - len(br), bool), np.ones(len(br), bool)]
    n = len(row)
    h = health[row, day]
    u = rng.random(n)
    cut = np.array([0.3, 0.75, 0.93]) - np.clip(-0.06 * h, -0.05, 0.1)[:, None]
    priority = np.where(shock, 3, (u[:, None] > cut).sum(axis=1))
    hours = MEDIAN_HOURS[priority] * rng.lognormal(0, 0.9, n) * np.where(shock, 6.0, 1.0)
    created = day + work_hours(rng, c.hist.static.region[row], c.p.region_utc_offset)
    resolved = created + hours / 24
    done = resolved < c.cal.n_days
    rated = done & (rng.random(n) < 0.45)
    score = np.round(4.1 + 0.45 * h - 0.35 * np.log(hours / 24) + rng.normal(0, 0.8, n))
    csat = np.clip(np.where(shock, rng.integers(1, 3, n), score), 1, 5).astype(np.int64)
    category = np.where(
        shock,
        rng.choice([1, 5], n),
        rng.choice(len(TICKET_CATEGORIES), n, p=[0.3, 0.25, 0.12, 0.15, 0.1, 0.08]),
    )
    raised = (priority >= 2) & (rng.random(n) < ESCALATED)
    escalated = created + rng.random(n) * (resolved - created)
    priority = np.where(raised & (escalated >= c.cal.n_days), 1, priority)
    raised &= escalated < c.cal.n_days
    order = np.lexsort((created, row))
    row, created, resolved, done, rated, priority, csat, category = (
        x[order] for x in (row, created, resolved, done, rated, priority, csat, category)
    )
    raised, escalated = raised[order], escalated[order]
    return pa.table({
        "ticket_id": c.child_ids(row, "t"),
        "account_id": c.ids(row),
        "created_at": c.times(created),
        "resolved_at": nullable_times(c, resolved, done),
        "priority": pick(PRIORITIES, priority),
        "csat": pa.array(csat, mask=~rated),
        "category": pick(TICKET_CATEGORIES, category),
        "escalated_at": nullable_times(c, escalated, raised),
    })  # fmt: skip


def email_events(c: Chunk, health: np.ndarray, seats: np.ndarray, serving: np.ndarray) -> pa.Table:
    """Four campaigns a month to a few contacts per account; healthy accounts open and click more."""
    rng = c.rng("email_events")
    sends = (c.cal.ms(np.arange(c.cal.months))[:, None] + np.array([1, 8, 15, 22])).ravel()
    campaign = np.repeat(np.arange(c.cal.months), 4) * 4 + np.tile(np.arange(4), c.cal.months)
    recipients = np.minimum(6, 1 + np.sqrt(seats[:, sends]) // 2).astype(np.int64) * serving[:, sends]
    cell = np.repeat(np.arange(recipients.size), recipients.ravel())
    row, k = np.divmod(cell, len(sends))
    n = len(row)
    h = health[row, sends[k]]
    sent = sends[k] + 15 / 24
    bounce = rng.random(n) < 0.02
    opened = ~bounce & (rng.random(n) < 0.12 + 0.4 * sigmoid(1.3 * h - 0.2))
    clicked = opened & (rng.random(n) < 0.15 + 0.2 * sigmoid(h))
    unsub = ~bounce & (rng.random(n) < 0.002 + 0.008 * (h < -0.5))
    t_open = sent + rng.exponential(0.3, n)
    t_click = t_open + rng.exponential(0.01, n)
    t_unsub = t_open + rng.exponential(0.02, n)
    parts = [(np.ones(n, bool), sent, 0), (bounce, sent + 0.001, 3), (opened, t_open, 1), (clicked, t_click, 2),
             (unsub, t_unsub, 4)]  # fmt: skip
    rows = np.concatenate([row[m] for m, _, _ in parts])
    ts = np.concatenate([t[m] for m, t, _ in parts])
    kind = np.concatenate([np.full(int(m.sum()), e) for m, _, e in parts])
    camp = np.concatenate([campaign[k][m] for m, _, _ in parts])
    keep = ts < c.cal.n_days
    order = np.lexsort((ts[keep], rows[keep]))
    rows, ts, kind, camp = (x[keep][order] for x in (rows, ts, kind, camp))
    names = tuple(f"cmp-{c.cal.month_date(i // 4):%Y%m}-{i % 4 + 1}" for i in range(4 * c.cal.months))
    return pa.table({
        "account_id": c.ids(rows),
        "ts": c.times(ts),
        "event": pick(("sent", "open", "click", "bounce", "unsubscribe"), kind),
        "campaign_id": pick(names, camp),
    })  # fmt: skip


def nps_responses(c: Chunk, health: np.ndarray, serving: np.ndarray) -> pa.Table:
    """A survey every six months per account (staggered); about a third answer."""
    rng = c.rng("nps_responses")
    offset = rng.integers(0, 6, c.n)
    months = np.arange(c.cal.months)
    due = (months[None, :] + offset[:, None]) % 6 == 0
    row, m = np.nonzero(due)
    day = (c.cal.ms(m) + rng.integers(0, 10, len(m))).astype(np.int64)
    answer = (day < c.cal.n_days) & serving[row, np.minimum(day, c.cal.n_days - 1)]
    answer &= rng.random(len(row)) < c.p.nps_response_rate
    row, day = row[answer], day[answer]
    h = health[row, day]
    score = np.clip(np.round(7.2 + 1.8 * h + rng.normal(0, 1.6, len(row))), 0, 10).astype(np.int64)
    ts = day + work_hours(rng, c.hist.static.region[row], c.p.region_utc_offset)
    return pa.table({"account_id": c.ids(row), "ts": c.times(ts), "score": score})
