"""Churn over time: a discrete-time hazard model with LightGBM (``HazardModel``), built on ``models.hazard``.

Each snapshot becomes one row per 30-day interval it is at risk in (``models.hazard.expand_person_period``): its
features plus the interval's index (``INTERVAL``), labelled 1 in the interval it churns in. A binary LightGBM
learns the hazard h_k (the chance of churning in interval k, having survived to it), so P(churn within H) =
1 - prod(1 - h_k) never decreases with H, whatever the trees learn. The slices are the churn model's
(``models.slices``): the trees grow on the fit slice, whose follow-up is cut at the first inner date (so the fit
rows' labels read nothing of the period the inner slices are about), stop on the stop slice, grow again on the
refit rows and are calibrated per interval (Platt or isotonic on the raw hazard, ``models.calibration.choose``) on
the calibration slice's person-period rows: a monotone map of each hazard, which keeps the curve monotone.

``fit_hazard`` fits one as ``churn train`` does, from a training set's rows and their survival times
(``features.survival_labels.survival_times``). No I/O but ``save`` and ``load_hazard`` of the pickle that
``churn train --target churn`` logs beside the churn model (``HAZARD_ARTIFACT``).
"""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.labels import LABELS
from models.calibration import choose
from models.config import TrainConfig
from models.frame import as_array, categories_of, feature_names, is_categorical, matrix
from models.hazard import HORIZONS, INTERVAL_ENDS, churn_within, expand_person_period, median_churn_day
from models.pickled import load_pickle, save_pickle
from models.slices import refit_trees, settled, training_slices

HAZARD_ARTIFACT = "hazard.pkl"  # beside ``models.pyfunc.ARTIFACT`` in the churn model's artifacts
INTERVAL = "hazard_interval"  # the interval's index (0 for (0, 30] days), a feature of the person-period rows
# A censored row's last interval counts as survived only when the row was followed through at least this share of
# it: monthly snapshots cut at a month's first day stop 1-2 days into an interval, and counting those as a whole
# interval survived would pull its hazard down (an actuarial half-interval rule, without weights, which the
# calibrators do not take).
MIN_EXPOSURE = 0.5
MIN_EVENTS = 20  # churns among the training rows below which there is no curve to learn

Survival = tuple[pd.DataFrame, np.ndarray, np.ndarray]  # (feature matrix, duration in days, event 0/1)


def person_period(X: pd.DataFrame, duration: np.ndarray, event: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """The person-period matrix of the rows of ``X`` (``X``'s columns plus ``INTERVAL``) and its 0/1 labels, the
    censored rows' last interval left out when followed through less than ``MIN_EXPOSURE`` of it."""
    d, e = np.asarray(duration, dtype=float), np.asarray(event, dtype=int)
    # expand_person_period keys its rows by account_id: the row's position here, to repeat its features
    pp = expand_person_period(pd.DataFrame({"account_id": np.arange(len(d)), "as_of": 0, "duration": d, "event": e}))
    row, k = pp["account_id"].to_numpy(dtype=int), pp["interval"].to_numpy(dtype=int)
    starts = np.concatenate([[0.0], np.asarray(INTERVAL_ENDS[:-1], dtype=float)])
    ends = np.asarray(INTERVAL_ENDS, dtype=float)
    exposure = np.clip((d[row] - starts[k]) / (ends[k] - starts[k]), 0.0, 1.0)
    keep = (pp["event"].to_numpy() == 1) | (exposure >= MIN_EXPOSURE)
    row, k = row[keep], k[keep]
    out = pd.DataFrame(as_array(X)[row], columns=list(X.columns))
    out[INTERVAL] = k.astype(float)
    return out, pp["event"].to_numpy(dtype=float)[keep]


def _grid(X: pd.DataFrame) -> pd.DataFrame:
    """Every row of ``X`` at every interval, row-major: row i's interval k at position i * len(INTERVAL_ENDS) + k."""
    k = len(INTERVAL_ENDS)
    out = pd.DataFrame(np.repeat(as_array(X), k, axis=0), columns=list(X.columns))
    out[INTERVAL] = np.tile(np.arange(k, dtype=float), len(X))
    return out


class Uncalibrated:
    """The trees' own hazard (the logistic of the raw score): chosen when no calibrator beats it on the slice."""

    name = "none"

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.asarray(raw, dtype=float)))


