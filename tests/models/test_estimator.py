"""The model as a scikit-learn classifier: clone gives an unfitted copy with the same parameters, a clone fitted on
the slices by hand equals ``fit_on_slices``, the refit is LightGBM grown on the refit rows, probabilities come one
column per class, ``fit`` refuses bad sets naming the set and the fix, and a model pickled before ``config_`` was
learned still predicts."""

import pickle
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from models.config import TrainConfig
from models.estimator import PropensityModel, fit_on_slices
from models.frame import categories_of, feature_names, matrix
from models.pyfunc import ARTIFACT, load
from models.slices import training_slices
from tests.models.conftest import World


def test_init_only_stores_its_arguments_and_fit_resolves_the_defaults() -> None:
    m = PropensityModel(target="upsell")
    assert m.get_params() == {"target": "upsell", "config": None}
    assert not [k for k in vars(m) if k.endswith("_")]
    m.set_params(config=TrainConfig(seed=3))
    assert m.config == TrainConfig(seed=3)


def test_clone_gives_an_unfitted_estimator_with_equal_params(churn_model: PropensityModel) -> None:
    copy = clone(churn_model)
    assert type(copy) is PropensityModel and copy is not churn_model
    assert copy.get_params() == churn_model.get_params()
    with pytest.raises(NotFittedError):
        check_is_fitted(copy)
    check_is_fitted(churn_model)


def test_a_clone_fitted_on_the_slices_by_hand_equals_fit_on_slices(
    world: World, churn_model: PropensityModel, valid_rows: pd.DataFrame
) -> None:
    rows = world.datasets["churn"]
    train = rows[rows["split"] == "train"]
    categories = categories_of(train, churn_model.categorical_)
    X, y = matrix(train, feature_names(train.drop(columns="label")), categories), train["label"].to_numpy()
    s = training_slices(train, "churn", churn_model.config_)
    again = clone(churn_model).fit(X[s.fit], y[s.fit], eval_set=(X[s.stop], y[s.stop]),
                                   calibration_set=(X[s.calibrate], y[s.calibrate]), categories=categories,
                                   refit_set=(X[s.refit], y[s.refit]))  # fmt: skip
    assert again.config_ == TrainConfig.for_target("churn")  # config None: the target's defaults, learned in fit
    assert again.trees_ == churn_model.trees_ and again.categories_ == churn_model.categories_
    X_valid = churn_model.prepare(valid_rows)
    assert np.array_equal(again.predict_proba(X_valid), churn_model.predict_proba(X_valid))


def test_the_refit_is_lightgbm_grown_on_the_refit_rows_with_as_many_trees_as_stopping_found_scaled(
    world: World, churn_model: PropensityModel, valid_rows: pd.DataFrame
) -> None:
    """The model's trees are LightGBM's own, grown again on every row of the refit slice (the latest dates too) for
    the stopped count times the root of the rows gained; without the refit, the stopped trees of the fit slice."""
    rows = world.datasets["churn"]
    train = rows[rows["split"] == "train"].drop(columns="split")
    categories = categories_of(train, churn_model.categorical_)
    X, y = matrix(train, churn_model.features_, categories), train["label"].to_numpy(dtype=float)
    s = training_slices(train, "churn", churn_model.config_)
    assert train.loc[s.refit, "as_of"].max() == train["as_of"].max() > train.loc[s.fit, "as_of"].max()
    stopped = churn_model.stopped_trees_
    assert churn_model.trees_ == round(stopped * np.sqrt(s.refit.sum() / s.fit.sum())) > stopped
    params = {**churn_model.config_.lgbm_params(int(s.refit.sum()), int(y[s.refit].sum())), "scale_pos_weight": 1.0}
    by_hand = lgb.train(params, lgb.Dataset(X[s.refit], y[s.refit], categorical_feature=churn_model.categorical_),
                        num_boost_round=churn_model.trees_)  # fmt: skip
    X_valid = churn_model.prepare(valid_rows)
    assert np.allclose(by_hand.predict(X_valid, raw_score=True), churn_model.raw(X_valid))
    assert churn_model.rows_["refit"] == int(s.refit.sum())
    plain = fit_on_slices(train, "churn", TrainConfig.for_target("churn", refit=False))
    assert plain.trees_ == plain.stopped_trees_ == stopped and "refit" not in plain.rows_
    assert not np.allclose(plain.raw(X_valid), churn_model.raw(X_valid))


