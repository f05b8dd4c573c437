"""Reloading models while requests keep coming: none is lost, each live score comes whole from one model version,
a new version takes over; a version that fails to load is refused and the old one keeps serving. These tests move
an alias of their own (``canary``), so the champion that scored the warehouse stays put."""

import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow.tracking import MlflowClient
from prometheus_client.parser import text_string_to_metric_families

from serving.app import create_app
from tests.serving.conftest import ADMIN, READ, TARGETS, Candidate, Served, body, feature_rows, settings_for

CANARY = "canary"
THREADS = 4


@pytest.fixture
def registry(served: Served) -> Iterator[MlflowClient]:
    """The store, with ``canary`` on version 1 of both models (and put back there afterwards)."""
    client = MlflowClient(served.tracking_uri, served.tracking_uri)
    for t in TARGETS:
        client.set_registered_model_alias(t, CANARY, "1")
    yield client
    for t in TARGETS:
        client.set_registered_model_alias(t, CANARY, "1")


@dataclass
class Load:
    """Threads that score by id and live, over and over, recording every answer."""

    client: TestClient
    rows: list[dict[str, Any]]
    accounts: list[str]
    answers: list[tuple[str, int, Any]] = field(default_factory=list)  # (kind, status, body)
    rounds: list[int] = field(default_factory=lambda: [0] * THREADS)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def work(self, i: int) -> None:
        n = 0
        while not self.stop.is_set():
            account = self.accounts[(i + n) % len(self.accounts)]
            by_id = self.client.get(f"/v1/accounts/{account}/score", headers=READ)
            live = self.client.post("/v1/scores/live", json={"rows": self.rows}, headers=READ)
            with self.lock:
                self.answers.append(("id", by_id.status_code, by_id.json()))
                self.answers.append(("live", live.status_code, live.json()))
                self.rounds[i] += 1
            n += 1

    def during(self, action: Callable[[], Any]) -> Any:
        """Run ``action`` once every thread has answered a round, and stop once each has answered one more."""
        threads = [threading.Thread(target=self.work, args=(i,), daemon=True) for i in range(THREADS)]
        for t in threads:
            t.start()
        try:
            self._wait(lambda: min(self.rounds) >= 1)
            result = action()
            after = list(self.rounds)
            self._wait(lambda: all(r > a for r, a in zip(self.rounds, after, strict=True)))
        finally:
            self.stop.set()
            for t in threads:
                t.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
        return result

    def _wait(self, done: Callable[[], bool]) -> None:
        for _ in range(6000):  # a bound against hanging, not a timing assertion
            if done():
                return
            self.stop.wait(0.01)
        raise AssertionError(f"the load threads stalled: rounds {self.rounds}")


