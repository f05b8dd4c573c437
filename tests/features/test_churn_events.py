"""Overlapping subscriptions, trials and churn events: the spine sums what serves as_of, a trial is no service, and
churn comes from the churn events when the data have any. Hand-dated cases (engine = reference = values worked out
by hand), then a generated world whose labels are the same from its subscriptions' ends as from the churn events
that ``pipelines.generate.churn_events`` derives from them."""

from datetime import UTC, datetime

import duckdb
import pandas as pd
import pytest

from features.labels import LabelConfig
from pipelines.generate.churn_events import churn_events
from pipelines.generate.run import generate
from pipelines.generate.simulate import Oracle
from pipelines.ingest import ingest
from pipelines.snapshots import data_bounds, snapshot_dates
from pipelines.snapshots.inputs import create_spine
from tests.factories import as_contract
from tests.features.checks import (
    assert_labels_match,
    assert_matches_reference,
    assert_same,
    censored,
    engine_snapshots,
)
from tests.features.reference import load_raw, read_raw
from tests.features.worlds import AS_OF, DAY, LONG_AGO, US, assert_values, at, midnight, world
from tests.pipelines.snapshots.test_fast_build import assert_same_rollups

H, G = 90 * DAY, 30 * DAY  # the default horizon and grace period
DATES = [midnight(AS_OF)]
FAR = AS_OF + 1000 * DAY  # a data end that labels everything


def _row(account: str, start: pd.Timestamp = LONG_AGO, end: pd.Timestamp | None = None, **more: object) -> dict:
    return {"account_id": account, "start_at": start, "end_at": end, **more}


def _labels(tables: dict[str, pd.DataFrame], dates: list[datetime] = DATES) -> dict[str, pd.Series]:
    """The engine's labels (equal to the reference's) at the first of ``dates``, by account."""
    got = assert_labels_match(tables, dates, LabelConfig(), FAR)
    return {a: at(got, a, pd.Timestamp(dates[0])) for a in got.loc[got["as_of"] == dates[0], "account_id"]}


def test_overlapping_rows_are_summed_and_trials_left_out_of_the_spine() -> None:
    tables = world(
        (),
        accounts=[{"account_id": a} for a in ("O1", "O2", "O3")],
        subscriptions=[
            _row("O1", mrr=100.0, seats=10, plan="pro"),
            _row("O1", AS_OF - 10 * DAY, mrr=30.0, seats=5, plan="addon"),  # an add-on, overlapping
            _row("O1", AS_OF - 200 * DAY, AS_OF - DAY, mrr=70.0, seats=7),  # overlapped, ended before as_of
            _row("O1", AS_OF - 5 * DAY, mrr=500.0, seats=50, plan="trial", status="trial"),  # a trial: no service
            _row("O1", AS_OF + DAY, mrr=1000.0, seats=100),  # starts after as_of: not yet (test_active_rule: at it)
            _row("O2", mrr=40.0, seats=4, status="trial"),  # only a trial: no snapshot
            _row("O3", AS_OF - 20 * DAY, mrr=20.0, seats=2, plan="a", status=None),  # no status: service
            _row("O3", AS_OF - 20 * DAY, mrr=25.0, seats=3, plan="b", subscription_id="S99"),  # same start: greater id
        ],
    )
    got = assert_matches_reference(tables, DATES)
    assert set(got["account_id"]) == {"O1", "O3"}
    assert_values(at(got, "O1"), {"mrr": 130.0, "seats": 15, "plan": "addon", "days_on_current_terms": 10})
    assert_values(at(got, "O3"), {"mrr": 45.0, "seats": 5, "plan": "b", "days_on_current_terms": 20})
    assert_same_rollups(tables, [midnight(AS_OF - 3 * DAY), *DATES])  # the fast spine equals the portable one


def test_an_add_on_counts_as_upsell_by_its_size_added_to_the_rest() -> None:
    later = AS_OF + 20 * DAY
    tables = world(
        (),
        accounts=[{"account_id": a} for a in ("U1", "U2", "U3", "U4")],
        subscriptions=[
            *(_row(a) for a in ("U1", "U2", "U4")),  # MRR 100, 10 seats, open
            _row("U1", later, mrr=15.0, seats=1),  # 115 > 110: upsell (the add-on alone is far below)
            _row("U2", later, mrr=5.0, seats=1),  # 105 and 11 seats: not more than 10% above
            _row("U3", end=later),
            _row("U3", later, mrr=105.0, seats=10),  # a plan change: the old row ends as the new one starts
            _row("U4", later, AS_OF + 21 * DAY, mrr=500.0, seats=50, status="trial"),  # a trial adds nothing
        ],
    )
    labels = _labels(tables)
    assert {a: labels[a]["upsell"] for a in labels} == {"U1": 1, "U2": 0, "U3": 0, "U4": 0}
    assert all(labels[a]["churn"] == 0 for a in labels)


