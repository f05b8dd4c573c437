"""Drift between a reference sample (the rows a model was trained on) and a current sample (the snapshot rows of
one scoring date): pure computations, no I/O.

Per feature: the population stability index (PSI) of its values, the Jensen-Shannon distance of the same binned
distributions, and the missing rate on each side. Numbers are binned at the reference's quantiles (``bins``
intervals, fewer when values tie: a count that is mostly 0 has one bin for the 0s); categories are binned one per
reference category, and every category the reference never had goes into one more bin of its own ("unseen").
Missing values are not part of the PSI: it compares the distributions of the values that are there, and the
missing rate is reported beside it (a feature that goes missing is caught by its missing-rate change, not by a
PSI computed on what is left).

PSI = sum over bins of (c - r) * ln(c / r), with r and c the reference's and the current sample's shares of the
bin. An empty bin on one side would make it infinite: shares are floored at ``EPSILON`` (1e-4, a bin holding one
row in ten thousand) before the sum, so a bin found only on one side adds a large but finite amount. Rules of
thumb: below 0.1 stable, 0.1-0.25 a moderate shift, above 0.25 a major one.

PSI is written here by hand: neither scipy nor scikit-learn (installed) gives it, and the monitoring libraries
that do (evidently, nannyml) are heavy and not installed. The Jensen-Shannon distance is scipy's
(``scipy.spatial.distance.jensenshannon``, base 2: 0 for equal distributions, 1 for disjoint ones), on the
unfloored shares.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon

EPSILON = 1e-4  # the floor of a bin's share before PSI's logarithm (see the module's docstring)
BINS = 10  # quantile bins of a numeric feature, taken from the reference
UNSEEN = "(unseen)"  # the bin of categories the reference does not have


def missing_rate(values: pd.Series | np.ndarray) -> float:
    """The share of missing values (None, NaN, NA); NaN for an empty sample."""
    s = pd.Series(values)
    return float(s.isna().mean()) if len(s) else float("nan")


def quantile_edges(reference: np.ndarray, bins: int = BINS) -> np.ndarray:
    """The inner bin edges of a numeric feature: the reference's quantiles at 1/bins, ..., (bins-1)/bins, ties
    merged. A value v falls in bin i when edges[i-1] < v <= edges[i] (the first and last bins are open)."""
    if bins < 2:
        raise ValueError(f"bins must be at least 2, got {bins}")
    ref = _present(reference)
    if ref.size == 0:
        return np.array([], dtype=float)
    return np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))


def numeric_counts(reference: np.ndarray, current: np.ndarray, bins: int = BINS) -> tuple[np.ndarray, np.ndarray]:
    """Rows per bin (``quantile_edges`` of the reference) on each side, missing values left out."""
    edges = quantile_edges(reference, bins)
    n = edges.size + 1
    ref, cur = _present(reference), _present(current)
    return (np.bincount(np.searchsorted(edges, ref, side="left"), minlength=n),
            np.bincount(np.searchsorted(edges, cur, side="left"), minlength=n))  # fmt: skip


def categorical_counts(
    reference: Iterable[object], current: Iterable[object]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The bins of a categorical feature (the reference's categories, sorted, then ``UNSEEN`` when the current
    sample has categories the reference lacks) and the rows per bin on each side, missing values left out."""
    ref = pd.Series(list(reference), dtype=object).dropna().astype(str)
    cur = pd.Series(list(current), dtype=object).dropna().astype(str)
    labels = sorted(ref.unique())
    known = set(labels)
    cur = cur.where(cur.isin(known), UNSEEN)
    if (cur == UNSEEN).any():
        labels.append(UNSEEN)
    ref_counts = ref.value_counts().reindex(labels, fill_value=0).to_numpy()
    cur_counts = cur.value_counts().reindex(labels, fill_value=0).to_numpy()
    return labels, ref_counts, cur_counts


def psi_from_counts(reference: np.ndarray, current: np.ndarray, eps: float = EPSILON) -> float:
    """PSI of two histograms over the same bins (rows per bin); NaN when either side has no rows."""
    r, c = np.asarray(reference, dtype=float), np.asarray(current, dtype=float)
    if r.sum() == 0 or c.sum() == 0:
        return float("nan")
    r = np.maximum(r / r.sum(), eps)
    c = np.maximum(c / c.sum(), eps)
    return float(np.sum((c - r) * np.log(c / r)))


