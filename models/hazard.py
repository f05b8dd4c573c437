"""Discrete-time hazard building blocks: person-period expansion and survival from interval hazards.

Churn over time is modelled as a hazard per 30-day interval, so P(churn within H) = 1 - prod(1 - h_k) can
only grow with H: monotonicity holds by construction rather than by post-hoc fixes. This module holds the pure
pieces; the LightGBM fit and its calibration are not written yet (issue 23, item 1).
"""

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Interval ends in days: (0, 30], (30, 60], ..., (300, 330], (330, 365].
INTERVAL_ENDS: tuple[int, ...] = (*range(30, 331, 30), 365)


def expand_person_period(survival: pd.DataFrame, ends: Sequence[int] = INTERVAL_ENDS) -> pd.DataFrame:
    """One row per (snapshot, interval) the snapshot is at risk in.

    ``survival`` has columns account_id, as_of, duration (days) and event (0/1), as from
    ``features.survival_labels.survival_times``. Returns account_id, as_of, ``interval`` (0-based index) and
    ``event`` (1 only in the interval holding the churn). A censored row stops at the last interval its
    follow-up reaches into (it is at risk there for part of it); rows past the last end stop at the last one.
    Does not modify ``survival``.
    """
    edges = np.asarray(ends, dtype=float)
    duration = survival["duration"].to_numpy(dtype=float)
    # index of the interval holding `duration`: searchsorted(left) puts duration == end into that interval
    last = np.minimum(np.searchsorted(edges, duration, side="left"), len(edges) - 1)
    counts = last + 1
    rows = np.repeat(np.arange(len(survival)), counts)
    interval = np.concatenate([np.arange(c) for c in counts]) if len(counts) else np.array([], int)
    is_last = interval == last[rows]
    event = (is_last & (survival["event"].to_numpy()[rows] == 1) & (duration[rows] <= edges[-1])).astype("int8")
    return pd.DataFrame(
        {
            "account_id": survival["account_id"].to_numpy()[rows],
            "as_of": survival["as_of"].to_numpy()[rows],
            "interval": interval.astype("int16"),
            "event": event,
        }
    )


def survival_curve(hazards: np.ndarray) -> np.ndarray:
    """S at each interval end from hazards of shape (n, k): S(t_k) = prod_{j<=k} (1 - h_j)."""
    return np.cumprod(1.0 - np.clip(hazards, 0.0, 1.0), axis=1)


HORIZONS: tuple[int, ...] = (30, 60, 90, 180, 365)


def churn_within(
    hazards: np.ndarray, horizons: Sequence[int] = HORIZONS, ends: Sequence[int] = INTERVAL_ENDS
) -> np.ndarray:
    """P(churn within H) per row and horizon, shape (n, len(horizons)).

    Inside an interval the cumulative hazard -log S is interpolated linearly in time, so the result is
    non-decreasing in H for any hazards in [0, 1].
    """
    s = survival_curve(hazards)
    cum = -np.log(np.clip(s, 1e-300, 1.0))
    t = np.concatenate([[0.0], np.asarray(ends, dtype=float)])
    cum = np.hstack([np.zeros((len(cum), 1)), cum])
    out = np.empty((len(cum), len(horizons)))
    for j, h in enumerate(horizons):
        out[:, j] = [1.0 - np.exp(-np.interp(h, t, row)) for row in cum]
    return out


def median_churn_day(hazards: np.ndarray, ends: Sequence[int] = INTERVAL_ENDS) -> list[float | None]:
    """Day at which S falls to 0.5 (cumulative hazard reaches ln 2, linear inside an interval), else None
    (the account is more likely than not still a customer at the last interval's end)."""
    s = survival_curve(hazards)
    cum = -np.log(np.clip(s, 1e-300, 1.0))
    t = np.concatenate([[0.0], np.asarray(ends, dtype=float)])
    out: list[float | None] = []
    for row in np.hstack([np.zeros((len(cum), 1)), cum]):
        k = int(np.searchsorted(row, np.log(2.0), side="left"))
        if k >= len(row):
            out.append(None)
            continue
        lo, hi = row[k - 1], row[k]
        out.append(float(t[k - 1] + (t[k] - t[k - 1]) * (np.log(2.0) - lo) / (hi - lo)))
    return out
