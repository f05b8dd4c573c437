"""Expected expansion revenue: the captured-revenue metric against a brute-force loop, and ``ExpansionModel``'s
kinds on a seeded frame whose expansion is known (the size grows with ARR and a usage feature), its leak guard,
its pickle and ``expected_expansion_arr``."""

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.config import TrainConfig
from models.estimator import fit_on_slices
from models.expansion import ExpansionModel, expected_expansion_arr, load_expansion, save
from models.expansion_selection import fit_expansion, select_expansion
from models.frame import matrix
from models.metrics import captured, captured_draws, resampled_rows
from models.slices import settled


def brute_captured(value: np.ndarray, score: np.ndarray, share: float = 0.1) -> float:
    """Rank the rows one by one (highest score first, ties by row order), keep the first round(share * n) (at
    least one), and add up their value."""
    n = len(score)
    ranked = sorted(range(n), key=lambda i: (-score[i], i))
    k = max(1, round(share * n))
    total = sum(float(v) for v in value)
    return sum(float(value[i]) for i in ranked[:k]) / total


@pytest.mark.parametrize("seed", range(5))
def test_captured_equals_a_brute_force_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 300))
    value = np.where(rng.random(n) < 0.2, rng.lognormal(8, 1, n), 0.0)
    value[0] = 1.0  # never all zero
    score = rng.integers(0, 8, n).astype(float)  # many ties
    assert captured(value, score) == pytest.approx(brute_captured(value, score), rel=1e-12)
    assert captured(value, score, 0.25) == pytest.approx(brute_captured(value, score, 0.25), rel=1e-12)


def test_captured_by_hand_and_without_value() -> None:
    value = np.array([0.0, 50.0, 0.0, 30.0, 20.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    assert captured(value, np.arange(10.0)) == 0.0  # the top row (index 9) holds nothing
    assert captured(value, -np.arange(10.0)) == 0.0  # index 0 first: nothing either
    assert captured(value, value) == 0.5  # the 50 of 100
    assert np.isnan(captured(np.zeros(10), np.arange(10.0)))


def test_captured_draws_are_the_metric_on_the_bootstrap_samples() -> None:
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(40), 3)
    value = np.where(rng.random(120) < 0.3, rng.lognormal(7, 1, 120), 0.0)
    scores = {"a": rng.random(120), "b": value + rng.random(120)}
    draws = captured_draws(value, scores, groups, resamples=25, seed=4)
    for i, idx in enumerate(resampled_rows(groups, 25, 4)):
        for who, s in scores.items():
            want = brute_captured(value[idx], s[idx]) if value[idx].sum() > 0 else np.nan
            assert draws[who][i] == pytest.approx(want, rel=1e-12, nan_ok=True)


def _rows(seed: int = 0, accounts: int = 500, dates: int = 10) -> tuple[pd.DataFrame, np.ndarray]:
    """Monthly snapshots of ``accounts``: an upsell is likelier with more ``usage``; its size is 40% of ARR, twice
    that with ``power`` users; ``noise`` says nothing. The expansion ARR returned beside the rows, never in them."""
    rng = np.random.default_rng(seed)
    n = accounts * dates
    as_of = np.repeat(pd.date_range("2024-01-01", periods=dates, freq="MS", tz="UTC"), accounts)
    usage, power = rng.normal(size=n), rng.random(n) < 0.3
    arr = rng.lognormal(8, 1.2, n)
    upsell = rng.random(n) < 1 / (1 + np.exp(-(usage - 1.5)))
    size = 0.4 * arr * np.where(power, 2.0, 1.0) * rng.lognormal(0, 0.3, n)
    rows = pd.DataFrame({"account_id": np.tile([f"A{i}" for i in range(accounts)], dates), "as_of": as_of,
                         "usage": usage, "power": power.astype(float), "arr": arr, "noise": rng.normal(size=n),
                         "label": upsell.astype(int)})  # fmt: skip
    return rows, np.where(upsell, size, 0.0)


CONFIG = TrainConfig.for_target("upsell", min_child_samples=20, threads=1)


@pytest.mark.parametrize("kind", ["size", "arr", "tweedie"])
def test_each_kind_ranks_the_expansion_far_better_than_chance(kind: str) -> None:
    rows, value = _rows()
    cfg = settled(CONFIG, rows["as_of"], 90)
    model = fit_expansion(rows, value, kind, cfg)
    test, truth = _rows(seed=1)
    p = 1 / (1 + np.exp(-(test["usage"].to_numpy() - 1.5)))  # the true P(upsell)
    got = model.predict(model.prepare(test), p)
    assert got.shape == (len(test),) and (got >= 0).all()
    assert captured(truth, got) > 0.3  # chance holds 0.1
    if kind == "arr":  # 0.4 x (0.7 x 1 + 0.3 x 2) x E[lognormal(0, 0.3)] = 0.54
        assert 0.45 < model.ratio_ < 0.65


def test_the_size_kind_learns_what_makes_an_upsell_large() -> None:
    rows, value = _rows()
    model = fit_expansion(rows, value, "size", settled(CONFIG, rows["as_of"], 90))
    X = model.prepare(pd.DataFrame({"usage": [0.0, 0.0], "power": [0.0, 1.0], "arr": [1000.0, 1000.0],
                                    "noise": [0.0, 0.0]}))  # fmt: skip
    small, large = model.size(X)
    assert 300 < small < 600 and 1.5 < large / small < 2.6


def test_an_expansion_column_among_the_features_is_refused() -> None:
    rows, value = _rows(accounts=100, dates=3)
    X = matrix(rows.assign(expansion_arr=value), ["usage", "arr", "expansion_arr"], {})
    with pytest.raises(ValueError, match="expansion_arr"):
        ExpansionModel(kind="size").fit(X, value, rows["label"].to_numpy(), eval_set=(X, value, rows["label"]),
                                        categories={})  # fmt: skip


def test_saved_and_loaded_it_predicts_the_same_and_combines_with_the_upsell_model(tmp_path: Path) -> None:
    rows, value = _rows(accounts=300, dates=8)
    cfg = settled(CONFIG, rows["as_of"], 90)
    upsell = fit_on_slices(rows, "upsell", cfg)
    model = fit_expansion(rows, value, "size", cfg)
    again = load_expansion(save(model, tmp_path))
    p = upsell.predict_proba(upsell.prepare(rows))[:, 1]
    want = p * model.size(model.prepare(rows))
    np.testing.assert_allclose(expected_expansion_arr(rows, upsell, again), want, rtol=1e-12)
    (tmp_path / "other.pkl").write_bytes(pickle.dumps({"kind": "size"}))
    with pytest.raises(TypeError, match="not an ExpansionModel"):
        load_expansion(tmp_path / "other.pkl")


def test_the_selection_measures_every_kind_on_time_folds_and_picks_the_best_mean() -> None:
    rows, value = _rows(accounts=400, dates=12)
    sel = select_expansion(rows, value, settled(CONFIG, rows["as_of"], 30))
    assert set(sel.scores) == {"probability", "size", "arr", "tweedie"}
    assert sel.folds.startswith("3 time folds") and all(len(v) == 3 for v in sel.scores.values())
    assert sel.chosen == max(("size", "arr", "tweedie"), key=sel.mean)
    assert sel.mean(sel.chosen) > sel.mean("probability")  # the size matters here, as in the demo's data
