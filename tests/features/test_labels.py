"""Churn and upsell labels at the edges of the horizon, the grace period, the margin and the end of the data: the
engine equals the brute-force reference, and both equal the values worked out by hand."""

import pandas as pd
import pytest

from features.labels import LabelConfig
from tests.features.checks import assert_labels_match
from tests.features.worlds import AS_OF, DAY, LONG_AGO, US, at, midnight, world

H, G = 90 * DAY, 30 * DAY  # the default horizon and grace period
DATES = [midnight(AS_OF)]
FAR = AS_OF + 1000 * DAY  # a data end that labels everything


def _row(account: str, start: pd.Timestamp = LONG_AGO, end: pd.Timestamp | None = None, **more: object) -> dict:
    return {"account_id": account, "start_at": start, "end_at": end, **more}


def _churn_world() -> dict[str, pd.DataFrame]:
    return world(
        (),
        accounts=[{"account_id": a} for a in ("L1", "L2", "L3", "L4", "L5", "L6")],
        subscriptions=[
            _row("L1", end=AS_OF + H),  # ends on the last instant of the horizon: churn
            _row("L2", end=AS_OF + H + US),  # a microsecond later: not within the horizon
            _row("L3", end=AS_OF + 10 * DAY),  # comes back exactly at the end of the grace period: not churn
            _row("L3", AS_OF + 10 * DAY + G),
            _row("L4", end=AS_OF + 10 * DAY),  # comes back a microsecond too late: churn
            _row("L4", AS_OF + 10 * DAY + G + US),
            _row("L5", end=AS_OF + 80 * DAY),  # comes back within the grace, then leaves for good after the horizon
            _row("L5", AS_OF + 100 * DAY, AS_OF + 200 * DAY),
            _row("L6"),  # never leaves
        ],
    )


def test_churn_at_the_edges_of_the_horizon_and_the_grace_period() -> None:
    got = assert_labels_match(_churn_world(), DATES, LabelConfig(), FAR)
    churn = {a: at(got, a)["churn"] for a in ("L1", "L2", "L3", "L4", "L5", "L6")}
    assert churn == {"L1": 1, "L2": 0, "L3": 0, "L4": 1, "L5": 0, "L6": 0}
    ends = {a: at(got, a)["service_ends_at"] for a in ("L1", "L3", "L4", "L5", "L6")}
    assert ends["L1"] == AS_OF + H and ends["L4"] == AS_OF + 10 * DAY and ends["L5"] == AS_OF + 200 * DAY
    assert pd.isna(ends["L3"]) and pd.isna(ends["L6"])
    assert (got["upsell"] == 0).all()


def test_upsell_needs_strictly_more_than_the_margin_within_the_horizon() -> None:
    later = AS_OF + 30 * DAY
    tables = world(
        (),
        accounts=[{"account_id": a} for a in ("U1", "U2", "U3", "U4", "U5", "U6")],
        subscriptions=[
            *(_row(a, end=later) for a in ("U1", "U2", "U3")),
            _row("U1", later, mrr=110.0, seats=11),  # exactly 10% more: not an upsell
            _row("U2", later, mrr=110.01),  # just over on MRR
            _row("U3", later, mrr=100.0, seats=12),  # over on seats alone
            _row("U4", end=AS_OF + H),
            _row("U4", AS_OF + H, mrr=200.0),  # starts on the last instant of the horizon
            _row("U5", end=AS_OF + H + US),
            _row("U5", AS_OF + H + US, mrr=200.0),  # a microsecond after it
            _row("U6", end=later),
            _row("U6", later, mrr=109.99),  # just under
        ],
    )
    got = assert_labels_match(tables, DATES, LabelConfig(), FAR)
    upsell = {a: at(got, a)["upsell"] for a in ("U1", "U2", "U3", "U4", "U5", "U6")}
    assert upsell == {"U1": 0, "U2": 1, "U3": 1, "U4": 1, "U5": 0, "U6": 0}
    assert (got["churn"] == 0).all()


