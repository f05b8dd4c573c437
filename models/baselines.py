"""What a Customer Success team would use without the model: a rule scorecard and a logistic regression.

Both are fitted on the same training rows as the model and calibrated the same way (Platt scaling on the latest
training dates), so that Brier score, log loss and calibration error compare like with like.
"""

import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from models.calibration import Platt
from models.frame import feature_columns, time_slices

SCORECARD = Path(__file__).with_name("scorecard.toml")


@dataclass(frozen=True)
class Rule:
    feature: str
    good: float
    bad: float

    def score(self, x: pd.Series) -> np.ndarray:
        v = pd.to_numeric(x, errors="coerce").to_numpy(dtype=float)
        s = np.clip((v - self.bad) / (self.good - self.bad), 0.0, 1.0) * 100.0
        return np.where(np.isnan(v), 50.0, s)


@dataclass(frozen=True)
class Group:
    name: str
    weight: float
    rules: tuple[Rule, ...]


def load_scorecard(path: Path = SCORECARD) -> tuple[Group, ...]:
    """Groups of rules from a TOML file (see models/scorecard.toml for the format)."""
    try:
        spec = tomllib.loads(path.read_text())
        groups = tuple(
            Group(name, float(g["weight"]), tuple(Rule(r["feature"], float(r["good"]), float(r["bad"]))
                                                   for r in g["rules"]))
            for name, g in spec["groups"].items()
        )  # fmt: skip
    except (KeyError, TypeError, tomllib.TOMLDecodeError) as e:
        raise ValueError(f"scorecard {path} is malformed ({e}); see models/scorecard.toml for the format") from e
    known = {f.name for f in feature_columns()}
    unknown = [r.feature for g in groups for r in g.rules if r.feature not in known]
    if unknown:
        raise ValueError(f"scorecard {path} names unknown features {unknown}; see features.catalog.features()")
    bad = [r.feature for g in groups for r in g.rules if r.good == r.bad]
    if bad or not groups or any(g.weight < 0 for g in groups) or sum(g.weight for g in groups) <= 0:
        raise ValueError(f"scorecard {path}: weights must be >= 0 with a positive sum, and good != bad ({bad})")
    return groups


def health_score(rows: pd.DataFrame, groups: tuple[Group, ...]) -> np.ndarray:
    """The scorecard's health score 0..100 per row (100 = healthiest)."""
    total = sum(g.weight for g in groups)
    out = np.zeros(len(rows))
    for g in groups:
        out += g.weight / total * np.mean([r.score(rows[r.feature]) for r in g.rules], axis=0)
    return out


class ScorecardBaseline:
    """Ranks by the scorecard (risk = 100 - health for churn; health for upsell), Platt-calibrated."""

    name = "scorecard"

    def __init__(self, *, target: str = "churn", path: Path = SCORECARD, inner_dates: int = 3) -> None:
        self.target, self.path, self.inner_dates = target, path, inner_dates

    def _score(self, rows: pd.DataFrame) -> np.ndarray:
        h = health_score(rows, self.groups_)
        return (100.0 - h if self.target == "churn" else h) / 10.0

    def fit(self, rows: pd.DataFrame, label: str = "label") -> "ScorecardBaseline":
        self.groups_ = load_scorecard(self.path)
        _, inner = time_slices(rows["as_of"], self.inner_dates)
        self.calibrator_ = Platt().fit(self._score(rows[inner]), rows[label].to_numpy()[inner])
        return self

    def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities, (rows x 2) as scikit-learn's: ``[:, 1]`` is the positive class's."""
        p = self.calibrator_(self._score(rows))
        return np.column_stack((1.0 - p, p))


def _signed_log(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


class LogisticBaseline:
    """Logistic regression on the same features: signed log of counts and amounts, median imputation with
    missing-value indicators, standard scaling, one-hot categoricals."""

    name = "logistic"

    def __init__(self, *, C: float = 0.1, seed: int = 7) -> None:
        self.C, self.seed = C, seed

    def fit(self, rows: pd.DataFrame, label: str = "label") -> "LogisticBaseline":
        feats = feature_columns()
        num = [f.name for f in feats if not f.categorical]
        cat = [f.name for f in feats if f.categorical]
        numeric = make_pipeline(
            FunctionTransformer(_signed_log), SimpleImputer(strategy="median", add_indicator=True), StandardScaler()
        )
        categorical = make_pipeline(
            SimpleImputer(strategy="constant", fill_value="missing"), OneHotEncoder(handle_unknown="ignore")
        )
        self.pipeline_ = Pipeline([
            ("columns", ColumnTransformer([("num", numeric, num), ("cat", categorical, cat)])),
            ("model", LogisticRegression(C=self.C, max_iter=5000, random_state=self.seed)),
        ])  # fmt: skip
        self.numeric_, self.categorical_ = num, cat
        self.pipeline_.fit(self._matrix(rows), rows[label].to_numpy())
        return self

    def _matrix(self, rows: pd.DataFrame) -> pd.DataFrame:
        X = rows[self.numeric_ + self.categorical_].copy()
        X[self.numeric_] = X[self.numeric_].apply(pd.to_numeric, errors="coerce").astype("float64")
        X[self.categorical_] = X[self.categorical_].astype("object").where(X[self.categorical_].notna(), None)
        return X

    def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
        """Probabilities, (rows x 2) as scikit-learn's: ``[:, 1]`` is the positive class's."""
        return np.asarray(self.pipeline_.predict_proba(self._matrix(rows)))
