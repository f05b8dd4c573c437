"""The generator's oracle: the labels' own events, estimated without bias and far more precisely than by counting."""

from dataclasses import fields, replace
from datetime import UTC, date, datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from features.labels import LabelConfig
from pipelines.generate import billing, people
from pipelines.generate.calendar import Calendar, build_calendar
from pipelines.generate.chunk import Chunk
from pipelines.generate.latent import (
    NO_DAY,
    PRE_MONTHS,
    MonthLog,
    State,
    Static,
    draw_static,
    initial_state,
    step,
)
from pipelines.generate.params import TYPE_MIX, Params
from pipelines.generate.simulate import (
    Antithetic,
    Estimator,
    Futures,
    History,
    Oracle,
    Snapshot,
    estimate,
    estimate_by_counting,
    simulate_chunk,
)
from pipelines.snapshots import build_labels

START = date(2024, 1, 1)
# Events that are rare by default made common, so that every branch of the oracle is exercised.
COMMON = dict(p_lapse=0.3, p_card_fail=0.3, p_upgrade=0.25, p_downgrade=0.1, p_expand=0.35, p_budget_cut=0.05)
BUSY = replace(Params(), midterm_base=(-4.0, -4.5, -5.0), **COMMON)  # type: ignore[arg-type]
BUSY_TYPE_MIX = replace(TYPE_MIX, midterm_base=(-6.0, -6.5, -7.0), **COMMON)  # type: ignore[arg-type]
# Every world the generator writes: the oracle must be as honest in each (``params.WORLDS``).
WORLDS = pytest.mark.parametrize("world", [Params(), TYPE_MIX], ids=["default", "type-mix"])


def _log(n: int, **given: np.ndarray) -> MonthLog:
    """A month in which nothing happened to ``n`` accounts of 10 seats at 15 a seat, but for ``given``."""
    quiet: dict[str, np.ndarray] = {
        "seats_start": np.full(n, 10), "seats_after": np.full(n, 10), "price_start": np.full(n, 15.0),
        "price_after": np.full(n, 15.0), "plan_after": np.zeros(n, np.int64), "active_start": np.ones(n, bool),
        "lapse_gap": np.zeros(n, np.int64), "churn_kind": np.zeros(n, np.int8), "card_fail": np.zeros(n, np.int8),
        "budget_cut": np.zeros(n, bool), "milestone_day": np.full((n, 4), NO_DAY),
        "h_start": np.zeros(n), "h_end": np.zeros(n), "budget_start": np.zeros(n),
    }  # fmt: skip
    return MonthLog(**{f.name: given.get(f.name, quiet.get(f.name, np.full(n, NO_DAY))) for f in fields(MonthLog)})


def test_a_late_payment_that_resumes_within_the_grace_period_is_not_churn() -> None:
    # as_of is day 100; the window is (100, 190]. Rows: a 20-day lapse on day 150; the same on day 195 (after the
    # window); the service ending on day 190; ending on day 100 (as_of itself, outside the window); an upgrade at
    # a renewal paid 20 days late on day 180 (its row starts on day 200, after the window); the same on day 160.
    renew = np.array([150, 195, NO_DAY, NO_DAY, 180, 160])
    log = _log(
        6,
        renew_day=renew,
        lapse_gap=np.array([20, 20, 0, 0, 20, 20]),
        end_day=np.array([NO_DAY, NO_DAY, 190, 100, NO_DAY, NO_DAY]),
        change_day=np.where(np.arange(6) >= 4, renew, NO_DAY),
        price_after=np.array([15.0, 15.0, 15.0, 15.0, 35.0, 35.0]),
    )
    seats, price = np.full(6, 10), np.full(6, 15.0)
    label_rules = Snapshot.of(100, Oracle(), seats, price)
    assert label_rules.grace == 30 and label_rules.last == 190  # read from features.labels.LABELS
    assert label_rules.churned(log).tolist() == [False, False, True, False, False, False]
    assert label_rules.expanded(log).tolist() == [False, False, False, False, False, True]
    strict = Snapshot.of(100, Oracle(grace_days=10), seats, price)  # a 20-day stop is now churn, if in the window
    assert strict.churned(log).tolist() == [True, False, True, False, True, True]


