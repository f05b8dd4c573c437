"""The logistic family: exact contributions (against shap's LinearExplainer on the same design matrix, summed back
to each feature by a hand-written map) that add up to the raw score, rare categories folded into one, a saved
model loading back, and the scorer (what serving calls) working on it."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shap

from models.config import TrainConfig
from models.frame import matrix
from models.linear import LogisticModel, fit_logistic_on_slices
from models.pyfunc import load, save
from models.scoring import Scorer
from models.slices import training_slices

CFG = TrainConfig.for_target("churn", calibration="platt")


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    """A per-customer table (one date): 4 numbers (x1 and x3 with missing values), a categorical with 3 common
    values, 2 rare ones and missing values, and a label that reads x0, x2 and the category."""
    rng = np.random.default_rng(11)
    n = 3000
    rows = pd.DataFrame({"account_id": [f"C{i}" for i in range(n)], "as_of": pd.Timestamp("2025-01-01", tz="UTC")})
    x = rng.lognormal(size=(n, 4))
    rows[["x0", "x1", "x2", "x3"]] = x
    rows.loc[rng.random(n) < 0.1, "x1"] = np.nan
    rows.loc[rng.random(n) < 0.2, "x3"] = np.nan
    plan = rng.choice(["a", "b", "c"], size=n).astype(object)
    plan[:4], plan[4:7] = "rare1", "rare2"
    plan[rng.random(n) < 0.05] = None
    rows["plan"] = plan
    logit = -2 + np.log1p(x[:, 0]) - 0.8 * np.log1p(x[:, 2]) + np.where(plan == "a", 1.0, 0.0)
    rows["label"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return rows


@pytest.fixture(scope="module")
def model(table: pd.DataFrame) -> LogisticModel:
    return fit_logistic_on_slices(table, "churn", CFG, C=0.5)


def test_the_design_columns_belong_to_the_features_they_come_from(model: LogisticModel) -> None:
    # By construction: the 4 numbers, indicators for x1 and x3 (missing in the fit rows), then plan's one-hot
    # columns: missing, a, b, c, and one for the two rare values together (below 10 rows each).
    expected = ["x0", "x1", "x2", "x3", "x1", "x3"] + ["plan"] * 5
    assert [model.features_[j] for j in model.owner_.argmax(axis=1)] == expected
    assert (model.owner_.sum(axis=1) == 1).all()


def test_contributions_equal_shap_linear_explainer_and_add_up_to_raw(model: LogisticModel, table: pd.DataFrame) -> None:
    fit = training_slices(table, "churn", CFG).refit  # CFG refits: the model grew on the refit rows
    X = model.prepare(table)
    background = model.design(X[fit])  # the rows it grew on: the means the base value is taken over
    explainer = shap.LinearExplainer((model.lr_.coef_[0], model.lr_.intercept_[0]),
                                     shap.maskers.Independent(background, max_samples=len(background)))  # fmt: skip
    per_column = np.asarray(explainer.shap_values(model.design(X)))
    owners = ["x0", "x1", "x2", "x3", "x1", "x3"] + ["plan"] * 5
    reference = np.column_stack([per_column[:, [k for k, o in enumerate(owners) if o == f]].sum(axis=1)
                                 for f in model.features_])  # fmt: skip
    contributions, base = model.contributions(X)
    np.testing.assert_allclose(contributions, reference, atol=1e-10)
    np.testing.assert_allclose(base, explainer.expected_value, atol=1e-10)
    np.testing.assert_allclose(base + contributions.sum(axis=1), model.raw(X), atol=1e-10)


def test_rare_categories_share_one_coefficient_and_unseen_ones_read_as_missing(
    model: LogisticModel, table: pd.DataFrame
) -> None:
    rows = table.iloc[[0, 4, 10, 10]].copy()
    rows["plan"] = ["rare1", "rare2", None, "never-seen"]
    c, _ = model.contributions(model.prepare(rows))
    j = model.features_.index("plan")
    assert c[0, j] == c[1, j]  # folded together
    assert c[2, j] == c[3, j]  # an unseen value is no code among the training categories: missing


def test_a_saved_model_loads_back_and_predicts_the_same(
    model: LogisticModel, table: pd.DataFrame, tmp_path: Path
) -> None:
    again = load(save(model, tmp_path))
    assert isinstance(again, LogisticModel)
    X = model.prepare(table)
    assert np.array_equal(again.predict_proba(X), model.predict_proba(X))
    assert again.summary()["family"] == "logistic" and again.config_ == CFG


def test_the_scorer_explains_a_logistic_model_with_components_that_add_up(
    model: LogisticModel, table: pd.DataFrame
) -> None:
    rows = table.head(30)
    scores = Scorer(model, None).score(rows, threads=1)
    assert np.allclose(scores["p_churn"], model.predict_proba(model.prepare(rows))[:, 1])
    base = 100.0 * (1.0 - model.calibrate(model.contributions(model.prepare(rows.head(1)))[1])[0])
    for s in scores.itertuples():
        assert base + sum(s.components.values()) == pytest.approx(s.health, abs=5e-4)
        assert len(s.reasons) == 3 and all(r["sentence"] for r in s.reasons)
    live = Scorer(model, None).score_dicts(rows.drop(columns=["label"]).to_dict("records"), threads=1)
    assert [r["p_churn"] for r in live] == pytest.approx(list(scores["p_churn"]), abs=1e-12)


def test_fit_refuses_a_matrix_without_feature_names(table: pd.DataFrame) -> None:
    X = matrix(table, ["x0", "x1"], {})
    with pytest.raises(ValueError, match=r"models\.frame\.matrix"):
        LogisticModel(config=CFG).fit(X.to_numpy(), table["label"], calibration_set=(X, table["label"]),
                                      categories={})  # fmt: skip