def probabilities(model: Any, snaps: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(model.prepare(snaps))[:, 1]


def check_answers(load: Load, expected: dict[str, np.ndarray]) -> set[str]:
    """Every answer 200, by-id answers for the asked account, and each live answer wholly from one version."""
    assert [a for a in load.answers if a[1] != 200] == []
    seen = set()
    for kind, _, got in load.answers:
        if kind == "id":
            assert got["account_id"] in load.accounts
            continue
        versions = {s["model_versions"]["churn"] for s in got["scores"]}
        assert len(versions) == 1
        (v,) = versions
        np.testing.assert_allclose([s["p_churn"] for s in got["scores"]], expected[v], rtol=0, atol=1e-9)
        seen.add(v)
    return seen


def metric(client: TestClient, sample: str, labels: dict[str, str]) -> float:
    fams = text_string_to_metric_families(client.get("/metrics").text)
    return sum(s.value for f in fams for s in f.samples if s.name == sample and s.labels.items() >= labels.items())


@pytest.mark.slow
def test_reload_under_load_loses_no_request_and_serves_the_new_version(
    served: Served, second_churn: Candidate, registry: MlflowClient, latest_snapshots: pd.DataFrame
) -> None:
    snaps = latest_snapshots.head(5)
    expected = {"1": probabilities(served.models["churn"], snaps),
                second_churn.version: probabilities(second_churn.model, snaps)}  # fmt: skip
    assert np.abs(expected["1"] - expected[second_churn.version]).max() > 1e-6  # the versions tell apart
    with TestClient(create_app(settings_for(served, alias=CANARY))) as c:
        assert body(c.get("/v1/models", headers=READ))["versions"] == {"churn": "1", "upsell": "1"}
        registry.set_registered_model_alias("churn", CANARY, second_churn.version)
        load = Load(c, feature_rows(snaps), list(snaps["account_id"]))
        reloads = load.during(lambda: [c.post("/v1/admin/reload", headers=ADMIN) for _ in range(3)])

        assert [r.status_code for r in reloads] == [200, 200, 200]
        assert all(body(r)["versions"] == {"churn": second_churn.version, "upsell": "1"} for r in reloads)
        seen = check_answers(load, expected)
        assert second_churn.version in seen  # every thread answered a round after the reloads
        assert body(c.get("/v1/models", headers=READ))["versions"] == {"churn": second_churn.version, "upsell": "1"}
        assert metric(c, "churn_model_version", {"model": "churn"}) == float(second_churn.version)
        assert metric(c, "churn_reloads_total", {"outcome": "ok"}) == 4  # start-up and three reloads
        assert body(c.get("/readyz", headers=ADMIN))["last_reload_error"] is None


def no_model_file(client: MlflowClient, served: Served) -> str:
    """A version registered from a folder of the run that holds plots but no model.pkl."""
    run_id = client.get_model_version("churn", "1").run_id
    artifacts = client.get_run(run_id).info.artifact_uri
    return str(client.create_model_version("churn", f"{artifacts}/plots", run_id=run_id).version)


def artifacts_deleted(client: MlflowClient, served: Served) -> str:
    """A version whose artifacts were there when it was registered and are gone now."""
    source = Path(client.get_model_version_download_uri("churn", "1").removeprefix("file://"))
    copy = served.root / f"gone-{uuid.uuid4().hex[:8]}"
    shutil.copytree(source, copy)
    version = str(client.create_model_version("churn", copy.as_uri()).version)
    shutil.rmtree(copy)
    return version


@pytest.mark.parametrize("broken", [no_model_file, artifacts_deleted])
def test_a_version_that_fails_to_load_is_refused_and_the_old_one_keeps_serving(
    served: Served, registry: MlflowClient, latest_snapshots: pd.DataFrame, broken: Callable[..., str]
) -> None:
    snaps = latest_snapshots.head(3)
    expected = {"1": probabilities(served.models["churn"], snaps)}
    with TestClient(create_app(settings_for(served, alias=CANARY))) as c:
        version = broken(registry, served)
        registry.set_registered_model_alias("churn", CANARY, version)
        load = Load(c, feature_rows(snaps), list(snaps["account_id"]))
        refused = load.during(lambda: c.post("/v1/admin/reload", headers=ADMIN))

        assert refused.status_code == 503
        error = body(refused)["error"]
        assert "reload refused" in error and "'churn': '1'" in error
        assert check_answers(load, expected) == {"1"}
        assert body(c.get("/v1/models", headers=READ))["versions"] == {"churn": "1", "upsell": "1"}
        ready = c.get("/readyz", headers=ADMIN)
        assert ready.status_code == 200 and body(ready)["ready"] is True
        assert body(ready)["last_reload_error"] and body(ready)["last_reload_error"] in error
        if broken is no_model_file:
            assert "ModelNotFound" in body(ready)["last_reload_error"] and "model.pkl" in error
        assert metric(c, "churn_reloads_total", {"outcome": "refused"}) == 1

        registry.set_registered_model_alias("churn", CANARY, "1")
        assert c.post("/v1/admin/reload", headers=ADMIN).status_code == 200
        assert body(c.get("/readyz", headers=ADMIN))["last_reload_error"] is None


def test_the_periodic_alias_check_picks_up_a_new_version(
    served: Served, second_churn: Candidate, registry: MlflowClient
) -> None:
    with TestClient(create_app(settings_for(served, alias=CANARY, reload_interval=0.1))) as c:
        assert body(c.get("/v1/models", headers=READ))["versions"]["churn"] == "1"
        registry.set_registered_model_alias("churn", CANARY, second_churn.version)
        stop = threading.Event()
        for _ in range(3000):  # a bound against hanging, not a timing assertion
            if body(c.get("/v1/models", headers=READ))["versions"]["churn"] == second_churn.version:
                break
            stop.wait(0.02)
        assert body(c.get("/v1/models", headers=READ))["versions"] == {"churn": second_churn.version, "upsell": "1"}
