"""Settings that fit the data: time-based cross-validation over a training set's dates chooses the model family
(LightGBM or a regularized logistic regression) and its settings, never reading the validation rows.

Folds. Each fold judges one block of the latest training dates (about a month of snapshots: one monthly date,
four weekly ones), on one group of accounts (a salted hash: fold ``k`` judges group ``k``). Its fit rows are the
other accounts' rows whose label's read window (``gap_days``: the horizon, plus grace for churn) ends by the
block's first date, so no fit row's label reads the judged period; early stopping reads a share of those other
accounts over the same fit period, never the judged rows (as ``models.slices`` keeps the trees' slices apart). A
table with a single date (a per-customer feature table) has no time to keep apart: its folds are groups of
accounts only. ``check_fold`` refuses a fold that breaks these rules.

Candidates. A small grid of LightGBM settings whose bounds scale with the data (rows per leaf as a share of the
positives in the fit rows: a feature seen in 40 churned rows cannot be isolated by leaves of 50 rows), judged at a
faster learning rate than the final fit (the leaves and rows per leaf carry over); and the logistic regression
(``models.linear``) over a few penalties. Each is scored by its ROC AUC on each fold's judged rows; the family whose
best candidate has the higher mean wins, and is then fitted on the whole training part as ``churn train`` always
did (``fit_selected``).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from features.labels import LABELS
from features.registry import Feature
from features.split import bucket
from models.config import TrainConfig
from models.estimator import PropensityModel, fit_on_slices
from models.family import Model
from models.frame import categories_of, feature_names, is_categorical, matrix
from models.linear import C_GRID, LogisticModel, fit_logistic_on_slices
from models.slices import settled, training_slices

FOLD_SALT, STOP_SALT = "fold:", "fold-stop:"  # drawn independently of the validation and inner slices
STOP_SHARE = 0.2  # of a fold's fit accounts, kept to stop the boosting (and calibrate the logistic regression)
MAX_FOLDS = 3
MIN_FOLD_FIT_DATES = 2  # the earliest fold's trees need at least this many dates before its gap
BLOCK_DAYS = 30  # a fold judges about this many days of snapshots
SEARCH_LEARNING_RATE, SEARCH_STOPPING_ROUNDS = 0.1, 30  # about 3x fewer trees per fold than the final fit
# (leaves, rows per leaf as a share of the fit rows' positives, L2 penalty): simple and cautious to rich and
# fine-grained; 5 settings x 3 folds keeps the search near twice a plain fit on the demo's 2 cores.
LIGHTGBM_GRID = ((7, 0.15, 1.0), (7, 0.05, 1.0), (7, 0.01, 1.0), (31, 0.05, 10.0), (31, 0.01, 10.0))
MIN_CHILD = 5  # rows per leaf, at least


@dataclass(frozen=True)
class Fold:
    """Boolean masks over a training set's rows; ``gap_days`` None for folds of accounts only (one date)."""

    fit: np.ndarray
    stop: np.ndarray
    judge: np.ndarray
    gap_days: int | None


@dataclass(frozen=True)
class Candidate:
    family: str  # "lightgbm" or "logistic"
    name: str
    settings: dict[str, float]  # lightgbm: num_leaves, positives_per_leaf or min_child_samples, reg_lambda; C


