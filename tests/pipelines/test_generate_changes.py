"""Known changes injected by the generator (release, outage, price, segment), checked against a world generated
without them (same seed) and against the ground truth that records them."""

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from pipelines.cli.app import app
from pipelines.generate.changes import Change, apply_changes, parse_change, resolve_changes
from pipelines.generate.params import TYPE_MIX, Params
from pipelines.generate.run import generate
from pipelines.generate.simulate import Oracle

START = date(2024, 1, 1)
MONTHS = 14  # data from 2024-01-01 to 2025-02-28
OUTAGE = Change("outage", date(2024, 3, 4), event_type="export", days=14)
PRICE = Change("price", date(2024, 6, 1), factor=1.2)
RELEASE = Change("release", date(2024, 8, 1), event_type="search", share=0.1)
SEGMENT = Change("segment", date(2024, 9, 1), segment="startup")
USAGE = {"login", "dashboard_view", "report_run", "search", "comment", "export", "task_created", "file_upload",
         "workflow_run", "api_call", "integration_sync", "admin_settings", "mobile_session"}  # fmt: skip


def utc(day: date) -> pd.Timestamp:
    return pd.Timestamp(day, tz="UTC")


def values(column: pd.Series) -> list[object]:
    """A column's values as plain Python: missing ones (None, NaN, NaT) as None, lists as lists."""
    missing = column.isna() if column.dtype != object else column.map(lambda v: v is None)
    return [
        None if m else list(v) if isinstance(v, np.ndarray | list) else v for v, m in zip(column, missing, strict=True)
    ]


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same small world (400 accounts, 14 months, seed 3) without changes and with the four of them; the outage
    ends before the release starts, so that each can be checked on its own."""
    out = tmp_path_factory.mktemp("changes")
    kw = {"accounts": 400, "months": MONTHS, "seed": 3, "start": START, "oracle": Oracle(paths=0), "workers": 1}
    generate(out / "plain", **kw)  # type: ignore[arg-type]
    generate(out / "changed", changes=[OUTAGE, PRICE, RELEASE, SEGMENT], **kw)  # type: ignore[arg-type]
    return out / "plain", out / "changed"


def read(world: Path, table: str) -> pd.DataFrame:
    return pd.read_parquet(world / f"{table}.parquet")


def test_the_outage_drops_that_type_in_its_window_and_nothing_else(worlds: tuple[Path, Path]) -> None:
    plain, changed = (read(w, "usage_events") for w in worlds)
    lo, hi = utc(date(2024, 3, 4)), utc(date(2024, 3, 18))
    in_window = (changed.ts >= lo) & (changed.ts < hi)
    assert not (in_window & (changed.event_type == "export")).any()
    assert ((changed.ts >= lo) & (changed.ts < hi) & (changed.event_type != "export")).sum() > 1000
    # The plain world has export events in the window; without them, the rows are the plain world's, in order.
    gone = (plain.ts >= lo) & (plain.ts < hi) & (plain.event_type == "export")
    assert gone.sum() > 20
    kept = plain[~gone].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept[["account_id", "user_id", "ts"]], changed[["account_id", "user_id", "ts"]])
    before_release = kept.ts < utc(RELEASE.start)
    assert (kept.event_type[before_release] == changed.event_type[before_release]).all()

    # Daily counts of exports outside the window: those of the plain world.
    def daily(ev: pd.DataFrame) -> pd.Series:
        ex = ev[(ev.event_type == "export") & (ev.ts < utc(RELEASE.start))]
        return ex.groupby(ex.ts.dt.floor("D")).size()

    outside = daily(plain)[(daily(plain).index < lo) | (daily(plain).index >= hi)]
    pd.testing.assert_series_equal(daily(changed), outside)


def test_the_price_change_multiplies_amounts_from_its_date(worlds: tuple[Path, Path]) -> None:
    for table, time, column in (("invoices", "issued_at", "amount"), ("subscriptions", "start_at", "mrr")):
        plain, changed = (read(w, table) for w in worlds)
        after = (plain[time] >= utc(PRICE.start)).to_numpy()
        assert after.sum() > 20 and (~after).sum() > 20, table
        others = [c for c in plain.columns if c != column]
        pd.testing.assert_frame_equal(plain[others], changed[others])
        pd.testing.assert_frame_equal(plain[~after], changed[~after])
        expected = np.round(plain[column].to_numpy()[after] * 1.2, 2)
        assert np.array_equal(changed[column].to_numpy()[after], expected), table
        assert np.allclose(changed[column].to_numpy()[after], 1.2 * plain[column].to_numpy()[after], atol=0.005)


def test_the_release_moves_the_given_share_of_other_events_to_its_type(worlds: tuple[Path, Path]) -> None:
    plain, changed = (read(w, "usage_events") for w in worlds)
    lo, hi = utc(OUTAGE.start), utc(OUTAGE.end)  # type: ignore[arg-type]
    plain = plain[~((plain.ts >= lo) & (plain.ts < hi) & (plain.event_type == "export"))].reset_index(drop=True)
    after = (plain.ts >= utc(RELEASE.start)).to_numpy()
    moved = (plain.event_type != changed.event_type).to_numpy()
    assert not (moved & ~after).any()
    assert (changed.event_type[moved] == "search").all()
    assert set(plain.event_type[moved]) <= USAGE - {"search"}  # milestones are never re-typed
    # Each candidate (a usage event of another type after the date) moves with chance 0.1, independently.
    candidates = after & plain.event_type.isin(USAGE - {"search"}).to_numpy()
    n, k = int(candidates.sum()), int(moved.sum())
    assert abs(k - 0.1 * n) < 4.5 * np.sqrt(n * 0.1 * 0.9), (k, n)

    # The share of search after the date rises by 0.1 x (1 - share of search - share of milestones) over the plain
    # world's; the plain world's own share moves far less across the date.
    def share(ev: pd.DataFrame, late: bool) -> float:
        part = ev[(ev.ts >= utc(RELEASE.start)) == late]
        return float((part.event_type == "search").mean())

    s = share(plain, True)
    milestones = float((~plain.event_type[after].isin(USAGE)).mean())
    jump = share(changed, True) - s
    expected = 0.1 * (1 - s - milestones)
    assert abs(jump - expected) < 4.5 * np.sqrt(0.1 * 0.9 * (1 - s) / after.sum()), (jump, expected)
    assert abs(share(plain, True) - share(plain, False)) < 0.02
    assert share(changed, True) - share(changed, False) > 0.07


def test_the_new_segment_appears_only_among_accounts_created_from_its_date(worlds: tuple[Path, Path]) -> None:
    plain, changed = (read(w, "accounts") for w in worlds)
    new = (plain.created_at >= utc(SEGMENT.start)).to_numpy()
    assert "startup" not in set(plain.segment)
    assert new.sum() > 30
    assert (changed.segment[new] == "startup").all() and (changed.segment[~new] == plain.segment[~new]).all()
    assert "startup" not in set(changed.segment[~new])
    pd.testing.assert_frame_equal(plain.drop(columns="segment"), changed.drop(columns="segment"))


def test_tables_no_change_touches_are_identical(worlds: tuple[Path, Path]) -> None:
    plain, changed = worlds
    for table in ("support_tickets", "email_events", "nps_responses", "contacts", "ground_truth/health"):
        pd.testing.assert_frame_equal(read(plain, table), read(changed, table), obj=table)


def test_the_ground_truth_and_manifest_record_what_was_asked(worlds: tuple[Path, Path]) -> None:
    plain, changed = worlds
    got = read(changed, "ground_truth/changes")
    t = pd.Timestamp
    expected = pd.DataFrame({
        "kind": ["outage", "price", "release", "segment"],
        "start": [t("2024-03-04", tz="UTC"), t("2024-06-01", tz="UTC"), t("2024-08-01", tz="UTC"),
                  t("2024-09-01", tz="UTC")],
        "end": [t("2024-03-18", tz="UTC"), pd.NaT, pd.NaT, pd.NaT],
        "table": [["usage_events"], ["invoices", "subscriptions"], ["usage_events"], ["accounts"]],
        "column": [["event_type"], ["amount", "mrr"], ["event_type"], ["segment"]],
        "event_type": ["export", None, "search", None],
        "days": [14, None, None, None],
        "factor": [None, 1.2, None, None],
        "share": [None, None, 0.1, None],
        "segment": [None, None, None, "startup"],
    })  # fmt: skip
    assert list(got.columns) == [*expected.columns, "description"]
    for col in expected.columns:
        assert values(got[col]) == values(expected[col]), col
    assert "export" in got.description[0] and "2024-03-17" in got.description[0]  # the last day out
    assert "1.2" in got.description[1] and "startup" in got.description[3]
    manifest = json.loads((changed / "manifest.json").read_text())
    assert [c["spec"] for c in manifest["changes"]] == [
        "outage:2024-03-04:event_type=export:days=14", "price:2024-06-01:factor=1.2",
        "release:2024-08-01:event_type=search:share=0.1", "segment:2024-09-01:segment=startup",
    ]  # fmt: skip
    assert manifest["rows"]["ground_truth/changes"] == 4
    # Without changes: no changes file, no changes in the manifest.
    assert not (plain / "ground_truth/changes.parquet").exists()
    assert "changes" not in json.loads((plain / "manifest.json").read_text())


def test_specs_parse_round_trip_and_defaults_follow_the_world() -> None:
    assert parse_change("outage:2024-09-01:event_type=export:days=14") == Change(
        "outage", date(2024, 9, 1), event_type="export", days=14
    )
    for ch in (OUTAGE, PRICE, RELEASE, SEGMENT):
        assert parse_change(ch.spec()) == ch
    default = resolve_changes([parse_change(f"{k}:2024-06-01") for k in ("release", "outage", "price", "segment")],
                              START, MONTHS, Params())  # fmt: skip
    assert [c.spec() for c in default] == [
        "release:2024-06-01:event_type=dashboard_view:share=0.1", "outage:2024-06-01:event_type=login:days=14",
        "price:2024-06-01:factor=1.05", "segment:2024-06-01:segment=startup",
    ]  # fmt: skip
    (social,) = resolve_changes([Change("release", date(2024, 6, 1))], START, MONTHS, TYPE_MIX)
    assert social.event_type == "post_created"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("relaese:2024-06-01", "unknown kind 'relaese'; use one of release, outage, price, segment"),
        ("outage", "the start date is missing; write KIND:YYYY-MM-DD"),
        ("price:2024-13-01", "'2024-13-01' is not a date; write the start as YYYY-MM-DD"),
        ("price:2024-06-01:factor", "'factor' is not key=value"),
        ("price:2024-06-01:factor=abc", "factor must be a number, got 'abc'"),
        ("price:2024-06-01:factor=-1", "factor must be a positive number"),
        ("outage:2024-06-01:factor=2", "the outage change has no field 'factor'; its fields are event_type, days"),
        ("outage:2024-06-01:days=1.5", "days must be a whole number, got '1.5'"),
        ("release:2024-06-01:share=1.5", "share must lie strictly between 0 and 1"),
        ("price:2023-12-01", "2023-12-01 lies outside the generated span 2024-01-01 to 2025-02-28"),
        ("segment:2025-03-01", "2025-03-01 lies outside the generated span"),
        ("outage:2025-02-20:days=14", "past the end of the generated span"),
        (
            "outage:2024-06-01:event_type=unfriend",
            "'unfriend' is not an event type of the default world; use one of login,",
        ),
        ("release:2024-06-01:event_type=integration_connected", "is not a usage event type of the default world"),
        ("segment:2024-06-01:segment=smb", "accounts already have segment 'smb'; name a new one"),
    ],
)
def test_bad_specifications_are_refused_with_the_fix(spec: str, message: str) -> None:
    with pytest.raises(ValueError) as e:
        resolve_changes([parse_change(spec)], START, MONTHS, Params())
    assert message in str(e.value), str(e.value)


def test_python_callers_get_the_same_checks(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown change kind 'drift'; use one of release, outage, price, segment"):
        Change("drift", date(2024, 6, 1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="the price change takes factor, not event_type"):
        Change("price", date(2024, 6, 1), event_type="login")
    with pytest.raises(ValueError, match="lies outside the generated span 2024-01-01 to 2024-04-30"):
        generate(tmp_path / "w", accounts=10, months=4, changes=[Change("price", date(2024, 5, 1))])
    assert not (tmp_path / "w").exists()  # refused before any work


def _flat(output: str) -> str:
    """The CLI's output with Rich's panel borders and line wraps taken out."""
    return " ".join(output.replace("│", " ").split())


def test_the_cli_injects_changes_and_refuses_bad_ones(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["generate", "--accounts", "60", "--months", "4", "--oracle-paths", "0", "--workers", "1"]
    done = runner.invoke(
        app,
        [*args, "--out", str(tmp_path / "w"), "--change", "outage:2024-02-01:event_type=export:days=14",
         "--change", "price:2024-03-01:factor=1.1"],
        terminal_width=200,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "Injected change outage:2024-02-01:event_type=export:days=14" in done.output
    truth = read(tmp_path / "w", "ground_truth/changes")
    assert list(truth.kind) == ["outage", "price"] and list(truth.factor.fillna(0)) == [0, 1.1]
    ev = read(tmp_path / "w", "usage_events")
    window = (ev.ts >= utc(date(2024, 2, 1))) & (ev.ts < utc(date(2024, 2, 15)))
    assert not (window & (ev.event_type == "export")).any() and (ev.event_type == "export").any()
    for spec, message in [
        ("upgrade:2024-02-01", "unknown kind 'upgrade'; use one of release, outage, price, segment"),
        ("outage:2024-06-01", "2024-06-01 lies outside the generated span 2024-01-01 to 2024-04-30"),
        ("outage:2024-02-01:event_type=post_created", "'post_created' is not an event type of the default world"),
    ]:
        refused = runner.invoke(app, [*args, "--out", str(tmp_path / "x"), "--change", spec], terminal_width=200)
        assert refused.exit_code == 2 and message in _flat(refused.output), refused.output
    assert not (tmp_path / "x").exists()


def test_dates_are_inclusive_at_the_start_and_exclusive_at_the_outage_end() -> None:
    # Literal rows at the edges: the microsecond before the start, midnight of the start, the outage's last
    # microsecond and the midnight after it.
    start, end = utc(date(2024, 3, 4)), utc(date(2024, 3, 18))
    us = pd.Timedelta(microseconds=1)
    edges = pa.array([start - us, start, end - us, end], pa.timestamp("us", tz="UTC"))
    tables = {
        "usage_events": pa.table({"ts": edges, "event_type": ["export"] * 4}),
        "invoices": pa.table({"issued_at": edges, "amount": [10.0, 10.0, 10.0, 10.0]}),
        "subscriptions": pa.table({"start_at": edges, "mrr": [2.5, 2.5, 2.5, 2.5]}),
        "accounts": pa.table({"created_at": edges, "segment": ["smb"] * 4}),
    }
    changes = [OUTAGE, Change("price", start.date(), factor=1.5), Change("segment", end.date(), segment="new")]
    out = apply_changes(tables, changes, Params(), seed=1, chunk=0)
    assert out["usage_events"]["ts"].to_pylist() == [edges[0].as_py(), edges[3].as_py()]
    assert out["invoices"]["amount"].to_pylist() == [10.0, 15.0, 15.0, 15.0]
    assert out["subscriptions"]["mrr"].to_pylist() == [2.5, 3.75, 3.75, 3.75]
    assert out["accounts"]["segment"].to_pylist() == ["smb", "smb", "smb", "new"]
    assert tables["usage_events"].num_rows == 4 and tables["invoices"]["amount"].to_pylist() == [10.0] * 4
