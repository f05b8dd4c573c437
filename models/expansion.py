"""Expected expansion revenue: the ARR an account is expected to add within the horizon, for ranking the upsell
list by revenue rather than by the chance of any upsell.

``ExpansionModel`` is fitted on a training set's feature matrix (``models.frame.matrix``) with the realised
expansion ARR of each row (``features.expansion``: a label, never a feature) and its upsell label. Its ``kind``
says how it reaches the expected value:

- ``size``: P(upsell) x E[expansion ARR | upsell], the second a LightGBM regression of log(1 + expansion ARR) on
  the upsell rows, back-transformed with Duan's smearing factor;
- ``arr``: P(upsell) x ARR x the ratio of expansion ARR to ARR over the upsell rows (the size in proportion to
  the account's ARR: no trees);
- ``tweedie``: LightGBM with a Tweedie objective on the expansion ARR of every row, with log ARR as an offset
  (the trees learn the expected expansion per unit of ARR): the expected value directly, without P(upsell).
  On the demo's validation rows its top decile held 0.49 of the expansion ARR without the offset, 0.55 with it.

``models.expansion_selection`` measures the kinds on the training dates and fits the winner. The upsell model
gives P(upsell); ``expected_expansion_arr`` combines the two for the rows a scorer sees. No I/O but ``save`` and
``load_expansion`` of the pickle that ``churn train`` logs beside the upsell model (``EXPANSION_ARTIFACT``).
"""

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Self

import lightgbm as lgb
import numpy as np
import pandas as pd

from models.family import Model
from models.frame import as_array, columns_of, matrix
from models.pickled import load_pickle, save_pickle
from models.slices import refit_trees

KINDS = ("size", "arr", "tweedie")
EXPANSION_ARTIFACT = "expansion.pkl"  # beside ``models.pyfunc.ARTIFACT`` in the upsell model's artifacts
MIN_UPSELL_ROWS = 20  # the size of an upsell is learned from at least this many upsell rows


@dataclass(frozen=True)
class SizeConfig:
    """The regressions' LightGBM settings (kinds ``size`` and ``tweedie``)."""

    num_leaves: int = 15
    min_child_samples: int = 40
    learning_rate: float = 0.03
    reg_lambda: float = 1.0
    max_trees: int = 2000
    early_stopping_rounds: int = 100
    tweedie_variance_power: float = 1.5
    seed: int = 7
    threads: int = 1  # one thread: see ``models.config.TrainConfig.threads``

    def params(self, kind: str) -> dict[str, Any]:
        objective = {"objective": "tweedie", "tweedie_variance_power": self.tweedie_variance_power}
        return {
            **(objective if kind == "tweedie" else {"objective": "regression"}),
            "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples, "reg_lambda": self.reg_lambda, "subsample": 0.8,
            "subsample_freq": 1, "colsample_bytree": 0.7, "seed": self.seed, "deterministic": True,
            "force_row_wise": True, "num_threads": self.threads, "verbose": -1,
        }  # fmt: skip


