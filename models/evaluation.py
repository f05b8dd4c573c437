"""The out-of-time evaluation of a model beside its baselines: every metric with its 95% interval (bootstrap over
accounts, paired across scorers), the churn metrics again "beyond notice", and the model against the oracle.

Beyond notice: the rows whose account had not given notice at as_of. A notice to cancel makes churn all but certain
without any model, so metrics over every row credit the model with predictions a CS team already had; the rows
beyond notice are where a model has to find the risk itself.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.families.growth import NOTICE
from models.metrics import LEVEL, RESAMPLES, bootstrap, evaluate, interval, intervals

# The level of the interval of (model - best baseline) that must reach 0 for a model to be champion
# (pipelines.training.champion): one-sided, "not below beyond noise" at 95%.
NOT_WORSE = 0.90


@dataclass(frozen=True)
class Assessment:
    """Metrics of several scorers on the same rows (scorer -> metric -> value), with their intervals."""

    metrics: dict[str, dict[str, float]]
    intervals: dict[str, dict[str, tuple[float, float]]]
    draws: dict[str, dict[str, np.ndarray]]  # the bootstrap values behind the intervals, paired across scorers

    def ratio(self, a: str, b: str, metric: str = "roc_auc") -> tuple[float, tuple[float, float]]:
        """``a``'s metric over ``b``'s, and its interval from the paired draws."""
        point = self.metrics[a][metric] / self.metrics[b][metric]
        return point, interval(self.draws[a][metric] / self.draws[b][metric])

    def difference(self, a: str, b: str, metric: str = "roc_auc", level: float = LEVEL) -> tuple[float, float]:
        """The ``level`` interval (95% by default; the champion rule reads the 90% one, ``NOT_WORSE``) of ``a``'s
        metric minus ``b``'s, from the paired draws."""
        return interval(self.draws[a][metric] - self.draws[b][metric], level)


@dataclass(frozen=True)
class Evaluation:
    everyone: Assessment
    beyond_notice: Assessment | None  # churn only; None when the rows hold no notice column or too few of a class
    noticed: int  # validation rows whose account had given notice at as_of

    @property
    def oracle_ratio(self) -> tuple[float, tuple[float, float]] | None:
        """The model's ROC AUC over the oracle's, with its interval; None without an oracle."""
        return self.everyone.ratio("model", "oracle") if "oracle" in self.everyone.metrics else None


def assess(
    y: np.ndarray, scores: Mapping[str, np.ndarray], groups: np.ndarray, arr: np.ndarray | None = None,
    resamples: int = RESAMPLES, seed: int = 0,
) -> Assessment:  # fmt: skip
    metrics = {who: evaluate(y, p, arr) for who, p in scores.items()}
    draws = bootstrap(y, scores, groups, arr, resamples, seed)
    return Assessment(metrics, intervals(draws), draws)


def evaluate_validation(
    valid: pd.DataFrame, scores: Mapping[str, np.ndarray], target: str, resamples: int = RESAMPLES, seed: int = 0
) -> Evaluation:
    """``scores`` (scorer -> probabilities, in ``valid``'s row order) on ``valid`` (account_id, label, arr, and the
    notice feature): over every row, and for churn over the rows beyond notice."""
    y, groups = valid["label"].to_numpy(dtype=float), valid["account_id"].to_numpy()
    arr = valid["arr"].to_numpy(dtype=float) if "arr" in valid else None
    everyone = assess(y, scores, groups, arr, resamples, seed)
    if NOTICE not in valid:
        return Evaluation(everyone, None, 0)
    noticed = valid[NOTICE].fillna(0).to_numpy() > 0
    rest = ~noticed
    beyond = None
    if target == "churn" and noticed.any() and 0 < y[rest].sum() < rest.sum():
        beyond = assess(y[rest], {k: np.asarray(p)[rest] for k, p in scores.items()}, groups[rest],
                        None if arr is None else arr[rest], resamples, seed)  # fmt: skip
    return Evaluation(everyone, beyond, int(noticed.sum()))
