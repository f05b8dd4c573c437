"""The fast DuckDB build (``pipelines.snapshots.fast_sql``: integer account ids, naive UTC times, DuckDB-only rollups)
gives the same snapshots, spine and dates as the portable form that Spark takes (``features.rollups`` and the
registry's SQL over the raw tables), on hand-dated edges and on generated data, at monthly and weekly snapshots."""

from collections.abc import Mapping, Sequence
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd
import pytest

from features.catalog import families
from features.config import FeatureConfig
from features.rollups import totals
from pipelines.generate.run import generate
from pipelines.generate.simulate import Oracle
from pipelines.ingest import ingest
from pipelines.snapshots import build_fast, build_portable, fast, snapshot_dates
from pipelines.snapshots.portable import create_rollups
from tests.factories import T0, valid_tables
from tests.features.reference import load_raw, read_raw
from tests.features.typed import TYPED
from tests.features.worlds import AS_OF, DAY, US, midnight, world

TABLES = ("snapshots", "spine", "snapshot_dates")


def _built(
    tables: Mapping[str, pd.DataFrame], dates: Sequence[datetime], portable: bool, cfg: FeatureConfig = TYPED
) -> dict[str, pd.DataFrame]:
    """What ``build_fast`` or (``portable``) ``build_portable`` leaves: the snapshots, the spine and the dates;
    with ``portable``, also the portable rollups (which it drops once used). ``cfg`` counts event types one by one
    (``tests.features.typed``), so that their rollups are compared too."""
    with duckdb.connect() as con:
        load_raw(con, tables)
        out = {}
        if portable:
            create_rollups(con, dates, cfg)
            out = {t: _read(con, t) for t in (*totals(cfg), "milestone_first")}
        build = build_portable if portable else build_fast
        build(con, dates, cfg, families=families(cfg))
        # A second build on the same connection sees nothing of the first (temp tables would hide its own).
        build(con, dates, cfg, families=families(cfg))
        return out | {t: _read(con, t) for t in TABLES}


def _read(con: duckdb.DuckDBPyConnection, table: str) -> pd.DataFrame:
    return con.sql(f"SELECT * FROM {table} ORDER BY ALL").to_arrow_table().to_pandas()


def assert_same_rollups(tables: Mapping[str, pd.DataFrame], dates: Sequence[datetime]) -> dict[str, pd.DataFrame]:
    """Asserts the fast and portable builds agree; returns the portable build's tables and rollups."""
    fast, portable = _built(tables, dates, False), _built(tables, dates, True)
    for t in TABLES:
        assert list(fast[t].columns) == list(portable[t].columns), t
        assert list(fast[t].dtypes) == list(portable[t].dtypes), t
        a, b = fast[t].astype("object"), portable[t].astype("object")
        pd.testing.assert_frame_equal(a.map(_plain), b.map(_plain), obj=t)
    return portable


def _plain(v: object) -> object:
    if v is None or v is pd.NaT or (isinstance(v, float) and np.isnan(v)):
        return None
    return float(v) if isinstance(v, int | np.integer | float | np.floating) else v


def _edges() -> dict[str, pd.DataFrame]:
    def ev(ts: pd.Timestamp, user: str = "U1", kind: str = "report_run") -> dict[str, object]:
        return {"ts": ts, "user_id": user, "event_type": kind}

    # One user seen several times a day, and on days exactly 7, 30 and 90 days apart; a feature used at the
    # start and at the end of its windows; a login and an email open at midnight.
    usage = [ev(AS_OF - d * DAY + h * 3600 * 10**6 * US) for d in (1, 8, 38, 128) for h in (0, 5, 23)]
    usage += [ev(AS_OF - d * DAY, "U2", "export") for d in (30, 60, 90, 91, 120, 200)]
    usage += [ev(AS_OF - DAY, "U3", "login"), ev(AS_OF - 92 * DAY, "U3", "integration_connected"), ev(AS_OF)]
    # A user and a feature seen only on the day that closes the window 31 to 60 days ago (in the 30 days, not in it).
    usage += [ev(AS_OF - 30 * DAY + 3600 * 10**6 * US, "U4", "dashboard_view")]
    emails = [{"ts": AS_OF - d * DAY, "event": e} for d in (1, 30, 31, 90) for e in ("sent", "open", "click")]
    return world(("A1", "A2"), usage_events=usage, email_events=emails)


def test_same_on_repeats_gaps_and_window_edges() -> None:
    weekly = snapshot_dates((AS_OF - 200 * DAY).date(), (AS_OF + 14 * DAY).date(), "week")
    got = assert_same_rollups(_edges(), [*weekly, midnight(AS_OF)])
    assert got["user_totals"]["a30_c0"].max() >= 1 and got["usage_totals"]["last_login_day"].notna().any()


