"""The registry's rules against a real MLflow store (SQLite and artifacts under tmp_path): no champion, a better
candidate, a worse one, promotion by hand; and a model reloaded from the registry predicts and explains exactly
as the one that was logged."""

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from models.config import Family, TrainConfig
from models.evaluation import assess
from models.explain import explain
from models.family import Model
from models.pyfunc import ARTIFACT, load
from pipelines.training.champion import (
    CHALLENGER,
    CHAMPION,
    Decision,
    Evidence,
    caveat,
    decide,
    evidence,
    promote,
    shortfalls,
    versions,
)
from pipelines.training.train import fit_and_select, log_and_register
from tests.models.conftest import World


def _register(
    rows: pd.DataFrame, world_rows: pd.DataFrame, store: tuple[str, Path], force: bool = False,
    family: Family = "lightgbm",
) -> tuple[Model, Decision]:  # fmt: skip
    """Fit on ``rows`` (whose training labels may be spoiled), evaluate on the true validation rows, log. The
    family is fixed unless asked ("auto": chosen on the folds, which the registry's rules do not need)."""
    cfg = TrainConfig.for_target("churn", max_trees=150, family=family)
    f = fit_and_select(rows, "churn", cfg)
    _, decision = log_and_register(world_rows, "churn", f.config, f.model, f.scores, None, *store, force=force,
                                   selection=f.selection, baselines=f.baselines)  # fmt: skip
    return f.model, decision


