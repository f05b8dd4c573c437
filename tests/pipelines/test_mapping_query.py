"""Tables a mapping defines by a query: usage keyed by subscription (as product-analytics exports key it) joined to
its account, from a folder and from a real PostgreSQL server, ingests to the same warehouse as the contract-form
export of the same rows; a query that fails names the table, the views and the fix."""

from pathlib import Path

import pandas as pd
import pytest

from features.contract import TABLES
from pipelines.ingest import IngestError, ingest, load_mapping
from tests.factories import read_raw, valid_tables, write_source
from tests.pipelines.test_ingest_postgres import URL, pg_schema, write_pg  # noqa: F401  (pg_schema: a fixture)

QUERY = """
    SELECT s.account_id, u.user_id, u.happened_at, u.event_type
    FROM feature_usage u JOIN (SELECT DISTINCT subscription_id, account_id FROM {subscriptions}) s
      USING (subscription_id)
"""


def keyed_by_subscription(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The same tables with usage keyed by one subscription of each account, its time column renamed, and no
    usage_events table."""
    subs = tables["subscriptions"].drop_duplicates("account_id")[["account_id", "subscription_id"]]
    usage = tables["usage_events"].merge(subs, on="account_id", how="inner")
    assert len(usage) == len(tables["usage_events"]), "every account with usage has a subscription"
    feature_usage = usage.drop(columns="account_id").rename(columns={"ts": "happened_at"})
    return {**{t: f for t, f in tables.items() if t != "usage_events"}, "feature_usage": feature_usage}


def _mapping(tmp_path: Path, query: str, schema: str | None = None) -> Path:
    path = tmp_path / "mapping.toml"
    source = f'[source]\nschema = "{schema}"\n\n' if schema else ""
    table = f"[tables.usage_events]\nquery = '''{query}'''\n\n"
    path.write_text(f'{source}{table}[tables.usage_events.columns]\nts = "happened_at"\n', encoding="utf-8")
    return path


def test_a_query_over_the_folders_files_defines_a_table(tmp_path: Path) -> None:
    tables = valid_tables()
    plain = ingest(write_source(tables, tmp_path / "plain"), tmp_path / "plain.duckdb")
    src = write_source(keyed_by_subscription(tables), tmp_path / "export")
    mapped = ingest(
        src, tmp_path / "mapped.duckdb", mapping=_mapping(tmp_path, QUERY.format(subscriptions="subscriptions"))
    )
    assert mapped.tables == plain.tables
    assert mapped.tables["usage_events"].accepted == len(tables["usage_events"]) > 0
    for table in TABLES:
        pd.testing.assert_frame_equal(
            read_raw(tmp_path / "mapped.duckdb", table), read_raw(tmp_path / "plain.duckdb", table), obj=table
        )


def test_a_query_that_fails_names_the_table_the_views_and_the_fix(tmp_path: Path) -> None:
    src = write_source(keyed_by_subscription(valid_tables()), tmp_path / "export")
    mapping = _mapping(tmp_path, QUERY.format(subscriptions="subscription_rows"))
    with pytest.raises(IngestError) as e:
        ingest(src, tmp_path / "wh.duckdb", mapping=mapping)
    message = str(e.value)
    assert "the query of table usage_events" in message and "subscription_rows" in message
    assert "views named: accounts, contacts, email_events, feature_usage" in message
    assert "fix the query (DuckDB SQL) under [tables.usage_events] query" in message


def test_a_query_beside_a_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text("[tables.usage_events]\nfile = 'u.csv'\nquery = 'SELECT 1'\n", encoding="utf-8")
    with pytest.raises(IngestError, match=r"\[tables.usage_events\] sets both file and query; set one"):
        load_mapping(path)


@pytest.mark.postgres
def test_a_query_runs_in_the_database(pg_schema: str, tmp_path: Path) -> None:  # noqa: F811
    tables = valid_tables()
    write_pg(keyed_by_subscription(tables), pg_schema)
    query = QUERY.replace("feature_usage", f'"{pg_schema}".feature_usage').format(
        subscriptions=f'"{pg_schema}".subscriptions'
    )
    from_pg = ingest(URL, tmp_path / "pg.duckdb", mapping=_mapping(tmp_path, query, pg_schema), chunk_rows=25)
    plain = ingest(write_source(tables, tmp_path / "plain"), tmp_path / "plain.duckdb")
    assert from_pg.tables == plain.tables
    pd.testing.assert_frame_equal(
        read_raw(tmp_path / "pg.duckdb", "usage_events"), read_raw(tmp_path / "plain.duckdb", "usage_events")
    )
