"""Explanation identities: TreeSHAP equals the shap library's, contributions add up to the raw output, family sums
add up too, and the health score equals its base plus its family components."""

import warnings

import numpy as np
import pandas as pd
import shap

from features.catalog import families
from models.estimator import PropensityModel
from models.explain import HealthConfig, explain, health, reasons


def test_contributions_equal_shap_tree_explainer(churn_model: PropensityModel, valid_rows: pd.DataFrame) -> None:
    X = churn_model.prepare(valid_rows)
    e = explain(churn_model, X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # shap's note that its LightGBM output format changed
        reference = np.asarray(shap.TreeExplainer(churn_model.booster_).shap_values(X))
    assert reference.shape == e.contributions.shape
    assert np.abs(reference - e.contributions).max() < 1e-6
    assert np.abs(e.contributions).sum(axis=1).min() > 0  # every row is explained by something


def test_contributions_and_family_sums_add_up_to_the_raw_output(
    churn_model: PropensityModel, valid_rows: pd.DataFrame
) -> None:
    X = churn_model.prepare(valid_rows)
    e = explain(churn_model, X)
    raw = churn_model.raw(X)
    assert np.allclose(e.base + e.contributions.sum(axis=1), raw, atol=1e-9)
    assert np.allclose(e.base + e.families.sum(axis=1), raw, atol=1e-9)
    assert list(e.families.columns) == [f.name for f in families()]
    assert np.allclose(e.probability, churn_model.predict_proba(X)[:, 1])


def test_health_components_add_up_exactly_and_keep_the_families_signs(
    churn_model: PropensityModel, valid_rows: pd.DataFrame
) -> None:
    e = explain(churn_model, churn_model.prepare(valid_rows))
    score, parts, base = health(churn_model, e)
    assert np.allclose(base + parts.sum(axis=1), score, atol=1e-9)
    assert ((score >= 0) & (score <= 100)).all()
    assert np.allclose(score, 100 * (1 - churn_model.predict_proba(churn_model.prepare(valid_rows))[:, 1]))
    # A family that pushes churn risk up pulls health down, and the other way round.
    pushes = np.sign(e.families.to_numpy())
    pulls = np.sign(parts.to_numpy())
    moved = np.abs(parts.to_numpy()) > 1e-9
    assert (pulls[moved] == -pushes[moved]).all()
    tiers = HealthConfig(red_below=50, yellow_below=75).tier(np.array([10.0, 50.0, 74.9, 75.0]))
    assert tiers.tolist() == ["red", "yellow", "yellow", "green"]


def test_reasons_are_the_largest_contributions_in_words(churn_model: PropensityModel, valid_rows: pd.DataFrame) -> None:
    rows = valid_rows.head(20)
    e = explain(churn_model, churn_model.prepare(rows))
    got = reasons(rows, e, top=3)
    for i, items in enumerate(got):
        largest = np.sort(np.abs(e.contributions[i]))[::-1][:3]
        assert np.allclose([abs(float(r["contribution"])) for r in items], largest)  # type: ignore[arg-type]
        for r in items:
            assert isinstance(r["sentence"], str) and r["sentence"]
            value = rows.iloc[i][str(r["feature"])]
            assert (r["value"] is None) == bool(pd.isna(value))