@dataclass(frozen=True)
class Selection:
    """What the folds said: each candidate's ROC AUC per fold, the winning family and its best candidate."""

    folds: str  # how the folds were cut, in words
    scores: dict[str, list[float]]  # candidate name -> ROC AUC on each fold's judged rows
    candidates: dict[str, Candidate]
    family: str
    chosen: Candidate

    def mean(self, name: str) -> float:
        return float(np.mean(self.scores[name]))

    def best(self, family: str) -> Candidate | None:
        """The candidate of ``family`` with the highest mean ROC AUC; None when the family did not compete."""
        names = [n for n, c in self.candidates.items() if c.family == family]
        return self.candidates[max(names, key=self.mean)] if names else None

    @property
    def margin(self) -> float | None:
        """Mean ROC AUC of the winner's best candidate minus the other family's best; None with one family."""
        other = self.best("logistic" if self.family == "lightgbm" else "lightgbm")
        return None if other is None else self.mean(self.chosen.name) - self.mean(other.name)

    def params(self) -> dict[str, Any]:
        """How the choice was made, for the run's parameters: the folds, the family that won, its candidate."""
        return {"selection_folds": self.folds, "selection_family": self.family, "selection_chosen": self.chosen.name}

    def metrics(self) -> dict[str, float]:
        """Each candidate's mean ROC AUC on the folds (``cv_roc_auc <name>``) and the family margin."""
        out = {f"cv_roc_auc {n}": self.mean(n) for n in self.scores}
        if self.margin is not None:
            out["cv_family_margin"] = self.margin
        return out


def block_dates(dates: np.ndarray) -> int:
    """Dates per fold: about ``BLOCK_DAYS`` of snapshots at their usual spacing (1 monthly, 4 weekly)."""
    if len(dates) < 2:
        return 1
    spacing = pd.Series(pd.to_datetime(dates)).diff().dt.total_seconds().median() / 86400
    return max(1, round(BLOCK_DAYS / max(spacing, 1.0)))


def time_fold_count(dates: np.ndarray, gap_days: int) -> int:
    """How many time folds the dates allow (at most ``MAX_FOLDS``): the earliest one's trees need
    ``MIN_FOLD_FIT_DATES`` dates whose label's read window ends by its first judged date."""
    block, n = block_dates(dates), 0
    for k in range(1, MAX_FOLDS + 1):
        if k * block >= len(dates):
            break
        first = pd.Timestamp(dates[len(dates) - k * block])
        if sum(pd.Timestamp(d) + pd.Timedelta(days=gap_days) <= first for d in dates) < MIN_FOLD_FIT_DATES:
            break
        n = k
    return n


def cut_folds(account_id: pd.Series, as_of: pd.Series, *, folds: int | None, gap_days: int) -> tuple[list[Fold], str]:
    """The folds of a training set given by its ``account_id`` and ``as_of`` (see the module), and how they were
    cut in words. ``folds`` None: as many as the dates allow, up to ``MAX_FOLDS``; on too short a history for
    time folds, folds of accounts (said so). Raises when ``folds`` asks for more time folds than the dates allow."""
    dates = np.sort(as_of.unique())
    stop_acc = (bucket(account_id, STOP_SALT) < STOP_SHARE * 10_000).to_numpy()
    possible = time_fold_count(dates, gap_days) if len(dates) > 1 else 0
    if folds is not None and len(dates) > 1 and folds > possible:
        raise ValueError(
            f"--folds {folds} asks for more time folds than the {len(dates)} training dates allow ({possible}): each "
            f"fold's trees need {MIN_FOLD_FIT_DATES} dates whose label ({gap_days} days) ends before its judged "
            f"dates. Lower --folds, leave it out to derive it, or train a fixed family (--family lightgbm)."
        )
    if possible == 0:
        k = folds or MAX_FOLDS
        group = (bucket(account_id, FOLD_SALT) % k).to_numpy()
        why = "one date" if len(dates) == 1 else f"{len(dates)} dates are too few for time folds"
        return [Fold(~stop_acc & (group != j), stop_acc & (group != j), group == j, None) for j in range(k)], (
            f"{k} folds of accounts ({why})"
        )
    k, block = folds or possible, block_dates(dates)
    group = (bucket(account_id, FOLD_SALT) % k).to_numpy()
    out = []
    for j in range(k):
        judged = dates[len(dates) - (j + 1) * block : len(dates) - j * block]
        period = (as_of + pd.Timedelta(days=gap_days) <= pd.Timestamp(judged[0])).to_numpy()
        others = period & (group != j)
        out.append(Fold(others & ~stop_acc, others & stop_acc, (group == j) & as_of.isin(judged).to_numpy(), gap_days))
    return out, f"{k} time folds of {block} date{'s' if block > 1 else ''} each, gap {gap_days} days"


