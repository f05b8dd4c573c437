"""The churn / upsell model: LightGBM on the registry's features, early-stopped and calibrated on other accounts
at later dates.

``fit`` takes a training set (rows of ``features.dataset_<target>``: account_id, as_of, the features, label) and
cuts it into ``models.slices``: trees grow on the earlier snapshot dates of most accounts; at the latest
``inner_dates`` dates, one group of other accounts stops the boosting and another fits the calibrator, with a gap
of the label's read window between, so neither judges the trees on what they grew on.
"""

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.labels import LABELS
from models.calibration import Isotonic, Platt, choose
from models.config import TrainConfig
from models.frame import as_array, categories_of, feature_columns, matrix
from models.slices import Slices, inner_slices


class PropensityModel:
    """Binary LightGBM with calibrated probabilities. Learned attributes end in ``_``."""

    def __init__(self, *, target: str = "churn", config: TrainConfig | None = None) -> None:
        self.target = target
        self.config = config or TrainConfig.for_target(target)

    def fit(self, rows: pd.DataFrame, label: str = "label") -> "PropensityModel":
        cfg = self.config
        feats = feature_columns()
        self.features_ = [f.name for f in feats]
        self.categorical_ = [f.name for f in feats if f.categorical]
        self.categories_ = categories_of(rows, self.categorical_)
        y = rows[label].to_numpy(dtype=float)
        if not np.isin(y, (0.0, 1.0)).all():
            raise ValueError(f"column {label!r} must hold only 0 and 1 (unlabeled rows removed first)")
        X = matrix(rows, self.features_, self.categories_)
        self.slices_ = s = self.slices(rows)
        fit = s.fit
        for name, mask in (("fit", s.fit), ("stop", s.stop)):
            pos, neg = y[mask].sum(), (1 - y[mask]).sum()
            if pos == 0 or neg == 0:
                raise ValueError(
                    f"the {name} slice holds {int(pos)} positives and {int(neg)} negatives; it needs both. "
                    "Bring more accounts or a longer history."
                )
        pos, neg = y[fit].sum(), (1 - y[fit]).sum()
        w = float(np.sqrt(neg / pos)) if cfg.pos_weight == "sqrt" else float(cfg.pos_weight)
        params = {**cfg.lgbm_params(), "scale_pos_weight": w}
        train = lgb.Dataset(X[fit], y[fit], categorical_feature=self.categorical_, free_raw_data=False)
        valid = lgb.Dataset(X[s.stop], y[s.stop], reference=train)
        self.booster_ = lgb.train(
            params, train, num_boost_round=cfg.max_trees, valid_sets=[valid],
            callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)],
        )  # fmt: skip
        self.trees_ = int(self.booster_.best_iteration or self.booster_.current_iteration())
        self.pos_weight_ = w
        cal = s.calibrate
        self.calibrator_, self.calibration_brier_ = choose(self.raw(X[cal]), y[cal], cfg.calibration, cfg.seed)
        self.rows_ = s.counts()
        return self

    def slices(self, rows: pd.DataFrame) -> Slices:
        """Where ``fit`` grows, stops, calibrates (and a search tunes) on ``rows`` (``models.slices``)."""
        cfg = self.config
        gap = LABELS.reads_days(self.target) if cfg.gap_days is None else cfg.gap_days
        return inner_slices(rows["account_id"], rows["as_of"], inner_dates=cfg.inner_dates, gap_days=gap,
                            stop_share=cfg.stop_share, calibrate_share=cfg.calibrate_share,
                            tune_share=cfg.tune_share)  # fmt: skip

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
            "calibration_slope_fixed": bool(getattr(self.calibrator_, "slope_fixed_", False)),
            "pos_weight": round(self.pos_weight_, 4), **{f"rows_{k}": v for k, v in self.rows_.items()},
            **{f"calibration_cv_brier_{k}": round(v, 6) for k, v in self.calibration_brier_.items()},
        }  # fmt: skip


__all__ = ["Isotonic", "Platt", "PropensityModel"]
