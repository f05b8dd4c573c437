"""Survival labels of snapshots: the time from as_of to churn, or to the last day a churn would be known.

These are labels (they read the data after as_of), never features. They follow ``LabelConfig``'s grace rule:
a churn at c is known only once the data run to c + grace (a return within the grace period undoes it), so a
snapshot's follow-up ends ``grace_days`` before the data end (or before ``until``, the start of a validation
period, for training rows: censoring them there keeps what their labels read before validation starts).
"""

from datetime import datetime

import pandas as pd

from features.labels import LabelConfig


def survival_times(
    labels: pd.DataFrame, data_end: datetime, cfg: LabelConfig, until: datetime | None = None
) -> pd.DataFrame:
    """Per (account_id, as_of) of ``labels`` (columns account_id, as_of, service_ends_at: the churn time or NaT),
    the columns ``duration`` (days from as_of to churn if ``event`` is 1, to the end of follow-up if 0) and
    ``event``. The follow-up ends at min(data_end, until) minus ``cfg.grace_days``; snapshots with no follow-up
    (duration <= 0 and no event) are left out. Does not modify ``labels``."""
    end = pd.Timestamp(data_end if until is None else min(data_end, until))
    known = end - pd.Timedelta(days=cfg.grace_days)
    as_of = pd.to_datetime(labels["as_of"], utc=True)
    ends = pd.to_datetime(labels["service_ends_at"], utc=True)
    known = known.tz_localize("UTC") if known.tzinfo is None else known.tz_convert("UTC")
    event = ends.notna() & (ends <= known)
    stop = ends.where(event, known)
    duration = (stop - as_of).dt.total_seconds() / 86400.0
    out = pd.DataFrame(
        {"account_id": labels["account_id"], "as_of": labels["as_of"], "duration": duration,
         "event": event.astype("int8")}
    )  # fmt: skip
    return out[(out["duration"] > 0) | (out["event"] == 1)].reset_index(drop=True)