def _realized(h: History, rows: np.ndarray, k: int, o: Oracle, cal: Calendar) -> dict[str, np.ndarray]:
    """What happened to ``rows`` after the start of month ``k`` in the simulated history, by the oracle's events."""
    col = k + PRE_MONTHS
    snap = Snapshot.of(int(cal.ms(k)), o, h.logs["seats_start"][rows, col], h.logs["price_start"][rows, col])
    out = {name: np.zeros(len(rows), bool) for name in ("churn", "upsell", "ended", "lapsed")}
    j = k - 1  # a failed payment ends the service a week after the renewal: maybe after as_of
    while int(cal.ms(j)) <= snap.last and j < cal.months:  # past the data's end, the labels are unknown
        log = MonthLog(**{f.name: h.logs[f.name][rows, j + PRE_MONTHS] for f in fields(MonthLog)})
        out["churn"] |= snap.churned(log)
        out["upsell"] |= snap.expanded(log)
        out["ended"] |= snap.within(log.end_day)
        out["lapsed"] |= (log.lapse_gap > 0) & snap.within(log.renew_day)
        j += 1
    return out


# (account, as_of) where a subscription row starts exactly at as_of with seats or MRR that no row ending then had
# (a change at the instant, not a plain renewal).
_AT_AS_OF = """
SELECT DISTINCT n.account_id, n.start_at FROM raw.subscriptions n
LEFT JOIN raw.subscriptions o ON o.account_id = n.account_id AND o.end_at = n.start_at AND o.seats = n.seats
     AND o.mrr = n.mrr
WHERE o.account_id IS NULL AND n.start_at IN (SELECT unnest($1))
"""


@pytest.mark.parametrize("world", [BUSY, BUSY_TYPE_MIX], ids=["default", "type-mix"])
@pytest.mark.parametrize("grace", [30, 10])
def test_the_oracles_events_are_the_labels_on_a_simulated_world(grace: int, world: Params) -> None:
    # The labels of features.labels, computed from the subscription rows the generator writes, equal the oracle's
    # events applied to what really happened in the simulation, with late payments made common; under a grace
    # period of 30 days (lapses last 3 to 25 days: never churn) and of 10 (the longer ones are churn).
    months = 10
    cal = build_calendar(START, months)
    hist = simulate_chunk(1500, cal, world, Oracle(paths=0), seed=5, chunk=0)
    c = Chunk(hist, cal, world, pa.array([f"A{i:07d}" for i in range(1500)]), 5, 0)
    con = duckdb.connect()
    con.execute("CREATE SCHEMA raw")
    for name, table in (("accounts", people.accounts(c)), ("subscriptions", billing.subscriptions(c))):
        con.register("_t", table)
        con.execute(f"CREATE TABLE raw.{name} AS SELECT * FROM _t")
        con.unregister("_t")
    start = datetime(START.year, START.month, START.day, tzinfo=UTC)
    dates = [start + timedelta(days=int(cal.ms(k))) for k in range(1, months)]
    labels = build_labels(con, dates, LabelConfig(grace_days=grace), data_end=start + timedelta(days=cal.n_days))
    seen = {name: 0 for name in ("churn", "upsell", "lapsed", "lapse_churn", "at_as_of")}
    # The oracle's state at a snapshot is the one before month k's step; under the half-open rule a change of seats
    # or price exactly at as_of (midnight on the 1st) is already the snapshot's state, drawn by
    # that very step. Those rows (about 1%) are compared by neither side; counted below.
    instant = set(con.sql(_AT_AS_OF, params=[dates]).fetchall())
    for k, as_of in enumerate(dates, start=1):
        rows = labels[labels.as_of == as_of]
        at = np.array([(a, as_of) in instant for a in rows.account_id], dtype=bool)
        seen["at_as_of"] += int(at.sum())
        rows = rows[~at]
        got = _realized(hist, rows.account_id.str[1:].astype(int).to_numpy(), k, Oracle(grace_days=grace), cal)
        for target in ("churn", "upsell"):
            known = rows[target].notna().to_numpy()
            assert (rows[target].to_numpy()[known] == got[target][known]).all(), (target, as_of)
            seen[target] += int(known.sum())
        known = rows.churn.notna().to_numpy()
        seen["lapsed"] += int((got["lapsed"] & known).sum())
        seen["lapse_churn"] += int((got["churn"] & ~got["ended"] & known).sum())
    assert seen["churn"] > 2000 and seen["upsell"] > 2500, seen
    # The boundary exists in the world and is rare: 59 of 4,870 labeled rows (1.2%) in the default world, seed 5.
    assert 0 < seen["at_as_of"] < 0.03 * len(labels), seen
    assert seen["lapsed"] > 150, seen  # late payers: their service stops on the renewal day and resumes later
    assert (seen["lapse_churn"] > 100) if grace == 10 else (seen["lapse_churn"] == 0), seen


