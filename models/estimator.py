"""The churn / upsell model: LightGBM on a training set's features, early-stopped and calibrated on other accounts
at later dates.

``PropensityModel`` is a scikit-learn classifier: ``fit(X, y, eval_set=..., calibration_set=..., categories=...)``
grows the trees on ``X``, stops the boosting on ``eval_set`` and fits the calibrator on ``calibration_set``, each
a feature matrix from ``models.frame.matrix``. ``fit_on_slices`` beside it is how ``churn train`` fits: it cuts a
training set (rows of ``features.dataset_<target>``) into ``models.slices`` (trees grow on the earlier snapshot
dates of most accounts; at the latest ``inner_dates`` dates, one group of other accounts stops the boosting and
another fits the calibrator, with a gap of the label's read window between, so neither judges the trees on what
they grew on), fits the model on them, then grows the trees again on every account but the calibration ones
(``models.slices``: the refit) before calibrating.
"""

from collections.abc import Mapping, Sequence
from typing import Any, Self

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted

from features.registry import Feature
from models.calibration import Isotonic, Platt, choose
from models.config import TrainConfig
from models.frame import as_array, categories_of, columns_of, describe, feature_names, is_categorical, matrix
from models.slices import refit_trees, training_slices

Matrix = pd.DataFrame | np.ndarray  # the feature columns in the model's order, as ``models.frame.matrix`` builds them
Labels = pd.Series | np.ndarray  # 0 or 1 per row


