"""The mapping file: the example ingests to the same tables as its contract-form twin; bad mappings are named."""

import json
from pathlib import Path

import pytest

from features.contract import TABLES
from pipelines.ingest import IngestError, ingest, load_mapping
from tests.factories import read_raw, read_sql

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "crm_export"
EXAMPLE_MAPPING = ROOT / "examples" / "mapping.toml"
CONTRACT_FORM = ROOT / "tests" / "data" / "crm_contract"
QUARANTINE = "SELECT table_name, source_row, reasons FROM raw.quarantine ORDER BY ALL"


def test_example_equals_the_same_data_in_contract_form(tmp_path: Path) -> None:
    mapped = ingest(EXAMPLE, tmp_path / "mapped.duckdb", mapping=EXAMPLE_MAPPING)
    plain = ingest(CONTRACT_FORM, tmp_path / "plain.duckdb")

    assert mapped.tables == plain.tables
    assert (
        mapped.reasons
        == plain.reasons
        == {**{t: {} for t in TABLES}, "nps_responses": {"score: must be between 0 and 10": 1}}
    )
    for table in TABLES:
        assert read_raw(tmp_path / "mapped.duckdb", table).empty == (table == "churn_events")  # not in the export
        assert read_raw(tmp_path / "mapped.duckdb", table).equals(read_raw(tmp_path / "plain.duckdb", table)), table
    assert read_sql(tmp_path / "mapped.duckdb", QUARANTINE).equals(read_sql(tmp_path / "plain.duckdb", QUARANTINE))
    assert mapped.ignored_columns == {"accounts": ["Website"]}


def test_example_keeps_the_users_values_in_quarantine_and_ids_as_text(tmp_path: Path) -> None:
    ingest(EXAMPLE, tmp_path / "wh.duckdb", mapping=EXAMPLE_MAPPING)
    row = read_sql(tmp_path / "wh.duckdb", "SELECT * FROM raw.quarantine")
    assert json.loads(row["row_json"].iloc[0]) == {"account_id": "0013", "ts": "2024-07-15 13:00:00", "score": "11"}
    accounts = read_raw(tmp_path / "wh.duckdb", "accounts")
    assert list(accounts["account_id"]) == ["0011", "0012", "0013", "0014"]  # leading zeros kept
    assert list(accounts["segment"]) == ["enterprise", "mid_market", "smb", "smb"]


def _mapping(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mapping.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("[tables.acounts]\nfile = 'a.csv'\n", ("unknown table [tables.acounts]", "accounts, subscriptions")),
        ("[tables.accounts.columns]\naccount = 'Id'\n", ("unknown column 'account'", "account_id, created_at")),
        ("[tables.accounts.values.segmnt]\nA = 'smb'\n", ("unknown column 'segmnt'",)),
        ("[tables.accounts.columns]\naccount_id = 7\n", ("[tables.accounts].columns account_id", "quote it")),
        ("[tables.accounts]\nfile = 'a.csv'\ntable = 'a'\n", ("sets both file and table",)),
        ("[tables.accounts]\nsheet = 'a'\n", ("unknown key(s) sheet",)),
        ("[tables.accounts]\nencoding = 'klingon'\n", ("encoding 'klingon'",)),
        ("[source]\nschema = 'crm'\nhost = 'x'\n", ("[source] has unknown key(s) host",)),
        ("[tables.accounts\n", ("is not valid TOML",)),
    ],
)
def test_bad_mapping_is_named(tmp_path: Path, text: str, fragments: tuple[str, ...]) -> None:
    path = _mapping(tmp_path, text)
    with pytest.raises(IngestError) as raised:
        load_mapping(path)
    for fragment in (str(path), *fragments):
        assert fragment in str(raised.value)


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (
            "[tables.accounts]\nfile = 'AccountsExport.csv'\n[tables.accounts.columns]\naccount_id = 'AcctId'\n",
            ("table accounts", "AccountsExport.csv", "account_id (mapped to 'AcctId')", "columns found: AccountId"),
        ),
        ("[tables.accounts]\nfile = 'Accounts.csv'\n", ("Accounts.csv", "does not exist", "AccountsExport.csv")),
        ("[tables.accounts]\ntable = 'dim_account'\n", ("table = 'dim_account'", "is a folder")),
    ],
)
def test_mapping_that_does_not_fit_the_source_is_named(tmp_path: Path, text: str, fragments: tuple[str, ...]) -> None:
    # accounts is checked first, so the other tables (which this mapping leaves out) never get their turn.
    with pytest.raises(IngestError) as raised:
        ingest(EXAMPLE, tmp_path / "wh.duckdb", mapping=_mapping(tmp_path, text))
    for fragment in fragments:
        assert fragment in str(raised.value)
