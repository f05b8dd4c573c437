"""PostgreSQL as the serving store, end to end against the local server (a scratch database per module, dropped
after): ``churn score --to postgresql://...`` publishes versions there, ``churn serve --workers 2`` reads them, and
every answer of both worker processes comes from one version, the newest once both have seen it; a version is
visible only whole (rows without their version row, an uncommitted version, a version row promising more rows
than it has: none is ever served)."""

import contextlib
import json
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from models.published import ROWS_TABLE, SCHEMA, VERSIONS_TABLE
from pipelines.publish import publish
from serving.app import create_app
from tests.ports import free_port
from tests.postgres import scratch_database
from tests.serving.conftest import ADMIN, KEYS, READ, Served, body, settings_for
from tests.serving.processes import cli, serving
from tests.serving.test_published_scores import served_version, versions_seen, wait_for, warehouse_table

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """The URL of a scratch database, dropped afterwards."""
    with scratch_database("churn_store") as url:
        yield url


@pytest.fixture
def url(database: str) -> Iterator[str]:
    """The scratch database, emptied of published scores before each test."""
    with psycopg.connect(database, autocommit=True) as c:
        c.execute(f"DROP TABLE IF EXISTS {VERSIONS_TABLE}, {ROWS_TABLE}, churn_scores")
    yield database


def versions(url: str) -> list[tuple[str, int, int]]:
    """(version, rows its version row promises, rows it has), oldest first."""
    with psycopg.connect(url) as c:
        return c.execute(
            f'SELECT v.version, v."rows", count(r.account_id) FROM {VERSIONS_TABLE} v LEFT JOIN {ROWS_TABLE} r '
            'USING (version) GROUP BY v.version, v."rows", v.published_at ORDER BY v.published_at, v.version'
        ).fetchall()


def workers(served: Served, url: str, tmp_path: Path) -> contextlib.AbstractContextManager[str]:
    """``churn serve --workers 2`` reading the scratch database, checking it every 0.2 s; its base URL."""
    return serving(tmp_path, free_port(), CHURN_SCORES=url, CHURN_TRACKING_URI=served.tracking_uri,
                   CHURN_API_KEYS=json.dumps(KEYS), CHURN_RELOAD_INTERVAL="0.2")  # fmt: skip


def answers(base: str, account: str, n: int) -> list[tuple[str, datetime]]:
    """(scores version of /v1/models, scored_at of the account's score) over ``n`` new connections each, so that
    both worker processes answer."""
    out = []
    for _ in range(n):
        with httpx.Client(base_url=base, headers=READ, timeout=30) as h:
            model_info = body(h.get("/v1/models"))
        with httpx.Client(base_url=base, headers=READ, timeout=30) as h:
            one = body(h.get(f"/v1/accounts/{account}/score"))
        out.append((model_info["scores_version"], datetime.fromisoformat(one["scored_at"])))
    return out


def scored_at(url: str, account: str) -> datetime:
    """The account's latest scored_at in ``churn_scores``."""
    with psycopg.connect(url) as c:
        (at,) = c.execute("SELECT scored_at FROM churn_scores WHERE account_id = %s ORDER BY as_of DESC LIMIT 1",
                          [account]).fetchone()  # type: ignore[misc]  # fmt: skip
    return at  # type: ignore[no-any-return]


@pytest.mark.slow
def test_churn_score_to_postgresql_and_two_workers_serve_one_version(served: Served, url: str, tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(served.warehouse, warehouse)
    run = cli(["score", "--warehouse", str(warehouse), "--to", url, "--dates", "2"], tmp_path,
              CHURN_TRACKING_URI=served.tracking_uri)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    ((first, promised, held),) = versions(url)
    assert promised == held > 0 and f"Published version {first}" in run.stdout
    account = warehouse_table(warehouse).column("account_id")[0].as_py()

    with workers(served, url, tmp_path) as base:
        assert set(answers(base, account, 20)) == {(first, scored_at(url, account))}
        again = cli(["score", "--warehouse", str(warehouse), "--to", url], tmp_path,
                    CHURN_TRACKING_URI=served.tracking_uri)  # fmt: skip
        assert again.returncode == 0, again.stderr[-3000:]
        second = versions(url)[-1][0]
        assert second != first
        expected = (second, scored_at(url, account))
        wait_for(lambda: set(answers(base, account, 10)) == {expected}, "both workers serving the new version")
        assert set(answers(base, account, 40)) == {expected}
    assert [(p == h) for _, p, h in versions(url)] == [True, True]


def test_a_version_is_served_only_whole(served: Served, url: str) -> None:
    table = warehouse_table(served.warehouse)
    first = publish(table, url)
    columns = ", ".join(SCHEMA.names)
    with TestClient(create_app(settings_for(served, scores=url, reload_interval=0.02))) as c:
        assert served_version(c) == first.version
        half = psycopg.connect(url)  # a run still writing: its transaction is open
        with versions_seen(c) as seen, contextlib.closing(half):
            with psycopg.connect(url, autocommit=True) as c2:
                # Rows without their version row (as from a run that wrote no version row: never done by `churn
                # score`, which writes both in one transaction).
                c2.execute(f"INSERT INTO {ROWS_TABLE} (version, {columns}) SELECT 'v20990101T000000000000Z-0badc0de',"
                           f" {columns} FROM {ROWS_TABLE} WHERE version = %s", [first.version])  # fmt: skip
            late = "v20990101T000000000000Z-00c0ffee"
            half.execute(f'INSERT INTO {VERSIONS_TABLE} (version, published_at, as_of, "rows") '
                         "VALUES (%s, now() + interval '1 day', now(), %s)", [late, table.num_rows])  # fmt: skip
            half.execute(f"INSERT INTO {ROWS_TABLE} (version, {columns}) SELECT %s, {columns} FROM {ROWS_TABLE} "
                         "WHERE version = %s LIMIT %s", [late, first.version, table.num_rows // 2])  # fmt: skip
            second = publish(table, url)  # after the plants: the watch has looked past them
            wait_for(lambda: served_version(c) == second.version, "the properly published version served")
            # Committed, the planted version is the newest but holds half the rows its version row promises.
            half.commit()
            wait_for(
                lambda: body(c.get("/readyz", headers=ADMIN))["last_reload_error"] is not None,
                "the half version refused",
            )
            assert "rows" in body(c.get("/readyz", headers=ADMIN))["last_reload_error"]
            assert served_version(c) == second.version
        assert seen == {first.version, second.version}


def test_old_versions_are_pruned_whole(served: Served, url: str) -> None:
    table = warehouse_table(served.warehouse)
    made = [publish(table, url, keep=2).version for _ in range(4)]
    assert versions(url) == [(v, table.num_rows, table.num_rows) for v in made[-2:]]
    with psycopg.connect(url) as c:
        assert c.execute(f"SELECT count(DISTINCT version) FROM {ROWS_TABLE}").fetchone() == (2,)
