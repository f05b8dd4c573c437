"""The logistic-regression family of the churn / upsell model: what ``churn train`` serves when a regularized
logistic regression beats LightGBM on the inner folds (``models.selection``), as it does on small or weak-signal
data.

``LogisticModel`` reads the same matrix as ``PropensityModel`` (``models.frame.matrix``: numbers, and categoricals
as their codes among the training categories) and offers the interface serving and explanations use: ``prepare``,
``raw`` (log-odds), calibrated ``predict_proba``, ``contributions``, ``features_``, ``categorical_``,
``categories_``, ``feature_info_``, ``summary()`` and ``config_``. Inside, each row becomes a design row: numbers
as their signed log, missing values imputed by the median with an indicator column for each feature that had
missing values, then standard-scaled; each categorical one-hot, a missing or unseen value a category of its own and
the rare ones folded into one (scikit-learn's ``min_frequency``), so that a value seen in a handful of rows gets no
coefficient of its own to overfit. Contributions are exact for a linear model: coefficient x (design value - its
mean over the fit rows), summed back to the feature each design column came from (its indicator and one-hot
columns included); the base value is the intercept + coefficients x means, so base + contributions = raw.
"""

from collections.abc import Mapping, Sequence
from typing import Any, Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted

from features.registry import Feature
from models.calibration import Isotonic, choose
from models.config import TrainConfig
from models.frame import as_array, categories_of, columns_of, feature_names, is_categorical, matrix
from models.slices import training_slices

Matrix = pd.DataFrame | np.ndarray
MISSING_CODE = -1.0  # a missing or unseen categorical value, one-hot as a category of its own
C_GRID = (0.01, 0.1, 1.0)  # inverse penalties tried on the folds (models.selection), on standard-scaled columns


