"""The latent process: each account's hidden health and contract state, advanced one month at a time.

``step`` is shared by the main simulation and the oracle, which replays an account's future many times from its
state at a snapshot date; the oracle is only honest if both use the very same transition. The oracle runs it
conditioned (``step_conditioned``: the same body, which returns the probabilities of the events it takes out).
"""

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Self

import numpy as np

from pipelines.generate.calendar import Calendar
from pipelines.generate.params import MILESTONES, Params

NEVER = np.iinfo(np.int32).max  # day number of an event that has not happened (yet)
NO_DAY = np.iinfo(np.int32).min  # in a log: the event did not happen that month (days before the data are < 0)
PRE_MONTHS = 36  # accounts that exist when the data starts were created up to this many months before


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class Columns:
    """Dataclass mixin: every field is an array with one row per account (or per simulated path)."""

    def take(self, idx: np.ndarray) -> Self:
        return type(self)(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})  # type: ignore[arg-type]

    def copy(self) -> Self:
        return type(self)(**{f.name: getattr(self, f.name).copy() for f in fields(self)})  # type: ignore[arg-type]


@dataclass
class Static(Columns):
    """Traits fixed at sign-up."""

    seg: np.ndarray  # 0 smb, 1 mid_market, 2 enterprise
    annual: np.ndarray  # bool: annual term (else monthly)
    notice: np.ndarray  # days of notice before renewal (0 on monthly terms)
    lead: np.ndarray  # days before the notice date on which a churn decision is made
    dom: np.ndarray  # renewal day of the month, 0..27
    created: np.ndarray  # day number of sign-up
    mu: np.ndarray  # level the account's health reverts to
    pay_risk: np.ndarray  # 0..1, propensity to pay late
    card: np.ndarray  # bool: pays by card (else by invoice)
    growth: np.ndarray  # 0..1, headroom to add seats
    seat_cap: np.ndarray  # seats the account could grow to
    seats0: np.ndarray
    plan0: np.ndarray
    champion0: np.ndarray
    region: np.ndarray
    activity: np.ndarray  # account-level multiplier of usage
    # the type-mix world's (``type_mix``; else shapes (n, 0), zeros, zeros): the account's own mix of event types
    # (n, types), its utility (``TypeMix.utility_of``) and the logit of its friction share at sign-up
    mix: np.ndarray
    mix_utility: np.ndarray
    friction0: np.ndarray


@dataclass
class State(Columns):
    """What changes month to month; the oracle starts from a copy of it."""

    born: np.ndarray
    alive: np.ndarray
    end: np.ndarray  # day the service ended for good (NEVER while alive)
    h: np.ndarray
    h_usual: np.ndarray  # slow moving average of h: a fall below it raises the churn risk
    seats: np.ndarray
    plan: np.ndarray
    renew_m: np.ndarray  # month index of the next renewal
    pending_end: np.ndarray  # day a decided cancellation takes effect (NEVER if none)
    decided: np.ndarray  # the churn decision for the current term was taken
    champion: np.ndarray
    milestones: np.ndarray  # bit i set: milestone i reached
    budget: np.ndarray  # budget pressure, 1 after a cut, decays
    age: np.ndarray  # months since sign-up
    friction: np.ndarray  # logit of the share of events drawn from the friction mix (type-mix world; else 0)
    play_shift: np.ndarray  # shift of the churn logits by the plays done on the account (``plays``; else 0)


@dataclass
class MonthLog:
    """What happened to each account during one month (day numbers; NO_DAY when it did not happen)."""

    h_start: np.ndarray
    budget_start: np.ndarray
    seats_start: np.ndarray
    price_start: np.ndarray
    active_start: np.ndarray
    renew_day: np.ndarray  # a renewal (billing date) that went through, or the sign-up day
    end_day: np.ndarray
    cancel_day: np.ndarray
    churn_kind: np.ndarray  # 0 none, 1 at renewal, 2 mid-term, 3 failed payment
    change_day: np.ndarray  # seats or plan changed on this day
    seats_after: np.ndarray
    price_after: np.ndarray
    plan_after: np.ndarray
    h_end: np.ndarray
    lapse_gap: np.ndarray  # days of service gap starting at renew_day (late payment), 0 if none
    card_fail: np.ndarray  # 0 none, 1 failed then recovered, 2 failed for good
    champion_left: np.ndarray
    champion_found: np.ndarray
    bad_support: np.ndarray
    budget_cut: np.ndarray
    milestone_day: np.ndarray  # shape (n, 4)
    friction: np.ndarray  # the friction share during the month, after its drift (type-mix world; else 0)


