"""The oracle's churn curve: P(churn within 30 .. 365 days), unbiased against counting, monotone, NaN past the
simulated future."""

from dataclasses import replace

import numpy as np
import pytest

from pipelines.generate.calendar import FUTURE_MONTHS, build_calendar
from pipelines.generate.params import TYPE_MIX, Params
from pipelines.generate.simulate import (
    CURVE_COLUMNS,
    CURVE_DAYS,
    TERM_AHEAD,
    Futures,
    Oracle,
    estimate,
    estimate_by_counting,
    simulate_chunk,
)
from tests.pipelines.test_generate_oracle import BUSY, START, _world_at


@pytest.mark.parametrize(
    ("params", "oracle"),
    [(Params(), Oracle()), (BUSY, Oracle(grace_days=10)), (TYPE_MIX, Oracle())],
    ids=["default", "default-busy", "type-mix"],
)
def test_the_curve_agrees_with_counting_futures_at_every_horizon(params: Params, oracle: Oracle) -> None:
    # As test_the_conditioned_estimate_agrees_with_counting_futures, at each of CURVE_DAYS: 4,000 futures counted
    # against 8 conditioned runs of 500, of which 50 go on past the horizon (the default share, 10 in 100). The
    # conditioned estimate's variance is taken per account from its runs: past the horizon it is not proportional
    # to p (1 - p), as pooling it would assume. With 7 degrees of freedom a z^2 averages up to 1.4.
    s, a, cal = _world_at(6, 300, params, seed=2)
    rng = np.random.default_rng(11)
    ref = estimate_by_counting(s, a, 6, cal, params, replace(oracle, paths=4000), rng)
    runs = [estimate(s, a, 6, cal, params, replace(oracle, paths=500, tail_paths=50), rng) for _ in range(8)]
    for key in CURVE_COLUMNS:
        p = np.mean([r[key] for r in runs], axis=0)
        assert all(((r[key] >= 0) & (r[key] <= 1)).all() for r in runs), key
        var = np.maximum(p * (1 - p), 1 / 4000) / 4000 + np.var([r[key] for r in runs], axis=0, ddof=1) / 8
        z = (ref[key] - p) / np.sqrt(var)
        assert np.abs(z).max() < 5.0, (key, np.abs(z).max())
        assert np.mean(z**2) < 1.8, (key, np.mean(z**2))
        assert abs((ref[key] - p).sum()) < 4 * np.sqrt(var.sum()), key
        assert p.mean() > 0.005, key  # the comparison is not between two zeros


@pytest.mark.parametrize("estimator", [estimate, estimate_by_counting])
def test_the_curve_never_falls_and_holds_p_churn_at_the_horizon(estimator: object) -> None:
    cal = build_calendar(START, 8)
    for o in (Oracle(paths=6, tail_paths=2), Oracle(paths=5, horizon_days=60)):
        h = simulate_chunk(400, cal, BUSY, o, 4, 0, estimator=estimator)  # type: ignore[arg-type]
        curve = np.stack([h.oracle[c] for c in CURVE_COLUMNS])
        assert not np.isnan(curve).any()  # FUTURE_MONTHS holds the whole curve of the last snapshot
        assert (np.diff(curve, axis=0) >= 0).all() and ((curve >= 0) & (curve <= 1)).all()
        assert np.array_equal(h.oracle["p_churn"], h.oracle[f"p_churn_{o.horizon_days}"])
        assert curve[-1].mean() > 2 * curve[0].mean() > 0


def test_horizons_past_the_simulated_future_are_unknown_not_short() -> None:
    s, a, cal = _world_at(6, 300, Params(), seed=2)
    # A calendar that reaches 5 months fewer ahead: step cannot run month 6 + 8 (it reads month 6 + 8 + 12), so the
    # 365-day window is cut short; the 180-day one still fits.
    short = replace(cal, month_start=cal.month_start[: len(cal.month_start) - (cal.last_month - 6 - 7 - TERM_AHEAD)])
    assert short.last_month == 6 + 7 + TERM_AHEAD and int(short.ms(6 + 7)) > int(short.ms(6)) + 180
    for estimator in (estimate, estimate_by_counting):
        full, cut = (estimator(s, a, 6, c, Params(), Oracle(paths=20), np.random.default_rng(3)) for c in (cal, short))
        assert np.isnan(cut["p_churn_365"]).all() and not np.isnan(full["p_churn_365"]).any()
        for key in ("p_churn", "p_expand", *CURVE_COLUMNS[:-1]):
            assert np.array_equal(full[key], cut[key]), key  # the same draws: the windows that fit are unchanged


def test_the_calendar_reaches_a_year_past_the_last_snapshot() -> None:
    cal = build_calendar(START, 6)
    last = max(m for m in range(cal.months + 1) if int(cal.ms(m)) <= int(cal.ms(cal.months)) + max(CURVE_DAYS))
    assert last + TERM_AHEAD <= cal.last_month == cal.months + FUTURE_MONTHS


def test_the_futures_that_go_on_are_whole_pairs_first() -> None:
    f = Futures.of(np.array([7, 3]), paths=6)  # three pairs per account
    pos, g = f.head(3)
    assert pos.tolist() == [0, 3, 6, 9, 1, 4]  # the first pair of each, then the first of the second pair
    assert g.rows.tolist() == [7, 3, 7, 3, 7, 3] and g.owner.tolist() == [0, 1, 0, 1, 0, 1] and g.pairs == 2
    pos, g = Futures.of(np.array([7, 3]), paths=5).head(3)
    assert pos.tolist() == [0, 2, 4, 6, 8, 9] and g.paths == 3  # the unpaired one where there is one
    assert Futures.of(np.array([7, 3]), paths=4).head(10)[0].tolist() == list(range(8))
