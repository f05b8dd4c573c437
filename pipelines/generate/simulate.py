"""Run the latent process for a chunk of accounts, and the oracle that estimates their futures."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from features.labels import LABELS
from pipelines.generate.calendar import Calendar
from pipelines.generate.latent import (
    NEVER,
    PRE_MONTHS,
    MonthLog,
    State,
    Static,
    draw_static,
    initial_state,
    price_of,
    step,
    step_conditioned,
)
from pipelines.generate.params import Params

# The oracle's churn curve: P(churn within d days of as_of) for each d, written as ``p_churn_<d>`` (``CURVE_COLUMNS``).
CURVE_DAYS = (30, 60, 90, 180, 365)
CURVE_COLUMNS = tuple(f"p_churn_{d}" for d in CURVE_DAYS)
TERM_AHEAD = 12  # ``step`` in month m reads the start of month m + 12 (an annual term's next renewal)
ORACLE_KEYS = ("row", "as_of_month", "p_churn", "p_expand", *CURVE_COLUMNS)  # an estimator's output, per row


@dataclass(frozen=True)
class Oracle:
    """How the oracle judges a snapshot: the time rules are the labels' own (``features.labels.LABELS``).

    ``estimate`` runs all ``paths`` futures to the end of the label horizon and the first ``tail_paths`` of them
    (whole antithetic pairs first) on to the end of the churn curve (``CURVE_DAYS``): the curve's months past the
    horizon cost a share ``tail_paths / paths`` of the others, for more noise in the longer horizons only.
    """

    paths: int = 100  # simulated futures per account and snapshot
    tail_paths: int = 10  # of these, the futures simulated past the label horizon (the churn curve's tail)
    seed: int = 0  # varies the oracle's simulated futures only, never the world they start from
    horizon_days: int = LABELS.horizon_days
    grace_days: int = LABELS.grace_days  # churn: a service that resumes within this many days did not churn
    margin: float = LABELS.margin  # expansion: MRR or seats exceed those at as_of by more than this share

    def __post_init__(self) -> None:
        if self.paths < 0 or self.horizon_days < 1 or self.grace_days < 0 or self.margin < 0:
            raise ValueError(f"paths and grace_days must be >= 0, horizon_days >= 1 and margin >= 0; got {self}")
        if self.tail_paths < 1:
            raise ValueError(f"tail_paths must be >= 1 (at most paths are used), got {self.tail_paths}")

    @property
    def days(self) -> tuple[int, ...]:
        """The horizons the oracle's churn is estimated at: the curve's and the label horizon."""
        return tuple(sorted({*CURVE_DAYS, self.horizon_days}))


@dataclass
class Snapshot:
    """The labels' events for accounts (or simulated paths) at one snapshot date, as ``features.labels`` defines
    them over the subscription rows the generator writes (``billing.subscription_rows``).

    churn: the service stops within (as_of, last] and does not resume within the grace period. A cancellation or a
    failed payment never resumes; a late payment stops the service from the renewal day until it arrives.
    expansion: a subscription row starting within (as_of, last] has seats or MRR (in cents, as written) above those
    at as_of by more than the margin. The row of a change made at a renewal paid late starts when the payment does.
    """

    as_of: int
    last: int  # as_of + horizon
    grace: int
    margin: float
    seats: np.ndarray  # at as_of
    mrr: np.ndarray  # at as_of, rounded to cents

    @classmethod
    def of(cls, as_of: int, o: Oracle, seats: np.ndarray, price: np.ndarray) -> "Snapshot":
        return cls(as_of, as_of + o.horizon_days, o.grace_days, o.margin, seats, np.round(seats * price, 2))

    def over(self, days: tuple[int, ...]) -> list["Snapshot"]:
        """The same snapshot with a window of each of ``days`` (ascending) in place of the horizon's."""
        return [replace(self, last=self.as_of + d) for d in days]

    def within(self, day: np.ndarray) -> np.ndarray:
        return (day > self.as_of) & (day <= self.last)

    def expands(self, seats: np.ndarray, price: np.ndarray, start: np.ndarray) -> np.ndarray:
        """Whether a row with these seats and price per seat, starting on ``start``, is an expansion."""
        bigger = (seats > (1 + self.margin) * self.seats) | (np.round(seats * price, 2) > (1 + self.margin) * self.mrr)
        return self.within(start) & bigger

    def lapsed(self, log: MonthLog) -> np.ndarray:
        """A late payment in the month stopped the service within the window for longer than the grace period."""
        return (log.lapse_gap > self.grace) & self.within(log.renew_day)

    def churned(self, log: MonthLog) -> np.ndarray:
        """The month's log shows churn: the service ended for good within the window, or lapsed past the grace."""
        return self.within(log.end_day) | self.lapsed(log)

    def expanded(self, log: MonthLog) -> np.ndarray:
        """The month's log shows an expansion (at most one change of seats or plan per month)."""
        return self.expands(log.seats_after, log.price_after, log.change_day + log.lapse_gap)