class PropensityModel(ClassifierMixin, BaseEstimator):
    """Binary LightGBM with calibrated probabilities, for ``target`` (churn or upsell).

    ``config`` holds LightGBM's settings and the calibration method; None takes the target's defaults
    (``TrainConfig.for_target``). Its slice settings (``inner_dates``, the shares, ``gap_days``) are read by
    ``fit_on_slices``, not by ``fit``. Learned attributes end in ``_``.
    """

    def __init__(self, *, target: str = "churn", config: TrainConfig | None = None) -> None:
        self.target = target
        self.config = config

    def fit(
        self,
        X: Matrix,
        y: Labels,
        *,
        eval_set: tuple[Matrix, Labels],
        calibration_set: tuple[Matrix, Labels],
        categories: Mapping[str, Sequence[str]],
        families: Mapping[str, str] | None = None,
        refit_set: tuple[Matrix, Labels] | None = None,
        registry: Mapping[str, Feature] | None = None,
    ) -> Self:
        """Grow the trees on ``(X, y)``, stop the boosting on ``eval_set`` and fit the calibrator on
        ``calibration_set``; with ``refit_set``, grow the trees again on it (as many as stopping found, scaled by
        ``models.slices.refit_trees``) before the calibrator is fitted. ``X`` is a frame from
        ``models.frame.matrix``: its columns are the features, in the order new rows will be read. ``categories``
        are the values of each categorical feature in the order of the codes the matrices hold
        (``models.frame.categories_of``); ``prepare`` codes new rows with them.
        ``families`` puts a feature table's own columns into families, ``registry`` gives the definitions the
        snapshots were built with (``models.frame.describe``)."""
        cfg = self.config_ = TrainConfig.for_target(self.target) if self.config is None else self.config
        c = columns_of(X, categories, families, registry)
        self.features_, self.categorical_, self.categories_, self.feature_info_ = (
            c.features,
            c.categorical,
            c.categories,
            c.info,
        )
        X, y = self._checked("fit", X, y)
        X_stop, y_stop = self._checked("stop (eval_set)", *eval_set)
        X_cal, y_cal = self._checked("calibration (calibration_set)", *calibration_set)
        for name, labels in (("fit", y), ("stop (eval_set)", y_stop)):
            pos, neg = labels.sum(), (1 - labels).sum()
            if pos == 0 or neg == 0:
                raise ValueError(
                    f"the {name} set holds {int(pos)} positives and {int(neg)} negatives; it needs both. "
                    "Bring more accounts or a longer history."
                )
        pos, neg = y.sum(), (1 - y).sum()
        w = float(np.sqrt(neg / pos)) if cfg.pos_weight == "sqrt" else float(cfg.pos_weight)
        params = {**cfg.lgbm_params(len(y), int(pos)), "scale_pos_weight": w}
        train = lgb.Dataset(X, y, feature_name=self.features_, categorical_feature=self.categorical_,
                            free_raw_data=False)  # fmt: skip
        valid = lgb.Dataset(X_stop, y_stop, reference=train)
        self.booster_ = lgb.train(
            params, train, num_boost_round=cfg.max_trees, valid_sets=[valid],
            callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)],
        )  # fmt: skip
        self.trees_ = self.stopped_trees_ = int(self.booster_.best_iteration or self.booster_.current_iteration())
        self.rows_ = {"fit": len(y), "stop": len(y_stop), "calibrate": len(y_cal)}
        if refit_set is not None:
            X_all, y_all = self._checked("refit (refit_set)", *refit_set)
            self.trees_ = refit_trees(self.stopped_trees_, len(y), len(y_all))
            pos_all = int(y_all.sum())
            params = {**cfg.lgbm_params(len(y_all), pos_all), "scale_pos_weight": w}
            data = lgb.Dataset(X_all, y_all, feature_name=self.features_, categorical_feature=self.categorical_)
            self.booster_ = lgb.train(params, data, num_boost_round=self.trees_)
            self.rows_["refit"] = len(y_all)
        self.pos_weight_ = w
        self.calibrator_, self.calibration_brier_ = choose(self.raw(X_cal), y_cal, cfg.calibration, cfg.seed)
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = len(self.features_)
        return self

    def _checked(self, name: str, X: Matrix, y: Labels) -> tuple[Matrix, np.ndarray]:
        """``X`` and ``y`` of the ``name`` set, checked against each other and the model's features; ``y`` as
        floats."""
        n = len(self.features_)
        build = "Build it with models.frame.matrix(rows, model.features_, model.categories_)."
        if isinstance(X, pd.DataFrame) and list(X.columns) != self.features_:
            missing = [c for c in self.features_ if c not in X.columns]
            extra = [c for c in X.columns if c not in self.features_]
            raise ValueError(
                f"X of the {name} set must have the model's {n} feature columns in its order; it has "
                f"{X.shape[1]} columns (missing: {missing[:10]}, not features: {extra[:10]}). {build}"
            )
        if X.ndim != 2 or X.shape[1] != n:
            raise ValueError(f"X of the {name} set has shape {X.shape}; the model reads {n} features. {build}")
        labels = np.asarray(y, dtype=float)
        if labels.shape != (X.shape[0],):
            raise ValueError(
                f"y of the {name} set has shape {labels.shape} but X has {X.shape[0]} rows; give one label per row"
            )
        if not np.isin(labels, (0.0, 1.0)).all():
            raise ValueError(f"y of the {name} set must hold only 0 and 1; remove unlabeled rows first")
        return X, labels

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing values and unseen categories are NaN, which LightGBM routes
        return tags

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Models pickled before ``config_`` and ``classes_`` were learned kept the resolved configuration in
        # ``config``; registered versions must still load and predict.
        if "booster_" in state and "config_" not in state:
            state = {"classes_": np.array([0, 1]), **state, "config_": state["config"]}
        if "booster_" in state and "feature_info_" not in state:  # before feature tables: registry features only
            state = {**state, "feature_info_": describe(state["features_"], state["categorical_"])}
        super().__setstate__(state)

    # Prediction: ``X`` is a frame of the feature columns (``prepare`` builds it from any frame of rows).
    def prepare(self, rows: pd.DataFrame) -> pd.DataFrame:
        """``rows``' feature columns as the matrix the model reads (categoricals coded with ``categories_``)."""
        return matrix(rows, self.features_, self.categories_)

    def raw(self, X: Matrix) -> np.ndarray:
        """The trees' output in log-odds (before calibration)."""
        threads = self.config_.threads
        return np.asarray(self.booster_.predict(as_array(X), num_iteration=self.trees_, raw_score=True,
                                                num_threads=threads))  # fmt: skip

    def predict_proba(self, X: Matrix) -> np.ndarray:
        """Calibrated probabilities, (rows x 2): column ``j`` for ``classes_[j]``, so ``[:, 1]`` is the
        positive class's."""
        check_is_fitted(self)
        p = self.calibrate(self.raw(X))
        return np.column_stack((1.0 - p, p))

    def predict(self, X: Matrix) -> np.ndarray:
        """1 where the calibrated probability is above 0.5, else 0."""
        return self.classes_[(self.predict_proba(X)[:, 1] > 0.5).astype(int)]

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probability of the positive class for raw scores (log-odds)."""
        return self.calibrator_(raw)

    def contributions(self, X: Matrix, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Exact TreeSHAP: (rows x features) contributions in log-odds and the base value per row; each row's
        contributions plus its base value equal ``raw``. ``threads`` defaults to the training configuration's:
        the thread count is always set, since LightGBM's default (every core) spins badly on a busy machine."""
        n = threads or self.config_.threads
        out = np.asarray(self.booster_.predict(as_array(X), num_iteration=self.trees_, pred_contrib=True,
                                               num_threads=n))  # fmt: skip
        return out[:, :-1], out[:, -1]

    @property
    def calibration_method_(self) -> str:
        return "isotonic" if isinstance(self.calibrator_, Isotonic) else "platt"

    def summary(self) -> dict[str, Any]:
        """What was learned, for the run's parameters: trees, calibration, positive weight, rows per slice and
        the calibrators' cross-validated Brier scores."""
        return {
            "target": self.target, "family": "lightgbm", "trees": self.trees_,
            "trees_early_stopping": getattr(self, "stopped_trees_", self.trees_), "num_leaves": self.config_.num_leaves,
            "min_child_samples": self.config_.min_child_samples, "calibration": self.calibration_method_,
            "calibration_slope_fixed": bool(getattr(self.calibrator_, "slope_fixed_", False)),
            "pos_weight": round(self.pos_weight_, 4), **{f"rows_{k}": v for k, v in self.rows_.items()},
            **{f"calibration_cv_brier_{k}": round(v, 6) for k, v in self.calibration_brier_.items()},
        }  # fmt: skip


