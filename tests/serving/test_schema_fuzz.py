"""schemathesis against the running app's own OpenAPI document, with the read key and the models loaded: every
phase (examples, coverage, fuzzing, stateful) and every check, as ``schemathesis run`` would, at 0 failures. So the
document states exactly what the server accepts (positive data is accepted, negative data refused, every status
and body documented, /metrics is text, unknown methods get 405 with Allow) and no input makes it fail.

Run through schemathesis's engine rather than ``schema.parametrize()``: the live-scoring rows list the loaded
models' features, which only the running app knows, and schemathesis 4.32's lazy loader (``from_fixture``) sets
``Function._nodeid``, which pytest 9.2 no longer has.

One setting differs from schemathesis's defaults: ``negative_data_rejection`` also takes 413 as a refusal. More
account ids or rows than ``maxItems`` (CHURN_MAX_IDS, CHURN_MAX_ROWS) are refused with 413 Content Too Large, the
README's documented answer, which the default list (400, 401, 403, 404, 405, 406, 409, 415, 422, 428, 429) omits.
"""

import copy
import os
import random
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events
from schemathesis.python import asgi

from serving.app import create_app
from tests.serving.conftest import READ, Served, settings_for

REFUSALS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
# A failure names the seed; FUZZ_SEED=... replays that run.
SEED = int(os.environ.get("FUZZ_SEED") or random.randrange(1 << 32))


@pytest.fixture(scope="module")
def loaded(served: Served) -> Iterator[FastAPI]:
    """The app; schemathesis runs its lifespan (models and scores load) on its first request."""
    yield create_app(settings_for(served, max_rows=5, max_ids=20))
    asgi.shutdown_lifespans()


def run(app: FastAPI, max_examples: int) -> tuple[list[str], int]:
    """Every phase and check against ``app``: the failures and errors in words, and how many cases were sent."""
    config = SchemathesisConfig.from_dict({
        "seed": SEED, "headers": READ, "workers": 1,
        "generation": {"max-examples": max_examples},
        "checks": {"negative_data_rejection": {"expected-statuses": REFUSALS}},
    })  # fmt: skip
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    problems, cases = [], 0
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            cases += len(event.recorder.cases)
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.failure_info is not None:
                        f = check.failure_info.failure
                        problems.append(f"{f.operation}: {check.name}: {f.title}: {f.message}\n"
                                        f"{check.failure_info.code_sample}")  # fmt: skip
        elif isinstance(event, events.NonFatalError | events.FatalError):
            problems.append(f"error: {getattr(event, 'label', '')}: {getattr(event, 'info', event)!r}")
        elif isinstance(event, events.EngineFinished):
            problems += [f"{f.operation}: {f.title}: {f.message}" for f in event.failures]
    return sorted(set(problems)), cases


@pytest.mark.slow
def test_schemathesis_with_every_check_finds_nothing(loaded: FastAPI) -> None:
    problems, cases = run(loaded, max_examples=30)
    assert not problems, f"seed {SEED}: {len(problems)} problems\n\n" + "\n\n".join(problems)
    assert cases > 200  # every operation was exercised, not skipped
    doc = loaded.openapi()
    row = doc["components"]["schemas"]["LiveRow"]
    assert row["additionalProperties"] is False and "events_30d" in row["properties"]  # the models' features


@pytest.mark.slow
def test_the_fuzzing_catches_a_document_that_says_more_than_the_server_takes(served: Served) -> None:
    """The run above can fail: with the document of before (rows holding any key, /metrics typed as JSON) it
    reports both."""
    app = create_app(settings_for(served, max_rows=5, max_ids=20))
    exact = app.openapi

    def loose() -> dict[str, Any]:
        doc = copy.deepcopy(exact())
        doc["components"]["schemas"]["LiveRow"]["additionalProperties"] = True
        doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"] = {"application/json": {"schema": {}}}
        return doc

    app.openapi = loose  # type: ignore[method-assign]
    try:
        problems, _ = run(app, max_examples=30)
    finally:
        asgi.shutdown_lifespans()
    assert any(p.startswith("POST /v1/scores/live: positive_data_acceptance") for p in problems), problems
    assert any(p.startswith("GET /metrics: content_type_conformance") for p in problems), problems
