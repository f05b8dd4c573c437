"""``churn train --tune``: a bounded hyperparameter search (Optuna, TPE) within a time budget.

Each trial grows, stops and calibrates a model on its own slices of the training set (``models.slices``) and is
scored by ROC AUC on the tuning slice: accounts that none of those slices holds, at the latest training dates, with
the label's read window between them and the rows the trees grow on. The validation rows are never seen. The
configuration returned gives the tuning accounts back to the final fit.
"""

import logging
from dataclasses import replace

import optuna
import pandas as pd

from models.config import TrainConfig
from models.estimator import fit_on_slices
from models.metrics import evaluate
from models.slices import training_slices

logger = logging.getLogger(__name__)
TUNE_SHARE = 0.15  # of the training accounts, held out from growing, stopping and calibrating during the search


def tune(train: pd.DataFrame, target: str, cfg: TrainConfig, seconds: float, max_trials: int = 200) -> TrainConfig:
    """The best configuration found within ``seconds`` (``cfg`` itself if no trial beats it)."""
    # No refit while searching: the refitted trees would grow on the tuning dates, which judge them.
    searching = replace(cfg, tune_share=TUNE_SHARE, refit=False)
    judge = train[training_slices(train, target, searching).tune]

    def score(c: TrainConfig) -> float:
        m = fit_on_slices(train, target, c)
        return evaluate(judge["label"].to_numpy(), m.predict_proba(m.prepare(judge))[:, 1])["roc_auc"]

    def objective(trial: optuna.Trial) -> float:
        return score(replace(
            searching,
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
    logger.info("tuning: %d trials on %d tuning rows, best ROC AUC %.4f with %s", len(study.trials), len(judge),
                study.best_value, study.best_params)  # fmt: skip
    return best