def check_fold(fold: Fold, account_id: pd.Series, as_of: pd.Series) -> None:
    """Raise when ``fold`` lets its fit or stop rows share an account with its judged rows, or (time folds) lets a
    fit or stop row's label read window reach the first judged date."""
    learn = fold.fit | fold.stop
    if not fold.judge.any() or not fold.fit.any():
        raise ValueError("a fold has no judged rows or no fit rows: bring more accounts or dates, or lower --folds")
    shared = set(account_id[learn]) & set(account_id[fold.judge])
    if shared:
        raise ValueError(f"a fold's fit rows share {len(shared)} accounts with its judged rows: {sorted(shared)[:3]}")
    if fold.gap_days is not None:
        reads_to = (as_of[learn] + pd.Timedelta(days=fold.gap_days)).max()
        first = as_of[fold.judge].min()
        if reads_to > first:
            raise ValueError(
                f"a fold's fit rows have labels that read up to {reads_to.date()}, past its first judged date "
                f"{first.date()}: the fold would judge on a period its fit rows' labels saw"
            )


def lightgbm_grid() -> list[Candidate]:
    # Names are MLflow metric names too: letters, digits, spaces and periods only.
    return [Candidate("lightgbm", f"lightgbm {leaves} leaves {share:g} of positives per leaf lambda {lam:g}",
                      {"num_leaves": leaves, "positives_per_leaf": share, "reg_lambda": lam})
            for leaves, share, lam in LIGHTGBM_GRID]  # fmt: skip


def logistic_grid() -> list[Candidate]:
    return [Candidate("logistic", f"logistic C {c:g}", {"C": c}) for c in C_GRID]


