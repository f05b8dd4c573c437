"""No leakage: a snapshot depends only on what was known before its as_of, in UTC, whatever zone the input used.

- rows dated at or after as_of, added in any number to any table, and changes of existing rows dated then (an
  invoice paid, failed or voided later, a ticket escalated later, a contact promoted later) change no feature of
  the snapshot (hypothesis); a leaky feature planted in the registry makes that test fail. A subscription row
  starting exactly at as_of is the one exception: "active at as_of" is half-open (``features.rollups.active_at``),
  so it is the state at as_of (``test_active_rule``), and new subscription rows start strictly after as_of;
- removing every row dated at or after as_of (but subscription rows starting exactly at it),
  forgetting every later time (a resolution, a payment, an end, a departure) and undoing every later state change,
  changes nothing either;
- times given in other zones, or naive, load as the same UTC instants and give the same snapshots; a late evening
  event west of UTC counts on its UTC day.
"""

import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from features.catalog import families
from features.config import FeatureConfig
from features.contract import TABLES
from features.registry import Family, Feature
from pipelines.ingest import ingest
from pipelines.snapshots import build_fast, read_snapshots
from tests.factories import T0, valid_tables, write_source
from tests.features import checks
from tests.features.checks import assert_same, censored, engine_snapshots
from tests.features.later_facts import (
    INVOICE_CHANGES,
    Changes,
    Rows,
    invoice_change,
    later_rows,
    open_invoices,
    plain_contacts,
    plain_tickets,
    promotion,
    state_changes,
    with_dated_states,
    with_later,
)
from tests.features.reference import read_raw, reference_snapshots
from tests.features.typed import TYPED
from tests.features.worlds import AS_OF, DAY, midnight, world

BASE = with_dated_states(valid_tables())
AS_OFS = [T0 + 45 * DAY, T0 + 91 * DAY, T0 + 140 * DAY]  # midnights inside the factory's 200 days of activity
ACCOUNTS = [*BASE["accounts"]["account_id"], "NEW1"]
_BASE_SNAPSHOTS: dict[pd.Timestamp, pd.DataFrame] = {}
Case = tuple[pd.Timestamp, Rows, Changes]


def _base_snapshot(as_of: pd.Timestamp) -> pd.DataFrame:
    if as_of not in _BASE_SNAPSHOTS:
        _BASE_SNAPSHOTS[as_of] = engine_snapshots(BASE, [midnight(as_of)])
    return _BASE_SNAPSHOTS[as_of]


@pytest.mark.parametrize("as_of", AS_OFS, ids=lambda t: t.date().isoformat())
def test_forgetting_everything_from_as_of_on_changes_nothing(as_of: pd.Timestamp) -> None:
    dates = [midnight(as_of)]
    assert_same(engine_snapshots(censored(BASE, as_of), dates), _base_snapshot(as_of), ("censored", "whole"))


@pytest.mark.parametrize("as_of", AS_OFS, ids=lambda t: t.date().isoformat())
def test_the_base_has_rows_whose_state_can_change_later(as_of: pd.Timestamp) -> None:
    """The property test below changes existing rows only where their change lies after as_of: at each as_of there
    are such rows to change, so it is not vacuous."""
    assert open_invoices(BASE["invoices"], as_of)
    assert plain_tickets(BASE["support_tickets"], as_of)
    assert plain_contacts(BASE["contacts"], as_of)


