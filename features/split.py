"""The time-based split of a training set (pure: frames in, frames out).

Validation is out of time and out of sample: the latest matured snapshot dates, for a fixed share of accounts
(chosen by a hash of the account id, so the choice is stable across runs and snapshots). Training uses the other
accounts' snapshots whose labels had matured before the first validation date, so no account sits in both and no
training label looks into the validation period.
"""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class SplitConfig:
    valid_dates: int = 3  # how many of the latest labeled snapshot dates form the validation period
    valid_share: float = 0.3  # share of accounts held out for validation
    horizon_days: int = 90

    def __post_init__(self) -> None:
        if self.valid_dates < 1:
            raise ValueError(f"valid_dates must be >= 1, got {self.valid_dates}")
        if not 0 < self.valid_share < 1:
            raise ValueError(f"valid_share must be between 0 and 1, got {self.valid_share}")


def held_out(account_ids: pd.Series, share: float) -> pd.Series:
    """True for the accounts whose id hashes into the held-out share (stable across runs and machines)."""
    buckets = account_ids.map(lambda a: int(hashlib.sha256(str(a).encode()).hexdigest()[:8], 16) % 10_000)
    return buckets < share * 10_000


def first_valid_date(
    labeled_dates: Iterable[pd.Timestamp], label: str, cfg: SplitConfig = SplitConfig()
) -> pd.Timestamp:
    """The first as_of of the validation period, from the snapshot dates that have a ``label``; raises when there
    are too few to split."""
    dates = sorted(set(labeled_dates))
    if len(dates) <= cfg.valid_dates:
        raise ValueError(
            f"only {len(dates)} snapshot dates have a {label} label (a label is known once the data run "
            f"{cfg.horizon_days} days, plus the grace period for churn, past its snapshot); a split needs more than "
            f"valid_dates={cfg.valid_dates}. Bring a longer history (a year or more), or lower --valid-dates."
        )
    return pd.Timestamp(dates[-cfg.valid_dates])


def time_split(
    rows: pd.DataFrame, label: str, cfg: SplitConfig = SplitConfig(), first_valid: pd.Timestamp | None = None
) -> pd.Series:
    """'train', 'valid' or None (left out) per row of ``rows`` (account_id, as_of, ``label``).

    Rows without a label are left out. ``first_valid`` defaults to ``first_valid_date`` of ``rows``; an engine that
    splits a table in parts (Spark) computes it once over the whole table and passes it to every part.
    """
    labeled = rows[label].notna()
    if first_valid is None:
        first_valid = first_valid_date(rows.loc[labeled, "as_of"].unique(), label, cfg)
    holdout = held_out(rows["account_id"], cfg.valid_share)
    matured = rows["as_of"] + pd.Timedelta(days=cfg.horizon_days) <= first_valid
    split = pd.Series(None, index=rows.index, dtype="object")
    split[labeled & holdout & (rows["as_of"] >= first_valid)] = "valid"
    split[labeled & ~holdout & matured] = "train"
    return split