def js_from_counts(reference: np.ndarray, current: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) of two histograms over the same bins; NaN when either side has
    no rows."""
    r, c = np.asarray(reference, dtype=float), np.asarray(current, dtype=float)
    if r.sum() == 0 or c.sum() == 0:
        return float("nan")
    return float(jensenshannon(r / r.sum(), c / c.sum(), base=2))


def psi(reference: pd.Series | np.ndarray, current: pd.Series | np.ndarray, *, categorical: bool = False,
        bins: int = BINS, eps: float = EPSILON) -> float:  # fmt: skip
    """PSI of one feature (or of a score) between two samples: quantile bins of the reference for numbers, one
    bin per category (and one for unseen categories) for categoricals."""
    if categorical:
        _, r, c = categorical_counts(reference, current)
    else:
        r, c = numeric_counts(np.asarray(reference, dtype=float), np.asarray(current, dtype=float), bins)
    return psi_from_counts(r, c, eps)


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    family: str
    categorical: bool
    psi: float  # NaN when either side has no value
    js: float  # Jensen-Shannon distance of the same bins
    missing_reference: float
    missing_current: float
    n_reference: int
    n_current: int

    @property
    def missing_change(self) -> float:
        """Current minus reference missing rate (0.3: 30 points more rows miss the value)."""
        return self.missing_current - self.missing_reference


def feature_drift(reference: pd.Series, current: pd.Series, *, family: str, categorical: bool, bins: int = BINS,
                  eps: float = EPSILON) -> FeatureDrift:  # fmt: skip
    """The drift of one feature (``reference.name``) between its reference and current values."""
    if categorical:
        _, r, c = categorical_counts(reference, current)
    else:
        r, c = numeric_counts(_floats(reference), _floats(current), bins)
    return FeatureDrift(
        feature=str(reference.name), family=family, categorical=categorical, psi=psi_from_counts(r, c, eps),
        js=js_from_counts(r, c), missing_reference=missing_rate(reference), missing_current=missing_rate(current),
        n_reference=len(reference), n_current=len(current),
    )  # fmt: skip


def drift_table(reference: pd.DataFrame, current: pd.DataFrame, families: Mapping[str, str],
                categorical: Iterable[str] = (), bins: int = BINS, eps: float = EPSILON) -> pd.DataFrame:  # fmt: skip
    """One row per feature of ``families`` (feature -> family; each must be a column of both frames): feature,
    family, categorical, psi, js, missing_reference, missing_current, missing_change, n_reference, n_current."""
    cats = set(categorical)
    missing = [f for f in families if f not in reference.columns or f not in current.columns]
    if missing:
        raise ValueError(f"features missing from the reference or current rows: {', '.join(missing[:10])}; "
                         "compare samples built by the same feature definitions")  # fmt: skip
    rows = []
    for name, fam in families.items():
        d = feature_drift(reference[name], current[name], family=fam, categorical=name in cats, bins=bins, eps=eps)
        rows.append({**d.__dict__, "missing_change": d.missing_change})
    columns = ["feature", "family", "categorical", "psi", "js", "missing_reference", "missing_current",
               "missing_change", "n_reference", "n_current"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def family_drift(features: pd.DataFrame) -> pd.DataFrame:
    """Per family of a ``drift_table``: psi_max and psi_mean over its features (NaN PSIs left out), the feature
    with the largest PSI (worst) and the number of features."""
    rows = []
    for fam, g in features.groupby("family", sort=True):
        known = g.dropna(subset=["psi"])
        worst = str(known["feature"].iloc[int(np.argmax(known["psi"].to_numpy()))]) if len(known) else None
        rows.append({"family": str(fam), "psi_max": float(known["psi"].max()) if len(known) else float("nan"),
                     "psi_mean": float(known["psi"].mean()) if len(known) else float("nan"), "worst": worst,
                     "features": len(g)})  # fmt: skip
    return pd.DataFrame(rows, columns=["family", "psi_max", "psi_mean", "worst", "features"])


def _present(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    return v[~np.isnan(v)]


def _floats(values: pd.Series) -> np.ndarray:
    """Numbers as floats with NaN for missing (nullable and object columns included)."""
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
