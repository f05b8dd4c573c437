"""What `churn forecast` publishes reaches the server by itself (``GET /v1/forecast`` and the Forecast page), from
a folder or from PostgreSQL; a broken document keeps the last (nothing published: ``test_monitoring``)."""

import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from models.published import FORECAST
from pipelines.publish import publish_document
from serving.app import create_app
from serving.store import PostgresStore
from tests.postgres import scratch_database
from tests.serving.conftest import READ, Served, body, settings_for
from tests.serving.signin import sign_in
from tests.serving.test_published_scores import wait_for


def document(nrr: float) -> dict[str, Any]:
    """A document as ``pipelines.forecast.forecast_document`` writes it (keys and shapes), by hand."""
    figures = []
    for group, shift in (("all", 0.0), ("smb", -0.04), ("enterprise", 0.01)):
        for measure, point in (("grr", nrr - 0.02 + shift), ("nrr", nrr + shift)):
            figures.append({"group": group, "measure": measure, "point": point, "lo80": point - 0.01,
                            "hi80": point + 0.01, "lo90": point - 0.013, "hi90": point + 0.013, "lo95": point - 0.016,
                            "hi95": point + 0.016})  # fmt: skip
    return {"as_of": "2025-12-01T00:00:00+00:00", "months": 3, "accounts": 6422, "arr": 96288362.0,
            "model": "churn v1 (champion)", "draws": 4000, "past_periods": 20, "figures": figures}  # fmt: skip


def test_a_published_forecast_is_served_and_shown_and_a_broken_one_keeps_the_last(served: Served, store: Path) -> None:
    settings = settings_for(served, scores=str(store), state_dir=store.parent, reload_interval=0.02)
    with TestClient(create_app(settings)) as c:
        first = document(0.987)
        publish_document("forecast", first, str(store))
        wait_for(lambda: c.get("/v1/forecast", headers=READ).status_code == 200, "the forecast picked up")
        assert body(c.get("/v1/forecast", headers=READ)) == first
        sign_in(c, "demo", "demo")
        page = c.get("/forecast").text
        # The figures in words (the overall NRR and its intervals, SMB's GRR) and both charts.
        assert "98.7%" in page and "97.7\u201399.7%" in page and "97.1\u2013100.3%" in page and "92.7%" in page
        assert page.count("<svg") == 2 and "6,422" in page
        (store / FORECAST).write_text('{"as_of": ')  # planted: half written; the last good one stays
        threading.Event().wait(0.3)
        assert body(c.get("/v1/forecast", headers=READ)) == first


@pytest.mark.postgres
def test_postgresql_serves_the_newest_forecast() -> None:
    with scratch_database("churn_forecast") as url:
        assert PostgresStore(url).document("forecast") is None
        for nrr in (0.95, 0.97, 0.99):
            publish_document("forecast", document(nrr), url, keep=2)
        assert PostgresStore(url).document("forecast") == document(0.99)
        assert PostgresStore(url).document("monitoring") is None  # another kind, another table
