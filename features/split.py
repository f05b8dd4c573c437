"""The time-based split of a training set (pure: frames in, frames out).

Validation is out of time and out of sample: the latest matured snapshot dates, for a fixed share of accounts
(chosen by a hash of the account id, so the choice is stable across runs and snapshots). Training uses the other
accounts' snapshots whose label's read window (``LabelConfig.reads_days``: the horizon, plus the grace period for
churn) ends at or before the first validation as_of, so no account sits in both and no training label reads
anything of the period the validation labels are about.
"""

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from features.labels import LABELS, LabelConfig


@dataclass(frozen=True)
class SplitConfig:
    valid_dates: int = 3  # how many of the latest labeled snapshot dates form the validation period
    valid_share: float = 0.3  # share of accounts held out for validation
    labels: LabelConfig = LABELS  # the time rules: how far past its as_of each target's label reads

    def __post_init__(self) -> None:
        if self.valid_dates < 1:
            raise ValueError(f"valid_dates must be >= 1, got {self.valid_dates}")
        if not 0 < self.valid_share < 1:
            raise ValueError(f"valid_share must be between 0 and 1, got {self.valid_share}")


def bucket(account_ids: pd.Series, salt: str = "") -> pd.Series:
    """A stable number in [0, 10000) per account id (a hash: the same across runs, machines and snapshots);
    ``salt`` draws an independent assignment."""
    return account_ids.map(lambda a: int(hashlib.sha256(f"{salt}{a}".encode()).hexdigest()[:8], 16) % 10_000)


def held_out(account_ids: pd.Series, share: float) -> pd.Series:
    """True for the accounts whose id hashes into the held-out share (stable across runs and machines)."""
    return bucket(account_ids) < share * 10_000


MAX_VALID_DATES = 3  # the validation period of a long history
MIN_TRAIN_DATES = 6  # the training dates a derived validation period leaves at least, when the history allows


def training_dates(dates: Sequence[pd.Timestamp], valid_dates: int, reads_days: int) -> list[pd.Timestamp]:
    """The sorted labeled ``dates`` a training row may have when the latest ``valid_dates`` are the validation
    period: those whose label's read window (``reads_days``) ends by the first validation date."""
    ordered = sorted(set(dates))
    if len(ordered) <= valid_dates:
        return []
    first = pd.Timestamp(ordered[-valid_dates])
    return [d for d in ordered if pd.Timestamp(d) + pd.Timedelta(days=reads_days) <= first]


def derived_valid_dates(labeled_dates: Iterable[pd.Timestamp], reads_days: int) -> int:
    """How many of the latest ``labeled_dates`` to validate on when not told: the most, up to ``MAX_VALID_DATES``,
    that leave at least ``MIN_TRAIN_DATES`` training dates (``training_dates``), else 1 (a short history: a
    9-month world with a 30-day horizon has 7 labeled monthly dates, of which 1 validates and 5 train)."""
    dates = list(labeled_dates)
    for n in range(MAX_VALID_DATES, 1, -1):
        if len(training_dates(dates, n, reads_days)) >= MIN_TRAIN_DATES:
            return n
    return 1


def first_valid_date(
    labeled_dates: Iterable[pd.Timestamp], target: str, cfg: SplitConfig = SplitConfig()
) -> pd.Timestamp:
    """The first as_of of the validation period, from the snapshot dates that have a ``target`` label; raises
    when there are too few to split."""
    dates = sorted(set(labeled_dates))
    if len(dates) <= cfg.valid_dates:
        raise ValueError(
            f"only {len(dates)} snapshot dates have a {target} label (a label is known once the data run "
            f"{cfg.labels.reads_days(target)} days past its snapshot); a split needs more than "
            f"valid_dates={cfg.valid_dates}. Lower --valid-dates, shorten --horizon or --grace, use --every week for "
            "more snapshot dates, or bring a longer history."
        )
    return pd.Timestamp(dates[-cfg.valid_dates])


def time_split(
    rows: pd.DataFrame,
    target: str,
    cfg: SplitConfig = SplitConfig(),
    first_valid: pd.Timestamp | None = None,
    label: str = "label",
) -> pd.Series:
    """'train', 'valid' or None (left out) per row of ``rows`` (account_id, as_of, ``label``: the ``target``'s).

    Rows without a label are left out, and so are training rows whose label reads past the first validation
    as_of. ``first_valid`` defaults to ``first_valid_date`` of ``rows``; an engine that splits a table in parts
    (Spark) computes it once over the whole table and passes it to every part.
    """
    labeled = rows[label].notna()
    if first_valid is None:
        first_valid = first_valid_date(rows.loc[labeled, "as_of"].unique(), target, cfg)
    holdout = held_out(rows["account_id"], cfg.valid_share)
    # The label of a row reads (as_of, as_of + reads_days]; the validation labels read after first_valid.
    read_to = rows["as_of"] + pd.Timedelta(days=cfg.labels.reads_days(target))
    split = pd.Series(None, index=rows.index, dtype="object")
    split[labeled & holdout & (rows["as_of"] >= first_valid)] = "valid"
    split[labeled & ~holdout & (read_to <= first_valid)] = "train"
    return split
