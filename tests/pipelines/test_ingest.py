"""Ingest end to end on the factory dataset: round trips, times, streaming, idempotence and atomicity."""

from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from features.contract import TABLES
from pipelines.ingest import IngestError, ingest
from tests.corpus import as_text, write_text
from tests.factories import read_raw, read_sql, sort_rows, valid_tables, write_source

QUARANTINE = "SELECT * FROM raw.quarantine ORDER BY ALL"


def raw_tables(warehouse: Path) -> dict[str, pd.DataFrame]:
    return {**{t: read_raw(warehouse, t) for t in TABLES}, "quarantine": read_sql(warehouse, QUARANTINE)}


def assert_same_tables(left: dict[str, pd.DataFrame], right: dict[str, pd.DataFrame]) -> None:
    assert left.keys() == right.keys()
    for name in left:
        pd.testing.assert_frame_equal(left[name], right[name], obj=name)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_valid_data_round_trips(fmt: str, tmp_path: Path) -> None:
    tables = valid_tables()
    report = ingest(write_source(tables, tmp_path / "src", fmt), tmp_path / "wh" / "warehouse.duckdb")

    for name, frame in tables.items():
        assert report.tables[name].input_rows == report.tables[name].accepted == len(frame)
        pd.testing.assert_frame_equal(read_raw(tmp_path / "wh" / "warehouse.duckdb", name), sort_rows(frame))
    assert (
        report.quarantined == 0 and report.ignored_columns == {} and report.absent_optional_tables == ["churn_events"]
    )


def test_warehouse_types_are_the_contracts(tmp_path: Path) -> None:
    ingest(write_source(valid_tables(), tmp_path / "src"), tmp_path / "wh.duckdb")
    types = read_sql(
        tmp_path / "wh.duckdb",
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'raw' AND table_name = 'subscriptions' ORDER BY ordinal_position",
    )
    assert dict(zip(types["column_name"], types["data_type"], strict=True)) == {
        "subscription_id": "VARCHAR",
        "account_id": "VARCHAR",
        "start_at": "TIMESTAMP WITH TIME ZONE",
        "mrr": "DOUBLE",
        "seats": "BIGINT",
        "end_at": "TIMESTAMP WITH TIME ZONE",
        "cancelled_at": "TIMESTAMP WITH TIME ZONE",
        "plan": "VARCHAR",
        "status": "VARCHAR",
    }


def test_absent_optional_tables_are_created_empty_and_extra_columns_ignored(tmp_path: Path) -> None:
    tables = valid_tables()
    del tables["nps_responses"], tables["contacts"], tables["email_events"]
    tables["accounts"] = tables["accounts"].drop(columns=["industry", "csm_owner"]).assign(website="x.example.com")
    report = ingest(write_source(tables, tmp_path / "src", "csv"), tmp_path / "wh.duckdb")

    assert report.absent_optional_tables == ["email_events", "nps_responses", "contacts", "churn_events"]
    assert report.families_off.keys() == {"email", "sentiment", "relationship"}  # never zero-filled
    assert all(why.startswith("all off") for why in report.families_off.values())
    assert report.ignored_columns == {"accounts": ["website"]}
    assert report.tables["contacts"].input_rows == 0
    assert read_raw(tmp_path / "wh.duckdb", "nps_responses").empty
    accounts = read_raw(tmp_path / "wh.duckdb", "accounts")
    assert accounts["industry"].isna().all() and accounts["csm_owner"].isna().all()
    assert list(accounts.columns) == list(TABLES["accounts"].columns)


def test_times_become_utc(tmp_path: Path) -> None:
    """Parquet naive -> UTC, Parquet aware -> converted; CSV naive -> UTC, CSV offsets -> converted."""
    tables = valid_tables()
    paris = pd.Series(pd.to_datetime(["2024-07-01 12:00"] * 4).tz_localize("Europe/Paris"))
    tables["nps_responses"] = tables["nps_responses"].assign(ts=paris)  # aware, not UTC
    tables["contacts"] = tables["contacts"].assign(created_at=tables["contacts"]["created_at"].dt.tz_localize(None))
    write_source(tables, tmp_path / "src")
    text = as_text({"support_tickets": tables["support_tickets"]})["support_tickets"]
    text["created_at"] = [
        "2024-01-06T10:00:00+02:00",
        "2024-01-21T06:00-05:00",
        "2024-01-31T00:00Z",
        "2024-03-01T00:00+0000",
    ]
    text["resolved_at"] = ["2024-01-07 09:00", None, "2024-01-31", "2024-03-15T12:30:00.5"]  # naive: read as UTC
    (tmp_path / "src" / "support_tickets.parquet").unlink()
    write_text({"support_tickets": text}, tmp_path / "src")

    report = ingest(tmp_path / "src", tmp_path / "wh.duckdb")

    assert report.quarantined == 0
    nps = read_raw(tmp_path / "wh.duckdb", "nps_responses")
    assert (nps["ts"] == pd.Timestamp("2024-07-01 10:00", tz="UTC")).all()
    contacts = read_raw(tmp_path / "wh.duckdb", "contacts")
    pd.testing.assert_series_equal(contacts["created_at"], sort_rows(valid_tables()["contacts"])["created_at"])
    tickets = read_raw(tmp_path / "wh.duckdb", "support_tickets")
    expected = {
        "created_at": ["2024-01-06 08:00", "2024-01-21 11:00", "2024-01-31 00:00", "2024-03-01 00:00"],
        "resolved_at": ["2024-01-07 09:00", None, "2024-01-31 00:00", "2024-03-15 12:30:00.5"],
    }
    for column, values in expected.items():
        want = pd.to_datetime(pd.Series(values, name=column), format="ISO8601").dt.tz_localize("UTC").dt.as_unit("us")
        pd.testing.assert_series_equal(tickets[column], want)