@pytest.mark.parametrize("days", [(0,), (0, 45), (0, 1)])
def test_same_at_one_or_two_dates(days: tuple[int, ...]) -> None:
    # A retrain's build of one new month: the distinct users and features are counted per row, not by islands
    # (``FEW_DATES``); two dates a day apart have short buckets.
    dates = [midnight(AS_OF - d * DAY) for d in days]
    got = assert_same_rollups(_edges(), dates)
    assert got["usage_totals"]["events_c0"].max() > got["usage_totals"]["events_c30"].max() > 0
    assert got["user_totals"]["a30_c0"].max() >= 1 and got["email_totals"].filter(like="_c0").to_numpy().max() > 0
    tables = valid_tables()
    assert_same_rollups(tables, [midnight(T0 + 150 * DAY), midnight(T0 + 195 * DAY)][: len(days)])


def test_same_on_counts_per_period() -> None:
    def ev(ts: pd.Timestamp, kind: str, count: int | None, secs: float | None = None, user: str | None = None,
           account: str = "A1") -> dict[str, object]:  # fmt: skip
        return {"account_id": account, "ts": ts, "event_type": kind, "event_count": count, "duration_secs": secs,
                "user_id": user}  # fmt: skip

    # Counts of 3, 0 and missing (one event), with and without a user or a duration, several on a day, at the
    # edges of the windows; an account whose only rows stand for no event.
    rows = (("report_run", 3, 90.5, None), ("export", 0, 10.0, "U1"), ("login", None, None, "U2"),
            ("integration_connected", 0, None, None))  # fmt: skip
    usage = [ev(AS_OF - d * DAY, *row) for d in (1, 7, 8, 30, 60, 90, 91, 150) for row in rows]
    usage += [ev(AS_OF - 40 * DAY, "first_report_created", 2), ev(AS_OF - DAY, "search", 0, 5.0, "U3", "A2")]
    tables = world(("A1", "A2"), usage_events=usage)
    weekly = snapshot_dates((AS_OF - 200 * DAY).date(), (AS_OF + 14 * DAY).date(), "week")
    got = assert_same_rollups(tables, [*weekly, midnight(AS_OF)])
    snaps = got["snapshots"]
    assert snaps["events_30d"].max() > snaps["active_days_30d"].max() > 0 and snaps["usage_hours_30d"].max() > 0
    assert snaps["milestones_reached"].max() == 1


@pytest.mark.parametrize("days", [(0,), (0, 45)])
def test_same_in_one_lane_or_two(days: tuple[int, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    # Small builds run two statements at a time (``TWO_LANES_ROWS``); large ones one at a time, dropping each
    # rollup once nothing reads it: both give the portable build's snapshots.
    weekly = snapshot_dates((AS_OF - 200 * DAY).date(), AS_OF.date(), "week")
    dates = [midnight(AS_OF - d * DAY) for d in days]
    monkeypatch.setattr(fast, "TWO_LANES_ROWS", 0)
    assert_same_rollups(_edges(), weekly)
    assert_same_rollups(_edges(), dates)


def test_same_when_the_running_totals_are_read_in_slices_of_accounts(monkeypatch: pytest.MonkeyPatch) -> None:
    # A large build sums its running totals a slice of accounts at a time (``running.SLICE_ROWS``); here every
    # slice holds a few accounts, and one holds accounts without usage rows.
    from pipelines.snapshots import running

    tables = valid_tables()
    monkeypatch.setattr(running, "SLICE_ROWS", 5)
    got = assert_same_rollups(tables, snapshot_dates(T0.date(), (T0 + 210 * DAY).date(), "week"))
    assert got["usage_totals"]["events_c0"].max() > 0


def test_two_lanes_stop_at_the_failed_step_and_name_it() -> None:
    with duckdb.connect() as con:
        con.execute(f"ATTACH ':memory:' AS {fast.WORK}")
        steps = [
            fast.Step("a", "SELECT 1 AS x", frozenset()),
            fast.Step("b", "SELECT no_such_column FROM a", frozenset({"a"})),
            fast.Step("c", "SELECT * FROM b", frozenset({"b"})),
            fast.Step("d", "SELECT 2 AS y", frozenset()),
        ]
        with pytest.raises(duckdb.BinderException, match="no_such_column"):
            fast._run_two(con, steps, None)
        made = {t for (t,) in con.execute(
            f"SELECT table_name FROM duckdb_tables() WHERE database_name = '{fast.WORK}'").fetchall()}  # fmt: skip
        assert made == {"a", "d"}  # c waited for b, which failed: it never ran


def test_same_on_the_factory_tables() -> None:
    tables = valid_tables()
    assert_same_rollups(tables, snapshot_dates(T0.date(), (T0 + 210 * DAY).date(), "week"))


@pytest.mark.slow
def test_same_on_generated_data(tmp_path: object) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    generate(root / "src", accounts=200, months=12, seed=5, oracle=Oracle(paths=0))
    ingest(root / "src", root / "warehouse.duckdb")
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        tables = read_raw(con)
    monthly = snapshot_dates(datetime(2024, 2, 1).date(), datetime(2024, 12, 1).date(), "month")
    weekly = snapshot_dates(datetime(2024, 2, 5).date(), datetime(2024, 12, 30).date(), "week")
    got = assert_same_rollups(tables, monthly + weekly)
    assert len(got["snapshots"]) > 2000