Estimator = Callable[[State, Static, int, Calendar, Params, Oracle, np.random.Generator], dict[str, np.ndarray]]


@dataclass
class History:
    """A chunk's simulated history: static traits, and each MonthLog field stacked to (accounts, months).

    Column ``j`` is month ``j - PRE_MONTHS`` (month 0 is the first month of the data).
    """

    static: Static
    logs: dict[str, np.ndarray]
    final: State
    oracle: dict[str, np.ndarray]  # ORACLE_KEYS: row, as_of_month, p_churn, p_expand and the churn curve


def simulate_chunk(
    n: int, cal: Calendar, p: Params, oracle: Oracle, seed: int, chunk: int, estimator: Estimator | None = None
) -> History:
    """Simulate ``n`` accounts from 36 months before the data to its end; deterministic for (seed, chunk) and, for
    the oracle's estimates (by ``estimator``, ``estimate`` by default), ``oracle.seed``. The oracle draws from a
    stream of its own, so that the world does not depend on the oracle's settings."""
    estimator = estimator or estimate
    rng = np.random.default_rng([seed, chunk, 0])
    oracle_rng = np.random.default_rng([seed, chunk, 1, oracle.seed])
    static = draw_static(rng, n, cal, p)
    state = initial_state(n)
    logs: list[MonthLog] = []
    rows: list[dict[str, np.ndarray]] = []
    for m in range(-PRE_MONTHS, cal.months + 1):
        if m >= 1 and oracle.paths > 0:
            rows.append(estimator(state, static, m, cal, p, oracle, oracle_rng))
        if m < cal.months:
            logs.append(step(state, static, m, cal, p, rng))
    stacked = {f.name: np.stack([getattr(lg, f.name) for lg in logs], axis=1) for f in fields(MonthLog)}
    table = {k: np.concatenate([r[k] for r in rows]) if rows else np.zeros(0) for k in ORACLE_KEYS}
    return History(static, stacked, state, table)