class HazardModel:
    """P(churn) per 30-day interval (``models.hazard.INTERVAL_ENDS``) from a snapshot's features; see the module.
    ``config`` holds LightGBM's settings (the churn model's, ``TrainConfig``); learned attributes end in ``_``."""

    def __init__(self, *, config: TrainConfig | None = None) -> None:
        self.config = config

    def fit(
        self, X: pd.DataFrame, duration: np.ndarray, event: np.ndarray, *, eval_set: Survival,
        calibration_set: Survival, categories: Mapping[str, Sequence[str]], refit_set: Survival | None = None,
    ) -> Self:  # fmt: skip
        """Grow the trees on the rows of ``X`` (a frame from ``models.frame.matrix``) with their survival times,
        stop on ``eval_set``, grow again on ``refit_set`` when given, and calibrate the hazards on
        ``calibration_set`` (each a (matrix, duration, event) of other rows)."""
        cfg = self.config_ = TrainConfig.for_target("churn") if self.config is None else self.config
        if INTERVAL in X.columns:
            raise ValueError(f"{INTERVAL!r} is a column of X; it is the interval index the model adds: rename it")
        self.features_ = [str(c) for c in X.columns]
        self.categorical_ = [c for c in self.features_ if c in categories]
        self.categories_ = {c: list(categories[c]) for c in self.categorical_}
        Xf, yf = person_period(X, duration, event)
        Xs, ys = person_period(*eval_set)
        Xc, yc = person_period(*calibration_set)
        for name, y in (("fit", yf), ("stop (eval_set)", ys)):
            if y.sum() == 0 or y.sum() == len(y):
                raise ValueError(f"the {name} rows hold {int(y.sum())} churns in {len(y)} person-intervals; they "
                                 "need both. Bring more accounts or a longer history.")  # fmt: skip
        names = [*self.features_, INTERVAL]
        params = cfg.lgbm_params(len(yf), int(yf.sum()))
        train = lgb.Dataset(Xf, yf, feature_name=names, categorical_feature=self.categorical_, free_raw_data=False)
        booster = lgb.train(
            params, train, num_boost_round=cfg.max_trees, valid_sets=[lgb.Dataset(Xs, ys, reference=train)],
            callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)],
        )  # fmt: skip
        self.trees_ = self.stopped_trees_ = int(booster.best_iteration or booster.current_iteration())
        self.rows_ = {"fit": len(X), "stop": len(eval_set[0]), "calibrate": len(calibration_set[0])}
        if refit_set is not None:
            Xr, yr = person_period(*refit_set)
            self.trees_ = refit_trees(self.stopped_trees_, len(yf), len(yr))
            data = lgb.Dataset(Xr, yr, feature_name=names, categorical_feature=self.categorical_)
            booster = lgb.train(cfg.lgbm_params(len(yr), int(yr.sum())), data, num_boost_round=self.trees_)
            self.rows_["refit"] = len(refit_set[0])
        self.booster_ = booster
        raw = self._raw(Xc)
        calibrator, brier = choose(raw, yc, cfg.calibration, cfg.seed)
        # Calibrate only where the trees' own hazards are off: on a small slice a fitted map is noise (a Platt
        # slope of 0.03 flattened a synthetic book's hazards), and the trees' log loss is calibrated by design.
        brier["none"] = float(np.mean((Uncalibrated()(raw) - yc) ** 2))
        self.calibrator_ = Uncalibrated() if brier["none"] <= min(brier.values()) else calibrator
        self.calibration_brier_ = brier
        return self

    def _raw(self, pp: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.booster_.predict(as_array(pp), num_iteration=self.trees_, raw_score=True,
                                                num_threads=self.config_.threads))  # fmt: skip

    def prepare(self, rows: pd.DataFrame) -> pd.DataFrame:
        """``rows``' feature columns as the matrix the model reads (categoricals coded with ``categories_``)."""
        return matrix(rows, self.features_, self.categories_)

    def raw_hazards(self, rows: pd.DataFrame) -> np.ndarray:
        """The trees' hazards before calibration, (n, len(INTERVAL_ENDS)), for feature rows ``rows``."""
        return Uncalibrated()(self._raw(_grid(self.prepare(rows)))).reshape(len(rows), -1)

    def hazards(self, rows: pd.DataFrame) -> np.ndarray:
        """Calibrated hazards, (n, len(INTERVAL_ENDS)), for feature rows ``rows`` (the churn model's input columns;
        others ignored)."""
        raw = self._raw(_grid(self.prepare(rows)))
        return np.clip(self.calibrator_(raw), 0.0, 1.0).reshape(len(rows), -1)

    def churn_within(self, rows: pd.DataFrame, horizons: Sequence[int] = HORIZONS) -> np.ndarray:
        """P(churn within each of ``horizons`` days), (n, len(horizons)); non-decreasing along each row."""
        return churn_within(self.hazards(rows), horizons)

    def median_day(self, rows: pd.DataFrame) -> list[float | None]:
        """Days from as_of until the chance of having churned reaches one half; None past the last interval."""
        return median_churn_day(self.hazards(rows))

    @property
    def calibration_method_(self) -> str:
        return str(self.calibrator_.name)

    def summary(self) -> dict[str, Any]:
        """What was learned, for the run's parameters."""
        return {"trees": self.trees_, "trees_early_stopping": self.stopped_trees_,
                "calibration": self.calibration_method_, **{f"rows_{k}": v for k, v in self.rows_.items()},
                **{f"calibration_cv_brier_{k}": round(v, 6) for k, v in self.calibration_brier_.items()},
                "num_leaves": self.config_.num_leaves, "min_child_samples": self.config_.min_child_samples}  # fmt: skip