def fit_on_slices(
    rows: pd.DataFrame,
    target: str = "churn",
    config: TrainConfig | None = None,
    *,
    label: str = "label",
    families: Mapping[str, str] | None = None,
    registry: Mapping[str, Feature] | None = None,
) -> PropensityModel:
    """A ``PropensityModel`` fitted on a training set (account_id, as_of, the features (``models.frame.
    feature_names``) and ``label``) as ``churn train`` fits it: trees on the fit slice, early stopping on the
    stop slice, then (``config.refit``) grown again on the refit slice, calibration on the calibration slice
    (``models.slices.training_slices``). ``config`` None takes
    the target's defaults; ``families`` puts a feature table's own columns into families."""
    y = rows[label].to_numpy(dtype=float)
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError(f"column {label!r} must hold only 0 and 1 (unlabeled rows removed first)")
    cfg = TrainConfig.for_target(target) if config is None else config
    names = feature_names(rows.drop(columns=[label]))
    # Categories from every training row, not only the fit slice's: a value seen only in the later slices keeps a
    # code of its own rather than reading as missing.
    categories = categories_of(rows, [n for n in names if is_categorical(rows[n], n)])
    X = matrix(rows, names, categories)
    s = training_slices(rows, target, cfg)
    model = PropensityModel(target=target, config=config).fit(
        X[s.fit], y[s.fit], eval_set=(X[s.stop], y[s.stop]), calibration_set=(X[s.calibrate], y[s.calibrate]),
        categories=categories, families=families, refit_set=(X[s.refit], y[s.refit]) if cfg.refit else None,
        registry=registry,
    )  # fmt: skip
    # The summary reports every slice, the tune slice too, which fit never sees; the refit one only when used.
    model.rows_ = {k: v for k, v in s.counts().items() if k != "refit" or cfg.refit}
    return model


__all__ = ["Isotonic", "Platt", "PropensityModel", "fit_on_slices"]
