"""Expected expansion revenue in ``churn train --target upsell``: the expansion label for the training set's rows
(``expansion_labels``), the kind of ``models.expansion.ExpansionModel`` chosen on the training dates and fitted
(``models.expansion_selection``), and the rankings of the validation rows judged by the share of their realised
expansion ARR that each one's top decile holds, with 95% intervals (bootstrap by account, paired across rankings);
``log_expansion`` logs it all in the upsell model's MLflow run and registers the model with it.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import mlflow
import numpy as np
import pandas as pd

from features.labels import LabelConfig
from models.config import TARGET_DEFAULTS, TrainConfig
from models.estimator import PropensityModel
from models.expansion import ExpansionModel, SizeConfig, save
from models.expansion_selection import ExpansionSelection, fit_expansion, select_expansion
from models.family import Model
from models.metrics import RESAMPLES, captured, captured_draws, interval
from pipelines.training.expansion_labels import expansion_arr

logger = logging.getLogger(__name__)
EXPECTED = "expected_expansion"  # the new ranking: the expected expansion ARR
# The rankings compared on the validation rows, in words (the oracle's only where the generator's truth is known).
RANKINGS = {
    EXPECTED: "the expected expansion ARR (models.expansion)",
    "upsell_probability": "P(upsell), the upsell model's probability (today's upsell list)",
    "scorecard": "the rule scorecard's upsell probability (models.baselines)",
    "oracle": "the generator's true P(expansion) (p_expand)",
    "oracle_x_arr": "the generator's true P(expansion) x the ARR at as_of (the oracle has no expected size)",
}
# The floor a new ranking must meet: at least the scorecard's share, and this share of the oracle's.
FLOOR_OF_ORACLE = 0.9


@dataclass(frozen=True)
class ExpansionReport:
    model: ExpansionModel
    selection: ExpansionSelection
    captured: dict[str, float]  # ranking -> share of the validation rows' expansion ARR in its top decile
    intervals: dict[str, tuple[float, float]]  # ranking -> 95% interval of that share
    ratios: dict[str, tuple[float, tuple[float, float]]]  # other ranking -> EXPECTED's share over its, interval
    rows: int  # validation rows
    total: float  # their realised expansion ARR

    def metrics(self) -> dict[str, float]:
        """Every figure under one MLflow name: ``expansion_captured_top_decile_<ranking>`` with ``_low`` and
        ``_high``, ``expansion_captured_vs_<ranking>`` (the ratio of the new ranking's) likewise, the selection's
        means on the folds, and the validation's expansion ARR."""
        out = {"expansion_valid_arr_total": self.total, **self.selection.metrics()}
        for who, v in self.captured.items():
            name = f"expansion_captured_top_decile_{who}"
            out[name], (out[f"{name}_low"], out[f"{name}_high"]) = v, self.intervals[who]
        for who, (r, (lo, hi)) in self.ratios.items():
            name = f"expansion_captured_vs_{who}"
            out[name], out[f"{name}_low"], out[f"{name}_high"] = r, lo, hi
        return {k: float(v) for k, v in out.items() if np.isfinite(v)}

    def floors(self) -> dict[str, bool]:
        """Whether the new ranking holds at least the scorecard's share (``scorecard``), and ``FLOOR_OF_ORACLE`` of
        the oracle's by p_expand (``oracle``, the floor of issue 23) and by p_expand x ARR (``oracle_x_arr``, the
        stricter reference); point estimates, the oracle's only when known."""
        c = self.captured
        bar = {"scorecard": 1.0, "oracle": FLOOR_OF_ORACLE, "oracle_x_arr": FLOOR_OF_ORACLE}
        return {who: c[EXPECTED] >= k * c[who] for who, k in bar.items() if who in c}


def judged(
    valid: pd.DataFrame, value: np.ndarray, scores: Mapping[str, np.ndarray], resamples: int = RESAMPLES, seed: int = 0
) -> tuple[dict[str, float], dict[str, tuple[float, float]], dict[str, tuple[float, tuple[float, float]]]]:
    """Each ranking's share of ``value`` (the realised expansion ARR of the ``valid`` rows) in its top decile, its
    95% interval (bootstrap by account) and the ratio of ``EXPECTED``'s share to each other's, with its interval."""
    draws = captured_draws(value, scores, valid["account_id"].to_numpy(), resamples, seed)
    shares = {who: captured(value, s) for who, s in scores.items()}
    intervals = {who: interval(d) for who, d in draws.items()}
    ratios = {who: (shares[EXPECTED] / shares[who], interval(draws[EXPECTED] / draws[who]))
              for who in scores if who != EXPECTED and shares[who] > 0}  # fmt: skip
    return shares, intervals, ratios


def fit_and_judge(
    con: duckdb.DuckDBPyConnection, rows: pd.DataFrame, model: Model, scores: Mapping[str, np.ndarray],
    config: TrainConfig, labels: LabelConfig, size: SizeConfig | None = None,
) -> ExpansionReport | None:  # fmt: skip
    """The expected-expansion model for the upsell training set ``rows`` (a ``split`` column of 'train' and
    'valid'; ``features.dataset_upsell``), chosen on and fitted to the training rows, judged on the validation rows
    beside ``scores`` (``train.Fitted.scores``: scorer -> P(upsell) of the validation rows: ``model``'s, the
    scorecard's, and the oracle's when known). None when the warehouse has no raw subscriptions (a user's feature
    table), a row is no snapshot of them, or the rows carry no ``arr``. ``config``: the upsell training's,
    settled (``train.Fitted.config``)."""
    value = expansion_arr(con, rows, labels)
    if value is None or "arr" not in rows:
        return None
    if value.isna().any():
        # A feature table imported beside raw tables (its rows are no snapshots of them), or a training set built
        # before the raw tables changed: judging on part of the rows would mislead, and training must not fail.
        logger.warning("%d rows of the upsell training set have no expansion label (not snapshots of the "
                       "warehouse's subscriptions; rebuild with churn dataset build): expected expansion skipped",
                       int(value.isna().sum()))  # fmt: skip
        return None
    is_train = (rows["split"] == "train").to_numpy()
    train = rows[is_train].drop(columns="split").reset_index(drop=True)
    valid = rows[rows["split"] == "valid"].reset_index(drop=True)
    v_train, v_valid = value.to_numpy()[is_train], value.to_numpy()[(rows["split"] == "valid").to_numpy()]
    try:
        selection = select_expansion(train, v_train, trees_like(model, config, "upsell"), size)
        expansion = fit_expansion(train, v_train, selection.chosen, config, size)
    except ValueError as e:  # too few upsell rows to learn a size from: the upsell model still trains
        logger.warning("expected expansion skipped: %s", e)
        return None
    p = np.asarray(scores["model"], dtype=float)
    arr = valid["arr"].to_numpy(dtype=float)
    ranked = {EXPECTED: expansion.predict(expansion.prepare(valid), p), "upsell_probability": p,
              "scorecard": np.asarray(scores["scorecard"], dtype=float)}  # fmt: skip
    if "oracle" in scores:
        ranked["oracle"] = np.asarray(scores["oracle"], dtype=float)
        ranked["oracle_x_arr"] = ranked["oracle"] * arr
    shares, intervals, ratios = judged(valid, v_valid, ranked)
    return ExpansionReport(expansion, selection, shares, intervals, ratios, len(valid), float(v_valid.sum()))


def trees_like(model: Model, settled: TrainConfig, target: str) -> TrainConfig:
    """The settings of a model grown beside ``model`` (the expansion folds' upsell models, the churn model's hazard
    model): the fitted LightGBM's own leaves, rows per leaf and penalty as chosen, else (a logistic regression won)
    ``target``'s defaults; the slices and gap of ``settled``."""
    if isinstance(model, PropensityModel):
        c = model.config_
        return replace(settled, num_leaves=c.num_leaves, min_child_samples=c.min_child_samples,
                       reg_lambda=c.reg_lambda)  # fmt: skip
    return replace(settled, **TARGET_DEFAULTS[target])


def log_expansion(report: ExpansionReport, folder: Path) -> dict[str, str]:
    """Log ``report`` to the active MLflow run (the upsell model's): its figures (``ExpansionReport.metrics``), the
    model's kind and settings as parameters, the selection's folds as ``expansion_selection.json``; returns the
    pyfunc artifact to log beside the upsell model (``models.expansion.EXPANSION_ARTIFACT``, written to
    ``folder``), so the expected-expansion model is registered in the same version as the model it multiplies."""
    mlflow.log_metrics(report.metrics())
    mlflow.log_params({f"expansion_{k}": v for k, v in report.model.summary().items()})
    s = report.selection
    mlflow.log_dict({"folds": s.folds, "scores": s.scores, "chosen": s.chosen, "rankings": RANKINGS,
                     "floors": report.floors()}, "expansion_selection.json")  # fmt: skip
    return {"expansion": str(save(report.model, folder))}