def test_probabilities_have_a_column_per_class(churn_model: PropensityModel, valid_rows: pd.DataFrame) -> None:
    X, y = churn_model.prepare(valid_rows), valid_rows["label"].to_numpy()
    proba = churn_model.predict_proba(X)
    assert churn_model.classes_.tolist() == [0, 1] and proba.shape == (len(X), 2)
    assert np.array_equal(proba[:, 1], churn_model.calibrate(churn_model.raw(X)))
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert np.array_equal(churn_model.predict(X), (proba[:, 1] > 0.5).astype(int))
    assert churn_model.score(X, y) == np.mean(churn_model.predict(X) == y)  # ClassifierMixin's accuracy
    assert np.array_equal(churn_model.predict_proba(X.to_numpy()), proba)  # the serving path passes arrays


def _sets(model: PropensityModel, valid_rows: pd.DataFrame) -> dict[str, Any]:
    """fit's arguments built from the validation rows (three sets of 400): enough to reach every check."""
    X, y = model.prepare(valid_rows), valid_rows["label"].to_numpy()
    return {"X": X[:400], "y": y[:400], "eval_set": (X[400:800], y[400:800]),
            "calibration_set": (X[800:1200], y[800:1200]), "categories": model.categories_}  # fmt: skip


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda a: {"eval_set": (a["eval_set"][0], np.zeros(400))},
         r"the stop \(eval_set\) set holds 0 positives and 400 negatives; it needs both. Bring more accounts"),
        (lambda a: {"y": np.ones(400)}, r"the fit set holds 400 positives and 0 negatives"),
        (lambda a: {"calibration_set": (a["calibration_set"][0], np.full(400, np.nan))},
         r"y of the calibration \(calibration_set\) set must hold only 0 and 1; remove unlabeled rows"),
        (lambda a: {"y": a["y"][:10]}, r"y of the fit set has shape \(10,\) but X has 400 rows"),
        (lambda a: {"eval_set": (a["eval_set"][0].drop(columns=["logins_30d"]), a["eval_set"][1])},
         r"X of the stop \(eval_set\) set must have the model's \d+ feature columns .*missing: \['logins_30d'\]"
         r".*matrix"),
        (lambda a: {"X": a["X"].to_numpy()}, r"X must be a frame whose columns name the features: .*matrix"),
        (lambda a: {"categories": {**a["categories"], "nope": ["x"]}},
         r"categories names columns that X does not have: \['nope'\]"),
    ],
)  # fmt: skip
def test_fit_refuses_bad_sets_naming_the_set_and_the_fix(
    churn_model: PropensityModel, valid_rows: pd.DataFrame, spoil: Any, message: str
) -> None:
    args = _sets(churn_model, valid_rows)
    args.update(spoil(args))
    with pytest.raises(ValueError, match=message):
        PropensityModel().fit(args.pop("X"), args.pop("y"), **args)


def test_fit_on_slices_refuses_unlabeled_rows(world: World) -> None:
    rows = world.datasets["churn"]
    train = rows[rows["split"] == "train"].copy()
    train.loc[train.index[0], "label"] = np.nan
    with pytest.raises(ValueError, match=r"column 'label' must hold only 0 and 1 \(unlabeled rows removed first\)"):
        fit_on_slices(train, "churn")


def test_a_model_pickled_before_config_was_learned_still_predicts(
    churn_model: PropensityModel, valid_rows: pd.DataFrame
) -> None:
    X = churn_model.prepare(valid_rows)
    old = pickle.loads(pickle.dumps(churn_model))
    # The earlier layout: the resolved configuration in ``config``, no config_ or classes_.
    vars(old)["config"] = vars(old).pop("config_")
    del vars(old)["classes_"]
    reloaded = pickle.loads(pickle.dumps(old))
    assert reloaded.config_ == churn_model.config_
    assert np.array_equal(reloaded.predict_proba(X), churn_model.predict_proba(X))
    assert np.array_equal(reloaded.contributions(X)[0], churn_model.contributions(X)[0])


def test_a_version_registered_under_the_old_class_name_still_loads(
    churn_model: PropensityModel, valid_rows: pd.DataFrame, tmp_path: Path
) -> None:
    """Registered versions pickled ``models.estimator.ChurnModel`` (with ``config`` and no ``config_``) until the
    class was renamed: written here as such a pickle (protocol 0 names the class in plain text), then loaded."""
    old = pickle.loads(pickle.dumps(churn_model))
    vars(old)["config"] = vars(old).pop("config_")
    del vars(old)["classes_"]
    data = pickle.dumps(old, protocol=0)
    assert data.count(b"models.estimator\nPropensityModel\n") == 1
    (tmp_path / ARTIFACT).write_bytes(
        data.replace(b"models.estimator\nPropensityModel\n", b"models.estimator\nChurnModel\n")
    )
    with pytest.raises(AttributeError, match="ChurnModel"):
        pickle.loads((tmp_path / ARTIFACT).read_bytes())
    X = churn_model.prepare(valid_rows)
    assert np.array_equal(load(tmp_path / ARTIFACT).predict_proba(X), churn_model.predict_proba(X))
