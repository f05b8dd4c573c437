"""The broken-input corpus: every defect has its exact outcome, and nothing is dropped without a reason."""

import json
from pathlib import Path

import pandas as pd
import pytest

from pipelines.ingest import IngestError, ingest
from tests.corpus import CASES, Case
from tests.factories import read_sql

ROW_CASES = [c for c in CASES if c.table is not None]
RUN_CASES = [c for c in CASES if c.error]


@pytest.mark.parametrize("case", ROW_CASES, ids=lambda c: c.name)
def test_row_case_quarantines_exactly_the_broken_rows(case: Case, tmp_path: Path) -> None:
    assert case.table is not None
    case.build(tmp_path / "src")
    report = ingest(tmp_path / "src", tmp_path / "wh.duckdb")

    for table, counts in report.tables.items():
        assert counts.input_rows == counts.accepted + counts.quarantined
        expected = len(case.quarantined) if table == case.table else 0
        assert counts.quarantined == expected, table
    quarantine = read_sql(tmp_path / "wh.duckdb", "SELECT * FROM raw.quarantine ORDER BY source_row")
    assert set(quarantine["table_name"]) == {case.table}
    assert dict(zip(quarantine["source_row"], quarantine["reasons"], strict=True)) == case.quarantined
    # The quarantined rows keep the values exactly as the source had them.
    source = pd.read_csv(tmp_path / "src" / f"{case.table}.csv", dtype="string", keep_default_na=False)
    for row, row_json in zip(quarantine["source_row"], quarantine["row_json"], strict=True):
        original = {c: (v if v != "" else None) for c, v in source.iloc[row - 1].items()}
        assert json.loads(row_json) == original
    n_accepted = read_sql(tmp_path / "wh.duckdb", f"SELECT count(*) AS n FROM raw.{case.table}")["n"].iloc[0]
    assert n_accepted == report.tables[case.table].accepted


def test_reason_counts_are_per_kind_not_per_value(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.name == "rows for an unknown account")
    case.build(tmp_path / "src")
    report = ingest(tmp_path / "src", tmp_path / "wh.duckdb")
    assert report.reasons["usage_events"] == {"unknown account_id": 2}


@pytest.mark.parametrize("case", RUN_CASES, ids=lambda c: c.name)
def test_run_case_fails_naming_the_problem(case: Case, tmp_path: Path) -> None:
    case.build(tmp_path / "src")
    with pytest.raises(IngestError) as raised:
        ingest(tmp_path / "src", tmp_path / "wh.duckdb")
    message = str(raised.value)
    for fragment in case.error:
        assert fragment.lower() in message.lower(), message
    if (tmp_path / "wh.duckdb").exists():
        tables = read_sql(tmp_path / "wh.duckdb", "SELECT table_name FROM information_schema.tables")
        assert tables.empty
