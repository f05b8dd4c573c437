"""Stage one: raw source values to contract dtypes, by hand, one reason per value that cannot be parsed.

Pandera's own coercion reports failures without the row they came from, so parsing happens here, vectorised:
a value that fails becomes null in the parsed frame and a reason such as ``"mrr: not a number 'abc'"``.
"""

from collections.abc import Mapping
from functools import cache

import numpy as np
import pandas as pd
import pyarrow as pa

from features.contract import TIME, TableSpec

REASON_COLUMNS = ["row", "column", "code", "reason"]

# An offset or Z after the time part (the slice below skips the date, whose "-05" would look like an offset).
_AWARE = r"(?:[zZ]|[+-]\d\d(?::?\d\d)?)$"
_SHOWN = 60  # characters of a bad value quoted in a reason


def int_types(t: pa.DataType) -> pd.api.extensions.ExtensionDtype | None:
    """The pandas dtype a source's Arrow column is read as (a ``types_mapper``): integer ids and counts stay
    integral when they contain nulls (pyarrow's default makes them float64)."""
    return pd.Int64Dtype() if pa.types.is_integer(t) else None


def reasons(rows: pd.Index, column: str, code: str, texts: pd.Series | str) -> pd.DataFrame:
    """Reason rows for ``rows``: ``code`` is what the report counts, ``texts`` what the quarantine row says."""
    n = len(rows)
    if n == 0:
        return no_reasons()
    text = pd.array([texts] * n, dtype="string") if isinstance(texts, str) else texts.astype("string").array
    return pd.DataFrame(
        {
            "row": rows.to_numpy(dtype="int64"),
            "column": pd.array([column] * n, dtype="string"),
            "code": pd.array([code] * n, dtype="string"),
            "reason": text,
        }
    )


@cache
def no_reasons() -> pd.DataFrame:
    """The empty reason frame (shared: reason frames are never modified in place)."""
    return pd.DataFrame({c: pd.Series(dtype="int64" if c == "row" else "string") for c in REASON_COLUMNS})


def concat_reasons(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate reason frames (skipping empty ones, which pandas warns about)."""
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else no_reasons()


def quoted(values: pd.Series) -> pd.Series:
    return "'" + values.astype("string").str.slice(0, _SHOWN) + "'"


def to_text(s: pd.Series) -> pd.Series:
    """Any column as stripped ``string`` values; empty strings become null."""
    if pd.api.types.is_float_dtype(s.dtype):
        whole = s.dropna()
        if (np.isfinite(whole) & (whole == np.round(whole))).all():
            # Integer ids that went through float (a null in an integer column) print as "12", not "12.0".
            s = s.astype("Int64")
    text = s.astype("string").str.strip()
    return text.mask(text == "")


def _parse_time(name: str, s: pd.Series, aware_seen: dict[str, bool]) -> tuple[pd.Series, pd.DataFrame]:
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_convert("UTC").astype(TIME), no_reasons()
    if pd.api.types.is_datetime64_dtype(s.dtype):
        return s.dt.tz_localize("UTC").astype(TIME), no_reasons()
    text = s if isinstance(s.dtype, pd.StringDtype) and s.dtype.na_value is pd.NA else to_text(s)
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    bad = text.notna() & parsed.isna()
    found = [
        reasons(
            text.index[bad],
            name,
            f"{name}: unparseable time",
            f"{name}: unparseable time " + quoted(text[bad]),
        )
    ]
    ok = parsed.notna()
    aware = ok & text.str.slice(10).str.contains(_AWARE, regex=True).fillna(False).astype(bool)
    if aware.any():
        aware_seen[name] = True
    naive = ok & ~aware
    if aware_seen.get(name) and naive.any():
        # Naive times are read as UTC, but next to aware ones they are more likely local times that lost their
        # offset: refuse to guess.
        code = f"{name}: naive time in a column of time-zone-aware times"
        found.append(reasons(text.index[naive], name, code, code))
        parsed = parsed.mask(naive)
    return parsed.astype(TIME), concat_reasons(found)


def _parse_number(name: str, s: pd.Series) -> tuple[pd.Series, pd.Series, pd.DataFrame]:
    """Float values, plus the text form of the input (for reasons), plus reasons."""
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        values = s.astype("float64")
        shown = s.astype("string")
    else:
        shown = s if isinstance(s.dtype, pd.StringDtype) and s.dtype.na_value is pd.NA else to_text(s)
        number = pd.to_numeric(shown, errors="coerce").astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
        values = pd.Series(number, index=s.index)
    bad = shown.notna() & ~np.isfinite(values)
    found = reasons(s.index[bad], name, f"{name}: not a number", f"{name}: not a number " + quoted(shown[bad]))
    return values.mask(bad), shown, found


def _parse_count(name: str, s: pd.Series) -> tuple[pd.Series, pd.DataFrame]:
    values, shown, found = _parse_number(name, s)
    # Past 2**53 a float no longer holds every integer: such a "count" is not one.
    fraction = values.notna() & ((values != np.round(values)) | (values.abs() > 2**53))
    more = reasons(
        s.index[fraction],
        name,
        f"{name}: not a whole number",
        f"{name}: not a whole number " + quoted(shown[fraction]),
    )
    return values.mask(fraction).astype("Int64"), concat_reasons([found, more])


def parse_chunk(
    spec: TableSpec, raw: pd.DataFrame, values: Mapping[str, Mapping[str, str]], aware_seen: dict[str, bool]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Contract-typed frame (all contract columns, same index as ``raw``) and the reasons of values that failed.

    ``raw`` has contract column names and the source's values; ``values`` are the mapping's value renames;
    ``aware_seen`` carries, across the chunks of one table, which time columns have shown time-zone-aware values.
    """
    out: dict[str, pd.Series] = {}
    found: list[pd.DataFrame] = []
    for name in spec.columns:
        dtype = spec.schema.columns[name].dtype.type
        if name not in raw.columns:
            out[name] = pd.Series(None, index=raw.index, dtype=dtype)
            continue
        s = raw[name]
        kind = spec.kind(name)
        if kind == "text" or name in values:
            s = to_text(s)
            if name in values:
                s = s.replace(dict(values[name]))
        if kind == "time":
            out[name], r = _parse_time(name, s, aware_seen)
        elif kind == "number":
            out[name], _, r = _parse_number(name, s)
        elif kind == "count":
            out[name], r = _parse_count(name, s)
        else:
            out[name], r = s.astype("string"), no_reasons()
        found.append(r)
    return pd.DataFrame(out, index=raw.index), concat_reasons(found)
