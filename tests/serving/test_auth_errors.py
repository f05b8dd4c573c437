"""API keys on every /v1 route (found by walking ``app.routes``, so a new route cannot slip through), open probes and
docs, and JSON error bodies: 401, 403, 404, 413, 422 naming the field, 503 before the models are loaded."""

from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import ValidationError

from features.catalog import features
from models.plays import load_playbook
from serving.app import create_app
from serving.settings import ServingSettings
from tests.serving.conftest import ADMIN, READ, READ_KEY, Served, body, settings_for

NUMERIC = next(f.name for f in features() if not f.categorical)
ACTIONS = "/v1/accounts/{account_id}/actions"


def some_account(client: TestClient) -> str:
    return body(client.get("/v1/rankings/at-risk", params={"limit": 1}, headers=READ))["items"][0]["account_id"]


def routes(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every route of ``app``. FastAPI 0.165 keeps an included router as one entry of
    ``app.routes`` (``_IncludedRouter``); its ``effective_route_contexts()`` lists the routes with full paths."""
    out: list[tuple[str, str]] = []

    def walk(entries: Any) -> None:
        for r in entries:
            if hasattr(r, "effective_route_contexts"):
                walk(r.effective_route_contexts())
            elif getattr(r, "path", None) is not None:
                out.extend((m, r.path) for m in sorted(r.methods or ()))

    walk(app.routes)
    return out


def requests_for(client: TestClient) -> list[tuple[str, str, Any]]:
    """(method, url, JSON body) for every /v1 route of the app, with a valid body and a real account id."""
    account = some_account(client)
    play = next(r.play for r in load_playbook().rules)
    bodies = {"/v1/scores": {"account_ids": [account]}, "/v1/scores/live": {"rows": [{"account_id": "x"}]},
              ACTIONS: {"play": play, "status": "started", "note": "from test_auth_errors"}}  # fmt: skip
    v1 = [(m, p) for m, p in routes(client.app) if p.startswith("/v1/")]
    documented = {(m.upper(), p) for p, ops in body(client.get("/openapi.json"))["paths"].items() for m in ops}
    assert set(v1) == {(m, p) for m, p in documented if p.startswith("/v1/")}  # the walk missed nothing
    return [(m, p.replace("{account_id}", account), bodies.get(p) if m == "POST" else None) for m, p in v1]


def test_every_v1_route_needs_a_key(client: TestClient) -> None:
    calls = requests_for(client)
    assert {url.split("?")[0] for _, url, _ in calls} >= {"/v1/scores", "/v1/scores/live", "/v1/models",
                                                          "/v1/admin/reload", "/v1/rankings/at-risk"}  # fmt: skip
    wrong = [{}, {"Authorization": "Bearer not-a-key"}, {"X-API-Key": "not-a-key"},
             {"Authorization": f"Basic {READ_KEY}"}, {"X-API-Key": "demo-read-key"}]  # fmt: skip
    for method, url, payload in calls:
        for headers in wrong:
            r = client.request(method, url, json=payload, headers=headers)
            assert r.status_code == 401, (method, url, headers, r.status_code)
            assert "API key" in body(r)["error"]
            assert r.headers["www-authenticate"] == "Bearer"


# Nothing published by `churn monitor` for the shared app: a key that may read gets that route's 404, not 401/403.
READ_STATUS = {"/v1/monitoring": 404, "/v1/forecast": 404, "/v1/effects": 404}  # nothing published in the test world


def test_read_key_reads_and_only_the_admin_key_reloads(client: TestClient) -> None:
    for method, url, payload in requests_for(client):
        admin_route = url.startswith("/v1/admin/")
        write_route = method == "POST" and url.endswith("/actions")  # recording an action needs write (or admin)
        ok = 201 if write_route else READ_STATUS.get(url, 200)
        for headers in (READ, {"X-API-Key": READ["Authorization"].removeprefix("Bearer ")}):
            r = client.request(method, url, json=payload, headers=headers)
            if admin_route or write_route:
                assert r.status_code == 403, (url, r.status_code)
                needed = "'admin'" if admin_route else "'write'"
                assert "'read' scope" in body(r)["error"] and needed in body(r)["error"]
            else:
                assert r.status_code == ok, (url, r.text)
        r = client.request(method, url, json=payload, headers=ADMIN)  # admin includes read
        assert r.status_code == ok, (url, r.text)


def test_probes_and_docs_need_no_key(client: TestClient) -> None:
    app = client.app
    probes = {r.path for r in app.routes if isinstance(r, APIRoute) and "probes" in r.tags}  # type: ignore[attr-defined]
    assert probes == {"/healthz", "/readyz", "/metrics"}
    docs = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}  # type: ignore[attr-defined]
    assert None not in docs
    for path in sorted(probes | docs):
        r = client.get(path)
        assert r.status_code == 200, (path, r.status_code)


@pytest.mark.parametrize(
    ("method", "url", "payload", "field"),
    [
        ("POST", "/v1/scores", {}, "body.account_ids"),
        ("POST", "/v1/scores", {"account_ids": []}, "body.account_ids"),
        ("POST", "/v1/scores", {"account_ids": "A1"}, "body.account_ids"),
        ("POST", "/v1/scores", {"account_ids": ["A1"], "accounts": ["A2"]}, "body.accounts"),
        ("POST", "/v1/scores/live", {"rows": []}, "body.rows"),
        ("POST", "/v1/scores/live", {"rows": [{"no_such_feature": 1.0}]}, "rows.0.no_such_feature"),
        ("POST", "/v1/scores/live", {"rows": [{}, {NUMERIC: "lots"}]}, f"rows.1.{NUMERIC}"),
        ("POST", "/v1/scores/live", {"rows": [{"account_id": 1.5}]}, "rows.0.account_id"),  # was a 500
        ("GET", "/v1/rankings/at-risk?limit=0", None, "query.limit"),
        ("GET", "/v1/rankings/at-risk?limit=501", None, "query.limit"),
        ("GET", "/v1/rankings/at-risk?offset=-1", None, "query.offset"),
        ("GET", "/v1/rankings/at-risk?by=size", None, "query.by"),
        ("GET", "/v1/rankings/upsell?tier=purple", None, "query.tier"),
    ],
)
def test_a_bad_request_is_422_naming_the_field(
    client: TestClient, method: str, url: str, payload: Any, field: str
) -> None:
    r = client.request(method, url, json=payload, headers=READ)
    assert r.status_code == 422, r.text
    got = body(r)
    assert got["error"] == "invalid request"
    assert field in [d["field"] for d in got["detail"]], got["detail"]


def test_malformed_json_is_422(client: TestClient) -> None:
    r = client.post("/v1/scores", content=b'{"account_ids": [', headers={**READ, "content-type": "application/json"})
    assert r.status_code == 422
    assert body(r)["detail"][0]["field"].startswith("body")


def test_unknown_account_is_404(client: TestClient) -> None:
    for url in ("/v1/accounts/no-such-account/score", "/v1/accounts/no-such-account"):
        r = client.get(url, headers=READ)
        assert r.status_code == 404
        assert "'no-such-account'" in body(r)["error"]


def test_oversized_batches_are_413(served: Served) -> None:
    with TestClient(create_app(settings_for(served, max_ids=3, max_rows=2))) as small:
        account = some_account(small)
        ok = small.post("/v1/scores", json={"account_ids": [account] * 3}, headers=READ)
        assert ok.status_code == 200 and len(body(ok)["scores"]) == 3
        r = small.post("/v1/scores", json={"account_ids": [account] * 4}, headers=READ)
        assert r.status_code == 413
        assert "4 account ids" in body(r)["error"] and "limit is 3" in body(r)["error"]
        assert small.post("/v1/scores/live", json={"rows": [{}, {}]}, headers=READ).status_code == 200
        r = small.post("/v1/scores/live", json={"rows": [{}, {}, {}]}, headers=READ)
        assert r.status_code == 413
        assert "3 rows" in body(r)["error"] and "limit is 2" in body(r)["error"]


def test_before_the_models_load_routes_answer_503_and_demo_keys_work_in_development(served: Served) -> None:
    app = create_app(settings_for(served, api_keys={}))
    c = TestClient(app)  # not entered: the lifespan has not loaded anything
    r = c.get("/v1/models", headers={"Authorization": "Bearer demo-read-key"})
    assert r.status_code == 503 and "not loaded" in body(r)["error"]
    assert c.get("/v1/models", headers={"Authorization": "Bearer other"}).status_code == 401
    r = c.get("/readyz")
    assert r.status_code == 503 and body(r) == {"ready": False, "reason": "the models are loading"}


def test_production_refuses_unsafe_keys() -> None:
    good = {"api_keys": {"k" * 20: "read"}, "session_secret": "s" * 40, "env": "production"}
    assert ServingSettings(**good).keys() == {"k" * 20: "read"}
    for bad in ({}, {"demo-read-key": "read"}, {"short-key": "read"}):
        with pytest.raises(ValidationError, match=r"API key|API_KEYS"):
            ServingSettings(**{**good, "api_keys": bad})
    demo = ServingSettings(env="development", api_keys={})
    assert demo.keys() == {"demo-read-key": "read", "demo-admin-key": "admin"}
