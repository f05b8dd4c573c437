"""Training settings: LightGBM's hyperparameters, how the model family is chosen, and how the inner slices and the
calibration are chosen."""

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Calibration = Literal["auto", "isotonic", "platt"]
Family = Literal["auto", "lightgbm", "logistic"]


@dataclass(frozen=True)
class TrainConfig:
    """LightGBM's settings, the slices that judge the model and how its family is chosen. ``churn train`` chooses
    the family and the tree settings (leaves, rows per leaf, L2 penalty) by cross-validation over the training dates
    (``models.selection``) unless ``family`` is "lightgbm"; then the tree settings of ``TARGET_DEFAULTS`` (upsell:
    7 leaves, 200 rows per leaf; churn: 15 and 50) are trained as they are. Those were picked by an earlier version
    on the demo data's validation rows, so they are plain defaults elsewhere; ``churn train --tune`` searches them on
    the tuning slice, never on the validation rows. Positives keep weight 1 by default (sqrt(negatives /
    positives) did not help either target); the imbalance is left to the calibration on other accounts.
    """

    learning_rate: float = 0.03
    num_leaves: int = 7
    min_child_samples: int = 200
    subsample: float = 0.8
    colsample_bytree: float = 0.7
    reg_lambda: float = 1.0
    max_trees: int = 3000
    early_stopping_rounds: int = 100
    # The latest snapshot dates of the training set, where other accounts judge the trees (models.slices): a share
    # of the accounts stops the boosting, another calibrates, another (only when tuning) scores the search.
    # None: derived from the training set's dates (models.slices.settled): 2, or 1 when 2 leave the trees too few.
    inner_dates: int | None = None
    stop_share: float = 0.2
    calibrate_share: float = 0.2
    tune_share: float = 0.0  # set by ``churn train --tune``
    # After early stopping, grow the trees again on every row but the calibration and tuning accounts' (the latest
    # dates too), as many trees as stopping found, scaled (``models.slices.refit_trees``); the logistic regression
    # fits on those rows at once. Off: the trees keep the fit slice alone, a gap in time before what judges them.
    refit: bool = True
    gap_days: int | None = None  # days between fit rows and inner slices; None: the target's label read window
    pos_weight: float | Literal["sqrt"] = 1.0  # weight of positives; "sqrt" = sqrt(negatives / positives)
    # Early stopping watches log loss (a proper score, smooth on a slice of a few thousand rows, where ROC AUC
    # peaked by chance after 4-12 trees on the demo data), but ROC AUC when positives are weighted: weights shift
    # the raw scores, which the calibrator undoes, but which log loss would read as getting worse from the start.
    calibration: Calibration = "auto"  # "auto": isotonic or Platt, whichever has the lower cross-validated Brier
    seed: int = 7
    # One thread by default: on this 2-core machine, with another process busy, 2 OpenMP threads took 95 s to fit
    # the demo's churn model against 5.7 s for one (OpenMP spins waiting for the busy core); the data are small.
    threads: int = 1
    # Which family is trained (models.selection): "auto" lets time-based cross-validation over the training dates
    # choose between a small grid of LightGBM settings and a regularized logistic regression; "lightgbm" trains
    # these settings as they are, "logistic" the logistic regression (its penalty still chosen on the folds).
    family: Family = "auto"
    folds: int | None = None  # cross-validation folds of the selection; None: derived from the dates (at most 3)
    extra: dict[str, Any] = field(default_factory=dict)  # any other LightGBM parameter

    def __post_init__(self) -> None:
        if self.inner_dates is not None and self.inner_dates < 1:
            raise ValueError(f"inner_dates must be >= 1 or None (derived), got {self.inner_dates}")
        if self.folds is not None and self.folds < 1:
            raise ValueError(f"folds must be >= 1 or None (derived), got {self.folds}")
        if self.family not in ("auto", "lightgbm", "logistic"):
            raise ValueError(f"family must be auto, lightgbm or logistic, got {self.family!r}")
        if self.gap_days is not None and self.gap_days < 0:
            raise ValueError(f"gap_days must be >= 0 or None, got {self.gap_days}")
        if self.calibration not in ("auto", "isotonic", "platt"):
            raise ValueError(f"calibration must be auto, isotonic or platt, got {self.calibration!r}")
        if not (self.pos_weight == "sqrt" or (isinstance(self.pos_weight, float | int) and self.pos_weight > 0)):
            raise ValueError(f"pos_weight must be a positive number or 'sqrt', got {self.pos_weight!r}")

    @classmethod
    def for_target(cls, target: str, **overrides: Any) -> "TrainConfig":
        return cls(**{**TARGET_DEFAULTS.get(target, {}), **overrides})

    def lgbm_params(self, rows: int | None = None, positives: int | None = None) -> dict[str, Any]:
        """LightGBM parameters; deterministic given the seed and the thread count. Given the fit rows' count and
        positives, the category handling is scaled to them (``category_params``); ``extra`` overrides it."""
        scaled = category_params(rows, positives) if rows and positives else {}
        return {
            "objective": "binary", "metric": "binary_logloss" if self.pos_weight == 1 else "auc",
            "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples, "subsample": self.subsample, "subsample_freq": 1,
            "colsample_bytree": self.colsample_bytree, "reg_lambda": self.reg_lambda, "seed": self.seed,
            "deterministic": True, "force_row_wise": True, "num_threads": self.threads, "verbose": -1,
            **scaled, **self.extra,
        }  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


TARGET_DEFAULTS: dict[str, dict[str, Any]] = {
    "churn": {"num_leaves": 15, "min_child_samples": 50},
    "upsell": {"num_leaves": 7, "min_child_samples": 200},
}


# A category's own statistics should rest on about this many positives before the trees trust them.
CATEGORY_POSITIVES = 10


def category_params(rows: int, positives: int) -> dict[str, Any]:
    """LightGBM's category handling scaled to the fit rows. A noisy categorical (issue 26: ``region``, pure noise,
    took 10% of the gains) splits off groups whose churn rate is chance: LightGBM's defaults let a group of 100
    rows (``min_data_per_group``) stand on its own, which at a 6% positive rate is 6 positives. Here a group
    needs the rows that hold about ``CATEGORY_POSITIVES`` positives at the fit rows' rate, and each category's
    rate is shrunk towards the overall one by as many rows (``cat_smooth``, and ``cat_l2`` on the split's
    leaves); never below LightGBM's defaults (100, 10, 10), never above a quarter of the rows."""
    per_group = rows / max(positives, 1) * CATEGORY_POSITIVES
    cap = max(rows // 4, 1)
    group = int(min(max(100, per_group), cap))
    smooth = float(min(max(10.0, per_group / 2), cap))
    return {"min_data_per_group": group, "cat_smooth": smooth, "cat_l2": smooth}
