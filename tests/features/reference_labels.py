"""A brute-force reference for the churn and upsell labels: one snapshot row at a time, straight from the rules.

Trial rows are never service: left out of everything. A row serves a time t when start <= t < end (half-open: a row
starting exactly at as_of is part of the state at as_of). churn, without churn events: the service running at as_of
ends within (as_of, as_of + horizon], and no row starting within the grace period after that end carries it on.
churn, with churn events: a churn event within (as_of, as_of + horizon] that no row starting within the grace period
after it undoes. upsell: at the start t of a row within (as_of, as_of + horizon], the sum of the MRR or seats of the
rows serving t (started at or before t, not ended by t, and with churn events, none of them at or after the row's
start and at or before t) is strictly above the sum at as_of (the spine's rows) times (1 + margin), compared exactly
(fractions, not floats). Unlabeled (NaN) when the data end before as_of + horizon + grace (churn) or as_of + horizon
(upsell).
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
    """Each account's rows of service (trials are not)."""
    out: dict[str, list[Term]] = {}
    s = subscriptions
    status = s["status"] if "status" in s else pd.Series(None, index=s.index)  # hand-made frames may lack it
    for account_id, start, end, mrr, seats, state in zip(
        s["account_id"], s["start_at"], s["end_at"], s["mrr"], s["seats"], status, strict=True
    ):
        if state == "trial":
            continue
        term = Term(start, None if pd.isna(end) else end, float(mrr), int(seats))
        out.setdefault(str(account_id), []).append(term)
    return out


def _events(churn_events: pd.DataFrame | None) -> dict[str, list[pd.Timestamp]]:
    out: dict[str, list[pd.Timestamp]] = {}
    if churn_events is not None:
        for account_id, churned_at in zip(churn_events["account_id"], churn_events["churned_at"], strict=True):
            out.setdefault(str(account_id), []).append(churned_at)
    return out


def service_end(terms: list[Term], as_of: pd.Timestamp, grace: pd.Timedelta) -> pd.Timestamp | None:
    """When the service running at ``as_of`` stops for longer than ``grace``; None if it never stops."""
    running = [t for t in terms if _active(t, as_of)]
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


def final_churn(
    terms: list[Term], events: list[pd.Timestamp], as_of: pd.Timestamp, grace: pd.Timedelta
) -> pd.Timestamp | None:
    """The first churn event after ``as_of`` that no row starting within ``grace`` after it undoes; None if none."""
    final = [c for c in events if c > as_of and not any(c < t.start <= c + grace for t in terms)]
    return min(final, default=None)


def _active(term: Term, t: pd.Timestamp) -> bool:
    """The row serves ``t``: half-open, started at or before ``t`` and not ended by then."""
    return term.start <= t and (term.end is None or term.end > t)


def _alive(term: Term, events: list[pd.Timestamp], t: pd.Timestamp) -> bool:
    """No churn event at or before ``t`` came at or after the row's start."""
    return not any(term.start <= c <= t for c in events)


def _sums(terms: list[Term]) -> tuple[Fraction, int]:
    return sum((Fraction(t.mrr) for t in terms), Fraction(0)), sum(t.seats for t in terms)


def reference_labels(
    subscriptions: pd.DataFrame,
    accounts: pd.DataFrame,
    dates: Iterable[datetime],
    cfg: LabelConfig = LabelConfig(),
    data_end: datetime | None = None,
    churn_events: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Labels as ``pipelines.snapshots.build_labels`` returns them (account_id, as_of, churn, upsell,
    service_ends_at) for the reference spine of ``dates``; churn and upsell are 1.0 / 0.0 / NaN (unlabeled).
    ``churn_events`` with rows define churn (and end the rows they follow); without, the subscriptions' ends do."""
    if data_end is None:
        raise ValueError("data_end is required: the reference does not guess where the data end")
    end_of_data = pd.Timestamp(data_end).tz_convert("UTC")
    horizon, grace = pd.Timedelta(days=cfg.horizon_days), pd.Timedelta(days=cfg.grace_days)
    margin = Fraction(str(cfg.margin))
    terms = _terms(subscriptions)
    by_events = churn_events is not None and len(churn_events) > 0
    events = _events(churn_events if by_events else None)
    rows = []
    for when in sorted(set(dates)):
        as_of = pd.Timestamp(when).tz_convert("UTC")
        spine = reference_spine(accounts, subscriptions, as_of, churn_events)
        for account_id in spine.index:
            mine, theirs = terms[str(account_id)], events.get(str(account_id), [])
            ends = final_churn(mine, theirs, as_of, grace) if by_events else service_end(mine, as_of, grace)
            churn = float(ends is not None and ends <= as_of + horizon)
            now = [t for t in mine if _active(t, as_of) and _alive(t, theirs, as_of)]
            mrr, seats = _sums(now)
            grew = False
            for start in {t.start for t in mine if as_of < t.start <= as_of + horizon}:
                serving = [t for t in mine if _active(t, start)]
                then_mrr, then_seats = _sums([t for t in serving if _alive(t, theirs, start)])
                grew |= then_mrr > mrr * (1 + margin) or then_seats > seats * (1 + margin)
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
