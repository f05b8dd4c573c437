"""Product usage: logins and feature events per account and day, driven by health, seats and the calendar (in the
type-mix world: events of eight types drawn from each account's mix of the month)."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.generate.billing import subscription_rows
from pipelines.generate.chunk import Chunk, pick, work_hours
from pipelines.generate.latent import NO_DAY, sigmoid
from pipelines.generate.params import FEATURES, MILESTONES
from pipelines.generate.type_mix import EVENT_TYPES


def service_days(c: Chunk) -> np.ndarray:
    """Boolean (accounts, days): the account had a running subscription that day (no usage in lapses or after)."""
    s = subscription_rows(c)
    n_days = c.cal.n_days
    start = np.clip(s["start"], 0, n_days)
    end = np.where(s["end"] == NO_DAY, n_days, np.clip(s["end"], 0, n_days))
    diff = np.zeros((c.n, n_days + 1), np.int16)
    np.add.at(diff, (s["row"], start), 1)
    np.add.at(diff, (s["row"], end), -1)
    return np.cumsum(diff, axis=1)[:, :n_days] > 0


def daily_health(c: Chunk) -> tuple[np.ndarray, np.ndarray]:
    """Health and seats per (account, day) of the data: health moves linearly from one month's start to its end."""
    cal = c.cal
    month, frac = cal.day_month, cal.day_frac
    h0, h1 = c.window("h_start"), c.window("h_end")
    h0 = np.where(c.window("active_start"), h0, h1)  # the sign-up month starts at the end's value
    health = h0[:, month] + frac * (h1[:, month] - h0[:, month])
    change = c.window("change_day")[:, month]
    before = np.where(c.window("seats_start") > 0, c.window("seats_start"), c.window("seats_after"))[:, month]
    changed = (change > NO_DAY) & (np.arange(cal.n_days) >= change)
    seats = np.where(changed, c.window("seats_after")[:, month], before)
    return health, seats


def seats_in_use(
    health: np.ndarray, seats: np.ndarray, growth: np.ndarray, seat_cap: np.ndarray, demand_slope: float
) -> np.ndarray:
    """Share of seats in active use: higher for healthy accounts, and for accounts with unmet demand for seats
    (growth potential times the headroom left below their seat cap). That demand is what later turns into
    expansion (``latent.step``), and in real accounts it shows the same way, as seats filling up; without it the
    generator's expansion driver would leave no trace in the data and no model could find it."""
    headroom = np.clip(1.0 - seats / seat_cap, 0.0, 1.0)
    return sigmoid(1.2 * health + 0.3 + demand_slope * (growth * headroom - 0.25))


def usage_events(c: Chunk, health: np.ndarray, seats: np.ndarray, serving: np.ndarray) -> pa.Table:
    """Events per account-day ~ Poisson(seats^0.85 x share of seats in use x intensity x weekday x noise); their
    types: logins, features (more of them as the account is healthy and reaches milestones) and milestones, or, in
    the type-mix world, drawn from the account's mix of event types of the month (and no milestone events)."""
    rng = c.rng("usage_events")
    a = c.hist.static
    in_use = seats_in_use(health, seats, a.growth[:, None], a.seat_cap[:, None], c.p.demand_slope)
    noise = rng.gamma(4.0, 0.25, health.shape)
    rate = (
        c.p.events_per_seat_day * seats**0.85 * in_use * np.exp(0.3 * health) * a.activity[:, None]
        * c.cal.day_factor * noise * serving
    )  # fmt: skip
    counts = rng.poisson(rate).ravel()
    cell = np.repeat(np.arange(counts.size), counts)
    row, day = np.divmod(cell, c.cal.n_days)
    m = len(row)
    pool = np.maximum(1, np.round(seats[row, day] * in_use[row, day]))
    user = (pool * rng.random(m) ** 2).astype(np.int64)  # a few power users do most of the work
    if c.p.type_mix is not None:
        friction = c.window("friction")[row, c.cal.day_month[day]]
        kind = c.p.type_mix.draw_types(rng.random(m), a.mix, friction, row)
        ts = day + work_hours(rng, a.region[row], c.p.region_utc_offset)
        return _table(c, row, ts, user, kind, EVENT_TYPES)
    n_milestones = _reached_by(c, row, day)
    breadth = np.clip(np.round(2 + 10 * sigmoid(1.2 * health[row, day] + 0.3 * n_milestones - 0.5)), 2, len(FEATURES))
    feature = np.minimum((breadth * rng.random(m) ** 1.3).astype(np.int64), breadth.astype(np.int64) - 1)
    kind = np.where(rng.random(m) < 0.35, 0, feature + 1)
    ts = day + work_hours(rng, a.region[row], c.p.region_utc_offset)
    ms_row, ms_day, ms_kind = _milestone_events(c)
    row = np.r_[row, ms_row]
    ts = np.r_[ts, ms_day + work_hours(rng, a.region[ms_row], c.p.region_utc_offset)]
    user = np.r_[user, np.zeros(len(ms_row), np.int64)]
    kind = np.r_[kind, ms_kind]
    return _table(c, row, ts, user, kind, ("login", *FEATURES, *MILESTONES))


def _table(
    c: Chunk, row: np.ndarray, ts: np.ndarray, user: np.ndarray, kind: np.ndarray, names: tuple[str, ...]
) -> pa.Table:
    """The usage events in the order of account and time; ``kind`` indexes ``names``."""
    order = np.lexsort((ts, row))
    row, ts, user, kind = row[order], ts[order], user[order], kind[order]
    return pa.table({
        "account_id": c.ids(row),
        "user_id": pc.binary_join_element_wise(c.ids(row), pc.cast(pa.array(user), pa.string()), "-u"),
        "ts": c.times(ts),
        "event_type": pick(names, kind),
    })  # fmt: skip


def _milestone_events(c: Chunk) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    days = c.hist.logs["milestone_day"]  # (accounts, months, milestones)
    inside = (days >= 0) & (days < c.cal.n_days)
    row, _, which = np.nonzero(inside)
    return row, days[inside], 1 + len(FEATURES) + which


def _reached_by(c: Chunk, row: np.ndarray, day: np.ndarray) -> np.ndarray:
    """How many milestones each event's account had reached by the event's day."""
    first = c.hist.logs["milestone_day"].max(axis=1)  # (accounts, milestones); each is reached at most once
    reached = (first > NO_DAY)[row] & (first[row] <= day[:, None])
    return reached.sum(axis=1)