def _world_at(k: int, n: int, p: Params, seed: int) -> tuple[State, Static, Calendar]:
    cal = build_calendar(START, k + 5)
    rng = np.random.default_rng(seed)
    a, s = draw_static(rng, n, cal, p), initial_state(n)
    for m in range(-PRE_MONTHS, k):
        step(s, a, m, cal, p, rng)
    return s, a, cal


@WORLDS
@pytest.mark.parametrize("estimator", [estimate, estimate_by_counting])
def test_accounts_that_only_ever_pay_late_never_churn_unless_the_grace_period_is_short(
    estimator: Estimator, world: Params
) -> None:
    # Every renewal is paid 3 to 25 days late and nothing else can end a service paid by invoice.
    p = replace(world, p_lapse=1.0, churn_base_monthly=(-60.0,) * 3, churn_base_annual=(-60.0,) * 3,
                midterm_base=(-60.0,) * 3)  # fmt: skip
    s, a, cal = _world_at(6, 400, p, seed=4)
    est = {g: estimator(s, a, 6, cal, p, Oracle(paths=40, grace_days=g), np.random.default_rng(1)) for g in (30, 10)}
    rows = est[30]["row"]
    invoice, monthly = ~a.card[rows], ~a.annual[rows] & ~a.card[rows]
    assert monthly.sum() > 20
    assert (est[30]["p_churn"][invoice] < 1e-9).all()
    # Under a 10-day grace period, a lapse of 11 to 25 days is churn: 15 in 23; a monthly term renews 2 or 3 times.
    assert (est[10]["p_churn"][monthly] > 0.75).all()


