"""What ``churn ingest`` prints: per table the source columns no contract column reads, the optional tables that
were absent, the tables that came with no rows, and every name, reason and error hint literally (brackets are not
markup)."""

from pathlib import Path

from typer.testing import CliRunner

from pipelines.cli.app import app
from tests.factories import valid_tables, write_source


def test_the_report_names_unused_columns_absent_and_empty_tables_literally(tmp_path: Path) -> None:
    tables = valid_tables()
    del tables["nps_responses"]
    tables["accounts"] = tables["accounts"].assign(**{"[notes]": "x", "Website": "w"})
    tables["email_events"] = tables["email_events"].iloc[:0]  # a header-only export
    src = write_source(tables, tmp_path / "src", fmt="csv")
    result = CliRunner().invoke(app, ["ingest", str(src), "--warehouse", str(tmp_path / "wh.duckdb")])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "[notes]" in out and "Website" in out
    assert "Optional tables not in the source (loaded with no rows): nps_responses, churn_events" in out
    assert "Tables found with no rows: email_events; check the export" in out
    for family in ("email", "sentiment"):  # switched off and said so, never zero-filled
        assert f"Family {family} all off" in out and "not filled with zeros" in out


def test_an_error_hint_keeps_its_bracketed_table_names(tmp_path: Path) -> None:
    src = write_source(valid_tables(), tmp_path / "src")
    mapping = tmp_path / "m.toml"
    mapping.write_text("[tables.usage_events.columns]\nts = 'happened_at'\n", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["ingest", str(src), "--mapping", str(mapping), "--warehouse", str(tmp_path / "wh.duckdb")]
    )
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert "has no column ts (mapped to 'happened_at')" in out
    assert '[tables.usage_events.columns] ts = "<your column name>"' in out
