"""What `churn monitor` publishes reaches the server by itself (``GET /v1/monitoring`` and the Monitoring page), from
a folder or from PostgreSQL; a broken document leaves the previous one shown; nothing published is a 404 in the
Problem shape."""

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from models.published import MONITORING, MONITORING_TABLE
from pipelines.publish import publish_monitoring
from serving.app import create_app
from serving.store import FolderStore, PostgresStore
from tests.postgres import scratch_database
from tests.serving.conftest import READ, Served, body, settings_for
from tests.serving.signin import sign_in
from tests.serving.test_published_scores import wait_for


def document(estimate: float, message: str) -> dict[str, Any]:
    """A document as ``pipelines.monitor.document.monitoring_document`` writes it (keys and shapes), by hand."""
    return {
        "published_at": "2026-12-04T22:00:00+00:00",
        "dates": ["2025-11-01T00:00:00+00:00", "2025-12-01T00:00:00+00:00"],
        "reference": "the champion's training rows",
        "performance": {
            "realised": [{"as_of": "2025-11-01T00:00:00+00:00", "value": 0.812, "low": 0.79, "high": 0.83,
                          "training_value": 0.836, "training_low": 0.82, "training_high": 0.85, "rows": 5000}],
            "estimated": [{"as_of": "2025-11-01T00:00:00+00:00", "estimate": 0.83, "low": 0.81, "high": 0.85,
                           "matured": True, "rows": 5000},
                          {"as_of": "2025-12-01T00:00:00+00:00", "estimate": estimate, "low": estimate - 0.02,
                           "high": estimate + 0.02, "matured": False, "rows": 5100}],
        },
        "drift": [{"as_of": "2025-12-01T00:00:00+00:00", "family": "engagement", "psi": 0.31, "psi_mean": 0.12}],
        "alerts": [{"as_of": "2025-12-01T00:00:00+00:00", "kind": "feature_drift", "level": "alert",
                    "subject": "logins_30d", "value": 0.31, "threshold": 0.25, "message": message}],
        "counts": {"alert": 1, "warn": 0}, "notes": [],
    }  # fmt: skip


@pytest.mark.parametrize(("kind", "command"), [("monitoring", "churn monitor"), ("forecast", "churn forecast")])
def test_nothing_published_is_a_404_and_the_page_says_what_to_run(
    served: Served, store: Path, kind: str, command: str
) -> None:
    with TestClient(create_app(settings_for(served, scores=str(store), state_dir=store.parent))) as c:
        got = c.get(f"/v1/{kind}", headers=READ)
        assert got.status_code == 404 and f"run `{command}`" in body(got)["error"]
        sign_in(c, "demo", "demo")
        assert "Nothing published yet" in c.get(f"/{kind}").text


def test_a_published_document_is_served_and_shown_and_a_broken_one_keeps_the_last(served: Served, store: Path) -> None:
    settings = settings_for(served, scores=str(store), state_dir=store.parent, reload_interval=0.02)
    with TestClient(create_app(settings)) as c:
        first = document(0.801, "logins_30d has drifted from the training rows")
        publish_monitoring(first, str(store))
        wait_for(lambda: c.get("/v1/monitoring", headers=READ).status_code == 200, "the document picked up")
        assert body(c.get("/v1/monitoring", headers=READ)) == first
        metrics = c.get("/metrics").text  # for alerting rules: the counts, and the latest ROC AUC of each kind
        for line in (
            'churn_monitoring_alerts{level="alert"} 1.0',
            'churn_monitoring_alerts{level="warn"} 0.0',
            'churn_monitoring_roc_auc{kind="estimated"} 0.801',
            'churn_monitoring_roc_auc{kind="realised"} 0.812',
        ):
            assert line in metrics, line
        sign_in(c, "demo", "demo")
        page = c.get("/monitoring").text
        assert "0.801" in page and "labels not matured" in page and "logins_30d has drifted" in page
        assert "<svg" in page and "0.812" in page and "0.836" in page  # realised and the figure at training
        # Planted: a half-written document (a writer that does not replace the file in one step). The watch reads
        # it every 0.02 s and refuses it: the last good document stays shown.
        (store / MONITORING).write_text('{"published_at": ')
        threading.Event().wait(0.3)
        assert body(c.get("/v1/monitoring", headers=READ)) == first
        second = document(0.777, "second")
        publish_monitoring(second, str(store))
        wait_for(lambda: body(c.get("/v1/monitoring", headers=READ)) == second, "the next document picked up")


@pytest.fixture
def database() -> Iterator[str]:
    """The URL of a scratch database, dropped afterwards."""
    with scratch_database("churn_monitoring") as url:
        yield url


@pytest.mark.postgres
def test_postgresql_holds_the_latest_documents_and_the_store_reads_the_newest(database: str) -> None:
    assert PostgresStore(database).document("monitoring") is None  # nothing published: no table yet
    for i in range(4):
        publish_monitoring(document(0.7 + i / 100, f"run {i}"), database, keep=2)
    assert PostgresStore(database).document("monitoring") == document(0.73, "run 3")
    with psycopg.connect(database) as c:
        assert c.execute(f"SELECT count(*) FROM {MONITORING_TABLE}").fetchone() == (2,)


def test_a_folder_without_a_document_has_none(tmp_path: Path) -> None:
    assert FolderStore(tmp_path).document("monitoring") is None