@pytest.mark.parametrize(("mrr", "upsell"), [(124.99, 0), (125.0, 0), (125.01, 1)])
def test_a_custom_margin_is_exclusive(mrr: float, upsell: int) -> None:
    later = AS_OF + 10 * DAY
    tables = world(
        (), accounts=[{"account_id": "A1"}], subscriptions=[_row("A1", end=later), _row("A1", later, mrr=mrr)]
    )
    got = assert_labels_match(tables, DATES, LabelConfig(margin=0.25), FAR)
    assert at(got)["upsell"] == upsell


@pytest.mark.parametrize(
    ("data_end", "churn_known", "upsell_known"),
    [
        (AS_OF + H + G, True, True),  # churn needs the horizon and the grace period inside the data
        (AS_OF + H + G - US, False, True),
        (AS_OF + H, False, True),  # upsell needs the horizon only
        (AS_OF + H - US, False, False),
    ],
)
def test_snapshots_near_the_end_of_the_data_are_unlabeled(
    data_end: pd.Timestamp, churn_known: bool, upsell_known: bool
) -> None:
    got = assert_labels_match(_churn_world(), DATES, LabelConfig(), data_end)
    assert got["churn"].notna().all() == churn_known and got["churn"].isna().all() != churn_known
    assert got["upsell"].notna().all() == upsell_known and got["upsell"].isna().all() != upsell_known


def test_labels_cover_exactly_the_spine_over_several_dates() -> None:
    tables = _churn_world()
    dates = [midnight(AS_OF - 30 * DAY), *DATES, midnight(AS_OF + 85 * DAY), midnight(AS_OF + 120 * DAY)]
    got = assert_labels_match(tables, dates, LabelConfig(horizon_days=60, grace_days=10, margin=0.0), FAR)
    after = got[got["as_of"] == AS_OF + 120 * DAY]
    assert set(after["account_id"]) == {"L3", "L4", "L5", "L6"}  # L1 and L2 have left, L3 and L4 came back


def _event_world() -> dict[str, pd.DataFrame]:
    """``_churn_world`` with a churn event at the end of every row whose service stops (what a CRM would record)."""
    ends = [(a, AS_OF + d) for a, d in (("L1", H), ("L2", H + US), ("L3", 10 * DAY), ("L4", 10 * DAY),
                                        ("L5", 80 * DAY), ("L5", 200 * DAY))]  # fmt: skip
    events = world((), churn_events=[{"account_id": a, "churned_at": t} for a, t in ends])["churn_events"]
    return _churn_world() | {"churn_events": events}


def test_churn_events_at_the_edges_of_the_horizon_and_the_grace_period() -> None:
    """The churn events, once the data have any, give the labels the subscriptions' ends gave: an event on the
    horizon's last instant is churn, a microsecond later not; a restart exactly at the end of the grace period
    undoes the event, a microsecond later not."""
    got = assert_labels_match(_event_world(), DATES, LabelConfig(), FAR)
    churn = {a: at(got, a)["churn"] for a in ("L1", "L2", "L3", "L4", "L5", "L6")}
    assert churn == {"L1": 1, "L2": 0, "L3": 0, "L4": 1, "L5": 0, "L6": 0}
    ends = {a: at(got, a)["service_ends_at"] for a in ("L1", "L2", "L3", "L4", "L5", "L6")}
    assert ends["L1"] == AS_OF + H and ends["L2"] == AS_OF + H + US and ends["L4"] == AS_OF + 10 * DAY
    assert ends["L5"] == AS_OF + 200 * DAY and pd.isna(ends["L3"]) and pd.isna(ends["L6"])
    assert (got["upsell"] == 0).all()


@pytest.mark.parametrize(
    ("data_end", "churn_known", "upsell_known"),
    [(AS_OF + H + G, True, True), (AS_OF + H + G - US, False, True), (AS_OF + H - US, False, False)],
)
def test_labels_from_churn_events_are_unlabeled_near_the_end_as_well(
    data_end: pd.Timestamp, churn_known: bool, upsell_known: bool
) -> None:
    got = assert_labels_match(_event_world(), DATES, LabelConfig(), data_end)
    assert got["churn"].notna().all() == churn_known and got["churn"].isna().all() != churn_known
    assert got["upsell"].notna().all() == upsell_known and got["upsell"].isna().all() != upsell_known