def tree_config(config: TrainConfig, c: Candidate, rows: int, positives: int) -> TrainConfig:
    """``config`` with a LightGBM candidate's settings; rows per leaf from the fit rows' ``positives``."""
    s = c.settings
    if "positives_per_leaf" in s:
        child = int(np.clip(round(s["positives_per_leaf"] * positives), MIN_CHILD, max(MIN_CHILD, rows // 20)))
    else:
        child = int(s["min_child_samples"])
    return replace(config, num_leaves=int(s["num_leaves"]), min_child_samples=child, reg_lambda=s["reg_lambda"])


def judged_auc(c: Candidate, X: pd.DataFrame, y: np.ndarray, fold: Fold, config: TrainConfig,
               categories: Mapping[str, Sequence[str]]) -> float:  # fmt: skip
    """ROC AUC of candidate ``c`` fitted on the fold's fit rows (the trees stopped on its stop rows), read on its
    judged rows. The raw score is judged: the ranking, which calibration does not change; so the calibrator the
    models' interface requires is fitted on the fit rows, the only slice sure to be large enough on small data."""
    fit, stop = (X[fold.fit], y[fold.fit]), (X[fold.stop], y[fold.stop])
    model: Model
    if c.family == "logistic":
        model = LogisticModel(target="", C=c.settings["C"], config=config)
        model.fit(*fit, calibration_set=fit, categories=categories)
    else:
        cfg = replace(tree_config(config, c, len(fit[1]), int(fit[1].sum())), learning_rate=SEARCH_LEARNING_RATE,
                      early_stopping_rounds=SEARCH_STOPPING_ROUNDS)  # fmt: skip
        model = PropensityModel(target="", config=cfg)
        model.fit(*fit, eval_set=stop, calibration_set=fit, categories=categories)
    judged = y[fold.judge]
    if judged.min() == judged.max():
        raise ValueError("a fold's judged rows hold a single class: bring more accounts or lower --folds")
    return float(roc_auc_score(judged, model.raw(X[fold.judge])))


def select(
    rows: pd.DataFrame, target: str, config: TrainConfig, *, lightgbm: Sequence[Candidate] | None = None,
    label: str = "label",
) -> Selection:  # fmt: skip
    """Cross-validate the candidates of ``config.family`` (both families when "auto") over the folds of the
    training set ``rows`` (account_id, as_of, features, ``label``); ``lightgbm`` replaces the LightGBM grid (a
    tuned configuration). The gap is ``config.gap_days``, else the target's label read window."""
    cfg = settled(config, rows["as_of"], LABELS.reads_days(target))
    assert cfg.gap_days is not None  # settled sets it
    folds, how = cut_folds(rows["account_id"], rows["as_of"], folds=cfg.folds, gap_days=cfg.gap_days)
    for f in folds:
        check_fold(f, rows["account_id"], rows["as_of"])
    y = rows[label].to_numpy(dtype=float)
    names = feature_names(rows.drop(columns=[label]))
    categories = categories_of(rows, [n for n in names if is_categorical(rows[n], n)])
    X = matrix(rows, names, categories)
    pool: list[Candidate] = []
    if cfg.family in ("auto", "lightgbm"):
        pool += list(lightgbm) if lightgbm is not None else lightgbm_grid()
    if cfg.family in ("auto", "logistic"):
        pool += logistic_grid()
    scores = {c.name: [judged_auc(c, X, y, f, cfg, categories) for f in folds] for c in pool}
    candidates = {c.name: c for c in pool}
    best = max(candidates.values(), key=lambda c: float(np.mean(scores[c.name])))
    return Selection(how, scores, candidates, best.family, best)


def fit_selected(
    rows: pd.DataFrame, target: str, config: TrainConfig, selection: Selection, *,
    families: Mapping[str, str] | None = None, label: str = "label", registry: Mapping[str, Feature] | None = None,
) -> Model:  # fmt: skip
    """The selection's chosen candidate fitted on the whole training part ``rows`` as ``churn train`` fits:
    LightGBM on the fit slice, stopped and calibrated on their slices (``fit_on_slices``, rows per leaf from the
    fit slice's positives), or the logistic regression on the fit slice, calibrated on its slice."""
    c = selection.chosen
    if c.family == "logistic":
        return fit_logistic_on_slices(rows, target, config, C=c.settings["C"], label=label, families=families,
                                      registry=registry)  # fmt: skip
    fit = training_slices(rows, target, config).fit
    cfg = tree_config(config, c, int(fit.sum()), int(rows[label].to_numpy()[fit].sum()))
    return fit_on_slices(rows, target, cfg, label=label, families=families, registry=registry)


def fit_model(
    rows: pd.DataFrame, target: str, config: TrainConfig, *, families: Mapping[str, str] | None = None,
    tuned: bool = False, label: str = "label", registry: Mapping[str, Feature] | None = None,
) -> tuple[Model, Selection | None]:  # fmt: skip
    """How ``churn train`` fits a training part: ``config.family`` "lightgbm" trains ``config``'s settings as they
    are (no selection); otherwise ``select`` chooses on the folds and ``fit_selected`` fits the choice. ``tuned``:
    ``config`` holds settings found by ``churn train --tune``, which compete as the only LightGBM candidate;
    ``registry``: the definitions the snapshots were built with, which the model's explanations read."""
    if config.family == "lightgbm":
        return fit_on_slices(rows, target, config, label=label, families=families, registry=registry), None
    fixed = None
    if tuned:
        s = {"num_leaves": config.num_leaves, "min_child_samples": config.min_child_samples,
             "reg_lambda": config.reg_lambda}  # fmt: skip
        fixed = [Candidate("lightgbm", "lightgbm as tuned", s)]
    selection = select(rows, target, config, lightgbm=fixed, label=label)
    return fit_selected(rows, target, config, selection, families=families, label=label, registry=registry), selection
