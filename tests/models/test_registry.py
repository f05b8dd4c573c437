"""The registry's rules against a real MLflow store (SQLite and artifacts under tmp_path): no champion, a better
candidate, a worse one, promotion by hand; and a model reloaded from the registry predicts and explains exactly
as the one that was logged."""

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from models.config import TrainConfig
from models.estimator import ChurnModel
from models.explain import explain
from models.pyfunc import ARTIFACT, load
from pipelines.registry import CHALLENGER, CHAMPION, promote, versions
from pipelines.train import fit_and_evaluate, log_and_register
from tests.models.conftest import World


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri, tmp_path / "mlruns"


def _register(rows: pd.DataFrame, world_rows: pd.DataFrame, store: tuple[str, Path]) -> tuple[ChurnModel, str]:
    """Fit on ``rows`` (whose training labels may be spoiled), evaluate on the true validation rows, log."""
    cfg = TrainConfig.for_target("churn", max_trees=150)
    model, scores, metrics = fit_and_evaluate(rows, "churn", cfg)
    _, decision = log_and_register(world_rows, "churn", cfg, model, scores, metrics, None, *store)
    return model, decision.alias


def test_champion_moves_only_to_a_better_model(world: World, store: tuple[str, Path]) -> None:
    rows = world.datasets["churn"]
    spoiled = rows.copy()
    train = spoiled["split"] == "train"
    spoiled.loc[train, "label"] = np.random.default_rng(1).permutation(spoiled.loc[train, "label"].to_numpy())

    _, first = _register(spoiled, rows, store)  # no champion yet: the weak model takes the title
    _, second = _register(rows, rows, store)  # a real model beats it on the same validation rows
    _, third = _register(spoiled, rows, store)  # a weak one does not
    assert (first, second, third) == (CHAMPION, CHAMPION, CHALLENGER)

    client = MlflowClient(tracking_uri=store[0])
    listed = versions(client, "churn")
    assert [v["aliases"] for v in listed] == [[], [CHAMPION], [CHALLENGER]]
    assert all("roc_auc" in v["metrics"] and "scorecard_roc_auc" in v["metrics"] for v in listed)  # type: ignore[operator]
    promote(client, "churn", "3")
    assert str(client.get_model_version_by_alias("churn", CHAMPION).version) == "3"
    assert [v["aliases"] for v in versions(client, "churn")] == [[], [], [CHAMPION]]
    with pytest.raises(mlflow.exceptions.MlflowException):
        promote(client, "churn", "99")


def test_reloaded_model_predicts_and_explains_identically(world: World, store: tuple[str, Path]) -> None:
    rows = world.datasets["churn"]
    model, _ = _register(rows, rows, store)
    valid = rows[rows["split"] == "valid"].reset_index(drop=True)
    pyfunc = mlflow.pyfunc.load_model(f"models:/churn@{CHAMPION}")
    got = pyfunc.predict(valid[model.features_])
    assert list(got.columns) == ["probability"]
    assert np.array_equal(got["probability"].to_numpy(), model.predict_proba(model.prepare(valid)))
    folder = mlflow.artifacts.download_artifacts(f"models:/churn@{CHAMPION}")
    reloaded = load(next(Path(folder).rglob(ARTIFACT)))
    a, b = explain(model, model.prepare(valid)), explain(reloaded, reloaded.prepare(valid))
    assert np.array_equal(a.contributions, b.contributions) and np.array_equal(a.probability, b.probability)
    run = MlflowClient().get_run(MlflowClient().get_model_version("churn", "1").run_id)
    artifacts = {f.path for f in MlflowClient().list_artifacts(run.info.run_id, "plots")}
    assert artifacts == {f"plots/{n}.png" for n in ("roc_pr", "calibration", "gains", "shap_summary")}
    assert run.data.params["target"] == "churn" and "roc_auc" in run.data.metrics