def price_of(plan: np.ndarray, seg: np.ndarray, p: Params) -> np.ndarray:
    return p.seg("plan_price")[plan] * p.seg("discount")[seg]


def draw_static(rng: np.random.Generator, n: int, cal: Calendar, p: Params) -> Static:
    seg = rng.choice(3, size=n, p=p.segment_mix)
    annual = rng.random(n) < p.seg("annual_share")[seg]
    pre = rng.random(n) < p.preexisting_share
    first, last = int(cal.ms(-PRE_MONTHS)), cal.n_days - 1
    created = np.where(pre, rng.integers(first, 0, n), rng.integers(0, last, n))
    seats0 = np.maximum(
        1, np.round(p.seg("seats_median")[seg] * np.exp(rng.normal(0, 1, n) * p.seg("seats_log_sd")[seg]))
    )
    plan_cdf = np.cumsum(np.asarray(p.plan_mix), axis=1)[seg]
    plan0 = (rng.random(n)[:, None] > plan_cdf).sum(axis=1)
    return Static(
        seg=seg.astype(np.int8),
        annual=annual,
        notice=np.where(annual, rng.integers(p.notice_days[0], p.notice_days[1] + 1, n), 0),
        lead=rng.integers(0, 15, n),
        dom=np.minimum(created - cal.month_start[np.searchsorted(cal.month_start, created, "right") - 1], 27),
        created=created.astype(np.int64),
        mu=rng.normal(p.mu_mean, p.mu_sd, n),
        pay_risk=rng.beta(1.2, 5.0, n),
        card=(seg == 0) & ~annual,
        growth=rng.beta(1.5, 2.0, n),
        seat_cap=seats0 * (1.5 + 3 * rng.random(n)),
        seats0=seats0.astype(np.int64),
        plan0=np.minimum(plan0, 2).astype(np.int64),
        champion0=rng.random(n) < p.seg("champion_at_start")[seg],
        region=rng.choice(3, size=n, p=p.region_mix).astype(np.int8),
        activity=rng.lognormal(0.0, 0.35, n),
        **_draw_mix(rng, n, p),  # last: the default world's random stream stays as it was
    )


def _draw_mix(rng: np.random.Generator, n: int, p: Params) -> dict[str, np.ndarray]:
    """The type-mix world's traits of ``Static`` (none drawn in the default world)."""
    if p.type_mix is None:
        return {"mix": np.zeros((n, 0)), "mix_utility": np.zeros(n), "friction0": np.zeros(n)}
    mix = p.type_mix.draw_own(rng, n)
    return {"mix": mix, "mix_utility": p.type_mix.utility_of(mix), "friction0": p.type_mix.draw_friction(rng, n)}


def initial_state(n: int) -> State:
    z = np.zeros(n)
    return State(
        born=z.astype(bool), alive=z.astype(bool), end=np.full(n, NEVER, np.int64), h=z.copy(), h_usual=z.copy(),
        seats=z.astype(np.int64), plan=z.astype(np.int64), renew_m=z.astype(np.int64),
        pending_end=np.full(n, NEVER, np.int64), decided=z.astype(bool), champion=z.astype(bool),
        milestones=z.astype(np.int64), budget=z.copy(), age=z.astype(np.int64), friction=z.copy(),
        play_shift=z.copy(),
    )  # fmt: skip


def _day_in(rng: np.random.Generator, lo: np.ndarray | int, hi: np.ndarray | int, n: int) -> np.ndarray:
    """A uniform day in [lo, hi) per account."""
    lo_a = np.broadcast_to(np.asarray(lo, dtype=np.int64), (n,))
    span = np.maximum(1, np.asarray(hi, dtype=np.int64) - lo_a)
    return lo_a + (rng.random(n) * span).astype(np.int64)


