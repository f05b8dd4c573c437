"""Training on a small generated world: the model learns, shuffled labels teach nothing, calibration on other
accounts improves the Brier score, the slices that judge the trees are kept apart from them, and the same data
and seed give the same metrics.

Shuffled training labels are no leakage alarm (a feature that reads the future teaches nothing either once the
labels are shuffled); they catch the label reaching the model by another road (the label among the feature
columns, a slice that reads validation labels). Leakage through features is caught by the point-in-time tests
(``tests/features/test_point_in_time.py``), which a planted leaky feature proves able to fail.
"""

import itertools

import numpy as np
import pandas as pd

from models.config import TrainConfig
from models.estimator import PropensityModel, fit_on_slices
from models.metrics import evaluate
from models.slices import training_slices
from pipelines.training.train import fit_and_evaluate
from tests.models.conftest import World


def test_the_churn_model_learns_and_beats_the_scorecard(world: World) -> None:
    _, _, metrics = fit_and_evaluate(world.datasets["churn"], "churn", TrainConfig.for_target("churn"), world.oracle)
    assert metrics["model"]["roc_auc"] > 0.7
    assert metrics["model"]["roc_auc"] > metrics["scorecard"]["roc_auc"]
    assert metrics["model"]["roc_auc"] > 0.85 * metrics["oracle"]["roc_auc"]
    assert metrics["model"]["ece"] < 0.05  # 1,254 validation rows: the 0.02 floor is for the demo data


def test_shuffled_labels_give_a_roc_auc_near_one_half(world: World) -> None:
    rows = world.datasets["churn"]
    train = rows[rows["split"] == "train"].copy()
    valid = rows[rows["split"] == "valid"]
    aucs = []
    for seed in (1, 2, 3):  # three shuffles, three forests: one shuffle alone gave 0.38 to 0.46 on this world
        train["label"] = np.random.default_rng(seed).permutation(train["label"].to_numpy())
        m = fit_on_slices(train, "churn", TrainConfig.for_target("churn", seed=seed))
        aucs.append(evaluate(valid["label"].to_numpy(), m.predict_proba(m.prepare(valid))[:, 1])["roc_auc"])
    # With the labels' link to the features cut, anything far from 0.5 would mean the features carry the label.
    assert abs(float(np.mean(aucs)) - 0.5) < 0.06, aucs


def test_calibration_on_held_out_time_improves_the_brier_score(world: World) -> None:
    rows = world.datasets["churn"]
    train, valid = rows[rows["split"] == "train"], rows[rows["split"] == "valid"]
    # Weighted positives make the trees' raw probabilities too high; calibration must bring them back.
    m = fit_on_slices(train, "churn", TrainConfig.for_target("churn", pos_weight="sqrt"))
    X, y = m.prepare(valid), valid["label"].to_numpy()
    uncalibrated = 1 / (1 + np.exp(-m.raw(X)))
    before, after = evaluate(y, uncalibrated), evaluate(y, m.predict_proba(X)[:, 1])
    assert after["brier"] < before["brier"]
    assert after["ece"] < before["ece"]
    assert after["roc_auc"] > before["roc_auc"] - 0.01  # a monotone map keeps the ranking (isotonic ties aside)


def test_stopping_calibration_and_tuning_are_kept_apart_from_the_trees(world: World) -> None:
    """Other accounts, and a gap of the label's read window: checked from the slices' rows, with the read window
    taken from the label's definition (90-day horizon and 30-day grace for churn, the horizon for upsell)."""
    for target, read_days in (("churn", 90 + 30), ("upsell", 90)):
        rows = world.datasets[target]
        train = rows[rows["split"] == "train"].reset_index(drop=True)
        cfg = TrainConfig.for_target(target, tune_share=0.15, inner_dates=2)
        s = training_slices(train, target, cfg)
        parts = {k: train[getattr(s, k)] for k in ("fit", "stop", "calibrate", "tune")}
        assert all(len(p) > 100 for p in parts.values()), {k: len(p) for k, p in parts.items()}
        for a, b in itertools.combinations(parts, 2):
            assert not set(parts[a].account_id) & set(parts[b].account_id), (a, b)
        first_judged = min(parts[k].as_of.min() for k in ("stop", "calibrate", "tune"))
        assert (parts["fit"].as_of + pd.Timedelta(days=read_days)).max() <= first_judged
        assert set(parts["stop"].as_of) == set(sorted(train.as_of.unique())[-cfg.inner_dates :])


def test_same_data_and_seed_give_identical_metrics(world: World) -> None:
    cfg = TrainConfig.for_target("upsell")
    _, scores_a, a = fit_and_evaluate(world.datasets["upsell"], "upsell", cfg)
    _, scores_b, b = fit_and_evaluate(world.datasets["upsell"], "upsell", cfg)
    assert a == b
    for k in scores_a:
        assert np.array_equal(scores_a[k], scores_b[k])


def test_unseen_categories_and_missing_columns(churn_model: PropensityModel, valid_rows: pd.DataFrame) -> None:
    rows = valid_rows.head(3).copy()
    rows["segment"] = "a segment never seen"
    p = churn_model.predict_proba(churn_model.prepare(rows))
    assert p.shape == (3, 2) and np.isfinite(p).all()
    try:
        churn_model.prepare(rows.drop(columns=["logins_30d"]))
    except ValueError as e:
        assert "logins_30d" in str(e) and "churn features build" in str(e)
    else:
        raise AssertionError("a missing feature column must be refused")
