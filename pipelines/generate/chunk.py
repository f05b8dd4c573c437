"""What every table builder gets: one chunk's simulated history, with helpers for ids, times and randomness."""

from dataclasses import dataclass
from zlib import crc32

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.generate.calendar import PAST_MONTHS, Calendar
from pipelines.generate.latent import PRE_MONTHS
from pipelines.generate.params import Params
from pipelines.generate.simulate import History


@dataclass
class Chunk:
    hist: History
    cal: Calendar
    p: Params
    account_ids: pa.Array  # string id per account of the chunk
    seed: int
    index: int

    @property
    def n(self) -> int:
        return len(self.account_ids)

    def rng(self, table: str) -> np.random.Generator:
        """A generator of its own per (seed, chunk, table), so that tables can be built in any order."""
        return np.random.default_rng([self.seed, self.index, crc32(table.encode())])

    def window(self, name: str) -> np.ndarray:
        """A MonthLog field for the months of the data only: shape (accounts, months)."""
        return self.hist.logs[name][:, PRE_MONTHS:]

    def signup_col(self) -> np.ndarray:
        """Column of the month log in which each account signed up."""
        month = np.searchsorted(self.cal.month_start, self.hist.static.created, side="right") - 1 - PAST_MONTHS
        return month + PRE_MONTHS

    def ids(self, rows: np.ndarray) -> pa.Array:
        return self.account_ids.take(pa.array(rows))

    def child_ids(self, rows: np.ndarray, tag: str) -> pa.Array:
        """Ids such as ``A0000042-t3``: the account's id, a tag and a running number within the account."""
        seq = _rank_within(rows)
        return pc.binary_join_element_wise(self.ids(rows), pc.cast(pa.array(seq), pa.string()), f"-{tag}")

    def times(self, day: np.ndarray) -> pa.Array:
        """UTC timestamps (microseconds) of fractional day numbers."""
        return pa.array(self.cal.epoch_us(day), type=pa.timestamp("us", tz="UTC"))


def _rank_within(rows: np.ndarray) -> np.ndarray:
    """0, 1, 2 ... within each run of equal values of ``rows`` (which must be grouped)."""
    if len(rows) == 0:
        return np.zeros(0, np.int64)
    starts = np.r_[True, rows[1:] != rows[:-1]]
    first = np.maximum.accumulate(np.where(starts, np.arange(len(rows)), 0))
    return np.arange(len(rows)) - first


def nullable_times(chunk: Chunk, day: np.ndarray, valid: np.ndarray) -> pa.Array:
    arr = chunk.times(np.where(valid, day, 0))
    return pc.if_else(pa.array(valid), arr, pa.scalar(None, arr.type))


def pick(names: tuple[str, ...], index: np.ndarray) -> pa.Array:
    """Strings from a small vocabulary by index, as a plain string column."""
    return pc.cast(pa.DictionaryArray.from_arrays(pa.array(index.astype(np.int32)), pa.array(names)), pa.string())


def work_hours(rng: np.random.Generator, region: np.ndarray, offsets: tuple[float, ...]) -> np.ndarray:
    """Time of day in UTC (fraction of a day) of activity in business hours of each account's region."""
    local = np.clip(rng.normal(13.0, 2.8, len(region)), 6.0, 23.5)
    return ((local - np.asarray(offsets)[region]) % 24.0) / 24.0