def test_a_trial_is_not_service_and_its_end_is_not_churn() -> None:
    tables = world(
        (),
        accounts=[{"account_id": a} for a in ("T1", "T2", "T3")],
        subscriptions=[
            _row("T1"),
            _row("T1", AS_OF - 10 * DAY, AS_OF + 10 * DAY, status="trial"),  # a trial add-on ends: not churn
            _row("T2", end=AS_OF + 10 * DAY),
            _row("T2", AS_OF + 10 * DAY, AS_OF + 200 * DAY, status="trial"),  # a trial does not carry service on
            _row("T3", end=AS_OF + 5 * DAY, status="trial"),  # only a trial: no snapshot, no label
            _row("T3", AS_OF + 5 * DAY),
        ],
    )
    labels = _labels(tables)
    assert set(labels) == {"T1", "T2"}
    assert (labels["T1"]["churn"], labels["T2"]["churn"]) == (0, 1)
    assert pd.isna(labels["T1"]["service_ends_at"]) and labels["T2"]["service_ends_at"] == AS_OF + 10 * DAY


def test_churn_comes_from_the_churn_events_when_there_are_any() -> None:
    c = AS_OF + 30 * DAY
    tables = world(
        (),
        accounts=[{"account_id": a} for a in ("E1", "E2", "E3", "E4", "E5", "E6", "E7")],
        subscriptions=[
            *(_row(a) for a in ("E1", "E2", "E3", "E4", "E5", "E7")),  # never ending
            _row("E2", c + G),  # restarts exactly at the end of the grace period: not churn
            _row("E3", c + G + US),  # a microsecond too late: churn
            _row("E6", end=AS_OF + 10 * DAY),  # its row ends, but no event says it churned
            _row("E7", c + DAY, status="trial"),  # a trial is no restart
        ],
        churn_events=[
            {"account_id": "E1", "churned_at": c, "kind": "voluntary"},
            {"account_id": "E2", "churned_at": c},
            {"account_id": "E3", "churned_at": c},
            {"account_id": "E4", "churned_at": AS_OF + H + US},  # after the horizon
            {"account_id": "E5", "churned_at": AS_OF + H},  # on its last instant
            {"account_id": "E7", "churned_at": c},
        ],
    )
    labels = _labels(tables)
    churn = {a: labels[a]["churn"] for a in sorted(labels)}
    assert churn == {"E1": 1, "E2": 0, "E3": 1, "E4": 0, "E5": 1, "E6": 0, "E7": 1}
    ends = {a: labels[a]["service_ends_at"] for a in sorted(labels)}
    assert ends["E1"] == ends["E3"] == ends["E7"] == c and ends["E4"] == AS_OF + H + US and ends["E5"] == AS_OF + H
    assert pd.isna(ends["E2"]) and pd.isna(ends["E6"])
    # A restart after a churn event is summed without the row the event ended: 100, not 200, so no upsell.
    assert all(labels[a]["upsell"] == 0 for a in labels)


def test_an_account_is_out_of_the_spine_from_its_churn_event_until_it_restarts() -> None:
    churned, back = AS_OF - 10 * DAY, AS_OF + 50 * DAY
    tables = world(
        (),
        accounts=[{"account_id": "X1"}],
        subscriptions=[_row("X1", mrr=100.0, seats=10), _row("X1", back, mrr=80.0, seats=8, plan="team")],
        churn_events=[{"account_id": "X1", "churned_at": churned}],
    )
    dates = [midnight(d) for d in (AS_OF - 20 * DAY, churned, AS_OF, back, back + DAY)]
    got = assert_matches_reference(tables, dates)
    assert list(got["as_of"]) == [AS_OF - 20 * DAY, back, back + DAY]  # at the event: out; from the restart on: in
    assert_values(at(got, "X1", AS_OF - 20 * DAY), {"mrr": 100.0, "seats": 10, "plan": "pro"})
    # After the restart, only the new row serves: the event ended the old, open one.
    assert_values(at(got, "X1", back + DAY), {"mrr": 80.0, "seats": 8, "plan": "team", "days_on_current_terms": 1})
    assert_same_rollups(tables, dates)
    labels = _labels(tables, [dates[0]])
    assert labels["X1"]["churn"] == 1 and labels["X1"]["service_ends_at"] == churned
    assert labels["X1"]["upsell"] == 0  # 80 after the restart, not 180


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, pd.DataFrame], datetime]:
    """The raw tables of a small generated world (no churn events: it writes none) and its data end."""
    root = tmp_path_factory.mktemp("generated")
    generate(root / "src", accounts=200, months=12, seed=3, oracle=Oracle(paths=0))
    ingest(root / "src", root / "warehouse.duckdb")
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        return read_raw(con), data_bounds(con)[1]


MONTHLY = snapshot_dates(datetime(2024, 2, 1).date(), datetime(2024, 12, 1).date(), "month")


