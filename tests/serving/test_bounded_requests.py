"""Requests are refused before they are read: the key of a /v1 route before its body, a body over the limit before
it is parsed (from its Content-Length, or while it streams in), long ids without an echo; every error, the
framework's own 404, 405 and 400 included, in the JSON shape ``{"error": ...}``; live rows are strict (dates are
dates, money is not negative, numbers are not booleans, categories are strings), the error naming row and field."""

from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.guard import Guard
from serving.settings import ServingSettings
from tests.serving.conftest import READ, READ_KEY, body

LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def bare() -> Iterator[TestClient]:
    """The app with nothing to load (no registry, no warehouse): the guard and the error shapes need no models."""
    settings = ServingSettings(env="development", api_keys={READ_KEY: "read"}, reload_interval=0,
                               warehouse="/nonexistent/warehouse.duckdb", tracking_uri="sqlite:////nonexistent/m.db",
                               max_body_bytes=LIMIT)  # fmt: skip
    with TestClient(create_app(settings)) as c:
        yield c


def test_the_key_is_checked_before_the_body_is_parsed(bare: TestClient) -> None:
    got = bare.post("/v1/scores", content=b"{", headers={"content-type": "application/json"})
    assert got.status_code == 401 and "missing API key" in body(got)["error"]  # not 422: the body was not parsed
    got = bare.post("/v1/scores", content=b"{", headers={"Authorization": "Bearer not-a-key"})
    assert got.status_code == 401 and body(got)["error"] == "unknown API key"
    assert got.headers["www-authenticate"] == "Bearer"


class Pulled:
    """A streamed body of ``chunks`` chunks of 16 KiB, counting how many the server pulled."""

    def __init__(self, chunks: int) -> None:
        self.chunks, self.pulled = chunks, 0

    def __iter__(self) -> Iterator[bytes]:
        for _ in range(self.chunks):
            self.pulled += 1
            yield b"x" * 16384


def test_a_body_over_the_limit_is_refused_unread(bare: TestClient) -> None:
    big = b"[" + b"1," * LIMIT + b"1]"
    got = bare.post("/v1/scores", content=big)  # no key: 401 first, whatever the size
    assert got.status_code == 401
    got = bare.post("/v1/scores", content=big, headers=READ)
    assert got.status_code == 413 and "CHURN_MAX_BODY_BYTES" in body(got)["error"]
    stream = Pulled(chunks=64)  # 1 MiB, chunked (no Content-Length): refused once past 64 KiB
    got = bare.post("/v1/scores", content=iter(stream), headers=READ)
    assert got.status_code == 413 and "CHURN_MAX_BODY_BYTES" in body(got)["error"]


def test_a_streamed_body_stops_being_read_at_the_limit() -> None:
    """The guard itself, fed message by message: past the limit it stops pulling the body (5 of 64 chunks)."""
    sent: list[dict[str, Any]] = []
    pulled, chunks = 0, 64

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"x" * 16384, "more_body": pulled < chunks}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "path": "/v1/scores", "headers": [(b"x-api-key", READ_KEY.encode())]}
    with pytest.raises(HTTPException) as e:
        anyio.run(Guard(app, {READ_KEY: "read"}, LIMIT), scope, receive, send)
    assert e.value.status_code == 413 and pulled == LIMIT // 16384 + 1 < chunks


def test_the_frameworks_own_errors_are_in_the_json_shape(bare: TestClient) -> None:
    got = bare.get("/no/such/path")
    assert got.status_code == 404 and "/docs" in body(got)["error"]
    got = bare.put("/healthz")
    assert got.status_code == 405 and body(got)["error"].startswith("PUT is not allowed")
    got = bare.post("/v1/scores", content=b"\xff\xfe{", headers={**READ, "content-type": "application/json"})
    assert got.status_code in (400, 422) and isinstance(body(got)["error"], str)
    deep = b"[" * 5000 + b"]" * 5000
    got = bare.post("/v1/scores", content=deep, headers={**READ, "content-type": "application/json"})
    assert got.status_code in (400, 422) and isinstance(body(got)["error"], str)


def test_an_id_longer_than_the_bound_is_refused_and_not_echoed(client: TestClient) -> None:
    long_id = "A" * 5000
    for got in (client.get(f"/v1/accounts/{long_id}/score", headers=READ),
                client.get(f"/v1/accounts/{long_id}", headers=READ),
                client.post("/v1/scores", json={"account_ids": [long_id]}, headers=READ)):  # fmt: skip
        assert got.status_code == 422, got.text[:300]
        assert long_id not in got.text and len(got.content) < 2000


def _live(client: TestClient, row: dict[str, Any]) -> Any:
    return client.post("/v1/scores/live", json={"rows": [row]}, headers=READ)


def test_live_rows_are_strict_and_the_error_names_the_row_and_field(client: TestClient) -> None:
    numeric, category, money = "events_30d", "plan", "mrr"
    fine = _live(client, {"account_id": "X1", "as_of": "2025-06-01", "arr": 1200.0, numeric: 5, category: "pro"})
    assert fine.status_code == 200, fine.text
    cases = {
        "as_of": {"as_of": "not-a-date"},
        "arr": {"arr": -1.0},
        money: {money: -50.0},
        numeric: {numeric: True},
        category: {category: 3.0},
    }
    for field, row in cases.items():
        got = _live(client, {"account_id": "X1", **row})
        assert got.status_code == 422, (field, got.text)
        fields = [d["field"] for d in body(got)["detail"]]
        assert any(f.endswith(f"rows.0.{field}") or f"rows.0.{field}." in f for f in fields), (field, fields)