ExpansionTest = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""(seats, price per seat, day the subscription row with them would start) -> per account: is that an expansion?"""


@dataclass
class Chances:
    """What ``step_conditioned`` took out of one month instead of drawing it, per account (or simulated path).

    ``end_p[k - 1]`` is the probability that the month ends the service by churn kind ``k`` (1 at renewal, 2
    mid-term, 3 failed payment; the kinds exclude each other, and kind 1 is certain where a cancellation decided
    earlier takes effect this month) and ``end_day[k - 1]`` the day it would end; ``expand_p`` is the probability
    of an expansion, by the test ``expands``, given that the month does not end the service.
    """

    expands: ExpansionTest
    end_p: np.ndarray  # shape (3, n)
    end_day: np.ndarray  # shape (3, n)
    expand_p: np.ndarray

    @classmethod
    def zero(cls, n: int, expands: ExpansionTest) -> "Chances":
        return cls(expands, np.zeros((3, n)), np.full((3, n), NO_DAY, np.int64), np.zeros(n))


def step(s: State, a: Static, m: int, cal: Calendar, p: Params, rng: np.random.Generator) -> MonthLog:
    """Advance every account by month ``m`` (in place) and return what happened during it."""
    return _advance(s, a, m, cal, p, rng, None)


def step_conditioned(
    s: State, a: Static, m: int, cal: Calendar, p: Params, rng: np.random.Generator, expands: ExpansionTest
) -> tuple[MonthLog, Chances]:
    """``step`` conditioned on the month neither ending the service nor bringing an expansion that ``expands``
    accepts: their probabilities are returned instead of drawn, and the state moves on as it would without them.

    This is the oracle's variance reduction (conditioning, or Rao-Blackwellisation): a simulated future weighs
    every way it could have ended instead of counting the one it drew. It draws the same random numbers as
    ``step``; the events it takes out are decided by the very comparisons ``step`` draws against. The returned log
    is the month of an account to which neither happened (the service still ends where a cancellation decided
    earlier takes effect).
    """
    ch = Chances.zero(len(s.h), expands)
    return _advance(s, a, m, cal, p, rng, ch), ch


def _advance(
    s: State, a: Static, m: int, cal: Calendar, p: Params, rng: np.random.Generator, ch: Chances | None
) -> MonthLog:
    """``step`` without ``ch``, ``step_conditioned`` filling it in (one body, so that the two cannot drift apart)."""
    n = len(s.h)
    d0, d1 = int(cal.ms(m)), int(cal.ms(m + 1))
    newborn = ~s.born & (a.created < d1)
    act = s.alive & s.born  # existed and paying at the start of the month
    log = MonthLog(
        h_start=s.h.copy(), budget_start=s.budget.copy(), seats_start=s.seats.copy(),
        price_start=price_of(s.plan, a.seg, p), active_start=act & (s.end > d0),
        renew_day=np.full(n, NO_DAY), end_day=np.full(n, NO_DAY), cancel_day=np.full(n, NO_DAY),
        churn_kind=np.zeros(n, np.int8), change_day=np.full(n, NO_DAY), seats_after=s.seats.copy(),
        price_after=np.zeros(n), plan_after=s.plan, h_end=s.h, lapse_gap=np.zeros(n, np.int64),
        card_fail=np.zeros(n, np.int8),
        champion_left=np.full(n, NO_DAY), champion_found=np.full(n, NO_DAY), bad_support=np.full(n, NO_DAY),
        budget_cut=np.zeros(n, bool), milestone_day=np.full((n, len(MILESTONES)), NO_DAY),
        friction=np.zeros(n),
    )  # fmt: skip
    u = rng.random((11, n), dtype=np.float32)  # one uniform per decision and account, drawn up front
    anyday = _day_in(rng, d0, d1, n)

    # Sign-ups this month.
    if newborn.any():
        s.born |= newborn
        s.alive |= newborn
        s.h[newborn] = a.mu[newborn] - p.onboarding_drag + rng.normal(0, 0.4, int(newborn.sum()))
        s.h_usual[newborn] = s.h[newborn]
        s.seats[newborn] = a.seats0[newborn]
        s.plan[newborn] = a.plan0[newborn]
        s.champion[newborn] = a.champion0[newborn]
        s.friction[newborn] = a.friction0[newborn]
        s.renew_m[newborn] = m + np.where(a.annual[newborn], 12, 1)
        log.renew_day[newborn] = a.created[newborn]

    # 1. Shocks.
    left = act & s.champion & (u[0] < p.p_champion_leaves)
    found = act & ~s.champion & ~left & (u[0] < p.p_champion_found)
    s.champion[left], s.champion[found] = False, True
    log.champion_left[left], log.champion_found[found] = anyday[left], anyday[found]
    bad = act & (u[1] < p.p_bad_support)
    log.bad_support[bad] = anyday[bad]
    cut = act & (u[2] < p.p_budget_cut)
    log.budget_cut[cut] = True
    s.budget = np.where(cut, 1.0, s.budget * p.budget_decay)

    # 2. Health drifts towards a target and takes the shocks.
    target = (
        a.mu + p.milestone_bonus * _popcount(s.milestones) - p.onboarding_drag * (s.age < 3)
        - p.no_champion_penalty * ~s.champion - p.pending_cancel_penalty * (s.pending_end < NEVER)
    )  # fmt: skip
    jump = p.bad_support_jump * bad + p.budget_cut_jump * cut
    h_new = s.h + p.pull * (target - s.h) + p.noise_sd * rng.normal(0, 1, n) + jump
    s.h = np.where(act, h_new, s.h)
    s.h_usual = np.where(act, s.h_usual + p.usual_pull * (s.h - s.h_usual), s.h_usual)

    # 2b. Type-mix world: the friction drifts; the month's mix's utility lowers the churn logits of steps 4 and 6.
    mix_u = np.zeros(n)
    if p.type_mix is not None:
        s.friction = np.where(act, p.type_mix.drift(s.friction, rng), s.friction)
        log.friction = sigmoid(s.friction)
        mix_u = (1.0 - log.friction) * a.mix_utility + log.friction * p.type_mix.friction_utility
    mix_u = mix_u - s.play_shift  # the plays done on the account (``pipelines.generate.plays``; 0 without)

    # 3. Onboarding milestones, more likely for healthy accounts.
    onboarding = np.flatnonzero((act | newborn) & (s.age < 3))
    if len(onboarding):
        p_ms = p.p_milestone * sigmoid(1.5 * s.h[onboarding] + 0.5)
        for i in range(log.milestone_day.shape[1]):
            todo = (s.milestones[onboarding] >> i) & 1 == 0
            hit = onboarding[todo & (rng.random(len(onboarding)) < p_ms)]
            s.milestones[hit] |= 1 << i
            log.milestone_day[hit, i] = _day_in(rng, np.maximum(d0, a.created[hit]), d1, len(hit))

    # 4. The churn decision, taken once per term, `notice + lead` days before the renewal.
    renew_day = cal.ms(s.renew_m) + a.dom
    decide_day = renew_day - a.notice - a.lead
    deciding = act & ~s.decided & (s.pending_end == NEVER) & (decide_day < d1)
    base = np.where(a.annual, p.seg("churn_base_annual")[a.seg], p.seg("churn_base_monthly")[a.seg])
    drop = np.maximum(0.0, s.h_usual - s.h)
    p_churn = sigmoid(
        base - p.churn_health_slope * s.h + p.churn_drop_slope * drop + p.churn_budget_slope * s.budget - mix_u
    )
    if ch is None:
        leaving = deciding & (u[3] < p_churn)
    else:
        leaving = np.zeros(n, bool)
        due = act & (s.renew_m == m) & (s.pending_end < NEVER)  # decided before: ends this month for certain
        ch.end_p[0] = np.where(due, 1.0, np.where(deciding, p_churn, 0.0))
        ch.end_day[0] = np.where(due, s.pending_end, renew_day)
    s.decided |= deciding
    s.pending_end[leaving] = renew_day[leaving]
    log.cancel_day[leaving] = np.maximum(decide_day, d0)[leaving]

    # 5. Renewals falling in this month.
    renewing = act & (s.renew_m == m)
    ends = renewing & (s.pending_end < NEVER)
    _end(s, log, ends, s.pending_end, 1)
    going = renewing & ~ends
    log.renew_day[going] = renew_day[going]
    p_fail = p.p_card_fail + 0.05 * a.pay_risk + 0.05 * s.budget
    if ch is None:
        fail = going & a.card & (u[4] < p_fail)
        lost = fail & (u[5] < p.p_card_fail_lost)
    else:
        p_lost = np.clip(p_fail, 0.0, 1.0) * p.p_card_fail_lost
        ch.end_p[2] = np.where(going & a.card, (1.0 - ch.end_p[0]) * p_lost, 0.0)
        ch.end_day[2] = renew_day + 7
        given_kept = (np.clip(p_fail, 0.0, 1.0) - p_lost) / np.maximum(1.0 - p_lost, 1e-12)
        fail = going & a.card & (u[4] < given_kept)  # a failure recovered, given that none was lost
        lost = np.zeros(n, bool)
    log.card_fail[fail] = np.where(lost[fail], 2, 1)
    log.cancel_day[lost] = renew_day[lost] + 7
    _end(s, log, lost, renew_day + 7, 3)
    going &= ~lost
    lapse = going & ~a.card & (u[6] < p.p_lapse + 0.03 * a.pay_risk + 0.02 * s.budget)
    log.lapse_gap[lapse] = rng.integers(3, 26, n)[lapse]
    down = going & (u[7] < p.p_downgrade + 0.25 * s.budget + 0.03 * (s.h < -0.5)) & (s.seats > 1)
    s.seats[down] = np.maximum(1, np.floor(s.seats * rng.uniform(0.55, 0.9, n)))[down]
    up = going & ~down & (s.plan < 2) & (s.h > 0.3)
    p_up = p.p_upgrade * a.growth * 2
    if ch is not None:
        # A late payment delays the row with the new plan until it arrives.
        past = up & ch.expands(s.seats, price_of(np.minimum(s.plan + 1, 2), a.seg, p), renew_day + log.lapse_gap)
        ch.expand_p = np.where(past, np.clip(p_up, 0.0, 1.0), 0.0)
        up &= ~past
    up &= u[8] < p_up
    s.plan[up] += 1
    log.change_day[down | up] = renew_day[down | up]
    s.renew_m[going] += np.where(a.annual, 12, 1)[going]
    s.decided[going] = False

    # 6. Mid-term churn: rare, and not for accounts already leaving.
    mid = act & s.alive & ~renewing & (s.pending_end == NEVER)
    p_mid = sigmoid(p.seg("midterm_base")[a.seg] - p.midterm_health_slope * s.h + p.churn_drop_slope * drop - mix_u)
    if ch is None:
        mid &= u[9] < p_mid
    else:
        ch.end_p[1] = np.where(mid, (1.0 - ch.end_p[0]) * p_mid, 0.0)
        ch.end_day[1] = anyday
        mid = np.zeros(n, bool)
    log.cancel_day[mid] = anyday[mid]
    _end(s, log, mid, anyday, 2)

    # 7. Expansion: healthy accounts with headroom add seats (on the renewal day when there is one).
    room = s.seats < a.seat_cap
    grow = act & s.alive & (s.pending_end == NEVER) & room & (log.change_day == NO_DAY) & (log.lapse_gap == 0)
    p_grow = p.p_expand * a.growth * sigmoid(3.0 * (s.h - 0.6))
    add = np.maximum(1, np.round(s.seats * rng.uniform(0.1, 0.45, n))).astype(np.int64)
    grown = np.minimum(s.seats + add, np.ceil(a.seat_cap))
    grow_day = np.where(renewing, renew_day, anyday)
    if ch is not None:
        past = grow & ch.expands(grown, price_of(s.plan, a.seg, p), grow_day)
        ch.expand_p = 1.0 - (1.0 - ch.expand_p) * (1.0 - np.where(past, np.clip(p_grow, 0.0, 1.0), 0.0))
        grow &= ~past
    grow &= u[10] < p_grow
    s.seats[grow] = grown[grow]
    log.change_day[grow] = grow_day[grow]

    s.age += s.born
    log.seats_after = s.seats.copy()
    log.price_after = price_of(s.plan, a.seg, p)
    log.plan_after = s.plan.copy()
    log.h_end = s.h.copy()
    return log


def _end(s: State, log: MonthLog, mask: np.ndarray, day: np.ndarray, kind: int) -> None:
    when = day[mask]  # may be s.pending_end itself, reset below
    s.alive[mask] = False
    s.end[mask] = when
    log.end_day[mask] = when
    s.pending_end[mask] = NEVER
    log.churn_kind[mask] = kind


def _popcount(x: np.ndarray) -> np.ndarray:
    return ((x & 1) + ((x >> 1) & 1) + ((x >> 2) & 1) + ((x >> 3) & 1)).astype(np.float64)
