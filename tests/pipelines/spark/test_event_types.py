"""Spark computes the per event type features (counts, last days, rates, shares, ratios) as DuckDB's fast build
does, on the factory's world counted with ``tests.features.typed.TYPED`` (a type whose name needs quoting, a type
in another family, the rest as "other", a ratio)."""

from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.catalog import families, features
from features.config_file import FeaturesFile
from pipelines.cli.app import app
from pipelines.snapshots import build_fast, read_snapshots, snapshot_dates
from pipelines.snapshots.inputs import resolve_features
from pipelines.spark import engine
from pipelines.warehouse import export_raw
from tests.factories import T0, valid_tables
from tests.features.checks import assert_same
from tests.features.reference import load_raw
from tests.features.typed import TYPED
from tests.features.worlds import DAY

pytestmark = pytest.mark.spark


def test_spark_counts_event_types_as_duckdb_does(spark_session: Any, tmp_path: Path) -> None:
    dates = snapshot_dates((T0 + 40 * DAY).date(), (T0 + 200 * DAY).date(), "week")
    fams = families(TYPED)
    with duckdb.connect() as con:
        load_raw(con, valid_tables())
        build_fast(con, dates, TYPED, families=fams)
        duck = read_snapshots(con)
        export_raw(con, tmp_path / "raw")
    run = engine.SparkEngine(spark_session, str(tmp_path / "raw"))
    # Through Parquet, as the engine hands its tables over (toPandas trips on pandas 3's deprecations).
    run.snapshots(dates, TYPED, families=fams).write.parquet(str(tmp_path / "snapshots"))
    spark = pd.read_parquet(tmp_path / "snapshots")
    times = spark["as_of"]
    spark["as_of"] = times.dt.tz_convert("UTC") if times.dt.tz else times.dt.tz_localize("UTC")
    assert_same(spark, duck, ("spark", "duckdb"))
    # The per-type columns are there and not vacuous: they vary over the snapshots.
    typed = [f.name for f in features(TYPED) if f.name not in {g.name for g in features()}]
    assert len(typed) == 4 * 7 + 1 and set(typed) <= set(duck.columns)
    assert (duck[typed].nunique() > 1).sum() >= 20


def test_a_features_file_resolves_on_spark_as_on_duckdb(spark_session: Any, tmp_path: Path) -> None:
    """``churn features build --engine spark --features FILE`` resolves the file against the lake's event types as
    the DuckDB build does against the warehouse's: the same counted types, the rest, the ratios."""
    spec = FeaturesFile(top=2, ratios=())
    with duckdb.connect() as con:
        load_raw(con, valid_tables())
        duck = resolve_features(con, spec)
        export_raw(con, tmp_path / "raw")
    run = engine.SparkEngine(spark_session, str(tmp_path / "raw"))
    assert run.resolve_features(spec) == duck
    assert len([t for t in duck.event_types if not t.rest]) == 2  # top 2, and the rest as one


def test_a_bad_features_file_stops_the_spark_build_before_spark_starts(tmp_path: Path) -> None:
    bad = tmp_path / "features.toml"
    bad.write_text("[event_types]\ntop = 5\ntopp = 3\n")
    got = CliRunner().invoke(app, ["features", "build", "--engine", "spark", "--features", str(bad),
                                   "--lake", str(tmp_path / "lake")])  # fmt: skip
    assert got.exit_code != 0
    assert "features build failed" in got.output and "unknown key" in got.output
    assert not (tmp_path / "lake").exists()
