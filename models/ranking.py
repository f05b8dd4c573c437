"""Ranked lists of scored accounts, the rule the API's rankings and the CSM pages share: which accounts a list holds,
the filters, the order and the page.

The lists:

- ``at-risk``: accounts that had not given notice to cancel at as_of (unknown counts as not given), by churn
  probability or by revenue at risk;
- ``save-desk``: the accounts that had given notice, by churn probability or by revenue at risk;
- ``upsell``: every account with an upsell score, by the expected expansion ARR within the horizon
  (``revenue``: ``models.expansion``, the revenue an upsell would add) or by upsell probability (``probability``).
  Without an expansion model (its column empty on every listed row) ``revenue`` falls back to the probability.

Highest first, ties by account id. The filters keep the rows equal to each given value, and ``q`` the names that
contain it (case ignored); an absent or empty filter keeps every row.
"""

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from models.scoring import CURVE_COLUMNS, CURVE_DAYS

RankedList = Literal["at-risk", "save-desk", "upsell"]
Order = Literal["probability", "revenue"]
# The column each list sorts on: (list, order) -> column
SORT = {
    ("at-risk", "probability"): "p_churn", ("at-risk", "revenue"): "revenue_at_risk",
    ("save-desk", "probability"): "p_churn", ("save-desk", "revenue"): "revenue_at_risk",
    ("upsell", "probability"): "p_upsell", ("upsell", "revenue"): "expected_expansion_arr",
}  # fmt: skip
# The columns of a ranked row (the fields of the API's RankItem)
COLUMNS = ("account_id", "name", "segment", "touch_model", "csm_owner", "notice_given", "p_churn", "p_upsell",
           "health", "tier", "arr", "revenue_at_risk", "expected_expansion_arr", "top_reason", "play")  # fmt: skip


@dataclass(frozen=True)
class Filters:
    """Keep the accounts of this segment, touch model, CSM owner (``csm_owner``) and tier, whose name contains
    ``q``; None or empty: no filter on that column."""

    segment: str | None = None
    touch_model: str | None = None
    owner: str | None = None
    tier: str | None = None
    q: str | None = None


@dataclass(frozen=True)
class Ranked:
    total: int  # accounts in the list after the filters, all pages together
    rows: list[dict[str, Any]]  # the page's rows, {column: value}, missing values as None


def rank(
    scores: pd.DataFrame, ranking: RankedList, by: Order = "probability", filters: Filters | None = None, *,
    limit: int = 50, offset: int = 0,
) -> Ranked:  # fmt: skip
    """One page (``limit`` rows after the first ``offset``) of a ranked list of ``scores``: one row per account
    with ``COLUMNS`` (notice_given True, False or missing); the page's rows keep those columns. ``scores`` is not
    changed."""
    if (ranking, by) not in SORT:
        raise ValueError(f"no ranking {ranking!r} by {by!r}: the lists are at-risk, save-desk and upsell, the orders "
                         "probability and revenue")  # fmt: skip
    if scores.empty:
        return Ranked(0, [])
    filters = filters or Filters()
    mask = np.ones(len(scores), bool)
    if ranking != "upsell":
        given = scores["notice_given"].fillna(False).to_numpy(bool)
        mask &= given if ranking == "save-desk" else ~given
    else:  # without an upsell model (a feature table with a churn label only) there is nothing to rank
        mask &= (scores["p_upsell"].notna() | _column(scores, "expected_expansion_arr").notna()).to_numpy()
    mask &= _kept(scores, filters)
    kept = scores[mask].assign(expected_expansion_arr=_column(scores[mask], "expected_expansion_arr"))
    column = SORT[ranking, by]
    if column == "expected_expansion_arr" and kept[column].isna().all():
        column = "p_upsell"
    ordered = kept.sort_values([column, "account_id"], ascending=[False, True], kind="stable", na_position="last")
    page = ordered.iloc[offset : offset + limit][list(COLUMNS)]
    rows = page.astype(object).where(page.notna(), None).to_dict(orient="records")
    return Ranked(int(mask.sum()), rows)  # type: ignore[arg-type]


