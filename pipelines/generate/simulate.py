"""Run the latent process for a chunk of accounts, and the oracle that estimates their futures."""

from dataclasses import dataclass, fields

import numpy as np

from pipelines.generate.calendar import Calendar
from pipelines.generate.latent import (
    NEVER,
    NO_DAY,
    PRE_MONTHS,
    MonthLog,
    State,
    Static,
    draw_static,
    initial_state,
    price_of,
    step,
)
from pipelines.generate.params import Params


@dataclass(frozen=True)
class Oracle:
    """How the oracle judges a snapshot; the labels of the feature pipelines use the same definitions."""

    paths: int = 100  # simulated futures per account and snapshot
    horizon_days: int = 90
    margin: float = 0.10  # expansion: MRR or seats exceed those at as_of by more than this share


@dataclass
class History:
    """A chunk's simulated history: static traits, and each MonthLog field stacked to (accounts, months).

    Column ``j`` is month ``j - PRE_MONTHS`` (month 0 is the first month of the data).
    """

    static: Static
    logs: dict[str, np.ndarray]
    final: State
    oracle: dict[str, np.ndarray]  # row, as_of_month, p_churn, p_expand


def simulate_chunk(n: int, cal: Calendar, p: Params, oracle: Oracle, seed: int, chunk: int) -> History:
    """Simulate ``n`` accounts from 36 months before the data to its end; deterministic for (seed, chunk)."""
    rng = np.random.default_rng([seed, chunk, 0])
    oracle_rng = np.random.default_rng([seed, chunk, 1])
    static = draw_static(rng, n, cal, p)
    state = initial_state(n)
    logs: list[MonthLog] = []
    rows: list[dict[str, np.ndarray]] = []
    for m in range(-PRE_MONTHS, cal.months + 1):
        if m >= 1 and oracle.paths > 0:
            rows.append(estimate(state, static, m, cal, p, oracle, oracle_rng))
        if m < cal.months:
            logs.append(step(state, static, m, cal, p, rng))
    stacked = {f.name: np.stack([getattr(lg, f.name) for lg in logs], axis=1) for f in fields(MonthLog)}
    keys = ("row", "as_of_month", "p_churn", "p_expand")
    table = {k: np.concatenate([r[k] for r in rows]) if rows else np.zeros(0) for k in keys}
    return History(static, stacked, state, table)


def estimate(
    s: State, a: Static, k: int, cal: Calendar, p: Params, o: Oracle, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """P(churn) and P(expansion) within the horizon after the start of month ``k``, for accounts active then.

    Each active account's state is copied ``o.paths`` times and its next months are simulated with ``step``.
    """
    as_of = int(cal.ms(k))
    last = as_of + o.horizon_days
    active = np.flatnonzero(s.born & (a.created < as_of) & (s.end > as_of))
    p_churn = np.zeros(len(active))
    p_expand = np.zeros(len(active))
    ended = ~s.alive[active]  # the service stops after as_of but the account has already left
    p_churn[ended] = (s.end[active][ended] <= last).astype(float)
    live = active[~ended]
    rep = np.repeat(live, o.paths)
    ss, aa = s.take(rep), a.take(rep)
    seats0, mrr0 = ss.seats.copy(), ss.seats * price_of(ss.plan, aa.seg, p)
    churned = np.zeros(len(rep), bool)
    expanded = np.zeros(len(rep), bool)
    m = k
    while int(cal.ms(m)) <= last:
        log = step(ss, aa, m, cal, p, rng)
        churned |= (log.end_day > NO_DAY) & (log.end_day <= last)
        changed = (log.change_day > NO_DAY) & (log.change_day <= last)
        bigger = (log.seats_after > (1 + o.margin) * seats0) | (
            log.seats_after * log.price_after > (1 + o.margin) * mrr0
        )
        expanded |= changed & bigger
        m += 1
    p_churn[~ended] = churned.reshape(-1, o.paths).mean(axis=1) if len(live) else 0.0
    p_expand[~ended] = expanded.reshape(-1, o.paths).mean(axis=1) if len(live) else 0.0
    assert last < NEVER
    return {"row": active, "as_of_month": np.full(len(active), k), "p_churn": p_churn, "p_expand": p_expand}
