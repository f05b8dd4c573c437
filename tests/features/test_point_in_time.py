"""No leakage: a snapshot depends only on what was known before its as_of, in UTC, whatever zone the input used.

- rows dated at or after as_of, added in any number to any table, change no feature of the snapshot (hypothesis);
- removing every row dated at or after as_of, and forgetting every later time (a resolution, a payment, an end,
  a departure), changes nothing either;
- times given in other zones, or naive, load as the same UTC instants and give the same snapshots; a late evening
  event west of UTC counts on its UTC day.
"""

from collections.abc import Mapping
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.contract import EMAIL_EVENT_TYPES, PRIORITIES, TABLES
from pipelines.featurize import build_snapshots
from pipelines.ingest import ingest
from tests.factories import T0, as_contract, valid_tables, write_source
from tests.features.checks import assert_same, censored, engine_snapshots
from tests.features.reference import read_raw, reference_snapshots
from tests.features.worlds import AS_OF, DAY, midnight, world

BASE = valid_tables()
AS_OFS = [T0 + 45 * DAY, T0 + 91 * DAY, T0 + 140 * DAY]  # midnights inside the factory's 200 days of activity
ACCOUNTS = [*BASE["accounts"]["account_id"], "NEW1"]
_BASE_SNAPSHOTS: dict[pd.Timestamp, pd.DataFrame] = {}


def _base_snapshot(as_of: pd.Timestamp) -> pd.DataFrame:
    if as_of not in _BASE_SNAPSHOTS:
        _BASE_SNAPSHOTS[as_of] = engine_snapshots(BASE, [midnight(as_of)])
    return _BASE_SNAPSHOTS[as_of]


@pytest.mark.parametrize("as_of", AS_OFS, ids=lambda t: t.date().isoformat())
def test_forgetting_everything_from_as_of_on_changes_nothing(as_of: pd.Timestamp) -> None:
    dates = [midnight(as_of)]
    assert_same(engine_snapshots(censored(BASE, as_of), dates), _base_snapshot(as_of), ("censored", "whole"))


def _later(draw: st.DrawFn, as_of: pd.Timestamp) -> pd.Timestamp:
    """A time at or after as_of (often exactly at it)."""
    micros = draw(st.one_of(st.just(0), st.integers(0, 3 * 86_400_000_000), st.integers(0, 400 * 86_400_000_000)))
    return as_of + pd.Timedelta(microseconds=micros)


@st.composite
def later_rows(draw: st.DrawFn, as_of: pd.Timestamp) -> dict[str, list[dict[str, object]]]:
    """Rows for every table, each dated at or after as_of (other times of a row are later still)."""
    acct = st.sampled_from(ACCOUNTS)
    few = st.integers(0, 3)
    rows: dict[str, list[dict[str, object]]] = {name: [] for name in TABLES}
    for i in range(draw(few)):
        rows["accounts"].append({"account_id": f"NEW{i + 2}", "created_at": _later(draw, as_of)})
    for i in range(draw(few)):
        start = _later(draw, as_of)
        end = draw(st.sampled_from([None, start + DAY, start + 40 * DAY]))
        rows["subscriptions"].append(
            {"subscription_id": f"X{i}", "account_id": draw(acct), "start_at": start, "end_at": end,
             "cancelled_at": draw(st.sampled_from([None, start])), "mrr": draw(st.sampled_from([0.0, 10.0, 1e4])),
             "seats": draw(st.integers(1, 50)), "plan": draw(st.sampled_from(["pro", "addon", None]))}
        )  # fmt: skip
    kinds = ["login", "report_run", "export", "integration_connected", "first_report_created", "brand_new"]
    for _ in range(draw(st.integers(0, 8))):
        rows["usage_events"].append(
            {"account_id": draw(acct), "user_id": draw(st.sampled_from(["U1", "U2", "U99"])),
             "ts": _later(draw, as_of), "event_type": draw(st.sampled_from(kinds))}
        )  # fmt: skip
    for _ in range(draw(few)):
        rows["email_events"].append(
            {"account_id": draw(acct), "ts": _later(draw, as_of), "event": draw(st.sampled_from(EMAIL_EVENT_TYPES))}
        )
    for i in range(draw(few)):
        created = _later(draw, as_of)
        rows["support_tickets"].append(
            {"ticket_id": f"X{i}", "account_id": draw(acct), "created_at": created,
             "resolved_at": draw(st.sampled_from([None, created, created + DAY])),
             "priority": draw(st.sampled_from([*PRIORITIES, None])), "csat": draw(st.sampled_from([None, 1, 5])),
             "category": draw(st.sampled_from(["billing", "bug", None]))}
        )  # fmt: skip
    for i in range(draw(few)):
        issued = _later(draw, as_of)
        paid = draw(st.sampled_from([None, issued, issued + 40 * DAY]))
        status = "paid" if paid is not None else draw(st.sampled_from(["open", "failed", "void", None]))
        rows["invoices"].append(
            {"invoice_id": f"X{i}", "account_id": draw(acct), "issued_at": issued, "due_at": issued + 30 * DAY,
             "amount": draw(st.sampled_from([0.0, 99.0, 5e4])), "paid_at": paid, "status": status}
        )  # fmt: skip
    for _ in range(draw(few)):
        rows["nps_responses"].append(
            {"account_id": draw(acct), "ts": _later(draw, as_of), "score": draw(st.integers(0, 10))}
        )
    for i in range(draw(few)):
        created = _later(draw, as_of)
        rows["contacts"].append(
            {"contact_id": f"X{i}", "account_id": draw(acct), "created_at": created,
             "role": draw(st.sampled_from(["champion", "admin", "user"])),
             "left_at": draw(st.sampled_from([None, created, created + DAY]))}
        )  # fmt: skip
    return rows


@st.composite
def snapshot_and_later_rows(draw: st.DrawFn) -> tuple[pd.Timestamp, dict[str, list[dict[str, object]]]]:
    as_of = draw(st.sampled_from(AS_OFS))
    return as_of, draw(later_rows(as_of))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=snapshot_and_later_rows())
def test_rows_dated_at_or_after_as_of_change_no_feature(
    case: tuple[pd.Timestamp, dict[str, list[dict[str, object]]]],
) -> None:
    as_of, rows = case
    tables = {
        name: pd.concat([BASE[name], as_contract(name, pd.DataFrame(rows[name], columns=list(TABLES[name].columns)))])
        if rows[name]
        else BASE[name]
        for name in TABLES
    }
    assert_same(engine_snapshots(tables, [midnight(as_of)]), _base_snapshot(as_of), ("with later rows", "without"))


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
    tables = valid_tables()
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
            assert_same(build_snapshots(con, dates), want, (label, "utc frames"))


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
        got = build_snapshots(con, dates)
        raw = read_raw(con)
    assert raw["usage_events"]["ts"].tolist() == [pd.Timestamp("2024-06-01T04:00", tz="UTC")]
    assert_same(got, reference_snapshots(raw, dates))
    june1, june2 = got.iloc[0], got.iloc[1]
    assert (june1["events_7d"], june1["days_since_last_event"]) == (0, 91)
    assert (june2["events_7d"], june2["logins_7d"], june2["days_since_last_event"]) == (1, 1, 1)
