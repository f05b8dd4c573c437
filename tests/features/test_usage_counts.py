"""Usage rows that are counts per period (``event_count``, ``duration_secs``, no user ids): every usage feature
weighs a row by the events it stands for, on hand-dated rows and on a generated world rolled up to one row per
account, UTC day and event type, which must give the same features as its single events."""

from datetime import datetime

import duckdb
import pandas as pd
import pytest

from features.catalog import Available, available, feature
from pipelines.generate.run import generate
from pipelines.generate.simulate import Oracle
from pipelines.ingest import ingest
from pipelines.snapshots import snapshot_dates
from pipelines.snapshots.inputs import coverage
from tests.factories import as_contract
from tests.features.checks import assert_matches_reference, assert_same, engine_snapshots, normalised
from tests.features.reference import load_raw, read_raw, reference_snapshots
from tests.features.worlds import AS_OF, DAY, assert_values, at, day, midnight, world

HOUR = pd.Timedelta(hours=1)
NO_USERS = {name: "usage_events.user_id has no values" for name in (
    "active_users_7d", "active_users_30d", "active_users_prev_30d", "active_users_trend_30d",
    "active_users_per_seat_7d", "active_users_per_seat_30d", "events_per_active_user_30d",
)}  # fmt: skip
NO_DURATIONS = {name: "usage_events.duration_secs has no values" for name in ("usage_hours_7d", "usage_hours_30d")}


def _rows(account: str, ts: pd.Timestamp, event_type: str, count: int | None, secs: float | None = None,
          user: str | None = None) -> dict[str, object]:  # fmt: skip
    return {"account_id": account, "ts": ts, "event_type": event_type, "event_count": count, "duration_secs": secs,
            "user_id": user}  # fmt: skip


def test_rows_weigh_their_event_count_and_a_zero_count_makes_nothing_seen() -> None:
    tables = world(
        ("A1", "A2"),
        usage_events=[
            # The latest rows stand for no event: the day is not active, U9 not a user, export not a feature
            # used, the login not a login; their time still counts as use.
            _rows("A1", AS_OF - DAY + 8 * HOUR, "export", 0, secs=600),
            _rows("A1", AS_OF - DAY + 9 * HOUR, "login", 0, user="U9"),
            _rows("A1", AS_OF - 2 * DAY + 10 * HOUR, "report_run", 3, secs=1800),
            _rows("A1", AS_OF - 5 * DAY, "login", 2),
            _rows("A1", AS_OF - 10 * DAY, "bulk_edit", None, secs=120, user="U1"),  # no count: one event
            _rows("A1", AS_OF - 40 * DAY, "login", 5, secs=3600, user="U2"),
            _rows("A1", AS_OF - 50 * DAY, "integration_connected", 0, user="U3"),  # a milestone not reached
            _rows("A1", AS_OF - 60 * DAY, "first_report_created", 4),
            _rows("A1", AS_OF - 90 * DAY, "export", 7),
            _rows("A1", AS_OF, "report_run", 100, secs=9999),  # at as_of: not seen yet
            _rows("A2", AS_OF - 3 * DAY, "report_run", 0, user="U1"),  # only a row of no events
        ],
    )
    got = assert_matches_reference(tables, [midnight(AS_OF)])
    assert_values(
        at(got, "A1"),
        {
            "events_7d": 5, "events_30d": 6, "events_90d": 22, "events_prev_30d": 9,
            "logins_7d": 2, "logins_30d": 2, "logins_90d": 7, "logins_prev_30d": 5,
            "active_days_7d": 2, "active_days_30d": 3, "active_days_90d": 6, "exports_30d": 0, "exports_90d": 7,
            "days_since_last_event": 2, "days_since_last_login": 5,
            "active_users_7d": 0, "active_users_30d": 1, "active_users_prev_30d": 1,
            "features_used_30d": 2, "features_used_90d": 3,
            "usage_hours_7d": 2400 / 3600, "usage_hours_30d": 2520 / 3600,
            "events_trend_30d": 6 / 9 - 1, "logins_trend_30d": 2 / 5 - 1, "login_share_30d": 2 / 6,
            "events_per_seat_30d": 0.6, "events_per_active_user_30d": 6.0,
            "milestones_reached": 1, "milestone_integration_connected": 0, "milestone_first_report_created": 1,
            "days_to_first_value": 457,  # 2023-01-01 to 2024-04-02
        },
    )  # fmt: skip
    assert_values(
        at(got, "A2"),
        {"events_90d": 0, "active_days_90d": 0, "active_users_30d": 0, "features_used_90d": 0,
         "days_since_last_event": 91, "usage_hours_30d": 0.0},
    )  # fmt: skip


