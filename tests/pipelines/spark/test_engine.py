"""The Spark engine (local mode) against the DuckDB engine on the same generated world: every feature, label,
training-set row and score equal, snapshot by snapshot (exactly for counts, dates and text; floating point to
1e-9 relative). The DuckDB side is what the served world's warehouse holds (its fast build, its training sets and
``churn score``'s table)."""

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.catalog import features
from pipelines.score import JSON_COLUMNS, champion_scorer
from pipelines.spark import engine
from pipelines.warehouse import connect, export_raw
from tests.serving.conftest import Served, build_served, read_table

pytestmark = pytest.mark.spark
KEY = ["as_of", "account_id"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Served:
    return build_served(tmp_path_factory)


@pytest.fixture(scope="module")
def session(spark_session: object) -> object:
    return spark_session


@pytest.fixture(scope="module")
def built(served: Served, session: object, tmp_path_factory: pytest.TempPathFactory) -> tuple[engine.SparkEngine, str]:
    """Raw tables exported from the served warehouse, snapshots and labels built by Spark for the same dates."""
    root = tmp_path_factory.mktemp("spark")
    with connect(served.warehouse, read_only=True) as con:
        export_raw(con, root / "raw")
        dates = [r[0] for r in con.execute("SELECT DISTINCT as_of FROM features.snapshots ORDER BY 1").fetchall()]
    run = engine.SparkEngine(session, str(root / "raw"))  # type: ignore[arg-type]
    engine.build(run, dates, str(root / "out"))
    return run, str(root / "out")


def parquet(path: str) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    frame = frame.drop(columns=[c for c in ("as_of_date",) if c in frame])
    for c in frame.columns:
        if isinstance(frame[c].dtype, pd.DatetimeTZDtype):
            frame[c] = frame[c].dt.tz_convert("UTC").dt.as_unit("us")
        elif pd.api.types.is_datetime64_dtype(frame[c]):
            frame[c] = frame[c].dt.tz_localize("UTC").dt.as_unit("us")
    return frame.sort_values(KEY).reset_index(drop=True)


def warehouse(served: Served, sql: str) -> pd.DataFrame:
    frame = read_table(served.warehouse, sql)
    for c in frame.columns:
        if isinstance(frame[c].dtype, pd.DatetimeTZDtype):
            frame[c] = frame[c].dt.tz_convert("UTC").dt.as_unit("us")
    return frame.sort_values(KEY).reset_index(drop=True)


def assert_same(spark: pd.DataFrame, duck: pd.DataFrame, columns: list[str]) -> None:
    """Column by column: numbers to 1e-9 relative (NULL where NULL), everything else exactly."""
    assert len(spark) == len(duck)
    pd.testing.assert_frame_equal(spark[KEY], duck[KEY])
    for c in columns:
        a, b = spark[c], duck[c]
        if pd.api.types.is_numeric_dtype(b) and not pd.api.types.is_bool_dtype(b):
            x, y = a.astype("float64").to_numpy(), b.astype("float64").to_numpy()
            np.testing.assert_array_equal(np.isnan(x), np.isnan(y), err_msg=f"{c}: NULLs differ")
            np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=c)
        else:
            assert a.astype("object").where(a.notna(), None).tolist() == \
                b.astype("object").where(b.notna(), None).tolist(), c  # fmt: skip


def assert_close(a: object, b: object) -> None:
    if isinstance(b, dict):
        assert isinstance(a, dict) and a.keys() == b.keys()
        for k in b:
            assert_close(a[k], b[k])
    elif isinstance(b, list):
        assert isinstance(a, list) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_close(x, y)
    elif isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12)
    else:
        assert a == b


def test_snapshots_equal_duckdb(served: Served, built: tuple[engine.SparkEngine, str]) -> None:
    spark = parquet(f"{built[1]}/snapshots")
    duck = warehouse(served, "SELECT * FROM features.snapshots")
    assert list(spark.columns) == list(duck.columns)
    assert spark["as_of"].nunique() >= 12
    # Both engines leave out what the data cannot feed (the generator's usage has no durations: no hours).
    names = [f.name for f in features() if f.name in duck.columns]
    assert len(names) >= 60
    assert_same(spark, duck, names)
    # The comparison is not vacuous: the features vary.
    assert (duck[names].nunique() > 1).sum() >= 55


def test_labels_equal_duckdb(served: Served, built: tuple[engine.SparkEngine, str]) -> None:
    spark = parquet(f"{built[1]}/labels")
    duck = warehouse(served, "SELECT * FROM features.labels")
    assert_same(spark, duck, ["churn", "upsell", "service_ends_at"])
    assert duck["churn"].sum() > 20 and duck["upsell"].sum() > 20 and duck["churn"].isna().sum() > 0


@pytest.mark.parametrize("target", ["churn", "upsell"])
def test_training_sets_equal_duckdb(served: Served, built: tuple[engine.SparkEngine, str], target: str) -> None:
    run, out = built
    stats = engine.build_dataset(run.spark, out, target)
    spark = parquet(f"{out}/datasets/{target}")
    duck = served.datasets[target].copy()
    duck["as_of"] = duck["as_of"].dt.tz_convert("UTC").dt.as_unit("us")
    duck = duck.sort_values(KEY).reset_index(drop=True)
    assert_same(spark, duck, ["label", "split"])
    assert {k: v["rows"] for k, v in stats.items()} == duck["split"].value_counts().to_dict()


def test_scores_equal_duckdb(served: Served, built: tuple[engine.SparkEngine, str]) -> None:
    run, out = built
    at = datetime(2026, 1, 1, tzinfo=UTC)
    summary = engine.score(run, out, champion_scorer(served.tracking_uri), dates=len(served.dates), scored_at=at)
    spark = parquet(f"{out}/scores")
    duck = warehouse(served, "SELECT * FROM scores.accounts")
    assert list(spark.columns) == list(duck.columns)
    assert set(spark["as_of"]) == {pd.Timestamp(d).tz_convert("UTC") for d in served.dates}
    texts = list(JSON_COLUMNS)
    assert_same(spark, duck, [c for c in duck.columns if c not in (*KEY, "scored_at", *texts)])
    for c in texts:  # JSON with numbers in it: the same structure and text, the numbers to 1e-9
        for a, b in zip(spark[c], duck[c], strict=True):
            assert_close(json.loads(a), json.loads(b))
    assert (spark["scored_at"] == pd.Timestamp(at)).all()
    latest = duck[duck["as_of"] == duck["as_of"].max()]
    assert summary["accounts"] == len(latest)
    assert summary["red"] == int((latest["tier"] == "red").sum()) > 0
    assert summary["revenue_at_risk"] == pytest.approx(latest["revenue_at_risk"].sum(), rel=1e-9)


def test_rebuilding_a_date_replaces_only_that_date(built: tuple[engine.SparkEngine, str], tmp_path: Path) -> None:
    run, out = built
    before = parquet(f"{out}/snapshots")
    last = before["as_of"].max().to_pydatetime()
    engine.build(run, [last], out)
    after = parquet(f"{out}/snapshots")
    pd.testing.assert_frame_equal(after, before)


def test_missing_raw_table_is_a_clear_error(session: object, tmp_path: Path) -> None:
    (tmp_path / "accounts.parquet").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="lacks the contract's tables subscriptions, usage_events"):
        engine.SparkEngine(session, str(tmp_path))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"spark\.executor\.memory=8g"):
        engine.parse_conf(["spark.executor.memory"])
