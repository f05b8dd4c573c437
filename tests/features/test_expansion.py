"""The expansion label (``features.expansion``, run by ``pipelines.training.expansion_labels``) on hand-dated
accounts, against values worked out by hand: an add-on, a plan change, a downgrade then an upgrade, an increase
after the horizon, a churned account, a trial, a churn event; and its agreement with the upsell label."""

import duckdb
import pandas as pd

from features.labels import LabelConfig
from pipelines.training.expansion_labels import expansion_arr
from tests.features.checks import engine_labels
from tests.features.reference import load_raw
from tests.features.worlds import AS_OF, DAY, LONG_AGO, US, midnight, world

H = 90 * DAY
FAR = AS_OF + 1000 * DAY  # a data end that labels everything
LATER = AS_OF + 30 * DAY


def _row(account: str, start: pd.Timestamp = LONG_AGO, end: pd.Timestamp | None = None, **more: object) -> dict:
    return {"account_id": account, "start_at": start, "end_at": end, **more}


# Each account starts at as_of with MRR 100 (one row, the default), and what follows; the expected expansion ARR.
CASES: dict[str, tuple[list[dict], float]] = {
    "addon": ([_row("addon"), _row("addon", LATER, mrr=30.0)], 12 * 30.0),
    "plan": ([_row("plan", end=LATER), _row("plan", LATER, mrr=250.0)], 12 * 150.0),  # the old row ends as it starts
    # down to 60 at 10 days, up to 180 at 40 days: the peak (180) against as_of's 100, not against the low point
    "down_up": (
        [
            _row("down_up", end=AS_OF + 10 * DAY),
            _row("down_up", AS_OF + 10 * DAY, AS_OF + 40 * DAY, mrr=60.0),
            _row("down_up", AS_OF + 40 * DAY, mrr=180.0),
        ],
        12 * 80.0,
    ),
    "down": ([_row("down", end=LATER), _row("down", LATER, mrr=40.0)], 0.0),  # a downgrade alone: no expansion
    "after": ([_row("after", end=AS_OF + H + US), _row("after", AS_OF + H + US, mrr=500.0)], 0.0),  # past the horizon
    "edge": ([_row("edge", end=AS_OF + H), _row("edge", AS_OF + H, mrr=120.0)], 12 * 20.0),  # on its last instant
    "churned": ([_row("churned", end=AS_OF + 20 * DAY)], 0.0),  # leaves within the horizon, never back
    # an add-on of 50 for 20 days, then a bigger add-on of 80: the largest total, 180, not the sum of the steps
    "two": (
        [
            _row("two"),
            _row("two", AS_OF + 5 * DAY, AS_OF + 25 * DAY, mrr=50.0),
            _row("two", AS_OF + 60 * DAY, mrr=80.0),
        ],
        12 * 80.0,
    ),
    "trial": ([_row("trial"), _row("trial", LATER, mrr=300.0, status="trial")], 0.0),  # a trial is never service
    # comes back after a churn event with more: the rows after the event serve, the old one no longer does
    "event": ([_row("event"), _row("event", AS_OF + 50 * DAY, mrr=130.0)], 12 * 30.0),
}
EVENTS = [{"account_id": "event", "churned_at": AS_OF + 40 * DAY}]


def _labels(tables: dict[str, pd.DataFrame], data_end: pd.Timestamp = FAR) -> pd.DataFrame:
    keys = pd.DataFrame({"account_id": sorted(CASES), "as_of": AS_OF})
    with duckdb.connect() as con:
        load_raw(con, tables)
        got = expansion_arr(con, keys, LabelConfig(), data_end.to_pydatetime())
    assert got is not None
    return keys.assign(expansion_arr=got)


def _world() -> dict[str, pd.DataFrame]:
    rows = [r for subs, _ in CASES.values() for r in subs]
    return world((), accounts=[{"account_id": a} for a in CASES], subscriptions=rows, churn_events=EVENTS)


def test_expansion_arr_equals_the_values_worked_out_by_hand() -> None:
    got = _labels(_world()).set_index("account_id")["expansion_arr"]
    want = pd.Series({a: v for a, (_, v) in CASES.items()}, name="expansion_arr")
    pd.testing.assert_series_equal(got.sort_index(), want.sort_index(), check_names=False, check_index_type=False)


def test_expansion_arr_is_unlabeled_when_the_data_end_before_the_horizon() -> None:
    assert _labels(_world(), AS_OF + H)["expansion_arr"].notna().all()
    assert _labels(_world(), AS_OF + H - US)["expansion_arr"].isna().all()


def test_a_key_that_is_no_snapshot_has_no_label() -> None:
    tables = world(("A1",), accounts=[{"account_id": "gone"}], subscriptions=[_row("gone", end=AS_OF - DAY)])
    keys = pd.DataFrame({"account_id": ["A1", "gone"], "as_of": AS_OF})
    with duckdb.connect() as con:
        load_raw(con, tables)
        got = expansion_arr(con, keys, LabelConfig(), FAR.to_pydatetime())
    assert got is not None and got.iloc[0] == 0.0 and pd.isna(got.iloc[1])


def test_an_increase_beyond_the_margin_is_an_upsell_and_none_is_no_upsell() -> None:
    """The two labels read the same totals: an MRR increase above the margin is an upsell, and a row that is no
    upsell gained at most the margin's share of its MRR."""
    tables = _world()
    cfg = LabelConfig()
    upsell = engine_labels(tables, [midnight(AS_OF)], cfg, FAR.to_pydatetime())[["account_id", "upsell"]]
    both = _labels(tables).merge(upsell, on="account_id")
    mrr_at = 100.0 * 12  # every account's ARR at as_of
    above = both["expansion_arr"] > cfg.margin * mrr_at
    assert (both.loc[above, "upsell"] == 1).all() and (both.loc[both["upsell"] == 0, "expansion_arr"] <= 120).all()
    assert above.sum() >= 5