def estimate(
    s: State, a: Static, k: int, cal: Calendar, p: Params, o: Oracle, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """P(churn) within each of the oracle's days (``Oracle.days``) and P(expansion) within the horizon after the
    start of month ``k``, for accounts active then.

    Each active account's state is copied ``o.paths`` times and its next months are simulated with
    ``step_conditioned``: each future goes on as if its service did not end and it did not expand, and adds up
    the probability that it would have, month by month: P(churn) = sum_m S_{m-1} c_m, where S_m is the chance that
    the service has not ended by the end of month m and c_m the chance that month m ends it within the window;
    P(expansion) = sum_m S_m N_{m-1} e_m, with N_m the chance of no expansion by the end of month m and e_m that
    of one in month m. A late payment that stops the service past the grace period (never, under the default
    rules) is counted as drawn. Futures come in antithetic pairs (``Antithetic``). The mean over futures is
    unbiased for the same events as ``estimate_by_counting``, with a far smaller variance (up to the horizon; past
    it, see below).

    One loop over the months to the longest day fills every window (they are nested, so the curve never falls).
    Past the label horizon only the first ``o.tail_paths`` futures of each account go on: a longer window's
    P(churn) is P(churn by the horizon) + S_h P(churn after it, within the window | service on at the horizon),
    the first two from all futures, the last as the ratio of what those going on add after the horizon to their
    S_h (a ratio estimator: never above 1, unlike their plain mean, with a bias of order 1 / tail_paths that the
    tests measure against counting).
    """
    active, live, certain = _start(s, a, k, cal, o)
    f = Futures.of(active[live], o.paths)
    ss, aa = s.take(f.rows), a.take(f.rows)
    snap = Snapshot.of(int(cal.ms(k)), o, ss.seats.copy(), price_of(ss.plan, aa.seg, p))
    windows = snap.over(o.days)
    paired = Antithetic(rng.bit_generator, len(f.rows), f.pairs)
    going = np.ones(len(f.rows))  # S: the service has not ended
    flat = np.ones(len(f.rows))  # N: no expansion yet
    churn, expand = np.zeros((len(windows), len(f.rows))), np.zeros(len(f.rows))
    stopped = np.zeros((len(windows), len(f.rows)), bool)  # churn already counted (a lapse past the grace period)
    done = np.zeros((len(windows) + 1, f.accounts))  # per account: means over all futures up to the horizon
    alive, weight = np.ones((len(windows) + 1, f.accounts)), np.ones((len(windows) + 1, len(f.rows)))  # S_h
    for m in _months(cal, k, windows[-1].last):
        if int(cal.ms(m)) > snap.last and f.paths > min(o.tail_paths, o.paths):
            weight = np.vstack([going * ~stopped, going])  # per window: not churned by the horizon
            done, alive = f.mean(np.vstack([churn, expand])), f.mean(weight)
            keep, f = f.head(o.tail_paths)
            ss, aa, going, flat = ss.take(keep), aa.take(keep), going[keep], flat[keep]
            snap = replace(snap, seats=snap.seats[keep], mrr=snap.mrr[keep])
            windows = snap.over(o.days)
            churn, expand, stopped = np.zeros((len(windows), len(keep))), np.zeros(len(keep)), stopped[:, keep]
            weight = weight[:, keep]
            paired = Antithetic(rng.bit_generator, len(f.rows), f.pairs)
        if int(cal.ms(m)) > snap.last:
            # A play shifts the churn logit for the horizon from its as_of (``plays``): every shift in the state
            # at as_of has ended by now. Plays that would start after as_of are not followed, here or before.
            ss.play_shift = np.zeros(len(f.rows))
        log, ch = step_conditioned(ss, aa, m, cal, p, paired, snap.expands)
        ends = going * ch.end_p
        every = (ends * (ch.end_day > snap.as_of)).sum(axis=0)  # what a window holding all the month's days adds
        latest = ch.end_day.max(initial=snap.as_of)
        for i, w in _open(windows, int(cal.ms(m))):
            added = every if w.last >= latest else (ends * w.within(ch.end_day)).sum(axis=0)
            churn[i] += np.where(stopped[i], 0.0, added) if stopped[i].any() else added
        going *= 1.0 - ch.end_p.sum(axis=0)
        if (log.lapse_gap > snap.grace).any():  # never under the default rules
            for i, w in _open(windows, int(cal.ms(m))):
                lapsed = w.lapsed(log) & ~stopped[i]  # at a renewal: after every way the month ends: chance S_m
                churn[i] += np.where(lapsed, going, 0.0)
                stopped[i] |= lapsed
        expand += going * flat * ch.expand_p
        flat *= 1.0 - ch.expand_p
    tail = f.mean(np.vstack([churn, expand])) / np.where(f.mean(weight) > 0, f.mean(weight), np.inf)
    means = done + alive * tail
    return _finish(active, live, k, o, certain, means[:-1], means[-1], _covered(windows, cal))


def estimate_by_counting(
    s: State, a: Static, k: int, cal: Calendar, p: Params, o: Oracle, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """The plain Monte Carlo form of ``estimate``: each future is simulated with ``step`` and counts 0 or 1, and
    all ``o.paths`` futures go on to the longest day.

    Its error is binomial (a standard error of sqrt(p (1 - p) / paths) per snapshot); kept as the independent
    reference for ``estimate`` in the tests and the benchmark (``benchmarks/oracle_precision.py``).
    """
    active, live, certain = _start(s, a, k, cal, o)
    f = Futures.of(active[live], o.paths)
    ss, aa = s.take(f.rows), a.take(f.rows)
    snap = Snapshot.of(int(cal.ms(k)), o, ss.seats.copy(), price_of(ss.plan, aa.seg, p))
    windows = snap.over(o.days)
    churned = np.zeros((len(windows), len(f.rows)), bool)
    expanded = np.zeros(len(f.rows), bool)
    for m in _months(cal, k, windows[-1].last):
        if int(cal.ms(m)) > snap.last:
            ss.play_shift = np.zeros(len(f.rows))  # the plays' shifts have ended (as in ``estimate``)
        log = step(ss, aa, m, cal, p, rng)
        for i, w in enumerate(windows):
            churned[i] |= w.churned(log)
        expanded |= snap.expanded(log)
    means = f.mean(np.vstack([churned, expanded]))
    return _finish(active, live, k, o, certain, means[:-1], means[-1], _covered(windows, cal))


def _months(cal: Calendar, k: int, last: int) -> Iterator[int]:
    """Months from ``k`` on that start by day ``last``, as far as the calendar lets ``step`` run them."""
    m = k
    while m + TERM_AHEAD <= cal.last_month and int(cal.ms(m)) <= last:
        yield m
        m += 1


def _open(windows: list["Snapshot"], day: int) -> Iterator[tuple[int, "Snapshot"]]:
    """The windows that a month starting on ``day`` can still add to: its events fall on or after that day."""
    return ((i, w) for i, w in enumerate(windows) if w.last >= day)


def _covered(windows: list["Snapshot"], cal: Calendar) -> np.ndarray:
    """Which windows ``_months`` runs to their end: the months of the others past the calendar's reach are not
    simulated, and their estimates are unknown (NaN), never a number that left those months out."""
    beyond = int(cal.ms(cal.last_month - TERM_AHEAD + 1))  # the first day of the first month step cannot run
    return np.array([w.last < beyond for w in windows])


@dataclass(frozen=True)
class Futures:
    """``paths`` simulated futures of each of ``accounts`` accounts, laid out for antithetic pairs: the first
    future of each pair, then the second of each pair in the same order, then the unpaired one (odd ``paths``)."""

    rows: np.ndarray  # state row of each future
    owner: np.ndarray  # 0 .. accounts - 1: whose future it is
    pairs: int  # the first ``pairs`` futures are mirrored by the next ``pairs``
    accounts: int
    paths: int

    @classmethod
    def of(cls, accounts: np.ndarray, paths: int) -> "Futures":
        index = np.arange(len(accounts))
        half = np.repeat(index, paths // 2)
        owner = np.concatenate([half, half, index if paths % 2 else index[:0]])
        return cls(accounts[owner], owner, len(half), len(accounts), paths)

    def mean(self, value: np.ndarray) -> np.ndarray:
        """Per account, the mean of ``value`` (one per future; or per row of a 2-d ``value``) over its futures."""
        if value.ndim == 2:
            return np.stack([self.mean(v) for v in value]) if len(value) else np.zeros((0, self.accounts))
        return np.bincount(self.owner, weights=value, minlength=self.accounts) / self.paths

    def head(self, paths: int) -> tuple[np.ndarray, "Futures"]:
        """The first ``paths`` futures of each account (whole pairs, then one more if ``paths`` is odd), as their
        positions among these futures and as ``Futures`` laid out as ``of`` lays them out."""
        paths = min(paths, self.paths)
        half, keep = self.paths // 2, paths // 2
        first = (np.arange(self.accounts)[:, None] * half + np.arange(keep)).ravel()
        odd = 2 * self.pairs + np.arange(self.accounts) if self.paths % 2 else np.arange(self.accounts) * half + keep
        pos = np.concatenate([first, self.pairs + first, odd if paths % 2 else odd[:0]])
        return pos, Futures(self.rows[pos], self.owner[pos], len(first), self.accounts, paths)


class Antithetic(np.random.Generator):
    """The oracle's random stream for ``Futures``: a normal draw with one number per future (the health noise, and
    in the type-mix world the friction's) is drawn for the first ``pairs`` futures and negated for the next
    ``pairs``, so that the two futures of a pair are antithetic; every other draw is independent.

    Each future on its own is still an exact sample of the latent process, so means stay unbiased; since churn
    and expansion are monotone in health, a pair's errors largely cancel (on the demo world: about half the
    variance of p_churn and a third of that of p_expand, at no cost).
    """

    def __init__(self, bit_generator: np.random.BitGenerator, futures: int, pairs: int) -> None:
        super().__init__(bit_generator)
        self.futures, self.pairs = futures, pairs

    def normal(self, loc: Any = 0.0, scale: Any = 1.0, size: Any = None) -> Any:
        if size is None or np.ndim(size) > 0 or int(size) != self.futures:
            return super().normal(loc, scale, size)
        z = super().normal(0.0, 1.0, self.futures - self.pairs)
        return loc + scale * np.concatenate([z[: self.pairs], -z[: self.pairs], z[self.pairs :]])


def _start(s: State, a: Static, k: int, cal: Calendar, o: Oracle) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Accounts active at month ``k``'s start, which of them still to simulate, and the others' certain P(churn)
    within each of ``o.days`` (their service ends after as_of, but the account has already left). Active is
    half-open: a service that a cancellation decided earlier ends on as_of itself is not active then."""
    as_of = int(cal.ms(k))
    active = np.flatnonzero(s.born & (a.created < as_of) & (s.end > as_of) & (s.pending_end != as_of))
    live = s.alive[active]
    assert as_of + max(o.days) < NEVER
    ends = s.end[active] <= as_of + np.asarray(o.days)[:, None]
    return active, live, np.where(live, 0.0, ends)


def _finish(
    active: np.ndarray, live: np.ndarray, k: int, o: Oracle, certain: np.ndarray, churn: np.ndarray,
    expand: np.ndarray, covered: np.ndarray,
) -> dict[str, np.ndarray]:  # fmt: skip
    """The oracle's rows for month ``k`` (``ORACLE_KEYS``), given the estimates for the ``live`` ones: P(churn)
    within each of ``o.days`` (NaN where not ``covered``; the horizon's is ``p_churn``) and P(expansion) (NaN where
    the horizon is not covered)."""
    p_churn = certain.copy()
    p_churn[:, live] = churn
    p_churn[~covered] = np.nan
    horizon = o.days.index(o.horizon_days)
    p_expand = np.zeros(len(active))
    p_expand[live] = expand
    if not covered[horizon]:
        p_expand[:] = np.nan
    curve = {f"p_churn_{d}": p_churn[o.days.index(d)] for d in CURVE_DAYS}
    return {"row": active, "as_of_month": np.full(len(active), k), "p_churn": p_churn[horizon], "p_expand": p_expand,
            **curve}  # fmt: skip
