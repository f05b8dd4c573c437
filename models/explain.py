"""Explanations: exact contributions (TreeSHAP for LightGBM, coefficient x deviation from the mean for the logistic
family, ``models.linear``), their sums by feature family, top reasons in words, and the health
score with family components that add up to it exactly.

Contributions are in log-odds (the trees' raw output): for each row, base value + sum of contributions = raw.
The health score is 100 x (1 - calibrated churn probability), so "health 80" means a 20% chance of churning
within the horizon. Its components spread the move from the base health (the health of an average account, the
base value) to this account's health over the families in proportion to their log-odds contributions: the
calibration is monotone, so every component keeps the sign of its family's pull, and they add up exactly.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from features.registry import Feature
from models.family import Model
from models.sentences import sentence


@dataclass(frozen=True)
class HealthConfig:
    """Tier cut-offs on the health score (configurable): red below ``red_below``, yellow below ``yellow_below``.
    The defaults put red at a 20% or higher chance of churning within 90 days and yellow at 8% (somewhat above
    the demo's base rate of about 6%)."""

    red_below: float = 80.0
    yellow_below: float = 92.0

    def __post_init__(self) -> None:
        if not 0 <= self.red_below <= self.yellow_below <= 100:
            raise ValueError(f"need 0 <= red_below <= yellow_below <= 100, got {self}")

    def tier(self, health: np.ndarray) -> np.ndarray:
        return np.where(health < self.red_below, "red", np.where(health < self.yellow_below, "yellow", "green"))


@dataclass(frozen=True)
class Explanation:
    """Per row: ``contributions`` (rows x features, log-odds), ``base`` and ``raw`` (log-odds), ``probability``
    (calibrated), ``families`` (rows x families, log-odds sums)."""

    features: list[str]
    info: dict[str, Feature]  # each feature's definition (``PropensityModel.feature_info_``)
    contributions: np.ndarray
    base: np.ndarray
    raw: np.ndarray
    probability: np.ndarray
    families: pd.DataFrame


@cache  # a model's feature list never changes; this runs twice per live request otherwise
def family_matrix(families: tuple[str, ...]) -> tuple[list[str], np.ndarray]:
    """For the family of each feature, in the model's order: the families in first-seen order (the registry's
    order for registry features) and a (features x families) 0/1 matrix: contributions @ matrix = family sums."""
    fams = list(dict.fromkeys(families))
    m = np.zeros((len(families), len(fams)))
    for i, fam in enumerate(families):
        m[i, fams.index(fam)] = 1.0
    m.setflags(write=False)  # shared by every caller through the cache
    return fams, m


def explain(model: Model, X: pd.DataFrame | np.ndarray, threads: int | None = None) -> Explanation:
    """Contributions of every feature for every row of ``X`` (a frame from ``model.prepare``)."""
    contrib, base = model.contributions(X, threads)
    raw = base + contrib.sum(axis=1)
    info = model.feature_info_
    fams, m = family_matrix(tuple(info[n].family for n in model.features_))
    by_family = pd.DataFrame(contrib @ m, columns=fams, index=X.index if isinstance(X, pd.DataFrame) else None)
    return Explanation(model.features_, info, contrib, base, raw, model.calibrate(raw), by_family)


def health(model: Model, e: Explanation) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    """(health score, family components, base health) per row; base + components sum to the health score."""
    score = 100.0 * (1.0 - e.probability)
    base = 100.0 * (1.0 - model.calibrate(e.base))
    pull = e.raw - e.base
    moved = score - base
    safe = np.where(np.abs(pull) > 1e-12, pull, 1.0)
    scale = np.where(np.abs(pull) > 1e-12, moved / safe, 0.0)
    parts = e.families.mul(scale, axis=0)
    # When the families' pulls cancel out exactly, the (tiny) move is shared equally so the sum stays exact.
    leftover = np.where(np.abs(pull) > 1e-12, 0.0, moved) / e.families.shape[1]
    parts = parts.add(leftover, axis=0)
    return score, parts, base


def reasons(rows: pd.DataFrame, e: Explanation, top: int = 3) -> list[list[dict[str, object]]]:
    """Per row, the ``top`` features that move the score most (largest absolute contribution), each with its
    value, contribution (log-odds; positive raises the predicted probability) and a sentence."""
    names = {e.features[j] for j in np.unique(np.argsort(-np.abs(e.contributions), axis=1)[:, :top])}
    columns = {n: rows[n].to_numpy(dtype=object) for n in names}
    return top_reasons(e, lambda i, n: columns[n][i], top)


def top_reasons(e: Explanation, value: Callable[[int, str], object], top: int = 3) -> list[list[dict[str, object]]]:
    """``reasons`` of an explanation, reading each row's values through ``value(row, feature)``."""
    contributions, names = e.contributions, e.features
    order = np.argsort(-np.abs(contributions), axis=1, kind="stable")[:, :top]
    out = []
    for i, idx in enumerate(order):
        items = []
        for j in idx:
            name = names[j]
            f = e.info[name]
            v = value(i, name)
            if hasattr(v, "item"):
                v = v.item()  # numpy scalar -> Python
            if (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
                v = None
            items.append({"feature": name, "family": f.family, "value": v,
                          "contribution": float(contributions[i, j]), "sentence": sentence(f, v)})  # fmt: skip
        out.append(items)
    return out
