"""What a Customer Success team would use without the model: a rule scorecard, a logistic regression and the
best single feature.

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
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from features.catalog import features
from models.calibration import Platt
from models.frame import feature_names, is_categorical, time_slices

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
    known = {f.name for f in features()}
    unknown = [r.feature for g in groups for r in g.rules if r.feature not in known]
    if unknown:
        raise ValueError(f"scorecard {path} names unknown features {unknown}; see features.catalog.features()")
    bad = [r.feature for g in groups for r in g.rules if r.good == r.bad]
    if bad or not groups or any(g.weight < 0 for g in groups) or sum(g.weight for g in groups) <= 0:
        raise ValueError(f"scorecard {path}: weights must be >= 0 with a positive sum, and good != bad ({bad})")
    return groups


def present(groups: tuple[Group, ...], columns: pd.Index) -> tuple[Group, ...]:
    """The scorecard's rules on the features the data have (a family switched off has none), in the groups left."""
    out = []
    for g in groups:
        rules = tuple(r for r in g.rules if r.feature in columns)
        if rules:
            out.append(Group(g.name, g.weight, rules))
    return tuple(out)


def equal_weights(rows: pd.DataFrame, label: str = "label", *, label_is_bad: bool = True) -> tuple[Group, ...]:
    """The scorecard a team writes for columns it knows nothing about: every numeric column weighs the same and
    is scored between its 10th and 90th percentiles, the "good" end being the one that goes with less of the
    label in the training rows when the label is bad (churn), with more of it otherwise (upsell)."""
    rules = []
    y = rows[label].to_numpy(dtype=float)
    for name in feature_names(rows.drop(columns=[label])):
        if is_categorical(rows[name], name):
            continue
        x = pd.to_numeric(rows[name], errors="coerce")
        low, high = x.quantile(0.1), x.quantile(0.9)
        if not np.isfinite(low) or not np.isfinite(high) or low == high:
            continue
        corr = pd.Series(y, index=rows.index).corr(x.rank(), method="pearson")
        if not np.isfinite(corr) or corr == 0:
            continue
        good, bad = (low, high) if (corr > 0) == label_is_bad else (high, low)
        rules.append(Rule(name, float(good), float(bad)))
    if not rules:
        raise ValueError("the training set has no numeric column that varies: nothing to score")
    return (Group("columns", 1.0, tuple(rules)),)


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
        """The scorecard file's rules on the features the rows have; with none of them (a user's own feature
        table), ``equal_weights`` on the rows' own columns. Platt-calibrated on the latest training dates."""
        _, inner = time_slices(rows["as_of"], self.inner_dates, rows["account_id"])
        self.groups_ = present(load_scorecard(self.path), rows.columns) or equal_weights(
            rows[~inner], label, label_is_bad=self.target == "churn"
        )
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
        names = feature_names(rows.drop(columns=[label]))
        cat = [n for n in names if is_categorical(rows[n], n)]
        num = [n for n in names if n not in cat]
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


class BestFeatureBaseline:
    """The single feature that ranks the training rows best, on its own: chosen and signed by its ROC AUC on the
    earlier training dates (a missing value read as the feature's median there), Platt-calibrated on the latest
    ones like the scorecard. What an analyst finds in an afternoon; a model that cannot beat it is not worth
    serving (issue 26: a 90-day event count, 0.628, beat the product's LightGBM, 0.557)."""

    name = "best_feature"

    def __init__(self, *, inner_dates: int = 3) -> None:
        self.inner_dates = inner_dates

    def fit(self, rows: pd.DataFrame, label: str = "label") -> "BestFeatureBaseline":
        _, inner = time_slices(rows["as_of"], self.inner_dates, rows["account_id"])
        chosen, y = rows[~inner], rows[label].to_numpy(dtype=float)[~inner]
        if y.min() == y.max():
            raise ValueError("the training rows before the inner dates hold a single class: no feature can rank them")
        best: tuple[float, str, float, float] | None = None  # (|AUC - 0.5|, feature, sign, median)
        for name in feature_names(rows.drop(columns=[label])):
            if is_categorical(rows[name], name):
                continue
            x = pd.to_numeric(chosen[name], errors="coerce").to_numpy(dtype=float)
            median = float(np.nanmedian(x)) if np.isfinite(x).any() else 0.0
            auc = roc_auc_score(y, np.where(np.isnan(x), median, x))
            if best is None or abs(auc - 0.5) > best[0]:
                best = (abs(auc - 0.5), name, 1.0 if auc >= 0.5 else -1.0, median)
        if best is None:
            raise ValueError("the training set has no numeric feature to rank by")
        _, self.feature_, self.sign_, self.median_ = best
        self.training_roc_auc_ = 0.5 + best[0]
        self.calibrator_ = Platt().fit(self._score(rows[inner]), rows[label].to_numpy()[inner])
        return self

    def _score(self, rows: pd.DataFrame) -> np.ndarray:
        x = pd.to_numeric(rows[self.feature_], errors="coerce").to_numpy(dtype=float)
        return self.sign_ * _signed_log(np.where(np.isnan(x), self.median_, x))

    def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities, (rows x 2) as scikit-learn's: ``[:, 1]`` is the positive class's."""
        p = self.calibrator_(self._score(rows))
        return np.column_stack((1.0 - p, p))