def test_labels_are_the_same_from_the_derived_churn_events(
    generated: tuple[dict[str, pd.DataFrame], datetime],
) -> None:
    tables, data_end = generated
    assert tables["churn_events"].empty
    events = as_contract("churn_events", churn_events(tables["subscriptions"], pd.Timestamp(data_end), seed=1))
    with_events = tables | {"churn_events": events}
    assert len(events) > 20 and events["kind"].notna().all()

    by_ends = assert_labels_match(tables, MONTHLY, LabelConfig(), data_end)
    by_events = assert_labels_match(with_events, MONTHLY, LabelConfig(), data_end)
    assert by_ends["churn"].sum() > 10 and by_ends["upsell"].sum() > 10 and by_ends["churn"].isna().any()
    # Every row alike (the same spine, so the same keys), service_ends_at wherever the events can know it: an
    # end at or after the data end is no event yet.
    known = by_ends["service_ends_at"] < pd.Timestamp(data_end)
    masked = [frame.assign(service_ends_at=frame["service_ends_at"].where(known)) for frame in (by_events, by_ends)]
    assert_same(*masked, ("events", "ends"))
    assert by_events.loc[~known, "service_ends_at"].isna().all()

    # And the spine itself (totals, plan, row) is the same with the events.
    spines = []
    for frames in (tables, with_events):
        with duckdb.connect() as con:
            load_raw(con, frames)
            create_spine(con, MONTHLY)
            spines.append(con.sql("SELECT * FROM spine ORDER BY ALL").to_arrow_table().to_pandas())
    pd.testing.assert_frame_equal(spines[0], spines[1])


@pytest.mark.parametrize("as_of", [MONTHLY[4], MONTHLY[-1]], ids=lambda d: d.date().isoformat())
def test_a_snapshot_with_churn_events_is_the_same_from_the_data_censored_at_its_as_of(
    generated: tuple[dict[str, pd.DataFrame], datetime], as_of: datetime
) -> None:
    tables, data_end = generated
    events = as_contract("churn_events", churn_events(tables["subscriptions"], pd.Timestamp(data_end)))
    with_events = tables | {"churn_events": events}
    whole = engine_snapshots(with_events, [as_of])
    assert_same(engine_snapshots(censored(with_events, pd.Timestamp(as_of)), [as_of]), whole, ("censored", "whole"))


def test_on_one_row_at_a_time_upsell_is_the_rule_of_single_rows(
    generated: tuple[dict[str, pd.DataFrame], datetime],
) -> None:
    """On the generated world (one subscription row serves at a time), the total at a start is that row's own
    size: upsell equals the former rule, a row starting within the horizon above the snapshot's own row."""
    tables, data_end = generated
    subs, margin = tables["subscriptions"], LabelConfig().margin
    got = assert_labels_match(tables, MONTHLY, LabelConfig(), data_end).dropna(subset=["upsell"])
    former = []
    for account_id, as_of in zip(got["account_id"], got["as_of"], strict=True):
        mine = subs[subs["account_id"] == account_id]
        now = mine[(mine["start_at"] <= as_of) & (mine["end_at"].isna() | (mine["end_at"] > as_of))]
        assert len(now) == 1
        later = mine[(mine["start_at"] > as_of) & (mine["start_at"] <= as_of + H)]
        mrr, seats = float(now["mrr"].iloc[0]), int(now["seats"].iloc[0])
        former.append(float(((later["mrr"] > mrr * (1 + margin)) | (later["seats"] > seats * (1 + margin))).any()))
    assert got["upsell"].tolist() == former and sum(former) > 10


def test_derived_churn_events_by_hand() -> None:
    end = datetime(2025, 1, 1, tzinfo=UTC)
    subs = world(
        (),
        accounts=[{"account_id": a} for a in ("D1", "D2", "D3")],
        subscriptions=[
            _row("D1", end=AS_OF),
            _row("D1", AS_OF + G, AS_OF + 40 * DAY),  # back within the grace period: one stretch
            _row("D1", AS_OF + 70 * DAY + US),  # back too late: the stretch ended at AS_OF + 40 days
            _row("D2", end=AS_OF),
            _row("D2", AS_OF + DAY, AS_OF + 100 * DAY, status="trial"),  # a trial carries nothing on
            _row("D3", end=pd.Timestamp(end)),  # ends at the data end: scheduled, not yet a churn
        ],
    )["subscriptions"]
    got = churn_events(subs, pd.Timestamp(end))
    assert list(got.columns) == ["account_id", "churned_at", "reason", "kind"]
    assert got[["account_id", "churned_at"]].values.tolist() == [["D1", AS_OF + 40 * DAY], ["D2", AS_OF]]
    assert got["reason"].isna().all() and got["kind"].isna().all()
    drawn = churn_events(subs, pd.Timestamp(end), seed=2)
    assert drawn["kind"].isin(["voluntary", "involuntary"]).all() and drawn["reason"].notna().all()
    # Without a data end, the latest start stands for it (AS_OF + 70 days): the same two events.
    pd.testing.assert_frame_equal(churn_events(subs), got)
