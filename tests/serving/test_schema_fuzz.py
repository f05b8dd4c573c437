"""schemathesis against the app's own OpenAPI schema, with the read key and the models loaded: no input the
schema allows (or nearly allows) makes the server fail."""

from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from serving.app import create_app
from serving.settings import ServingSettings
from tests.serving.conftest import KEYS, READ, Served, settings_for

# The operations come from the app's OpenAPI document, built at import without starting the app (the schema
# does not depend on the settings); the requests go to the fixture's app, whose lifespan loaded models and
# scores. (schemathesis 4.32's lazy ``from_fixture`` sets ``Function._nodeid``, which pytest 9.2 no longer has.)
_document = create_app(ServingSettings(env="development", api_keys=KEYS, reload_interval=0)).openapi()
schema = schemathesis.openapi.from_dict(_document)


@pytest.fixture(scope="module")
def loaded(served: Served) -> Iterator[FastAPI]:
    app = create_app(settings_for(served, max_rows=5, max_ids=20))
    with TestClient(app):
        yield app


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case, loaded: FastAPI) -> None:
    response = case.call_and_validate(
        app=loaded,
        headers=READ,
        checks=[schemathesis.checks.not_a_server_error, schemathesis.checks.response_schema_conformance],
    )
    assert response.status_code != 401  # the key was sent: the fuzzing reached the routes, not just the auth
