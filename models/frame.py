"""Feature matrices: a training set's feature columns in its order, categoricals typed with the categories seen in
training (LightGBM takes them natively; an unseen category becomes missing rather than a wrong code).

A training set's features are its columns other than ``RESERVED``: the registry's features that the data could
feed (families switched off are not there), or, for a user's own feature table, its own columns. ``describe``
gives every column its definition: the registry's, or one made from the column itself.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.catalog import features
from features.registry import Feature, category, count
from features.split import bucket

RESERVED = ("account_id", "as_of", "label", "split")  # the columns of a training set that are not features


def feature_names(rows: pd.DataFrame) -> list[str]:
    """The feature columns of a training set (``RESERVED`` left out), in its order."""
    return [str(c) for c in rows.columns if c not in RESERVED]


def is_categorical(column: pd.Series, name: str, registry: Mapping[str, Feature] | None = None) -> bool:
    """A registered feature as the registry says (``registry``: the definitions the snapshots were built with,
    ``pipelines.training.datasets.feature_definitions``; None: the default configuration's); any other column
    when its values are not numbers (strings, categories, booleans are numbers)."""
    registered = (_registered() if registry is None else registry).get(name)
    if registered is not None:
        return registered.categorical
    return not (pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype))


def _registered() -> dict[str, Feature]:
    return {f.name: f for f in features()}


def describe(
    names: Sequence[str],
    categorical: Sequence[str],
    families: Mapping[str, str] | None = None,
    registry: Mapping[str, Feature] | None = None,
) -> dict[str, Feature]:
    """Every feature's definition: the registry's for its features (``registry``: the definitions the snapshots
    were built with, e.g. per event type, ``pipelines.training.datasets.feature_definitions``; None: the default
    configuration's); for a user's own column, one made from its name (``days_active`` reads "days active"), in
    the family ``families`` gives it, else a family of its own."""
    registered = _registered() if registry is None else registry
    out = {}
    for n in names:
        if n in registered:
            out[n] = registered[n]
            continue
        words = n.replace("_", " ").strip()
        cat = n in categorical
        out[n] = Feature(name=n, family=(families or {}).get(n, n), description=f"{words} (a column of the user's "
                         "feature table)", unit="", sql="", categorical=cat,
                         says=category(words) if cat else count(words))  # fmt: skip
    return out


def categories_of(frame: pd.DataFrame, categorical: Sequence[str]) -> dict[str, list[str]]:
    return {c: sorted(str(v) for v in frame[c].dropna().unique()) for c in categorical}


def category_codes(values: Sequence[str]) -> dict[str, float]:
    """Each training category's code: its index in the training categories (the code LightGBM learned)."""
    return {v: float(i) for i, v in enumerate(values)}


def matrix(frame: pd.DataFrame, names: Sequence[str], categories: dict[str, list[str]]) -> pd.DataFrame:
    """``frame``'s feature columns as a new all-float frame: numbers as they are, each categorical as the index of
    its value among the training categories (NaN when missing or unseen: the trees never learned a code for an
    unseen value). LightGBM is told which columns are categorical, so it splits on the codes as categories.

    One float block, so that ``as_array`` is free: per-column frames cost milliseconds per call, which a
    one-row request would pay every time. Raises a ValueError naming missing columns.
    """
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise ValueError(
            f"{len(missing)} feature columns are missing: {missing[:10]}{' ...' if len(missing) > 10 else ''}. "
            "Rebuild the snapshots with the current feature registry (churn features build)."
        )
    numeric = [n for n in names if n not in categories]
    try:  # one conversion for the whole block
        block = frame[numeric].to_numpy(dtype="float64", na_value=np.nan)
    except (ValueError, TypeError):
        block = frame[numeric].apply(pd.to_numeric, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    out = np.empty((len(frame), len(names)), dtype="float64")
    position = {n: j for j, n in enumerate(names)}
    out[:, [position[n] for n in numeric]] = block
    for n, values in categories.items():
        # A dict lookup per value, not Series.map: the map costs about 0.6 ms per column even for one row.
        code = category_codes(values)
        out[:, position[n]] = [code.get(v, np.nan) for v in frame[n].to_numpy(dtype=object)]
    return pd.DataFrame(out, columns=list(names), index=frame.index)


def array_from_dicts(
    rows: Sequence[Mapping[str, object]], names: Sequence[str], categories: dict[str, list[str]]
) -> np.ndarray:
    """Rows given as {feature: value} (absent = missing) as the float array of ``matrix``, without pandas: the
    live-scoring path of the API, where building frames cost more than the trees for one row."""
    codes = {n: category_codes(values) for n, values in categories.items()}
    out = np.full((len(rows), len(names)), np.nan)
    for i, row in enumerate(rows):
        for j, n in enumerate(names):
            v = row.get(n)
            if v is None:
                continue
            if n in codes:
                out[i, j] = codes[n].get(v, np.nan)  # type: ignore[call-overload]
            else:
                try:
                    out[i, j] = float(v)  # type: ignore[arg-type]
                except (TypeError, ValueError):
                    out[i, j] = np.nan  # as ``matrix`` coerces: not a number is unknown
    return out


def as_array(X: pd.DataFrame | np.ndarray) -> np.ndarray:
    """A frame from ``matrix`` as the float array LightGBM reads fastest (16 ms per one-row call from a frame
    with categorical columns, 0.05 ms from an array)."""
    return X if isinstance(X, np.ndarray) else X.to_numpy(dtype="float64")


def time_slices(
    as_of: pd.Series, inner_dates: int, account_id: pd.Series | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (fit, inner): ``inner`` is the latest ``inner_dates`` snapshot dates, ``fit`` the rest; on a
    single date (a feature table with no dates), ``inner`` is a fixed 30% of the accounts (``account_id``)."""
    dates = np.sort(as_of.unique())
    if len(dates) == 1 and account_id is not None:
        inner = (bucket(account_id, "inner:") < 3_000).to_numpy()
        return ~inner, inner
    if len(dates) <= inner_dates:
        raise ValueError(
            f"the training set has {len(dates)} snapshot dates; holding out the latest inner_dates={inner_dates} "
            "for early stopping and calibration needs more. Build snapshots over a longer period."
        )
    inner = (as_of >= dates[-inner_dates]).to_numpy()
    return ~inner, inner


@dataclass(frozen=True)
class Columns:
    """What a model learns of its feature matrix before fitting: the features in their order, the categorical
    ones, the categories of each (in the order of their codes) and every feature's definition."""

    features: list[str]
    categorical: list[str]
    categories: dict[str, list[str]]
    info: dict[str, Feature]


def columns_of(
    X: object, categories: Mapping[str, Sequence[str]], families: Mapping[str, str] | None = None,
    registry: Mapping[str, Feature] | None = None,
) -> Columns:  # fmt: skip
    """The ``Columns`` of a matrix ``X`` from ``matrix`` (a frame whose columns name the features), given the
    categories of its categorical features; raises when ``X`` is not such a frame or ``categories`` names a column it
    does not have. ``families`` puts a feature table's own columns into families, ``registry`` gives the definitions
    the snapshots were built with (``describe``)."""
    if not isinstance(X, pd.DataFrame):
        raise ValueError("X must be a frame whose columns name the features: build it with models.frame.matrix")
    features = [str(c) for c in X.columns]
    unknown = [c for c in categories if c not in features]
    if unknown:
        raise ValueError(f"categories names columns that X does not have: {unknown}")
    categorical = [c for c in features if c in categories]
    return Columns(features, categorical, {c: list(categories[c]) for c in categorical},
                   describe(features, categorical, families, registry))  # fmt: skip