def censored_at(duration: np.ndarray, event: np.ndarray, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Survival times cut at ``days`` after each row's as_of: a churn later than that becomes a censoring there
    (``features.survival_labels``' grace rule is the caller's: ``days`` is when follow-up ends, grace already off)."""
    d, e, cut = np.asarray(duration, dtype=float), np.asarray(event, dtype=int), np.asarray(days, dtype=float)
    late = d > cut
    return np.where(late, cut, d), np.where(late, 0, e)


def fit_hazard(
    rows: pd.DataFrame, duration: np.ndarray, event: np.ndarray, config: TrainConfig, grace_days: int
) -> HazardModel:
    """A ``HazardModel`` fitted on a training set's rows (account_id, as_of and the feature columns,
    ``models.frame.feature_names``; a ``label`` column is ignored) with their survival times (days, 0/1), on the
    churn model's slices (``config``: as settled for it, ``models.slices.settled``). The fit slice's follow-up is cut
    ``grace_days`` before the first inner date, as ``survival_times`` cuts the training rows before validation.
    Raises ValueError when the rows hold too few churns or too few dates."""
    e = np.asarray(event, dtype=int)
    if e.sum() < MIN_EVENTS:
        raise ValueError(f"the training rows hold {int(e.sum())} churns; a churn curve needs at least {MIN_EVENTS}")
    cfg = settled(config, rows["as_of"], LABELS.reads_days("churn"))
    s = training_slices(rows, "churn", cfg)
    names = feature_names(rows.drop(columns=["label"], errors="ignore"))
    categories = categories_of(rows, [n for n in names if is_categorical(rows[n], n)])
    X = matrix(rows, names, categories)
    d = np.asarray(duration, dtype=float)
    as_of = pd.to_datetime(rows["as_of"], utc=True)
    first_inner = as_of[s.stop | s.calibrate].min()
    until = ((first_inner - pd.Timedelta(days=grace_days)) - as_of).dt.total_seconds().to_numpy() / 86_400.0
    d_fit, e_fit = censored_at(d, e, until)
    fit = s.fit & ((d_fit > 0) | (e_fit == 1))
    model = HazardModel(config=cfg).fit(
        X[fit], d_fit[fit], e_fit[fit], eval_set=(X[s.stop], d[s.stop], e[s.stop]),
        calibration_set=(X[s.calibrate], d[s.calibrate], e[s.calibrate]), categories=categories,
        refit_set=(X[s.refit], d[s.refit], e[s.refit]) if cfg.refit else None,
    )  # fmt: skip
    return model


def save(model: HazardModel, folder: Path) -> Path:
    return save_pickle(model, folder / HAZARD_ARTIFACT)


def load_hazard(path: str | Path) -> HazardModel:
    """The ``HazardModel`` pickled at ``path`` (``save``)."""
    return load_pickle(path, HazardModel)
