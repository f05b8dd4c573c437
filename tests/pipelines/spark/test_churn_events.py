"""Spark runs the portable spine and labels of overlapping subscriptions, trials and churn events to the same
snapshots and labels as DuckDB (both rules: churn from the churn events, and from the subscriptions' ends)."""

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
from tests.features.worlds import AS_OF, DAY, LONG_AGO, midnight, world

pytestmark = pytest.mark.spark
FAR = AS_OF + 1000 * DAY


def _tables(with_events: bool) -> dict[str, pd.DataFrame]:
    c, back = AS_OF - 10 * DAY, AS_OF + 50 * DAY
    tables = world(
        ("A1",),
        accounts=[{"account_id": a} for a in ("X1", "E1", "T1")],
        subscriptions=[
            {"account_id": "A1", "start_at": AS_OF - 40 * DAY, "mrr": 30.0, "seats": 3, "plan": "addon"},
            {"account_id": "A1", "start_at": AS_OF + 20 * DAY, "mrr": 15.0, "seats": 1},  # an add-on: upsell
            {"account_id": "X1", "start_at": LONG_AGO},
            {"account_id": "X1", "start_at": back, "mrr": 80.0, "seats": 8},
            {"account_id": "E1", "start_at": LONG_AGO, "end_at": AS_OF + 60 * DAY},
            {"account_id": "T1", "start_at": LONG_AGO, "end_at": AS_OF + 5 * DAY},
            {"account_id": "T1", "start_at": AS_OF + 5 * DAY, "end_at": FAR, "status": "trial"},
        ],
        churn_events=[{"account_id": "X1", "churned_at": c}, {"account_id": "E1", "churned_at": AS_OF + 60 * DAY}]
        if with_events else [],
    )  # fmt: skip
    return tables


@pytest.mark.parametrize("with_events", [True, False], ids=["churn events", "subscription ends"])
def test_spark_spine_and_labels_equal_duckdb(spark_session: Any, tmp_path: Path, with_events: bool) -> None:
    dates = [midnight(AS_OF + d * DAY) for d in (-30, -20, 0, 51)]
    with duckdb.connect() as con:
        load_raw(con, _tables(with_events))
        build_portable(con, dates, families=families())
        duck = read_snapshots(con)
        duck_labels = build_labels(con, dates, LabelConfig(), FAR)
        export_raw(con, tmp_path / "raw")
    run = engine.SparkEngine(spark_session, str(tmp_path / "raw"))
    # Through Parquet, as the engine hands its tables over (toPandas trips on pandas 3's deprecations).
    run.snapshots(dates, families=families()).write.parquet(str(tmp_path / "snapshots"))
    run.labels(LabelConfig(), FAR).write.parquet(str(tmp_path / "labels"))
    got = {name: pd.read_parquet(tmp_path / name) for name in ("snapshots", "labels")}
    for frame in got.values():
        for column in ("as_of", "service_ends_at"):
            if column in frame:
                times = frame[column]
                times = times.dt.tz_convert("UTC") if times.dt.tz else times.dt.tz_localize("UTC")
                frame[column] = times.dt.as_unit("us")
    assert_same(got["snapshots"], duck, ("spark", "duckdb"))
    assert_same(got["labels"], duck_labels, ("spark", "duckdb"))
    # X1 is out of the spine from its churn event until it restarts; A1's add-ons are summed, and one is upsell.
    x1 = set(duck.loc[duck["account_id"] == "X1", "as_of"].dt.day)
    assert x1 == ({2, 12, 22} if with_events else {2, 12, 1, 22})
    a1 = (duck["account_id"] == "A1") & (duck["as_of"] == AS_OF)
    assert duck.loc[a1, ["mrr", "seats"]].values.tolist() == [[130.0, 13.0]]
    assert duck_labels.loc[(duck_labels["account_id"] == "A1") & (duck_labels["as_of"] == AS_OF), "upsell"].item() == 1