def usage_off(tables: dict[str, pd.DataFrame]) -> tuple[Available, dict[str, str]]:
    """What ``available`` keeps of the data, and the engagement and milestone features it switches off (why)."""
    with duckdb.connect() as con:
        load_raw(con, tables)
        kept = available(coverage(con))
    return kept, {n: why for n, why in kept.off.items() if feature(n).family in ("engagement", "milestones")}


def test_the_hours_need_durations_and_the_active_users_need_user_ids() -> None:
    counts = world(usage_events=[_rows("A1", day("2024-05-20"), "report_run", 3)])
    events = world(usage_events=[_rows("A1", day("2024-05-20T10:00"), "report_run", None, secs=60, user="U1")])
    assert usage_off(counts)[1] == NO_USERS | NO_DURATIONS
    assert usage_off(events)[1] == {}


MONTHLY = snapshot_dates(datetime(2024, 2, 1).date(), datetime(2024, 12, 1).date(), "month")
WEEKLY = snapshot_dates(datetime(2024, 2, 5).date(), datetime(2024, 12, 30).date(), "week")[::5]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    root = tmp_path_factory.mktemp("generated")
    generate(root / "src", accounts=150, months=12, seed=23, oracle=Oracle(paths=0))
    ingest(root / "src", root / "warehouse.duckdb")
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        return read_raw(con)


def per_day(usage: pd.DataFrame) -> pd.DataFrame:
    """The usage events as a product-analytics export gives them: per account, UTC day and event type, the number
    of events, at midnight, with no user."""
    rows = usage.assign(ts=usage["ts"].dt.floor("D")).groupby(["account_id", "ts", "event_type"], as_index=False)
    return as_contract("usage_events", rows.size().rename(columns={"size": "event_count"}))


def test_counts_per_day_give_the_features_of_their_single_events(generated: dict[str, pd.DataFrame]) -> None:
    events = generated
    counts = events | {"usage_events": per_day(events["usage_events"])}
    assert len(counts["usage_events"]) < 0.8 * len(events["usage_events"]), "the rollup merged too few events"
    # Without user ids, the active users and the features read from them are off; without durations (the
    # generator has none), the hours.
    kept, off = usage_off(counts)
    assert off == NO_USERS | NO_DURATIONS and usage_off(events)[1] == NO_DURATIONS
    # The milestones reached during onboarding compare the milestone's first time with sign-up + onboarding_days
    # to the microsecond: counts per day date every event at midnight, so one reached late on its deadline day
    # would count as in time. Every other usage feature reads days only.
    by_time = {"milestones_in_onboarding", "milestones_missed_in_onboarding"}
    names = [f.name for fam in kept.families if fam.name in ("engagement", "milestones") for f in fam.features]
    names = [n for n in names if n not in by_time]
    assert len(names) >= 25
    dates = MONTHLY + WEEKLY
    got, want = engine_snapshots(counts, dates), engine_snapshots(events, dates)
    assert_same(got, reference_snapshots(counts, dates))
    a, b = normalised(got)[["as_of", "account_id", *names]], normalised(want)[["as_of", "account_id", *names]]
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    varied = [n for n in names if b[n].nunique() > 2]
    assert len(varied) >= 20, varied
