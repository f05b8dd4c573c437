"""The churn / upsell model: LightGBM on the registry's features, early-stopped and calibrated on held-out time.

``fit`` takes a training set (rows of ``features.dataset_<target>``: account_id, as_of, the features, label) and
splits it by time: trees grow on the earlier snapshot dates; the latest ``inner_dates`` dates stop the boosting
and fit the calibrator, so neither sees rows the trees were grown on.
"""

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from models.calibration import Isotonic, Platt, choose
from models.config import TrainConfig
from models.frame import as_array, categories_of, feature_columns, matrix, time_slices


class ChurnModel:
    """Binary LightGBM with calibrated probabilities. Learned attributes end in ``_``."""

    def __init__(self, *, target: str = "churn", config: TrainConfig | None = None) -> None:
        self.target = target
        self.config = config or TrainConfig.for_target(target)

    def fit(self, rows: pd.DataFrame, label: str = "label") -> "ChurnModel":
        cfg = self.config
        feats = feature_columns()
        self.features_ = [f.name for f in feats]
        self.categorical_ = [f.name for f in feats if f.categorical]
        self.categories_ = categories_of(rows, self.categorical_)
        y = rows[label].to_numpy(dtype=float)
        if not np.isin(y, (0.0, 1.0)).all():
            raise ValueError(f"column {label!r} must hold only 0 and 1 (unlabeled rows removed first)")
        X = matrix(rows, self.features_, self.categories_)
        fit, inner = time_slices(rows["as_of"], cfg.inner_dates)
        pos, neg = y[fit].sum(), (1 - y[fit]).sum()
        if pos == 0 or neg == 0:
            raise ValueError(f"the earlier snapshots hold {int(pos)} positives and {int(neg)} negatives; need both")
        w = float(np.sqrt(neg / pos)) if cfg.pos_weight == "sqrt" else float(cfg.pos_weight)
        params = {**cfg.lgbm_params(), "scale_pos_weight": w}
        train = lgb.Dataset(X[fit], y[fit], categorical_feature=self.categorical_, free_raw_data=False)
        valid = lgb.Dataset(X[inner], y[inner], reference=train)
        self.booster_ = lgb.train(
            params, train, num_boost_round=cfg.max_trees, valid_sets=[valid],
            callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)],
        )  # fmt: skip
        self.trees_ = int(self.booster_.best_iteration or self.booster_.current_iteration())
        self.pos_weight_ = w
        raw_inner = self.raw(X[inner])
        self.calibrator_, self.calibration_brier_ = choose(raw_inner, y[inner], cfg.calibration, cfg.seed)
        self.rows_ = {"fit": int(fit.sum()), "inner": int(inner.sum())}
        return self

    # Prediction: ``X`` is a frame of the feature columns (``prepare`` builds it from any frame of rows).
    def prepare(self, rows: pd.DataFrame) -> pd.DataFrame:
        return matrix(rows, self.features_, self.categories_)

    def raw(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The trees' output in log-odds (before calibration)."""
        threads = self.config.threads
        return np.asarray(self.booster_.predict(as_array(X), num_iteration=self.trees_, raw_score=True,
                                                num_threads=threads))  # fmt: skip

    def predict_proba(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Calibrated probability of the positive class, one per row."""
        return self.calibrate(self.raw(X))

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        return self.calibrator_(raw)

    def contributions(self, X: pd.DataFrame | np.ndarray, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Exact TreeSHAP: (rows x features) contributions in log-odds and the base value per row; each row's
        contributions plus its base value equal ``raw``. ``threads`` defaults to the training configuration's:
        the thread count is always set, since LightGBM's default (every core) spins badly on a busy machine."""
        n = threads or self.config.threads
        out = np.asarray(self.booster_.predict(as_array(X), num_iteration=self.trees_, pred_contrib=True,
                                               num_threads=n))  # fmt: skip
        return out[:, :-1], out[:, -1]

    @property
    def calibration_method_(self) -> str:
        return "isotonic" if isinstance(self.calibrator_, Isotonic) else "platt"

    def summary(self) -> dict[str, Any]:
        return {
            "target": self.target, "trees": self.trees_, "calibration": self.calibration_method_,
            "pos_weight": round(self.pos_weight_, 4), "rows_fit": self.rows_["fit"], "rows_inner": self.rows_["inner"],
            **{f"calibration_cv_brier_{k}": round(v, 6) for k, v in self.calibration_brier_.items()},
        }  # fmt: skip


__all__ = ["ChurnModel", "Isotonic", "Platt"]
