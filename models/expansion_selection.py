"""Which expected-expansion model to train (``models.expansion``), chosen by measurement on the training dates:
the time folds of ``models.selection`` (each judges a block of the latest training dates on one group of
accounts; its fit rows are the other accounts' rows whose label's read window ends by the judged block), never the
validation rows.

On each fold an upsell model (LightGBM at the search settings of ``models.selection``, stopped and calibrated on
the fold's stop rows) gives P(upsell) for the judged rows, each kind is fitted on the fit rows (stopped on the stop
rows), and judged by the share of the judged rows' realised expansion ARR that its top decile holds
(``models.metrics.captured``). The kind with the highest mean wins and is fitted on the whole training part
(``fit_expansion``), on the slices the upsell model is fitted on (``models.slices``).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from models.config import TrainConfig
from models.estimator import PropensityModel
from models.expansion import KINDS, ExpansionModel, SizeConfig
from models.frame import categories_of, feature_names, is_categorical, matrix
from models.metrics import captured
from models.selection import SEARCH_LEARNING_RATE, SEARCH_STOPPING_ROUNDS, Fold, check_fold, cut_folds
from models.slices import training_slices

REFERENCE = "probability"  # P(upsell) alone: judged beside the kinds as the ranking they must beat, never chosen


@dataclass(frozen=True)
class ExpansionSelection:
    """What the folds said: each candidate's share of expansion ARR captured in the top decile per fold."""

    folds: str  # how the folds were cut, in words
    scores: dict[str, list[float]]  # candidate (a kind, or REFERENCE) -> captured share on each fold's judged rows
    chosen: str

    def mean(self, name: str) -> float:
        return float(np.nanmean(self.scores[name]))

    def metrics(self) -> dict[str, float]:
        """Each candidate's mean on the folds, as MLflow metrics (``expansion_cv_captured_<name>``)."""
        return {f"expansion_cv_captured_{n}": self.mean(n) for n in self.scores}


def _features(rows: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    names = feature_names(rows)
    categories = categories_of(rows, [n for n in names if is_categorical(rows[n], n)])
    return matrix(rows, names, categories), categories


def fold_probability(
    X: pd.DataFrame, y: np.ndarray, fold: Fold, config: TrainConfig, categories: Mapping[str, Sequence[str]]
) -> np.ndarray:
    """P(upsell) of the fold's judged rows from an upsell model fitted on its fit rows, stopped and calibrated on
    its stop rows (other accounts over the fit period: the calibration must not read the rows the trees grew on,
    since the kinds multiply by the probability itself, not only by its order)."""
    cfg = replace(config, learning_rate=SEARCH_LEARNING_RATE, early_stopping_rounds=SEARCH_STOPPING_ROUNDS)
    stop = (X[fold.stop], y[fold.stop])
    model = PropensityModel(target="upsell", config=cfg)
    model.fit(X[fold.fit], y[fold.fit], eval_set=stop, calibration_set=stop, categories=categories)
    return model.predict_proba(X[fold.judge])[:, 1]


def select_expansion(
    rows: pd.DataFrame, expansion: np.ndarray, config: TrainConfig, size: SizeConfig | None = None,
    kinds: Sequence[str] = KINDS,
) -> ExpansionSelection:  # fmt: skip
    """Measure ``kinds`` (and ``REFERENCE``) on the time folds of the training part ``rows`` (account_id, as_of,
    the features, ``label``: the upsell label), given each row's realised ``expansion`` ARR (in ``rows``' order;
    never a column of ``rows``). ``config``: the upsell model's settings, settled (``gap_days`` set)."""
    if config.gap_days is None:
        raise ValueError("config.gap_days must be set: pass the settled config (models.slices.settled)")
    folds, how = cut_folds(rows["account_id"], rows["as_of"], folds=config.folds, gap_days=config.gap_days)
    for f in folds:
        check_fold(f, rows["account_id"], rows["as_of"])
    X, categories = _features(rows)
    y, value = rows["label"].to_numpy(dtype=float), np.asarray(expansion, dtype=float)
    scores: dict[str, list[float]] = {REFERENCE: [], **{k: [] for k in kinds}}
    for f in folds:
        p = fold_probability(X, y, f, config, categories)
        judged = X[f.judge]
        scores[REFERENCE].append(captured(value[f.judge], p))
        for kind in kinds:
            try:
                model = ExpansionModel(kind=kind, config=size).fit(
                    X[f.fit], value[f.fit], y[f.fit], eval_set=(X[f.stop], value[f.stop], y[f.stop]),
                    categories=categories,
                )  # fmt: skip
            except ValueError:  # too few upsell rows in this fold for this kind: it cannot be judged here
                scores[kind].append(np.nan)
                continue
            scores[kind].append(captured(value[f.judge], model.predict(judged, p)))
    judged_kinds = [k for k in kinds if np.isfinite(scores[k]).any()]
    if not judged_kinds:
        raise ValueError("no kind of expansion model could be fitted on the folds: too few upsell rows")
    chosen = max(judged_kinds, key=lambda k: float(np.nanmean(scores[k])))
    return ExpansionSelection(how, scores, chosen)


def fit_expansion(
    rows: pd.DataFrame, expansion: np.ndarray, kind: str, config: TrainConfig, size: SizeConfig | None = None
) -> ExpansionModel:
    """An ``ExpansionModel`` of ``kind`` fitted on the training part ``rows`` (as ``select_expansion``) as the
    upsell model is: trees on the fit slice, stopped on the stop slice, then (``config.refit``) grown again on the
    refit slice (``models.slices.training_slices``)."""
    X, categories = _features(rows)
    y, value = rows["label"].to_numpy(dtype=float), np.asarray(expansion, dtype=float)
    s = training_slices(rows, "upsell", config)
    refit = (X[s.refit], value[s.refit], y[s.refit]) if config.refit else None
    return ExpansionModel(kind=kind, config=size).fit(
        X[s.fit], value[s.fit], y[s.fit], eval_set=(X[s.stop], value[s.stop], y[s.stop]), categories=categories,
        refit_set=refit,
    )  # fmt: skip
