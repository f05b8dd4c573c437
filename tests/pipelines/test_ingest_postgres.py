"""Ingest from a real PostgreSQL server equals ingest of the same data from Parquet files."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from features.contract import TABLES
from pipelines.ingest import IngestError, ingest
from tests.factories import read_raw, read_sql, valid_tables, write_source

URL = "postgresql://postgres@127.0.0.1:5432/test"
QUARANTINE = "SELECT table_name, source_row, reasons FROM raw.quarantine ORDER BY ALL"

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh schema of its own, dropped afterwards whatever happens."""
    engine = sa.create_engine(URL.replace("postgresql://", "postgresql+psycopg://"))
    schema = f"ingest_test_{uuid.uuid4().hex[:12]}"
    try:
        with engine.begin() as con:
            con.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        yield schema
    finally:
        with engine.begin() as con:
            con.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def write_pg(tables: dict[str, pd.DataFrame], schema: str, names: dict[str, str] | None = None) -> None:
    """Times go in as timestamptz (pandas writes time-zone-aware columns that way)."""
    engine = sa.create_engine(URL.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.begin() as con:
            for name, frame in tables.items():
                frame.to_sql((names or {}).get(name, name), con, schema=schema, index=False)
    finally:
        engine.dispose()


def broken_tables() -> dict[str, pd.DataFrame]:
    """Valid tables plus a few rows to quarantine, so that the quarantines are compared too."""
    tables = valid_tables()
    extra = tables["usage_events"].iloc[:3].assign(account_id="A9")
    tables["usage_events"] = pd.concat([tables["usage_events"], extra], ignore_index=True)
    tables["nps_responses"] = tables["nps_responses"].assign(score=pd.array([9, 11, 0, 10], dtype="Int64"))
    return tables


def assert_same_warehouse(left: Path, right: Path) -> None:
    for table in TABLES:
        pd.testing.assert_frame_equal(read_raw(left, table), read_raw(right, table), obj=table)
    pd.testing.assert_frame_equal(read_sql(left, QUARANTINE), read_sql(right, QUARANTINE))


def test_postgres_equals_parquet(pg_schema: str, tmp_path: Path) -> None:
    tables = broken_tables()
    write_pg(tables, pg_schema)
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(f'[source]\nschema = "{pg_schema}"\n', encoding="utf-8")

    from_pg = ingest(URL, tmp_path / "pg.duckdb", mapping=mapping, chunk_rows=25)
    from_files = ingest(write_source(tables, tmp_path / "src"), tmp_path / "files.duckdb")

    assert from_pg.tables == from_files.tables
    assert from_pg.tables["usage_events"].quarantined == 3 and from_pg.tables["nps_responses"].quarantined == 1
    assert_same_warehouse(tmp_path / "pg.duckdb", tmp_path / "files.duckdb")


def test_schema_from_the_urls_search_path_and_table_names_from_the_mapping(pg_schema: str, tmp_path: Path) -> None:
    tables = valid_tables()
    write_pg(tables, pg_schema, names={"accounts": "dim_account"})
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('[tables.accounts]\ntable = "dim_account"\n', encoding="utf-8")

    ingest(f"{URL}?options=-csearch_path%3D{pg_schema}", tmp_path / "pg.duckdb", mapping=mapping)
    ingest(write_source(tables, tmp_path / "src"), tmp_path / "files.duckdb")

    assert_same_warehouse(tmp_path / "pg.duckdb", tmp_path / "files.duckdb")


def test_missing_table_in_the_schema_is_named(pg_schema: str, tmp_path: Path) -> None:
    tables = valid_tables()
    del tables["subscriptions"]
    write_pg(tables, pg_schema)
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(f'[source]\nschema = "{pg_schema}"\n', encoding="utf-8")
    with pytest.raises(IngestError, match=f"required table subscriptions is missing from {URL}.*schema '{pg_schema}'"):
        ingest(URL, tmp_path / "pg.duckdb", mapping=mapping)


def test_unreachable_database_is_named_without_its_password(tmp_path: Path) -> None:
    with pytest.raises(IngestError) as raised:
        ingest("postgresql://postgres:s3cret@127.0.0.1:1/test", tmp_path / "wh.duckdb")
    message = str(raised.value)
    assert "postgresql://postgres:***@127.0.0.1:1/test" in message
    assert "s3cret" not in message and "check that the server is running" in message
    assert not (tmp_path / "wh.duckdb").exists()