@pytest.mark.parametrize(
    ("params", "oracle"),
    [(Params(), Oracle()), (BUSY, Oracle(grace_days=10)), (TYPE_MIX, Oracle()), (BUSY_TYPE_MIX, Oracle(grace_days=10))],
    ids=["default", "default-busy", "type-mix", "type-mix-busy"],
)
def test_the_conditioned_estimate_agrees_with_counting_futures(params: Params, oracle: Oracle) -> None:
    # Independent reference: plain Monte Carlo, each of 4,000 futures per account counting 0 or 1. The conditioned
    # estimate (2,000 futures, as 4 independent runs of 500) must agree within the error of the difference, account
    # by account and summed over accounts: the reference's binomial variance plus the conditioned estimate's own,
    # measured from its runs (pooled over accounts as a share of the reference's). That share is small in most
    # worlds; where lapses past a short grace period are common it nears 1 (such a lapse is counted, not
    # conditioned), and a test that left it out would take noise for bias.
    s, a, cal = _world_at(6, 300, params, seed=2)
    rng = np.random.default_rng(9)
    ref = estimate_by_counting(s, a, 6, cal, params, replace(oracle, paths=4000), rng)
    runs = [estimate(s, a, 6, cal, params, replace(oracle, paths=500), rng) for _ in range(4)]
    assert all((ref["row"] == r["row"]).all() for r in runs) and len(ref["row"]) > 100
    for key in ("p_churn", "p_expand"):
        p = np.mean([r[key] for r in runs], axis=0)
        assert all(((r[key] >= 0) & (r[key] <= 1)).all() for r in runs)
        var_ref = np.maximum(p * (1 - p), 1 / 4000) / 4000
        var_new = np.var([r[key] for r in runs], axis=0, ddof=1).sum() / 4 / var_ref.sum() * var_ref
        var = var_ref + var_new
        z = (ref[key] - p) / np.sqrt(var)
        assert np.abs(z).max() < 4.5, (key, np.abs(z).max())
        assert np.mean(z**2) < 1.6, (key, np.mean(z**2))
        assert abs((ref[key] - p).sum()) < 4 * np.sqrt(var.sum()), key
        assert p.mean() > 0.01, key  # the comparison is not between two zeros


@WORLDS
def test_the_conditioned_estimate_is_far_less_noisy_than_counting(world: Params) -> None:
    s, a, cal = _world_at(6, 300, world, seed=3)
    runs = {
        name: [f(s, a, 6, cal, world, Oracle(paths=100), np.random.default_rng(r)) for r in range(4)]
        for name, f in (("counting", estimate_by_counting), ("conditioned", estimate))
    }
    for key in ("p_churn", "p_expand"):
        sd = {n: np.stack([r[key] for r in rs]).std(axis=0, ddof=1).mean() for n, rs in runs.items()}
        assert sd["conditioned"] < sd["counting"] / 2.5, (key, sd)


@WORLDS
def test_the_oracle_is_reproducible_and_its_seed_moves_only_the_oracle(world: Params) -> None:
    cal = build_calendar(START, 5)
    one, same, other = (simulate_chunk(300, cal, world, Oracle(paths=6, seed=s), 4, 0) for s in (0, 0, 1))
    for key in ("row", "as_of_month", "p_churn", "p_expand"):
        assert np.array_equal(one.oracle[key], same.oracle[key])
    for name, column in one.logs.items():
        assert np.array_equal(column, other.logs[name]), name
    assert np.array_equal(one.oracle["row"], other.oracle["row"])
    assert not np.array_equal(one.oracle["p_churn"], other.oracle["p_churn"])
    for h in (one, other):
        assert ((h.oracle["p_churn"] >= 0) & (h.oracle["p_churn"] <= 1)).all()
        assert ((h.oracle["p_expand"] >= 0) & (h.oracle["p_expand"] <= 1)).all()


def test_futures_come_in_antithetic_pairs() -> None:
    f = Futures.of(np.array([7, 3]), paths=5)  # two pairs and one unpaired future per account
    assert f.rows.tolist() == [7, 7, 3, 3, 7, 7, 3, 3, 7, 3] and f.pairs == 4
    assert f.mean(np.arange(10.0)).tolist() == [(0 + 1 + 4 + 5 + 8) / 5, (2 + 3 + 6 + 7 + 9) / 5]
    g = Antithetic(np.random.default_rng(0).bit_generator, futures=10, pairs=4)
    z = g.normal(1.0, 2.0, 10)
    assert np.allclose(z[:4] - 1.0, -(z[4:8] - 1.0)) and not np.allclose(z[8:] - 1.0, -(z[:2] - 1.0))
    u = g.random((2, 10))
    assert not np.allclose(u[:, :4], 1 - u[:, 4:8])  # only the health noise (normal, one per future) is mirrored
    assert len(g.normal(0.0, 1.0, 3)) == 3