@pytest.mark.parametrize("as_of", AS_OFS, ids=lambda t: t.date().isoformat())
@pytest.mark.parametrize("kind", INVOICE_CHANGES)
def test_every_later_state_change_at_once_changes_nothing(as_of: pd.Timestamp, kind: str) -> None:
    """Every open invoice paid, failed or voided exactly at as_of (the edge), every plain ticket escalated and every
    plain contact made champion then."""
    invoices, contacts = BASE["invoices"], BASE["contacts"]
    changes: Changes = {
        "invoices": {
            i: invoice_change(kind, as_of)
            for i in open_invoices(invoices, as_of)
            if kind != "failed without a time" or invoices["due_at"].iloc[i] >= as_of
        },
        "support_tickets": {
            i: {"priority": "urgent", "escalated_at": as_of} for i in plain_tickets(BASE["support_tickets"], as_of)
        },
        "contacts": {i: promotion(contacts.iloc[i], "champion", as_of) for i in plain_contacts(contacts, as_of)},
    }
    later = with_later(BASE, {}, changes)
    assert_same(engine_snapshots(later, [midnight(as_of)]), _base_snapshot(as_of), ("changed later", "as it was"))


@st.composite
def later_facts(draw: st.DrawFn) -> Case:
    """A snapshot date, rows dated at or after it, and changes of existing rows dated at or after it."""
    as_of = draw(st.sampled_from(AS_OFS))
    return as_of, draw(later_rows(as_of, ACCOUNTS)), draw(state_changes(BASE, as_of))


def _assert_later_facts_change_nothing(case: Case) -> None:
    as_of, rows, changes = case
    later = with_later(BASE, rows, changes)
    assert_same(engine_snapshots(later, [midnight(as_of)]), _base_snapshot(as_of), ("with later facts", "without"))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=later_facts())
def test_rows_and_state_changes_dated_at_or_after_as_of_change_no_feature(case: Case) -> None:
    _assert_later_facts_change_nothing(case)


# Features that read a state field as it stands in the export, without its time: each leaks a later change.
LEAKY = {
    "leaky_failed_invoices": ("payments", "COUNT(CASE WHEN i.status = 'failed' THEN 1 END)"),
    "leaky_paid_invoices": ("payments", "COUNT(CASE WHEN i.status = 'paid' THEN 1 END)"),
    "leaky_high_priority_tickets": ("support", "COUNT(CASE WHEN t.priority IN ('high', 'urgent') THEN 1 END)"),
    "leaky_champions": (
        "relationship",
        "COUNT(CASE WHEN c.role = 'champion' AND c.created_at IS NOT NULL "
        "AND (c.left_at IS NULL OR c.left_at >= s.as_of) THEN 1 END)",
    ),
}


def _plant(monkeypatch: pytest.MonkeyPatch, family: str, feature: Feature) -> None:
    """Add ``feature`` to the first source of ``family`` in the registry the engine builds from (for this test
    only: monkeypatch puts the product's registry back)."""
    real = checks.families

    def planted(cfg: FeatureConfig = FeatureConfig()) -> tuple[Family, ...]:
        out = []
        for fam in real(cfg):
            if fam.name == family:
                first, *rest = fam.sources
                fam = replace(fam, sources=(replace(first, features=(*first.features, feature)), *rest))
            out.append(fam)
        return tuple(out)

    monkeypatch.setattr(checks, "families", planted)
    monkeypatch.setattr(sys.modules[__name__], "_BASE_SNAPSHOTS", {})  # snapshots with the planted feature


