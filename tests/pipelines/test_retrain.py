"""`churn retrain` over a growing world: one generated world observed a month apart (``pipelines.generate.observed``).
The second run builds only the new snapshot date, and its snapshots equal a full build of the same export; labels
that matured are filled in; a worse challenger (planted: one tree of two leaves) does not replace the champion; the
running server serves the new scores by itself; two runs never overlap."""

import threading
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from models.config import TrainConfig
from pipelines.cli.app import app
from pipelines.generate.observed import write_observed
from pipelines.generate.run import generate
from pipelines.generate.simulate import Oracle
from pipelines.ingest import ingest
from pipelines.retrain import Busy, exclusive, lock_path, retrain
from pipelines.snapshots import default_dates, refresh
from pipelines.snapshots.labels import stored_label_config
from pipelines.training.champion import CHAMPION
from pipelines.warehouse import connect
from serving.app import create_app
from serving.settings import ServingSettings
from tests.serving.conftest import body

pytestmark = pytest.mark.slow  # two retrains, each training both targets: about a minute on two busy cores
FAST = {t: TrainConfig.for_target(t, max_trees=80) for t in ("churn", "upsell")}
DEMO_KEY = {"Authorization": "Bearer demo-read-key"}  # development without keys
WORSE = {**FAST, "churn": TrainConfig.for_target("churn", family="lightgbm", max_trees=1, num_leaves=2)}


def snapshots(warehouse: Path) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql("SELECT * FROM features.snapshots ORDER BY as_of, account_id").to_arrow_table().to_pandas()


def test_retrain_builds_only_what_is_new_keeps_a_better_champion_and_the_server_follows(tmp_path: Path) -> None:
    world = tmp_path / "world"
    generate(world, accounts=2500, months=20, seed=5, oracle=Oracle(paths=0), workers=1)
    end = pd.read_parquet(world / "usage_events.parquet", columns=["ts"])["ts"].max()
    t2 = end.normalize().replace(day=1)  # the last month start: the second export is taken then
    t1 = t2 - pd.DateOffset(months=1)
    write_observed(world, tmp_path / "e1", t1)
    write_observed(world, tmp_path / "e2", t2)
    warehouse, scores, uri = tmp_path / "wh.duckdb", tmp_path / "scores", f"sqlite:///{tmp_path / 'mlflow.db'}"
    run = {"warehouse": warehouse, "tracking_uri": uri, "artifacts": tmp_path / "mlruns", "scores": str(scores),
           "keep": 3}  # fmt: skip

    first = retrain(tmp_path / "e1", configs=FAST, **run)  # type: ignore[arg-type]
    assert first.changed_dates == [] and first.kept_dates == 0 and len(first.new_dates) >= 12
    assert first.scored is not None and first.scored.published is not None, "the first models must be champions"
    client = MlflowClient(uri, uri)
    champion = client.get_model_version_by_alias("churn", CHAMPION).version

    settings = ServingSettings(env="development", scores=str(scores), tracking_uri=uri, alias=CHAMPION,
                               reload_interval=0.05, state_dir=tmp_path, api_keys={}, threads=1)  # fmt: skip
    with TestClient(create_app(settings)) as c:
        served = body(c.get("/v1/models", headers=DEMO_KEY))
        assert served["scores_version"] == first.scored.published.version
        second = retrain(tmp_path / "e2", configs=WORSE, **run)  # type: ignore[arg-type]
        assert second.scored is not None and second.scored.published is not None
        want = second.scored.published.version
        for _ in range(2000):  # a bound against hanging, not a timing assertion
            if body(c.get("/v1/models", headers=DEMO_KEY))["scores_version"] == want:
                break
            threading.Event().wait(0.02)
        else:
            pytest.fail("the server never served the second run's scores")

    # Only the month the second export added was built; every stored date's inputs were unchanged.
    assert [d.date() for d in second.new_dates] == [t1.date()]
    assert second.changed_dates == [] and second.kept_dates == len(first.new_dates)
    assert second.labels_matured > 0 and second.rows_added["usage_events"] > 0
    # The planted challenger lost: the champion stayed.
    decision = second.trained["churn"].decision
    assert decision is not None and decision.alias != CHAMPION
    assert client.get_model_version_by_alias("churn", CHAMPION).version == champion
    # What the incremental build stored equals a full build of the second export with the same rules.
    full = tmp_path / "full.duckdb"
    ingest(tmp_path / "e2", full)
    with connect(warehouse, read_only=True) as con:
        rules = stored_label_config(con)
    with connect(full) as con:
        refresh(con, default_dates(con), lcfg=rules)
    pd.testing.assert_frame_equal(snapshots(warehouse), snapshots(full))


def test_two_runs_never_overlap(tmp_path: Path) -> None:
    warehouse = tmp_path / "wh.duckdb"
    with exclusive(lock_path(warehouse)):
        busy = pytest.raises(Busy, match=r"another churn retrain is running on this warehouse \(pid \d+")
        with busy, exclusive(lock_path(warehouse)):
            pass
        got = CliRunner().invoke(app, ["retrain", str(tmp_path / "nowhere"), "--warehouse", str(warehouse)])
        assert got.exit_code == 75 and "retrain skipped" in got.output
    with exclusive(lock_path(warehouse)):  # released: the next run takes it
        pass