def test_event_tables_stream_in_chunks_with_the_same_result(tmp_path: Path) -> None:
    tables = as_text(valid_tables())
    extra = tables["usage_events"].iloc[[0, 1]].assign(account_id="A9")
    tables["usage_events"] = pd.concat([tables["usage_events"], extra], ignore_index=True)
    write_text(tables, tmp_path / "src")
    progress: list[tuple[str, int]] = []

    ingest(tmp_path / "src", tmp_path / "whole.duckdb")
    report = ingest(
        tmp_path / "src", tmp_path / "chunked.duckdb", chunk_rows=7, on_progress=lambda t, n: progress.append((t, n))
    )

    assert [n for t, n in progress if t == "usage_events"] == [*range(7, 62, 7), 62]
    assert ("accounts", 5) in progress
    assert report.tables["usage_events"].quarantined == 2
    assert_same_tables(raw_tables(tmp_path / "chunked.duckdb"), raw_tables(tmp_path / "whole.duckdb"))


def test_naive_times_after_aware_ones_in_an_earlier_chunk_are_quarantined(tmp_path: Path) -> None:
    tables = as_text(valid_tables())
    tables["email_events"].loc[15, "ts"] = "2024-05-01T10:00:00"  # naive, in the 4th chunk of 5 rows
    write_text(tables, tmp_path / "src")
    report = ingest(tmp_path / "src", tmp_path / "wh.duckdb", chunk_rows=5)
    assert report.reasons["email_events"] == {"ts: naive time in a column of time-zone-aware times": 1}


def test_rerun_gives_identical_tables_and_logs_both_runs(tmp_path: Path) -> None:
    tables = as_text(valid_tables())
    tables["nps_responses"].loc[0, "score"] = "12"
    write_text(tables, tmp_path / "src")
    first = ingest(tmp_path / "src", tmp_path / "wh.duckdb")
    before = raw_tables(tmp_path / "wh.duckdb")
    second = ingest(tmp_path / "src", tmp_path / "wh.duckdb")

    assert first.tables == second.tables
    assert_same_tables(raw_tables(tmp_path / "wh.duckdb"), before)
    runs = read_sql(tmp_path / "wh.duckdb", "SELECT run_at, count(*) AS n FROM raw.ingest_runs GROUP BY run_at")
    assert list(runs["n"]) == [len(TABLES), len(TABLES)]


def _corrupt_data_pages(path: Path) -> None:
    """Overwrite the first column's pages; the footer stays readable, so the damage shows only when reading."""
    column = pq.ParquetFile(path).metadata.row_group(0).column(0)
    start = column.dictionary_page_offset or column.data_page_offset
    data = bytearray(path.read_bytes())
    data[start : start + column.total_compressed_size] = b"\xff" * column.total_compressed_size
    path.write_bytes(bytes(data))


def test_failed_run_leaves_the_previous_warehouse_intact(tmp_path: Path) -> None:
    warehouse = tmp_path / "wh.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE SCHEMA features; CREATE TABLE features.snapshots AS SELECT 42 AS answer")
    ingest(write_source(valid_tables(), tmp_path / "good"), warehouse)
    before = raw_tables(warehouse)

    changed = valid_tables()
    changed["accounts"] = changed["accounts"].iloc[:3]  # would change accounts and quarantine rows if loaded
    write_source(changed, tmp_path / "bad")
    _corrupt_data_pages(tmp_path / "bad" / "contacts.parquet")  # the last table: everything else loaded first
    with pytest.raises(IngestError, match=r"contacts\.parquet for table contacts is not a readable Parquet file"):
        ingest(tmp_path / "bad", warehouse)

    assert_same_tables(raw_tables(warehouse), before)
    assert len(read_sql(warehouse, "SELECT * FROM raw.ingest_runs")) == len(TABLES)
    raw = read_sql(warehouse, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'")
    assert set(raw["table_name"]) == {*TABLES, "quarantine", "ingest_runs"}  # no staging tables left
    assert read_sql(warehouse, "SELECT answer FROM features.snapshots")["answer"].tolist() == [42]


def test_missing_source_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="does not exist; SOURCE must be a folder"):
        ingest(tmp_path / "nowhere", tmp_path / "wh.duckdb")
    assert not (tmp_path / "wh.duckdb").exists()


def test_staging_tables_left_by_a_killed_run_are_dropped(tmp_path: Path) -> None:
    warehouse = tmp_path / "wh.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE SCHEMA raw; CREATE TABLE raw._staging_accounts AS SELECT 'half-loaded' AS account_id")
    ingest(write_source(valid_tables(), tmp_path / "src"), warehouse)
    raw = read_sql(warehouse, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'")
    assert set(raw["table_name"]) == {*TABLES, "quarantine", "ingest_runs"}
