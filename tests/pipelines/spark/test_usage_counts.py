"""Spark runs the portable SQL of usage rows that are counts per period (``event_count``, ``duration_secs``, no
user ids) to the same snapshots as DuckDB."""

from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from features.catalog import families
from pipelines.snapshots import build_portable, read_snapshots, snapshot_dates
from pipelines.spark import engine
from pipelines.warehouse import export_raw
from tests.features.checks import assert_same
from tests.features.reference import load_raw
from tests.features.worlds import AS_OF, DAY, midnight, world

pytestmark = pytest.mark.spark


def test_spark_weighs_usage_rows_as_duckdb_does(spark_session: Any, tmp_path: Path) -> None:
    def ev(days: int, kind: str, count: int | None, secs: float | None = None, user: str | None = None) -> dict:
        return {"ts": AS_OF - days * DAY, "event_type": kind, "event_count": count, "duration_secs": secs,
                "user_id": user}  # fmt: skip

    usage = [ev(d, "report_run", 3, 90.5) for d in (1, 8, 31, 89)] + [ev(d, "export", 0, 10.0, "U1") for d in (2, 9)]
    usage += [ev(d, "login", None, None, "U2") for d in (3, 40)] + [ev(50, "integration_connected", 0)]
    usage += [ev(60, "first_report_created", 2)]
    tables = world(usage_events=usage)
    dates = [*snapshot_dates((AS_OF - 120 * DAY).date(), AS_OF.date(), "week"), midnight(AS_OF)]
    with duckdb.connect() as con:
        load_raw(con, tables)
        build_portable(con, dates, families=families())
        duck = read_snapshots(con)
        export_raw(con, tmp_path / "raw")
    run = engine.SparkEngine(spark_session, str(tmp_path / "raw"))
    # Through Parquet, as the engine hands its tables over (toPandas trips on pandas 3's deprecations).
    run.snapshots(dates, families=families()).write.parquet(str(tmp_path / "snapshots"))
    spark = pd.read_parquet(tmp_path / "snapshots")
    times = spark["as_of"]
    spark["as_of"] = times.dt.tz_convert("UTC") if times.dt.tz else times.dt.tz_localize("UTC")
    assert_same(spark, duck, ("spark", "duckdb"))
    assert duck["events_30d"].max() > duck["active_days_30d"].max() > 0 and duck["usage_hours_30d"].max() > 0