class ExpansionModel:
    """Expected expansion ARR within the horizon per row (see the module for the ``kind``s). Learned attributes
    end in ``_``."""

    def __init__(self, *, kind: str = "size", config: SizeConfig | None = None) -> None:
        self.kind = kind
        self.config = config

    def fit(
        self, X: pd.DataFrame, expansion: np.ndarray, upsell: np.ndarray, *,
        eval_set: tuple[pd.DataFrame, np.ndarray, np.ndarray], categories: Mapping[str, Sequence[str]],
        refit_set: tuple[pd.DataFrame, np.ndarray, np.ndarray] | None = None,
    ) -> Self:  # fmt: skip
        """Learn from the rows of ``X`` (a frame from ``models.frame.matrix``) with their realised ``expansion``
        ARR and ``upsell`` label (0 or 1); the trees stop on ``eval_set`` (X, expansion, upsell of other rows) and,
        with ``refit_set``, grow again on it (as many as stopping found, scaled by ``models.slices.refit_trees``)."""
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        cfg = self.config_ = SizeConfig() if self.config is None else self.config
        c = columns_of(X, categories)
        leaked = [f for f in c.features if f.startswith("expansion")]
        if leaked:
            raise ValueError(f"{leaked} are features: the expansion label reads the future; drop it from the rows")
        self.features_, self.categorical_, self.categories_ = c.features, c.categorical, c.categories
        value, up = np.nan_to_num(np.asarray(expansion, dtype=float)), np.asarray(upsell, dtype=float) == 1
        if up.sum() < MIN_UPSELL_ROWS:
            raise ValueError(f"{int(up.sum())} upsell rows to learn the size of an upsell from; at least "
                             f"{MIN_UPSELL_ROWS} are needed. Bring a longer history or more accounts.")  # fmt: skip
        if self.kind == "arr":
            if "arr" not in self.features_:
                raise ValueError("kind 'arr' needs the feature 'arr' (the contract family is off); use kind 'size'")
            # No trees to stop: the ratio reads every row it may (the refit rows when given).
            Xr, vr, ur = (X, value, up) if refit_set is None else refit_set
            keep = np.asarray(ur, dtype=float) == 1
            gained = np.nan_to_num(np.asarray(vr, dtype=float))[keep].sum()
            self.ratio_ = float(gained / max(np.nan_to_num(Xr["arr"].to_numpy(dtype=float))[keep].sum(), 1e-9))
            self.trees_ = 0
            return self
        self.booster_, self.trees_ = self._grow(X, value, up, eval_set, cfg, refit_set)
        if self.kind == "size":
            # Duan's smearing: the mean of exp(residual) turns a mean of logs back into a mean of amounts.
            fitted = self.booster_.predict(as_array(X[up]), num_threads=cfg.threads)
            self.smearing_ = float(np.mean(np.exp(np.log1p(value[up]) - fitted)))
        return self

    def _grow(
        self, X: pd.DataFrame, value: np.ndarray, up: np.ndarray, eval_set: tuple[pd.DataFrame, np.ndarray, np.ndarray],
        cfg: SizeConfig, refit_set: tuple[pd.DataFrame, np.ndarray, np.ndarray] | None,
    ) -> tuple[lgb.Booster, int]:  # fmt: skip
        def data(x: pd.DataFrame, v: np.ndarray, u: np.ndarray, reference: lgb.Dataset | None = None) -> lgb.Dataset:
            v = np.nan_to_num(np.asarray(v, dtype=float))
            if self.kind == "size":  # the size of an upsell: learned on the upsell rows, in logs
                keep = np.asarray(u, dtype=float) == 1
                x, v = x[keep], np.log1p(v[keep])
            return lgb.Dataset(x, v, feature_name=self.features_, categorical_feature=self.categorical_,
                               reference=reference, free_raw_data=False, init_score=self._offset(x))  # fmt: skip

        if self.kind == "size" and not (np.asarray(eval_set[2], dtype=float) == 1).any():
            raise ValueError("the stop set holds no upsell rows to stop the size's trees on: bring more accounts")
        train = data(X, value, up)
        booster = lgb.train(
            cfg.params(self.kind), train, num_boost_round=cfg.max_trees, valid_sets=[data(*eval_set, reference=train)],
            callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)],
        )  # fmt: skip
        trees = int(booster.best_iteration or booster.current_iteration())
        if refit_set is None:
            return booster, trees
        again = data(*refit_set)
        trees = refit_trees(trees, train.num_data(), again.construct().num_data())
        return lgb.train(cfg.params(self.kind), again, num_boost_round=trees), trees

    def _offset(self, X: pd.DataFrame) -> np.ndarray | None:
        """Kind ``tweedie``: log ARR per row (at least 1; 0 when the data have no ARR), else None."""
        if self.kind != "tweedie" or "arr" not in self.features_:
            return None
        return np.log(np.maximum(np.nan_to_num(X["arr"].to_numpy(dtype=float)), 1.0))

    def prepare(self, rows: pd.DataFrame) -> pd.DataFrame:
        """``rows``' feature columns as the matrix the model reads (categoricals coded with ``categories_``)."""
        return matrix(rows, self.features_, self.categories_)

    def size(self, X: pd.DataFrame) -> np.ndarray:
        """E[expansion ARR | upsell] per row (kinds ``size`` and ``arr``)."""
        if self.kind == "arr":
            return self.ratio_ * np.nan_to_num(X["arr"].to_numpy(dtype=float))
        if self.kind != "size":
            raise ValueError(f"a {self.kind!r} model predicts the expected value directly: call predict")
        log = self.booster_.predict(as_array(X), num_iteration=self.trees_, num_threads=self.config_.threads)
        return np.maximum(np.exp(log) * self.smearing_ - 1.0, 0.0)

    def predict(self, X: pd.DataFrame, p_upsell: np.ndarray | None) -> np.ndarray:
        """Expected expansion ARR per row of ``X`` (from ``prepare``), given P(upsell) of each row (from the upsell
        model; not read by kind ``tweedie``, which may take None)."""
        if self.kind == "tweedie":
            raw = self.booster_.predict(as_array(X), num_iteration=self.trees_, raw_score=True,
                                        num_threads=self.config_.threads)  # fmt: skip
            offset = self._offset(X)
            return np.exp(np.asarray(raw, dtype=float) + (0.0 if offset is None else offset))
        if p_upsell is None:
            raise ValueError(f"a {self.kind!r} model needs p_upsell: the upsell model's probabilities for the rows")
        return np.asarray(p_upsell, dtype=float) * self.size(X)

    def summary(self) -> dict[str, Any]:
        """What was learned, for the run's parameters."""
        extra = {"ratio": round(self.ratio_, 6)} if self.kind == "arr" else {"trees": self.trees_}
        return {"kind": self.kind, **extra, **{k: v for k, v in asdict(self.config_).items() if k != "threads"}}


def expected_expansion_arr(rows: pd.DataFrame, upsell: Model, expansion: ExpansionModel) -> np.ndarray:
    """The expected expansion ARR within the horizon of each row of ``rows`` (a frame of feature rows, as the
    scorer sees them: the upsell model's and the expansion model's feature columns; others ignored), in its
    order: P(upsell) from ``upsell`` combined with ``expansion`` (``ExpansionModel.predict``)."""
    p = None if expansion.kind == "tweedie" else upsell.predict_proba(upsell.prepare(rows))[:, 1]
    return expansion.predict(expansion.prepare(rows), p)


def save(model: ExpansionModel, folder: Path) -> Path:
    return save_pickle(model, folder / EXPANSION_ARTIFACT)


def load_expansion(path: str | Path) -> ExpansionModel:
    """The ``ExpansionModel`` pickled at ``path`` (``save``)."""
    return load_pickle(path, ExpansionModel)
