"""A brute-force reference for the churn and upsell labels: one snapshot row at a time, straight from the rules.

churn: the service running at as_of ends within (as_of, as_of + horizon], and no row starting within the grace
period after that end carries it on. upsell: a row starting within (as_of, as_of + horizon] has MRR or seats
strictly above those at as_of times (1 + margin), compared exactly (fractions, not floats). Unlabeled (NaN) when
the data end before as_of + horizon + grace (churn) or as_of + horizon (upsell).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

import pandas as pd

from features.labels import LabelConfig
from tests.features.reference_base import reference_spine


@dataclass(frozen=True)
class Term:
    """One subscription row, as plain values (end None = open-ended)."""

    start: pd.Timestamp
    end: pd.Timestamp | None
    mrr: float
    seats: int


def _terms(subscriptions: pd.DataFrame) -> dict[str, list[Term]]:
    out: dict[str, list[Term]] = {}
    s = subscriptions
    for account_id, start, end, mrr, seats in zip(
        s["account_id"], s["start_at"], s["end_at"], s["mrr"], s["seats"], strict=True
    ):
        term = Term(start, None if pd.isna(end) else end, float(mrr), int(seats))
        out.setdefault(str(account_id), []).append(term)
    return out


def service_end(terms: list[Term], as_of: pd.Timestamp, grace: pd.Timedelta) -> pd.Timestamp | None:
    """When the service running at ``as_of`` stops for longer than ``grace``; None if it never stops."""
    running = [t for t in terms if t.start < as_of and (t.end is None or t.end > as_of)]
    if not running or any(t.end is None for t in running):
        return None
    end = max(t.end for t in running if t.end is not None)
    while True:
        # A row that starts no later than ``grace`` after the end and runs past it carries the service on.
        carries = [t for t in terms if t.start <= end + grace and (t.end is None or t.end > end)]
        if not carries:
            return end
        if any(t.end is None for t in carries):
            return None
        end = max(t.end for t in carries if t.end is not None)


def _above(new: float, old: float, margin: Fraction) -> bool:
    return Fraction(new) > Fraction(old) * (1 + margin)


def reference_labels(
    subscriptions: pd.DataFrame,
    accounts: pd.DataFrame,
    dates: Iterable[datetime],
    cfg: LabelConfig = LabelConfig(),
    data_end: datetime | None = None,
) -> pd.DataFrame:
    """Labels as ``pipelines.snapshots.build_labels`` returns them (account_id, as_of, churn, upsell,
    service_ends_at) for the reference spine of ``dates``; churn and upsell are 1.0 / 0.0 / NaN (unlabeled)."""
    if data_end is None:
        raise ValueError("data_end is required: the reference does not guess where the data end")
    end_of_data = pd.Timestamp(data_end).tz_convert("UTC")
    horizon, grace = pd.Timedelta(days=cfg.horizon_days), pd.Timedelta(days=cfg.grace_days)
    margin = Fraction(str(cfg.margin))
    terms = _terms(subscriptions)
    rows = []
    for when in sorted(set(dates)):
        as_of = pd.Timestamp(when).tz_convert("UTC")
        spine = reference_spine(accounts, subscriptions, as_of)
        for account_id, mrr, seats in zip(spine.index, spine["mrr"], spine["seats"], strict=True):
            mine = terms[str(account_id)]
            ends = service_end(mine, as_of, grace)
            churn = float(ends is not None and ends <= as_of + horizon)
            later = [t for t in mine if as_of < t.start <= as_of + horizon]
            grew = any(_above(t.mrr, mrr, margin) or _above(t.seats, seats, margin) for t in later)
            rows.append(
                {
                    "account_id": account_id,
                    "as_of": as_of,
                    "churn": float("nan") if as_of + horizon + grace > end_of_data else churn,
                    "upsell": float("nan") if as_of + horizon > end_of_data else float(grew),
                    "service_ends_at": pd.NaT if ends is None else ends,
                }
            )
    columns = ["account_id", "as_of", "churn", "upsell", "service_ends_at"]
    out = pd.DataFrame(rows, columns=columns)
    out = out.astype({"account_id": "str", "as_of": "datetime64[us, UTC]", "churn": "float64", "upsell": "float64"})
    out["service_ends_at"] = pd.to_datetime(out["service_ends_at"], utc=True).astype("datetime64[us, UTC]")
    return out.sort_values(["as_of", "account_id"], ignore_index=True)
