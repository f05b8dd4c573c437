"""Stage two: the contract's checks on parsed rows (pandera, lazily), then keys and account references.

Every failing row gets its reasons; nothing is dropped without one. Pandera's ``failure_cases`` carry the row
index, which is the row's position in the source, so each failure maps back to the row it came from.
"""

from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa

from features.contract import TableSpec
from pipelines.ingest.parse import concat_reasons, quoted, reasons


@dataclass(frozen=True)
class ChunkResult:
    """``accepted``: contract rows that passed; ``rejected``: the source values of the rows that did not;
    ``reasons``: one line per (row, reason) with columns row, column, code, reason."""

    accepted: pd.DataFrame
    rejected: pd.DataFrame
    reasons: pd.DataFrame


def _schema_reasons(spec: TableSpec, parsed: pd.DataFrame) -> pd.DataFrame:
    try:
        spec.schema.validate(parsed, lazy=True)
    except pa.errors.SchemaErrors as e:
        cases = e.failure_cases
    else:
        return concat_reasons([])
    if cases["index"].isna().any():
        # Parsing already produced the contract dtypes, so a failure without a row is a bug, not bad data.
        raise RuntimeError(f"{spec.name}: contract check failed outside any row:\n{cases[cases['index'].isna()]}")
    is_row_rule = cases["schema_context"] == "DataFrameSchema"
    parts = []
    # A row rule reports every column of the failing row: keep one line per (row, rule).
    rules = cases[is_row_rule].drop_duplicates(["index", "check"])
    for check, group in rules.groupby("check", sort=False):
        parts.append(reasons(pd.Index(group["index"]), "", str(check), str(check)))
    columns = cases[~is_row_rule]
    for (column, check), group in columns.groupby(["column", "check"], sort=False):
        rows = pd.Index(group["index"])
        if check == "not_nullable":
            parts.append(reasons(rows, str(column), f"{column}: missing", f"{column}: missing"))
        else:
            code = f"{column}: {check}"
            # The parsed value, not pandera's failure_case: that column mixes dtypes and turns 0 into 0.0.
            shown = parsed.loc[rows, column].astype("string").str.slice(0, 60)
            parts.append(reasons(rows, str(column), code, f"{code} (got " + shown + ")"))
    return concat_reasons(parts)


def _key_reasons(spec: TableSpec, parsed: pd.DataFrame) -> pd.DataFrame:
    assert spec.key is not None
    duplicate = parsed.duplicated(keep="first")
    keys = parsed.loc[~duplicate, spec.key]
    conflicting = keys[keys.notna() & keys.duplicated(keep=False)]
    code = f"conflicting rows for key {spec.key}"
    return concat_reasons(
        [
            reasons(parsed.index[duplicate], "", "duplicate row", "duplicate row"),
            reasons(conflicting.index, spec.key, code, f"{code}=" + conflicting.astype("string")),
        ]
    )


def _account_reasons(parsed: pd.DataFrame, known_accounts: pd.Index) -> pd.DataFrame:
    ids = parsed["account_id"]
    unknown = ids[ids.notna() & ~ids.isin(known_accounts)]
    return reasons(unknown.index, "account_id", "unknown account_id", "unknown account_id " + quoted(unknown))


def check_chunk(
    spec: TableSpec,
    raw: pd.DataFrame,
    parsed: pd.DataFrame,
    parse_reasons: pd.DataFrame,
    known_accounts: pd.Index | None,
) -> ChunkResult:
    """Split one chunk into accepted rows and quarantined rows with their reasons.

    ``known_accounts``: the accepted account ids, or None for the accounts table itself. Keys are checked within
    the chunk, so a keyed table must come whole (keyed tables are never streamed).
    """
    schema_found = _schema_reasons(spec, parsed)
    if len(parse_reasons) and len(schema_found):
        # A value that failed to parse is null now; don't report it a second time as "missing" or out of range.
        parsed_cells = pd.MultiIndex.from_frame(parse_reasons[["row", "column"]])
        again = pd.MultiIndex.from_frame(schema_found[["row", "column"]]).isin(parsed_cells)
        schema_found = schema_found[~again]
    parts = [parse_reasons, schema_found]
    if spec.key is not None:
        parts.append(_key_reasons(spec, parsed))
    if known_accounts is not None and "account_id" in parsed.columns:
        parts.append(_account_reasons(parsed, known_accounts))
    found = concat_reasons(parts)
    bad = parsed.index.isin(found["row"].to_numpy())
    return ChunkResult(accepted=parsed[~bad], rejected=raw[bad], reasons=found)
