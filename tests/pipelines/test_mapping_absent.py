"""A mapping may declare an optional table absent: it is not looked for, its families are off and said to be; a
required table cannot be, and a declaration that contradicts itself is refused, naming the table and the fix."""

from pathlib import Path

import pytest

from pipelines.ingest import IngestError, ingest
from tests.factories import read_raw, valid_tables, write_source


def _mapping(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mapping.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_table_declared_absent_is_not_read_and_its_families_are_off(tmp_path: Path) -> None:
    src = write_source(valid_tables(), tmp_path / "src")  # email_events.parquet is there, and is not read
    mapping = _mapping(tmp_path, "[tables.email_events]\nabsent = true\n[tables.invoices]\nabsent = true\n")
    report = ingest(src, tmp_path / "wh.duckdb", mapping=mapping)
    assert report.declared_absent == ["email_events", "invoices"]
    assert report.tables["email_events"].input_rows == 0 and read_raw(tmp_path / "wh.duckdb", "email_events").empty
    assert set(report.families_off) == {"email", "payments"}
    assert report.tables["accounts"].accepted == len(valid_tables()["accounts"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[tables.subscriptions]\nabsent = true\n",
         r"\[tables.subscriptions\] declares subscriptions absent, but it is required: only accounts, "
         r"subscriptions are. Map it to your export"),
        ('[tables.invoices]\nabsent = true\nfile = "charges.csv"\n',
         r"\[tables.invoices\] declares the table absent and also sets file; keep one"),
        ('[tables.invoices]\nabsent = "yes"\n', r"\[tables.invoices\] absent must be true \(or left out\), got 'yes'"),
    ],
)  # fmt: skip
def test_a_bad_declaration_is_refused_naming_the_table_and_the_fix(tmp_path: Path, text: str, message: str) -> None:
    src = write_source(valid_tables(), tmp_path / "src")
    with pytest.raises(IngestError, match=message):
        ingest(src, tmp_path / "wh.duckdb", mapping=_mapping(tmp_path, text))
    assert not (tmp_path / "wh.duckdb").exists()  # refused before anything is written
