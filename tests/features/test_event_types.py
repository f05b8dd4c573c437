"""Per event type features: equal to a brute-force pandas count (``reference_event_types``) on hand-dated rows and
on the factory's world, with names that need quoting, rows of counts per day, and the rest counted as "other"."""

from datetime import datetime

import pandas as pd

from features.catalog import features
from models.sentences import sentence
from pipelines.snapshots import snapshot_dates
from tests.factories import T0, valid_tables
from tests.features.checks import assert_matches_reference
from tests.features.typed import TYPED
from tests.features.worlds import AS_OF, DAY, at, day, midnight, world


def _hand_made() -> dict[str, pd.DataFrame]:
    usage = [
        {"ts": day("2024-05-31T23:59"), "event_type": "it's Odd.type"},
        {"ts": day("2024-05-20"), "event_type": "it's Odd.type", "event_count": 3},
        {"ts": day("2024-04-20"), "event_type": "it's Odd.type", "event_count": 2},
        {"ts": day("2024-05-30"), "event_type": "report_run", "event_count": 0},  # stands for no event
        {"ts": day("2024-05-10"), "event_type": "report_run"},
        {"ts": day("2024-05-11"), "event_type": "login", "event_count": 4},
        {"ts": day("2024-06-01"), "event_type": "login"},  # at as_of: not seen
        {"ts": day("2024-05-15"), "event_type": "Page Viewed"},  # another type: "other"
        {"ts": day("2024-03-10"), "event_type": "app.open", "event_count": 5},
        {"ts": day("2024-05-02"), "event_type": "report_run", "account_id": "A2"},
    ]
    return world(plain=("A1", "A2"), usage_events=usage)


def test_per_type_features_equal_a_brute_force_count_on_hand_dated_rows() -> None:
    got = assert_matches_reference(_hand_made(), [midnight(AS_OF), midnight(AS_OF + 40 * DAY)], TYPED)
    a1 = at(got)
    # Hand-computed: 1 + 3 in the last 30 days, 2 in the 30 before; last one on May 31 (1 day before June 1).
    assert (a1["it_s_odd_type_events_30d"], a1["it_s_odd_type_events_prev_30d"]) == (4, 2)
    assert a1["days_since_last_it_s_odd_type_event"] == 1
    assert a1["it_s_odd_type_events_trend_30d"] == 1.0
    assert (a1["other_types_events_30d"], a1["other_types_events_90d"]) == (1, 6)
    assert a1["reports_per_login_30d"] == 0.25
    assert a1["days_since_last_report_run_event"] == 22  # the zero-count row of May 30 is not an event


def test_per_type_features_equal_a_brute_force_count_on_the_factory_world() -> None:
    dates = snapshot_dates((T0 + 40 * DAY).date(), (T0 + 200 * DAY).date(), "week")
    got = assert_matches_reference(valid_tables(), dates, TYPED)
    assert got["report_run_events_30d"].sum() > 0 and got["other_types_events_30d"].sum() > 0


def test_per_type_reasons_name_the_type() -> None:
    by_name = {f.name: f for f in features(TYPED)}
    assert sentence(by_name["report_run_events_30d"], 3.0) == "report events in the last 30 days: 3"
    assert sentence(by_name["report_run_events_trend_30d"], float("nan")) == "report events: none in the 30 days before"
    assert sentence(by_name["report_run_events_trend_30d"], 0.5) == (
        "report events rose 50% over the last 30 days against the 30 before"
    )
    assert sentence(by_name["days_since_last_report_run_event"], 91.0) == (
        "days since the last report event: none in 90 days"
    )
    assert by_name["it_s_odd_type_events_30d"].family == "relationship"


def test_the_default_configuration_counts_no_type_by_itself() -> None:
    assert not any("_events_share_" in f.name for f in features())
    assert isinstance(midnight(AS_OF), datetime)
