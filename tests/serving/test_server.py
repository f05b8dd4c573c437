"""The real server: uvicorn builds the app from ``serving.app:factory`` (the command line ``uvicorn --factory``
uses), with its settings from CHURN_* environment variables, and serves it over HTTP on a loopback port; the
test calls it with httpx and stops it. uvicorn runs in a thread of the test process: a separate process would
spend most of its time importing MLflow again."""

import json
import os
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pytest
import uvicorn

from serving.settings import get_serving_settings
from tests.serving.conftest import ADMIN, KEYS, READ, Served, body


@pytest.fixture
def server(served: Served, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The base URL of a running server, stopped afterwards."""
    for k in [k for k in os.environ if k.startswith("CHURN_")]:
        monkeypatch.delenv(k)  # nothing leaks in from the environment
    for k, v in {"CHURN_SCORES": str(served.scores), "CHURN_TRACKING_URI": served.tracking_uri,
                 "CHURN_API_KEYS": json.dumps(KEYS), "CHURN_RELOAD_INTERVAL": "0"}.items():  # fmt: skip
        monkeypatch.setenv(k, v)
    get_serving_settings.cache_clear()  # the factory reads the settings once per process; these are new
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # the system picks a free port; the socket is handed over, so no race
    config = uvicorn.Config("serving.app:factory", factory=True, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(6000):  # a bound against hanging, not a timing assertion
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.01)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()
        get_serving_settings.cache_clear()
    assert not thread.is_alive(), "uvicorn did not stop"


@pytest.mark.slow
def test_uvicorn_serves_the_app_over_http(server: str, warehouse_scores: pd.DataFrame) -> None:
    latest = warehouse_scores[warehouse_scores["as_of"] == warehouse_scores["as_of"].max()]
    latest = latest[~latest["notice_given"]]  # the at-risk ranking: accounts that had not given notice
    top: list[dict[str, Any]] = sorted(latest.to_dict(orient="records"), key=lambda r: (-r["p_churn"], r["account_id"]))
    with httpx.Client(base_url=server, timeout=30) as http:
        ready = http.get("/readyz", headers=ADMIN)
        assert ready.status_code == 200 and body(ready)["versions"] == {"churn": "1", "upsell": "1"}
        ranked = http.get("/v1/rankings/at-risk", params={"limit": 5}, headers=READ)
        assert [i["account_id"] for i in body(ranked)["items"]] == [r["account_id"] for r in top[:5]]
        one = body(http.get(f"/v1/accounts/{top[0]['account_id']}/score", headers=READ))
        shown = None if top[0]["held_out"] else top[0]["play"]  # a held-out account is suggested no play
        assert (one["p_churn"], one["health"], one["play"]) == (top[0]["p_churn"], top[0]["health"], shown)
        assert http.get("/v1/models").status_code == 401
        assert http.get("/v1/models", headers={"X-API-Key": "demo-read-key"}).status_code == 401  # keys were set
        assert 'churn_model_version{model="churn"} 1.0' in http.get("/metrics").text
