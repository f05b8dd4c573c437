"""Small builders for the SQL of feature definitions, so that windows are written one way everywhere.

The spine ``s`` has ``as_of_day`` (DATE, UTC); rollups ``d`` have ``day``. Windows are [as_of - n days, as_of):
the day of as_of itself is never included, since a snapshot sees only rows before its as_of time.
"""


def in_window(days: int, skip: int = 0, col: str = "d.day") -> str:
    """``col`` falls within the ``days`` days before as_of (after skipping the last ``skip`` days)."""
    cond = f"{col} >= s.as_of_day - INTERVAL {days + skip} DAY"
    return cond + (f" AND {col} < s.as_of_day - INTERVAL {skip} DAY" if skip else f" AND {col} < s.as_of_day")


def window_sum(value: str, days: int, skip: int = 0) -> str:
    return f"COALESCE(SUM(CASE WHEN {in_window(days, skip)} THEN {value} END), 0)"


def window_count_distinct(value: str, days: int, skip: int = 0) -> str:
    return f"COUNT(DISTINCT CASE WHEN {in_window(days, skip)} THEN {value} END)"


def days_since(day: str, cap: int) -> str:
    """Days from the latest ``day`` before as_of to as_of; ``cap + 1`` when there is none within ``cap`` days."""
    return f"COALESCE(date_diff('day', MAX({day}), s.as_of_day), {cap + 1})"


def ratio(num: str, den: str) -> str:
    """num / den, NULL when den is 0 or NULL."""
    return f"CAST({num} AS DOUBLE) / NULLIF({den}, 0)"


def trend(cur: str, prev: str) -> str:
    """Relative change of ``cur`` against ``prev`` (0.5 = up 50%); NULL when prev is 0."""
    return f"CAST({cur} AS DOUBLE) / NULLIF({prev}, 0) - 1"


def totals_join(totals: str) -> str:
    """The FROM clause of a ``per_row`` source: the spine and its row of the running totals ``totals``
    (``features.rollups``), joined as ``d``."""
    return f"spine s LEFT JOIN {totals} d ON d.account_id = s.account_id AND d.as_of = s.as_of"


def total(value: str, days: int, skip: int = 0) -> str:
    """Sum of a rolled-up ``value`` over the window, from the running totals (``totals_join``): the total before
    as_of - skip minus the total before as_of - skip - days."""
    return f"d.{value}_c{skip} - d.{value}_c{days + skip}"


def days_since_day(day: str, cap: int) -> str:
    """Days from ``day`` (a last-seen day from ``totals_join``) to as_of; ``cap + 1`` when older or none."""
    return f"LEAST(COALESCE(date_diff('day', {day}, s.as_of_day), {cap + 1}), {cap + 1})"


def level(value: str, skip: int = 0) -> str:
    """A running total (``totals_join``) read as it stood before as_of - skip (distinct counts are levels, not
    differences)."""
    return f"d.{value}_c{skip}"


def literal(text: str) -> str:
    """``text`` as a SQL string literal, quotes doubled (event types come from the customer's data)."""
    return "'" + text.replace("'", "''") + "'"
