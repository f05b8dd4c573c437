"""Requests are refused before they are read: the key of a /v1 route before its body, a body over the limit before
it is parsed (from its Content-Length, or while it streams in), long ids without an echo; every error, the
framework's own 400, 404 and 405 included, in the JSON shape ``{"error": ...}``; and the OpenAPI document says so
(which statuses each route answers, /metrics as text, the probes' bodies)."""

import json
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import Message

from serving.app import create_app
from tests.serving.conftest import READ, READ_KEY, body, nothing_to_load

MiB = 1 << 20
CHUNK = 16 * 1024
LONG_ID = "A" * 300


@pytest.fixture(scope="module")
def bare_app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """The app with nothing to load and the default body limit, 1 MiB."""
    settings = nothing_to_load(tmp_path_factory.mktemp("state"))
    assert settings.max_body_bytes == MiB
    return create_app(settings)


@pytest.fixture(scope="module")
def bare(bare_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(bare_app) as c:
        yield c


def call(app: FastAPI, headers: dict[str, str], size: int, length: bool) -> tuple[int, dict[str, Any], int, int]:
    """POST ``size`` bytes to /v1/scores through the whole app as a server would hand them over: in chunks of
    16 KiB, pulled one by one by the app. (TestClient reads a body whole before the app sees it.) With ``length``
    the Content-Length header is sent, else the body is chunked. Answers the status, the JSON body, and how many
    chunks the app pulled of how many."""
    chunks = -(-size // CHUNK)
    pulled, sent = 0, list[Message]()
    heads = [(k.lower().encode(), v.encode()) for k, v in headers.items()] + [(b"content-type", b"application/json")]
    if length:
        heads.append((b"content-length", str(size).encode()))
    scope: Any = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/v1/scores", "raw_path": b"/v1/scores", "root_path": "", "query_string": b"", "headers": heads,
             "client": ("127.0.0.1", 5000), "server": ("testserver", 80), "state": {}}  # fmt: skip

    async def receive() -> Message:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"[" * CHUNK, "more_body": pulled < chunks}

    async def send(message: Message) -> None:
        sent.append(message)

    anyio.run(app, scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    answer = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(answer), pulled, chunks


def test_the_key_is_checked_before_the_body_is_parsed(bare: TestClient) -> None:
    got = bare.post("/v1/scores", content=b"{", headers={"content-type": "application/json"})
    assert got.status_code == 401 and "missing API key" in body(got)["error"]  # not 422: the body was not parsed
    got = bare.post("/v1/scores", content=b"{", headers={"Authorization": "Bearer not-a-key"})
    assert got.status_code == 401 and body(got)["error"] == "unknown API key"
    assert got.headers["www-authenticate"] == "Bearer"


def test_a_2_mb_body_is_refused_before_it_is_read(bare_app: FastAPI) -> None:
    for length in (True, False):  # with a Content-Length, and chunked
        status, answer, pulled, _ = call(bare_app, {}, 2 * MiB, length)  # no key: 401, whatever the size
        assert (status, pulled) == (401, 0) and "missing API key" in answer["error"]
    status, answer, pulled, _ = call(bare_app, {"X-API-Key": READ_KEY}, 2 * MiB, length=True)
    assert (status, pulled) == (413, 0) and "CHURN_MAX_BODY_BYTES" in answer["error"]  # refused from the header
    status, answer, pulled, chunks = call(bare_app, {"X-API-Key": READ_KEY}, 2 * MiB, length=False)
    assert status == 413 and "CHURN_MAX_BODY_BYTES" in answer["error"]
    assert pulled == MiB // CHUNK + 1 and chunks == 128  # stopped at the first chunk past 1 MiB, of 128
    status, answer, pulled, chunks = call(bare_app, {"X-API-Key": READ_KEY}, MiB // 2, length=False)
    assert status == 400 and pulled == chunks  # under the limit: read whole (and refused as not JSON)


def test_the_frameworks_own_errors_are_in_the_json_shape(bare: TestClient) -> None:
    got = bare.get("/no/such/path")
    assert got.status_code == 404 and body(got) == {
        "error": "no route at /no/such/path: the API's routes are listed at /docs"
    }
    got = bare.put("/healthz")
    assert got.status_code == 405 and body(got)["error"].startswith("PUT is not allowed at /healthz")
    assert got.headers["allow"] == "GET"
    json_headers = {**READ, "content-type": "application/json"}
    for raw in (b"\xff", b"[" * 10_000 + b"]" * 10_000):  # not UTF-8; nested 10,000 deep
        got = bare.post("/v1/scores", content=raw, headers=json_headers)
        assert got.status_code == 400 and set(body(got)) == {"error"}
        assert "send UTF-8 JSON" in body(got)["error"]
    got = bare.post("/v1/scores", content=b"{}", headers={**json_headers, "content-length": "lots"})
    assert got.status_code == 400 and body(got) == {"error": "Content-Length is not a number"}
    got = bare.get("/v1/models", headers=READ)  # models failed to load: said, without the error's files and URIs
    assert got.status_code == 503 and "nonexistent" not in got.text and "/readyz" in body(got)["error"]


def test_an_id_longer_than_the_bound_is_refused_and_not_echoed(bare: TestClient) -> None:
    for got in (bare.get(f"/v1/accounts/{LONG_ID}/score", headers=READ),
                bare.get(f"/v1/accounts/{LONG_ID}", headers=READ),
                bare.post("/v1/scores", json={"account_ids": ["A1", LONG_ID]}, headers=READ)):  # fmt: skip
        assert got.status_code == 422, got.text[:300]
        fields = [d["field"] for d in body(got)["detail"]]
        assert fields in (["path.account_id"], ["body.account_ids.1"]), fields
        assert LONG_ID not in got.text and len(got.content) < 1000


def test_the_document_says_what_each_route_answers(bare: TestClient) -> None:
    doc = body(bare.get("/openapi.json"))
    paths = doc["paths"]
    metrics = paths["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]
    assert bare.get("/metrics").headers["content-type"].startswith("text/plain")
    assert paths["/healthz"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/Health"
    )
    ready = paths["/readyz"]["get"]["responses"]
    assert sorted(ready) == ["200", "503"] and all(r["content"]["application/json"]["schema"]["$ref"].endswith(
        "/Readiness") for r in ready.values())  # fmt: skip
    expected = {  # by hand: where each error can happen
        ("get", "/v1/accounts/{account_id}/score"): {"200", "401", "404", "422", "503"},
        ("get", "/v1/accounts/{account_id}"): {"200", "401", "404", "422", "503"},
        ("post", "/v1/scores"): {"200", "400", "401", "413", "422", "503"},
        ("post", "/v1/scores/live"): {"200", "400", "401", "413", "422", "503"},
        ("get", "/v1/rankings/at-risk"): {"200", "401", "422", "503"},
        ("get", "/v1/models"): {"200", "401", "503"},
        ("post", "/v1/admin/reload"): {"200", "401", "403", "503"},
    }
    for (method, path), statuses in expected.items():
        responses = paths[path][method]["responses"]
        assert set(responses) == statuses, (method, path, sorted(responses))
        for status in statuses - {"200"}:
            assert responses[status]["content"]["application/json"]["schema"]["$ref"].endswith("/Problem")
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    # No models loaded: a row's features are not known yet, only account_id, as_of and arr.
    row = doc["components"]["schemas"]["LiveRow"]
    assert set(row["properties"]) == {"account_id", "as_of", "arr"} and row["additionalProperties"] != False  # noqa: E712
