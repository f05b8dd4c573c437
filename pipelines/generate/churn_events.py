"""Churn as its own table of events, as a CRM records it, derived from a world's subscription rows.

``churn_events`` is a pure function of a subscriptions frame (the contract's columns; the generator writes none of
this table itself: exports of other shapes use it). A churn event is dated at the end of every stretch of service
that does not resume within the grace period (``features.labels.LabelConfig.grace_days``): rows separated by a gap
of at most that many days are one stretch, as for the labels, so that the labels read from these events equal the
labels read from the subscriptions' ends. Trial rows are no service. An end at or after the data's end is a
scheduled one, not yet a churn, and gives no event.
"""

import numpy as np
import pandas as pd

from features.contract import TIME
from features.labels import LABELS, LabelConfig

NEVER = pd.Timestamp("9999-12-31", tz="UTC").as_unit("us")  # the end of a row that has none
KIND_SHARES = {"voluntary": 0.75, "involuntary": 0.25}
REASONS = {
    "voluntary": ("price", "product_fit", "competitor", "budget_cut", "no_longer_needed"),
    "involuntary": ("payment_failed", "card_expired"),
}


def churn_events(
    subscriptions: pd.DataFrame,
    data_end: pd.Timestamp | None = None,
    cfg: LabelConfig = LABELS,
    seed: int | None = None,
) -> pd.DataFrame:
    """The churn events of ``subscriptions`` (account_id, start_at, end_at, status: contract columns), one per
    stretch of service that ends before ``data_end`` and is not resumed within ``cfg.grace_days``: account_id,
    churned_at (the stretch's end), reason and kind. ``data_end`` None takes the latest start of a row (the last
    time the frame shows the data running; pass the data's real end when it is known). ``seed`` None leaves reason
    and kind empty; a seed draws them (a kind, then a reason of that kind). Rows sorted by account and time; the
    input is left unchanged."""
    subs = subscriptions[subscriptions["status"].ne("trial").fillna(True).astype(bool)]
    end_of_data = pd.Timestamp(subs["start_at"].max() if data_end is None else data_end)
    subs = subs.sort_values(["account_id", "start_at"], kind="stable", ignore_index=True)
    accounts = subs["account_id"]
    ends = subs["end_at"].astype(TIME).fillna(NEVER)
    # The latest end of the account's earlier rows: a start more than the grace period after it begins a stretch.
    prev_end = ends.groupby(accounts).cummax().groupby(accounts).shift()
    gap = subs["start_at"].astype(TIME) - prev_end
    begins = prev_end.isna() | ((prev_end < NEVER) & (gap > pd.Timedelta(days=cfg.grace_days)))
    stretches = pd.DataFrame({"account_id": accounts, "ended": ends}).groupby(begins.cumsum())
    last = stretches.agg(account_id=("account_id", "first"), ended=("ended", "max")).reset_index(drop=True)
    last = last[(last["ended"] < NEVER) & (last["ended"] < end_of_data)].reset_index(drop=True)
    out = pd.DataFrame({
        "account_id": last["account_id"],
        "churned_at": last["ended"],
        "reason": pd.Series(pd.NA, index=last.index, dtype="string"),
        "kind": pd.Series(pd.NA, index=last.index, dtype="string"),
    })  # fmt: skip
    if seed is not None and len(out):
        rng = np.random.default_rng(seed)
        kinds = rng.choice(list(KIND_SHARES), size=len(out), p=list(KIND_SHARES.values()))
        picks = rng.random(len(out))
        out["kind"] = pd.Series(kinds, dtype="string")
        out["reason"] = pd.Series([REASONS[k][int(u * len(REASONS[k]))] for k, u in zip(kinds, picks, strict=True)],
                                  dtype="string")  # fmt: skip
    return out
