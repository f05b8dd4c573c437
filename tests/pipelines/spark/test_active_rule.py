"""Spark follows the one half-open rule for "active at as_of" (``features.rollups.active_at``): on subscription rows
meeting exactly at snapshot times (``tests.features.test_active_rule``), its spine, snapshots and labels equal
DuckDB's and the values worked out by hand."""

from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from features.catalog import families
from features.labels import LabelConfig
from pipelines.snapshots import build_labels, build_portable, read_snapshots
from pipelines.spark import engine
from pipelines.warehouse import export_raw
from tests.features.checks import assert_same
from tests.features.reference import load_raw
from tests.features.test_active_rule import DATES, FAR, assert_hand_values, boundary_world

pytestmark = pytest.mark.spark


def test_spark_keeps_accounts_at_their_boundaries_as_duckdb_does(spark_session: Any, tmp_path: Path) -> None:
    with duckdb.connect() as con:
        load_raw(con, boundary_world())
        build_portable(con, DATES, families=families())
        duck = read_snapshots(con)
        duck_labels = build_labels(con, DATES, LabelConfig(), FAR)
        export_raw(con, tmp_path / "raw")
    run = engine.SparkEngine(spark_session, str(tmp_path / "raw"))
    # Through Parquet, as the engine hands its tables over (toPandas trips on pandas 3's deprecations).
    run.snapshots(DATES, families=families()).write.parquet(str(tmp_path / "snapshots"))
    run.labels(LabelConfig(), FAR).write.parquet(str(tmp_path / "labels"))
    got = {name: pd.read_parquet(tmp_path / name) for name in ("snapshots", "labels")}
    for frame in got.values():
        for column in {"as_of", "service_ends_at"} & set(frame.columns):
            times = frame[column]
            times = times.dt.tz_convert("UTC") if times.dt.tz else times.dt.tz_localize("UTC")
            frame[column] = times.dt.as_unit("us")
    assert_same(got["snapshots"], duck, ("spark", "duckdb"))
    assert_same(got["labels"], duck_labels, ("spark", "duckdb"))
    assert_hand_values(got["snapshots"])
