"""Security headers on every response: pages, API answers (the guard's early 401 too), probes and docs; the pages'
policy allows no script, the docs' exactly the CDN FastAPI's Swagger UI loads from."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.settings import ServingSettings
from tests.serving.conftest import KEYS

EXPECTED = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = ServingSettings(env="development", api_keys=KEYS, reload_interval=0,
                               tracking_uri="sqlite:////nonexistent/place/mlflow.db",
                               state_dir=tmp_path_factory.mktemp("state"))  # fmt: skip
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.mark.parametrize("path", ["/login", "/healthz", "/readyz", "/v1/models", "/no/such/path"])
def test_every_response_carries_the_headers(bare: TestClient, path: str) -> None:
    got = bare.get(path)
    for name, value in EXPECTED.items():
        assert got.headers.get(name) == value, (path, name)
    csp = got.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp and "script-src" not in csp


def test_the_docs_may_load_swagger_ui_and_nothing_else(bare: TestClient) -> None:
    got = bare.get("/docs")
    assert got.status_code == 200 and "cdn.jsdelivr.net" in got.text  # what the page loads ...
    csp = got.headers["content-security-policy"]
    assert "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net" in csp  # ... is what the policy allows
    assert "frame-ancestors 'none'" in csp