@pytest.mark.parametrize("name", LEAKY)
def test_a_planted_leaky_feature_fails_the_property_test(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    family, sql = LEAKY[name]
    _plant(monkeypatch, family, Feature(name=name, family=family, description="leaks", unit="count", sql=sql))
    assert name in engine_snapshots(BASE, [midnight(AS_OFS[0])]).columns

    # The same property and draws as the test above, derandomized and without shrinking, so that it fails fast.
    @settings(max_examples=25, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
              report_multiple_bugs=False, suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
    @given(case=later_facts())
    def property_test(case: Case) -> None:
        _assert_later_facts_change_nothing(case)

    with pytest.raises(AssertionError, match=rf"(?m)^{name}: \d+ rows differ"):
        property_test()


def _as_text_in_zones(frame: pd.DataFrame, zones: list[str]) -> pd.DataFrame:
    """Time columns as ISO text with offsets, the zone changing from row to row."""
    out = frame.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = [None if pd.isna(t) else t.tz_convert(zones[i % len(zones)]).isoformat()
                        for i, t in enumerate(out[col])]  # fmt: skip
    return out


def _with_times(tables: Mapping[str, pd.DataFrame], convert: str) -> dict[str, pd.DataFrame]:
    out = {}
    for name, frame in tables.items():
        frame = frame.copy()
        for col in TABLES[name].time_columns:
            frame[col] = frame[col].dt.tz_convert(None) if convert == "naive" else frame[col].dt.tz_convert(convert)
        out[name] = frame
    return out


def test_times_in_any_zone_or_naive_give_the_same_utc_instants_and_snapshots(tmp_path: Path) -> None:
    tables = with_dated_states(valid_tables())
    sources = {
        "utc_csv": write_source(tables, tmp_path / "utc_csv", "csv"),
        "naive_parquet": write_source(_with_times(tables, "naive"), tmp_path / "naive_parquet"),
        "pacific_parquet": write_source(_with_times(tables, "America/Los_Angeles"), tmp_path / "pacific_parquet"),
    }
    zoned = tmp_path / "zoned_csv"
    zoned.mkdir()
    for name, frame in tables.items():
        _as_text_in_zones(frame, ["-08:00", "+05:30", "Europe/Paris", "UTC"]).to_csv(zoned / f"{name}.csv", index=False)
    sources["zoned_csv"] = zoned
    dates = [midnight(t) for t in AS_OFS]
    want = engine_snapshots(tables, dates)
    for label, source in sources.items():
        report = ingest(source, tmp_path / f"{label}.duckdb")
        assert report.quarantined == 0, (label, report.reasons)
        with duckdb.connect(str(tmp_path / f"{label}.duckdb")) as con:
            raw = read_raw(con)
            for name, frame in tables.items():
                key = list(frame.columns)
                pd.testing.assert_frame_equal(
                    raw[name].sort_values(key, ignore_index=True), frame.sort_values(key, ignore_index=True), obj=label
                )
            build_fast(con, dates, families=families())
            assert_same(read_snapshots(con), want, (label, "utc frames"))


def test_a_late_evening_event_west_of_utc_counts_on_its_utc_day(tmp_path: Path) -> None:
    tables = world()
    source = write_source({n: f for n, f in tables.items() if n != "usage_events"}, tmp_path / "src", "csv")
    # 20:00 on May 31 in UTC-8 is 04:00 on June 1 in UTC: after the June 1 snapshot, the day before June 2's.
    (source / "usage_events.csv").write_text(
        "account_id,user_id,ts,event_type\nA1,U1,2024-05-31T20:00:00-08:00,login\n"
    )
    ingest(source, tmp_path / "wh.duckdb")
    dates = [midnight(AS_OF), midnight(AS_OF + DAY)]
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        con.execute("SET TimeZone = 'America/Los_Angeles'")  # the session's zone must not matter
        build_fast(con, dates, families=families())
        got = read_snapshots(con)
        raw = read_raw(con)
    assert raw["usage_events"]["ts"].tolist() == [pd.Timestamp("2024-06-01T04:00", tz="UTC")]
    assert_same(got, reference_snapshots(raw, dates))
    june1, june2 = got.iloc[0], got.iloc[1]
    assert (june1["events_7d"], june1["days_since_last_event"]) == (0, 91)
    assert (june2["events_7d"], june2["logins_7d"], june2["days_since_last_event"]) == (1, 1, 1)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=later_facts())
def test_later_facts_change_no_per_event_type_feature(case: Case) -> None:
    """The same property with every event type of the base counted one by one (``tests.features.typed``)."""
    as_of, rows, changes = case
    dates = [midnight(as_of)]
    later = with_later(BASE, rows, changes)
    assert_same(engine_snapshots(later, dates, TYPED), engine_snapshots(BASE, dates, TYPED), ("later", "without"))