def rare_rows(rows: int) -> int:
    """Rows below which a category is folded with the other rare ones: 10, or 1 in 500 rows on larger data."""
    return max(10, rows // 500)


def signed_log(x: np.ndarray) -> np.ndarray:
    """sign(x) log(1 + |x|): counts and amounts spread over orders of magnitude, which a linear model reads
    better on a log scale; NaN stays NaN."""
    return np.sign(x) * np.log1p(np.abs(x))


class LogisticModel(ClassifierMixin, BaseEstimator):
    """L2-regularized logistic regression with calibrated probabilities, for ``target`` (churn or upsell); ``C``
    is the inverse penalty on standard-scaled columns. ``config`` gives the calibration method, the seed and the
    thread count (None: the target's defaults). Learned attributes end in ``_``."""

    def __init__(self, *, target: str = "churn", C: float = 0.1, config: TrainConfig | None = None) -> None:
        self.target = target
        self.C = C
        self.config = config

    def fit(
        self,
        X: Matrix,
        y: np.ndarray | pd.Series,
        *,
        calibration_set: tuple[Matrix, np.ndarray | pd.Series],
        categories: Mapping[str, Sequence[str]],
        families: Mapping[str, str] | None = None,
        registry: Mapping[str, Feature] | None = None,
    ) -> Self:
        """Fit on ``(X, y)`` and the calibrator on ``calibration_set``; ``X`` a frame from ``models.frame.matrix``
        whose columns name the features, ``categories`` the values of each categorical in the order of its codes."""
        cfg = self.config_ = TrainConfig.for_target(self.target) if self.config is None else self.config
        c = columns_of(X, categories, families, registry)
        self.features_, self.categorical_, self.categories_, self.feature_info_ = (
            c.features,
            c.categorical,
            c.categories,
            c.info,
        )
        labels = np.asarray(y, dtype=float)
        y_cal = np.asarray(calibration_set[1], dtype=float)
        for name, t in (("fit", labels), ("calibration (calibration_set)", y_cal)):
            if not np.isin(t, (0.0, 1.0)).all():
                raise ValueError(f"y of the {name} set must hold only 0 and 1; remove unlabeled rows first")
        if labels.sum() == 0 or labels.sum() == len(labels):
            raise ValueError(
                f"the fit set holds {int(labels.sum())} positives of {len(labels)} rows; it needs both classes. "
                "Bring more accounts or a longer history."
            )
        A = as_array(X)
        self.numeric_ = [j for j, n in enumerate(self.features_) if n not in self.categories_]
        self.coded_ = [j for j, n in enumerate(self.features_) if n in self.categories_]
        self.numbers_ = (
            make_pipeline(
                FunctionTransformer(signed_log),
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                StandardScaler(),
            ).fit(A[:, self.numeric_])
            if self.numeric_
            else None
        )
        self.onehot_ = [
            OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=rare_rows(len(A)),
                          sparse_output=False).fit(self._codes(A, j))
            for j in self.coded_
        ]  # fmt: skip
        Z = self.design(A)
        self.owner_ = self._owners()
        self.lr_ = LogisticRegression(C=self.C, max_iter=5000, random_state=cfg.seed).fit(Z, labels)
        self.means_ = Z.mean(axis=0)
        self.calibrator_, self.calibration_brier_ = choose(self.raw(calibration_set[0]), y_cal, cfg.calibration,
                                                           cfg.seed)  # fmt: skip
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = len(self.features_)
        self.rows_ = {"fit": len(labels), "calibrate": len(y_cal)}
        return self

    @staticmethod
    def _codes(A: np.ndarray, j: int) -> np.ndarray:
        return np.where(np.isnan(A[:, j]), MISSING_CODE, A[:, j]).reshape(-1, 1)

    def _owners(self) -> np.ndarray:
        """A (design columns x features) 0/1 matrix: the feature each design column comes from (the numbers,
        their missing-value indicators, then each categorical's one-hot columns), so that design contributions @
        it = the features' contributions."""
        owners: list[int] = []
        if self.numbers_ is not None:
            imputer = self.numbers_.named_steps["simpleimputer"]
            flagged = imputer.indicator_.features_ if imputer.indicator_ is not None else []
            owners += [*self.numeric_, *(self.numeric_[k] for k in flagged)]
        for j, enc in zip(self.coded_, self.onehot_, strict=True):
            owners += [j] * len(enc.get_feature_names_out())
        out = np.zeros((len(owners), len(self.features_)))
        out[np.arange(len(owners)), owners] = 1.0
        return out

    def design(self, X: Matrix) -> np.ndarray:
        """The design matrix the regression reads, one column per coefficient (see the module)."""
        A = as_array(X)
        if A.ndim != 2 or A.shape[1] != len(self.features_):
            raise ValueError(
                f"X has shape {A.shape}; the model reads {len(self.features_)} features. Build it with "
                "models.frame.matrix(rows, model.features_, model.categories_) or model.prepare(rows)."
            )
        parts = [] if self.numbers_ is None else [self.numbers_.transform(A[:, self.numeric_])]
        parts += [enc.transform(self._codes(A, j)) for j, enc in zip(self.coded_, self.onehot_, strict=True)]
        return np.hstack(parts)

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing values are imputed, missing categories are a category
        return tags

    def prepare(self, rows: pd.DataFrame) -> pd.DataFrame:
        """``rows``' feature columns as the matrix the model reads (categoricals coded with ``categories_``)."""
        return matrix(rows, self.features_, self.categories_)

    def raw(self, X: Matrix) -> np.ndarray:
        """The regression's output in log-odds (before calibration)."""
        return np.asarray(self.design(X) @ self.lr_.coef_[0] + self.lr_.intercept_[0])

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probability of the positive class for raw scores (log-odds)."""
        return self.calibrator_(raw)

    def predict_proba(self, X: Matrix) -> np.ndarray:
        """Calibrated probabilities, (rows x 2): ``[:, 1]`` is the positive class's."""
        check_is_fitted(self)
        p = self.calibrate(self.raw(X))
        return np.column_stack((1.0 - p, p))

    def predict(self, X: Matrix) -> np.ndarray:
        """1 where the calibrated probability is above 0.5, else 0."""
        return self.classes_[(self.predict_proba(X)[:, 1] > 0.5).astype(int)]

    def contributions(self, X: Matrix, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rows x features) contributions in log-odds and the base value per row, exact for a linear model (see
        the module): each row's contributions plus its base equal ``raw``. ``threads`` is accepted for the
        interface of ``PropensityModel`` and unused (no thread pool here)."""
        coef = self.lr_.coef_[0]
        per_column = (self.design(X) - self.means_) * coef
        base = float(self.lr_.intercept_[0] + coef @ self.means_)
        return per_column @ self.owner_, np.full(per_column.shape[0], base)

    @property
    def calibration_method_(self) -> str:
        return "isotonic" if isinstance(self.calibrator_, Isotonic) else "platt"

    def summary(self) -> dict[str, Any]:
        """What was learned, for the run's parameters: the family, its penalty and coefficients, calibration,
        rows per slice and the calibrators' cross-validated Brier scores."""
        return {
            "target": self.target, "family": "logistic", "C": self.C, "coefficients": int(self.lr_.coef_.size),
            "calibration": self.calibration_method_,
            "calibration_slope_fixed": bool(getattr(self.calibrator_, "slope_fixed_", False)),
            **{f"rows_{k}": v for k, v in self.rows_.items()},
            **{f"calibration_cv_brier_{k}": round(v, 6) for k, v in self.calibration_brier_.items()},
        }  # fmt: skip


def fit_logistic_on_slices(
    rows: pd.DataFrame,
    target: str = "churn",
    config: TrainConfig | None = None,
    *,
    C: float = 0.1,
    label: str = "label",
    families: Mapping[str, str] | None = None,
    registry: Mapping[str, Feature] | None = None,
) -> LogisticModel:
    """A ``LogisticModel`` fitted on a training set as ``models.estimator.fit_on_slices`` fits the trees: on the
    fit slice, or with ``config.refit`` on the refit slice (every account but the calibration ones, at every date),
    calibrated on the calibration slice (``models.slices.training_slices``); it needs no stopping."""
    y = rows[label].to_numpy(dtype=float)
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError(f"column {label!r} must hold only 0 and 1 (unlabeled rows removed first)")
    names = feature_names(rows.drop(columns=[label]))
    categories = categories_of(rows, [n for n in names if is_categorical(rows[n], n)])
    X = matrix(rows, names, categories)
    cfg = TrainConfig.for_target(target) if config is None else config
    s = training_slices(rows, target, cfg)
    grow = s.refit if cfg.refit else s.fit
    model = LogisticModel(target=target, C=C, config=config).fit(
        X[grow], y[grow], calibration_set=(X[s.calibrate], y[s.calibrate]), categories=categories,
        families=families, registry=registry,
    )  # fmt: skip
    return model
