"""``churn train --tune``: a bounded hyperparameter search (Optuna, TPE) within a time budget.

Each trial fits on the earlier snapshot dates of the training set and is scored by ROC AUC on its latest dates
(the same time-ordered inner slice the final model stops and calibrates on); the validation rows are never seen.
"""

import logging
from dataclasses import replace

import optuna
import pandas as pd

from models.config import TrainConfig
from models.estimator import ChurnModel
from models.frame import time_slices
from models.metrics import evaluate

logger = logging.getLogger(__name__)


def tune(train: pd.DataFrame, target: str, cfg: TrainConfig, seconds: float, max_trials: int = 200) -> TrainConfig:
    """The best configuration found within ``seconds`` (``cfg`` itself if no trial beats it)."""
    fit, inner = time_slices(train["as_of"], cfg.inner_dates)
    earlier, later = train[fit], train[inner]
    # The trial's own inner slice is the last dates of ``earlier``; ``later`` scores it.

    def score(c: TrainConfig) -> float:
        m = ChurnModel(target=target, config=c).fit(earlier)
        return evaluate(later["label"].to_numpy(), m.predict_proba(m.prepare(later)))["roc_auc"]

    def objective(trial: optuna.Trial) -> float:
        return score(replace(
            cfg,
            learning_rate=trial.suggest_float("learning_rate", 0.01, 0.1, log=True),
            num_leaves=trial.suggest_int("num_leaves", 4, 63, log=True),
            min_child_samples=trial.suggest_int("min_child_samples", 10, 400, log=True),
            colsample_bytree=trial.suggest_float("colsample_bytree", 0.3, 1.0),
            reg_lambda=trial.suggest_float("reg_lambda", 1e-3, 30, log=True),
        ))  # fmt: skip

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=cfg.seed))
    searched = ("learning_rate", "num_leaves", "min_child_samples", "colsample_bytree", "reg_lambda")
    study.enqueue_trial({k: getattr(cfg, k) for k in searched})  # the current configuration is trial 0
    study.optimize(objective, n_trials=max_trials, timeout=seconds)
    best = replace(cfg, **study.best_params)
    logger.info("tuning: %d trials, best inner ROC AUC %.4f with %s", len(study.trials), study.best_value,
                study.best_params)  # fmt: skip
    return best
