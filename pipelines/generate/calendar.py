"""The generator's calendar: day numbers, month starts, and how busy each day is."""

from dataclasses import dataclass
from datetime import date

import numpy as np
from pandas.tseries.holiday import USFederalHolidayCalendar

# Months kept before the window (accounts that already exist when the data starts) and after it
# (the oracle's churn curve simulates up to 12 months past the last snapshot, and an annual renewal lies 12 beyond).
PAST_MONTHS = 48
FUTURE_MONTHS = 24
WEEKDAY_FACTOR = np.array([1.0, 1.05, 1.05, 1.0, 0.85, 0.12, 0.08])  # Monday .. Sunday


@dataclass(frozen=True)
class Calendar:
    """Day 0 is ``start``; month k starts on day ``ms(k)``; the data covers days [0, n_days)."""

    start: date
    months: int
    month_start: np.ndarray  # day number of month k at index k + PAST_MONTHS
    day_factor: np.ndarray  # activity multiplier per day of the window (weekends, holidays)
    day_month: np.ndarray  # month index of each day of the window
    day_frac: np.ndarray  # position of each day within its month, 0 .. <1
    day_of_week: np.ndarray  # 0 = Monday

    @property
    def n_days(self) -> int:
        return int(self.ms(self.months))

    @property
    def last_month(self) -> int:
        """The last month whose first day the calendar holds (``FUTURE_MONTHS`` past the data's end)."""
        return len(self.month_start) - 1 - PAST_MONTHS

    def ms(self, k: int | np.ndarray) -> np.ndarray:
        """Day number of the first day of month ``k`` (month 0 is the first month of the data)."""
        return self.month_start[np.asarray(k) + PAST_MONTHS]

    def epoch_us(self, day: np.ndarray) -> np.ndarray:
        """Microseconds since 1970 of (fractional) day numbers."""
        base = (np.datetime64(self.start, "D") - np.datetime64(0, "D")).astype(np.int64)
        return np.round((base + np.asarray(day, dtype=np.float64)) * 86_400e6).astype(np.int64)

    def month_date(self, k: int) -> date:
        return (np.datetime64(self.start, "D") + int(self.ms(k))).astype(date)


def build_calendar(start: date, months: int) -> Calendar:
    """Calendar of ``months`` months from ``start`` (which must be the first day of a month)."""
    if start.day != 1:
        raise ValueError(f"start must be the first day of a month, got {start}; use {start.replace(day=1)}")
    if months < 4:
        raise ValueError(f"months must be at least 4 (one 90-day horizon and a snapshot), got {months}")
    m0 = np.datetime64(start, "M")
    ks = np.arange(-PAST_MONTHS, months + FUTURE_MONTHS + 1)
    month_start = ((m0 + ks).astype("datetime64[D]") - np.datetime64(start, "D")).astype(np.int64)
    n_days = int(month_start[months + PAST_MONTHS])
    days = np.datetime64(start, "D") + np.arange(n_days)
    dow = ((days.astype(np.int64) + 3) % 7).astype(np.int8)  # 1970-01-01 was a Thursday
    factor = WEEKDAY_FACTOR[dow].copy()
    holidays = USFederalHolidayCalendar().holidays(start=str(days[0]), end=str(days[-1]))
    factor[np.isin(days, holidays.values.astype("datetime64[D]"))] *= 0.25
    month_day = (days - days.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    month_of_year = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    factor[(month_of_year == 12) & (month_day >= 24)] *= 0.45  # the year-end slowdown
    factor[(month_of_year == 1) & (month_day == 1)] *= 0.3
    day_month = np.searchsorted(month_start, np.arange(n_days), side="right") - 1 - PAST_MONTHS
    lo = month_start[day_month + PAST_MONTHS]
    hi = month_start[day_month + PAST_MONTHS + 1]
    frac = (np.arange(n_days) - lo) / (hi - lo)
    return Calendar(start, months, month_start, factor, day_month, frac, dow)