def _spoiled(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with the training labels shuffled: a model fitted on them learns nothing."""
    out = rows.copy()
    train = out["split"] == "train"
    out.loc[train, "label"] = np.random.default_rng(1).permutation(out.loc[train, "label"].to_numpy())
    return out


def test_champion_moves_only_to_a_model_that_earns_it(world: World, store: tuple[str, Path]) -> None:
    rows = world.datasets["churn"]
    spoiled = _spoiled(rows)
    _, first = _register(spoiled, rows, store)  # no champion yet, but a model that learned nothing does not earn it
    _, second = _register(rows, rows, store)  # a real model beats chance and the logistic baseline
    _, third = _register(spoiled, rows, store)  # a weak one does not
    assert (first.alias, second.alias, third.alias) == (CHALLENGER, CHAMPION, CHALLENGER)
    assert "does not beat chance" in first.reason and "--force" in first.reason
    assert "no champion yet" in second.reason and second.candidate > 0.5

    client = MlflowClient(tracking_uri=store[0])
    listed = versions(client, "churn")
    assert [v["aliases"] for v in listed] == [[], [CHAMPION], [CHALLENGER]]
    assert all("roc_auc" in v["metrics"] and "scorecard_roc_auc" in v["metrics"] for v in listed)  # type: ignore[operator]
    promote(client, "churn", "3")
    assert str(client.get_model_version_by_alias("churn", CHAMPION).version) == "3"
    assert [v["aliases"] for v in versions(client, "churn")] == [[], [], [CHAMPION]]
    with pytest.raises(mlflow.exceptions.MlflowException):
        promote(client, "churn", "99")


def test_force_makes_a_weak_model_champion(world: World, store: tuple[str, Path]) -> None:
    _, decision = _register(_spoiled(world.datasets["churn"]), world.datasets["churn"], store, force=True)
    assert decision.alias == CHAMPION and "--force" in decision.reason


def _evidence(**kw: object) -> Evidence:
    base = {"roc_auc": 0.70, "low": 0.66, "high": 0.74, "baseline": "logistic", "baseline_roc_auc": 0.68,
            "versus_baseline": (-0.01, 0.05), "positives": 300}  # fmt: skip
    return Evidence(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("evidence", "why"),
    [
        (_evidence(), None),
        (_evidence(roc_auc=0.468, low=0.43, high=0.51, baseline_roc_auc=0.55), "does not beat chance"),
        (_evidence(low=0.50), "does not beat chance"),  # an interval touching 0.5 is not clear of it
        (_evidence(baseline_roc_auc=0.71, versus_baseline=(-0.03, -0.002)), "below the best baseline, logistic"),
        (_evidence(baseline_roc_auc=0.71, versus_baseline=(-0.03, 0.0)), None),  # the interval reaches 0: not worse
    ],
)
def test_a_first_version_must_beat_chance_and_not_fall_below_its_best_baseline(
    evidence: Evidence, why: str | None, store: tuple[str, Path], world: World
) -> None:
    client = MlflowClient(tracking_uri=store[0])
    mlflow.set_tracking_uri(store[0])
    client.create_registered_model("churn")
    client.create_model_version("churn", source=store[1].as_uri())
    rows = world.datasets["churn"]
    decision = decide(client, "churn", "1", rows[rows["split"] == "valid"], evidence)
    if why is None:
        assert decision.alias == CHAMPION
    else:
        assert decision.alias == CHALLENGER and why in decision.reason and "Try:" in decision.reason


def test_a_model_scoring_noise_is_refused_against_its_best_baseline_with_the_figures(world: World) -> None:
    """A planted model that scores noise, beside baselines that rank: the best baseline is named, and the 90%
    interval of the paired difference (the 5th and 95th percentiles of the paired draws, computed here by hand)
    lies below zero."""
    valid = world.datasets["churn"]
    valid = valid[valid["split"] == "valid"].reset_index(drop=True)
    y = valid["label"].to_numpy(dtype=float)
    rng = np.random.default_rng(0)
    good = y * 0.6 + rng.random(len(y))  # ranks the churners well
    fair = y * 0.2 + rng.random(len(y))
    scores = {"model": rng.random(len(y)), "scorecard": fair, "logistic": good, "best_feature": fair}
    a = assess(y, scores, valid["account_id"].to_numpy())
    e = evidence(a, int(y.sum()), {"logistic": "the logistic baseline"})
    draws = a.draws["model"]["roc_auc"] - a.draws["logistic"]["roc_auc"]
    assert e.baseline == "the logistic baseline" and e.baseline_roc_auc == a.metrics["logistic"]["roc_auc"]
    assert e.versus_baseline == pytest.approx(tuple(np.percentile(draws, [5, 95])))
    assert e.versus_baseline[1] < 0
    why = " ".join(shortfalls(e))
    for figure in (f"{e.roc_auc:.3f}", f"{e.baseline_roc_auc:.3f}", f"{e.versus_baseline[0]:+.3f}",
                   f"{e.versus_baseline[1]:+.3f}", "90% interval", "the logistic baseline"):  # fmt: skip
        assert figure in why, (figure, why)


def test_few_positives_say_how_wide_the_interval_is() -> None:
    assert caveat(_evidence(positives=300)) == ""
    assert "only 31 validation positives" in caveat(_evidence(positives=31)) and "+-0.040" in caveat(
        _evidence(positives=31)
    )


def test_reloaded_model_predicts_and_explains_identically(world: World, store: tuple[str, Path]) -> None:
    rows = world.datasets["churn"]
    model, _ = _register(rows, rows, store, family="auto")
    valid = rows[rows["split"] == "valid"].reset_index(drop=True)
    pyfunc = mlflow.pyfunc.load_model(f"models:/churn@{CHAMPION}")
    got = pyfunc.predict(valid[model.features_])
    assert list(got.columns) == ["probability"]
    assert np.array_equal(got["probability"].to_numpy(), model.predict_proba(model.prepare(valid))[:, 1])
    folder = mlflow.artifacts.download_artifacts(f"models:/churn@{CHAMPION}")
    reloaded = load(next(Path(folder).rglob(ARTIFACT)))
    a, b = explain(model, model.prepare(valid)), explain(reloaded, reloaded.prepare(valid))
    assert np.array_equal(a.contributions, b.contributions) and np.array_equal(a.probability, b.probability)
    run = MlflowClient().get_run(MlflowClient().get_model_version("churn", "1").run_id)
    artifacts = {f.path for f in MlflowClient().list_artifacts(run.info.run_id, "plots")}
    assert artifacts == {f"plots/{n}.png" for n in ("roc_pr", "calibration", "gains", "shap_summary")}
    assert run.data.params["target"] == "churn" and "roc_auc" in run.data.metrics
    # the family chosen on the folds, each candidate's inner-fold ROC AUC and the margin
    assert run.data.params["selection_family"] == run.data.params["family"] in ("lightgbm", "logistic")
    inner = {k for k in run.data.metrics if k.startswith("cv_roc_auc ")}
    assert len(inner) == 8 and "cv_family_margin" in run.data.metrics and "best_feature_roc_auc" in run.data.metrics
