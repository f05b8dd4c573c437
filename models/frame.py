"""Feature matrices: the registry's columns in registry order, categoricals typed with the categories seen in
training (LightGBM takes them natively; an unseen category becomes missing rather than a wrong code)."""

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.catalog import features
from features.registry import Feature


def feature_columns() -> tuple[Feature, ...]:
    return features()


def categories_of(frame: pd.DataFrame, categorical: Sequence[str]) -> dict[str, list[str]]:
    return {c: sorted(str(v) for v in frame[c].dropna().unique()) for c in categorical}


def matrix(frame: pd.DataFrame, names: Sequence[str], categories: dict[str, list[str]]) -> pd.DataFrame:
    """``frame``'s feature columns as a new frame: numbers as float64, categoricals with the training categories.

    Raises a ValueError naming the missing columns when ``frame`` lacks some.
    """
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise ValueError(
            f"{len(missing)} feature columns are missing: {missing[:10]}{' ...' if len(missing) > 10 else ''}. "
            "Rebuild the snapshots with the current feature registry (churn features build)."
        )
    out: dict[str, pd.Categorical | pd.Series] = {}
    for n in names:
        if n in categories:
            values = frame[n].astype("object")
            # Unseen categories become missing: the trees never learned a code for them.
            out[n] = pd.Categorical(values.where(values.isin(categories[n]), None), categories=categories[n])
        else:
            out[n] = pd.to_numeric(frame[n], errors="coerce").astype("float64")
    return pd.DataFrame(out, index=frame.index)


def time_slices(as_of: pd.Series, inner_dates: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (fit, inner): ``inner`` is the latest ``inner_dates`` snapshot dates, ``fit`` the rest."""
    dates = np.sort(as_of.unique())
    if len(dates) <= inner_dates:
        raise ValueError(
            f"the training set has {len(dates)} snapshot dates; holding out the latest inner_dates={inner_dates} "
            "for early stopping and calibration needs more. Build snapshots over a longer period."
        )
    inner = (as_of >= dates[-inner_dates]).to_numpy()
    return ~inner, inner
