"""Security headers on every response: pages, API answers (the guard's early 401 too), probes and docs; the pages'
policy allows no script, the docs' exactly the CDN FastAPI's Swagger UI loads from."""

import pytest
from fastapi.testclient import TestClient

EXPECTED = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


@pytest.mark.parametrize("path", ["/login", "/healthz", "/readyz", "/v1/models", "/no/such/path"])
def test_every_response_carries_the_headers(unloadable: TestClient, path: str) -> None:
    got = unloadable.get(path)
    for name, value in EXPECTED.items():
        assert got.headers.get(name) == value, (path, name)
    csp = got.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp and "script-src" not in csp


def test_the_docs_may_load_swagger_ui_and_nothing_else(unloadable: TestClient) -> None:
    got = unloadable.get("/docs")
    assert got.status_code == 200 and "cdn.jsdelivr.net" in got.text  # what the page loads ...
    csp = got.headers["content-security-policy"]
    assert "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net" in csp  # ... is what the policy allows
    assert "frame-ancestors 'none'" in csp