def by_renewal(scores: pd.DataFrame, days: np.ndarray) -> np.ndarray:
    """Per row, P(churn within ``days``) from the curve columns (see ``renewals``); ``p_churn`` where a row has
    no curve."""
    out = scores["p_churn"].to_numpy(float).copy()
    if not set(CURVE_COLUMNS) <= set(scores.columns):
        return out
    curve = scores[list(CURVE_COLUMNS)].to_numpy(float)
    at = np.clip(np.nan_to_num(days, nan=CURVE_DAYS[0]), CURVE_DAYS[0], CURVE_DAYS[-1])
    # np.interp per row, for every row at once: the segment of CURVE_DAYS each day falls in, and the line on it
    ends = np.asarray(CURVE_DAYS, dtype=float)
    j = np.clip(np.searchsorted(ends, at, side="right") - 1, 0, len(ends) - 2)
    rows = np.arange(len(curve))
    w = (at - ends[j]) / (ends[j + 1] - ends[j])
    read = curve[rows, j] + w * (curve[rows, j + 1] - curve[rows, j])
    known = np.isfinite(curve).all(axis=1)
    out[known] = read[known]
    return out


def _column(scores: pd.DataFrame, name: str) -> pd.Series:
    """``scores[name]``, or missing values when a table older than the column lacks it."""
    return scores[name] if name in scores else pd.Series(np.nan, index=scores.index)


def _kept(scores: pd.DataFrame, filters: Filters) -> np.ndarray:
    """The rows of ``scores`` that ``filters`` keep."""
    mask = np.ones(len(scores), bool)
    chosen = (("segment", filters.segment), ("touch_model", filters.touch_model), ("csm_owner", filters.owner),
              ("tier", filters.tier))  # fmt: skip
    for col, value in chosen:
        if value:
            mask &= (scores[col] == value).to_numpy()
    if filters.q:
        mask &= scores["name"].fillna("").str.contains(filters.q, case=False, regex=False).to_numpy()
    return mask


RENEWAL_COLUMNS = ("account_id", "name", "segment", "csm_owner", "next_renewal_at", "days_to_renewal",
                   "renewal_arr", "p_churn", "p_churn_by_renewal", "notice_given", "expected_arr_lost", "top_reason",
                   "play")  # fmt: skip


def renewals(
    scores: pd.DataFrame, as_of: pd.Timestamp, within_days: int, filters: Filters | None = None, *, limit: int = 50,
    offset: int = 0,
) -> Ranked:  # fmt: skip
    """One page of the accounts renewing within ``within_days`` of ``as_of`` (``next_renewal_at``, from
    ``features.renewals``), by the ARR expected to be lost at the renewal, highest first: the ARR up for renewal
    times the chance of churning by the renewal (``p_churn_by_renewal``), or times 1 when the account gave notice.
    The chance by the renewal reads the account's churn curve (``models.scoring.CURVE_COLUMNS``) at the days to
    the renewal, linearly between its horizons and at least its first (30 days: the curve's resolution, and a
    churn at a renewal is recorded when the service ends, on or just after it); without a curve, the model's
    ``p_churn`` (its own horizon's, which understates the risk of a later renewal)."""
    if scores.empty or "next_renewal_at" not in scores:
        return Ranked(0, [])
    at = pd.to_datetime(scores["next_renewal_at"], utc=True)
    mask = _kept(scores, filters or Filters()) & at.notna().to_numpy()
    mask &= (at <= as_of + pd.Timedelta(days=within_days)).fillna(False).to_numpy(bool)
    given = scores["notice_given"].fillna(False).to_numpy(bool)
    days = (at - as_of).dt.days
    p = by_renewal(scores, days.to_numpy(float))
    chosen = scores.assign(
        p_churn_by_renewal=p, expected_arr_lost=scores["renewal_arr"].to_numpy(float) * np.where(given, 1.0, p),
        days_to_renewal=days, next_renewal_at=at.map(lambda t: None if pd.isna(t) else t.isoformat()),
    )[mask]  # fmt: skip
    ordered = chosen.sort_values(["expected_arr_lost", "account_id"], ascending=[False, True], kind="stable")
    page = ordered.iloc[offset : offset + limit][list(RENEWAL_COLUMNS)]
    rows = page.astype(object).where(page.notna(), None).to_dict(orient="records")
    return Ranked(int(mask.sum()), rows)  # type: ignore[arg-type]
