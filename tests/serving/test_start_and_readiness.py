"""Safe defaults: development mode serves only a loopback address; settings that cannot serve stop the start with one
line naming the setting, exit code 2, no traceback and no part of any secret; /readyz says ready or not and why in
plain words, and gives the details (which may name files) only to an admin key."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serving.settings import get_serving_settings, refusal
from tests.ports import free_port
from tests.serving.conftest import ADMIN, ADMIN_KEY, READ, body

ROOT = Path(__file__).resolve().parents[2]
CHURN = str(Path(sys.executable).with_name("churn"))
SECRET = "short-secret-4f9a"  # too short for production: the start is refused, and it must not be printed
KEY = "a-long-enough-api-key-7c1e0b"


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHURN_")}
    return subprocess.run(args, cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=120)


def test_development_mode_refuses_a_non_loopback_address_in_one_line() -> None:
    got = _run([CHURN, "serve", "--host", "0.0.0.0", "--port", str(free_port())])
    assert got.returncode == 2
    lines = got.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a loopback address" in lines[0] and "CHURN_ENV=production" in lines[0]
    assert "Traceback" not in got.stdout + got.stderr


def test_a_refused_production_start_is_one_line_without_the_secret() -> None:
    got = _run([CHURN, "serve", "--port", str(free_port())], CHURN_ENV="production", CHURN_SESSION_SECRET=SECRET,
               CHURN_API_KEYS=f'{{"{KEY}": "read"}}')  # fmt: skip
    assert got.returncode == 2, got.stderr[-2000:]
    out = got.stdout + got.stderr
    assert "Traceback" not in out and SECRET not in out and KEY not in out and "Serving on" not in out
    refused = [line for line in got.stderr.splitlines() if line.strip()]
    assert refused == ["churn serve refused: CHURN_SESSION_SECRET must be set in production (32 characters or more)"]


WEAK = "$argon2id$v=19$m=4096,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$2g1DCLGrqQ8HZkFrprJ3iAuA1r6F0bk6VixnJ9ACB8k"
SECRET_OK = "a-session-secret-long-enough-for-production-0d3b"


REFUSED = [
    ({"CHURN_API_KEYS": f'{{"{KEY}": "owner"}}'}, "CHURN_API_KEYS: Input should be 'read', 'write' or 'admin'"),
    (
        {"CHURN_API_KEYS": f"{KEY} not JSON"},
        "CHURN_API_KEYS is not valid JSON: see the README's settings table for its form",
    ),
    (
        {"CHURN_API_KEYS": f'{{"{KEY}": "read"}}', "CHURN_CSM_USERS": f'{{"ana": {{"password": "{WEAK}"}}}}'},
        "CHURN_CSM_USERS: the password hash of user 'ana' is not Argon2id with at least m=19456 KiB and t=2, the "
        "floor of production: make a new one with `churn password`",
    ),
]


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The process environment without CHURN_ settings, and the cached settings forgotten before and after."""
    for name in [k for k in os.environ if k.startswith("CHURN_")]:
        monkeypatch.delenv(name)
    get_serving_settings.cache_clear()
    yield monkeypatch
    get_serving_settings.cache_clear()


@pytest.mark.parametrize(("env", "line"), REFUSED)
def test_refused_settings_are_one_line_without_a_key_or_a_hash(environment: pytest.MonkeyPatch,
                                                                env: dict[str, str], line: str) -> None:  # fmt: skip
    for name, value in {"CHURN_ENV": "production", "CHURN_SESSION_SECRET": SECRET_OK, **env}.items():
        environment.setenv(name, value)
    assert refusal() == line  # the key (here a dict key, which pydantic puts in the error's location) not named


def test_a_refused_start_with_two_workers_stops_before_any_server_starts() -> None:
    """A worker that exits is started again by uvicorn: the settings are checked before any worker starts."""
    port = str(free_port())
    got = _run([CHURN, "serve", "--port", port, "--workers", "2"], CHURN_ENV="production",
               CHURN_SESSION_SECRET=SECRET_OK, **REFUSED[-1][0])  # fmt: skip
    assert got.returncode == 2, got.stderr[-2000:]
    out = got.stdout + got.stderr
    assert "Traceback" not in out and KEY not in out and SECRET_OK not in out and WEAK.split("$")[-1] not in out
    assert [x for x in got.stderr.splitlines() if x.strip()] == [f"churn serve refused: {REFUSED[-1][1]}"]
    assert port not in out  # no "Starting the server on ...:port", no "Uvicorn running on ...:port"


def test_readyz_says_why_in_plain_words_and_details_only_to_an_admin(unloadable: TestClient) -> None:
    for headers in ({}, READ):
        got = unloadable.get("/readyz", headers=headers)
        assert got.status_code == 503
        assert set(body(got)) == {"ready", "reason"} and body(got)["ready"] is False
        assert "could not be loaded" in body(got)["reason"]
        assert "/nonexistent" not in got.text and str(os.getpid()) not in got.text and "sqlite" not in got.text
    admin = unloadable.get("/readyz", headers=ADMIN)
    assert admin.status_code == 503 and body(admin)["last_reload_error"]  # the admin sees why
    assert ADMIN_KEY not in admin.text


def test_readyz_of_a_loaded_server_is_ready(client: TestClient) -> None:
    got = client.get("/readyz")
    assert got.status_code == 200 and body(got) == {"ready": True, "reason": "models and scores are loaded"}
    assert body(client.get("/readyz", headers=ADMIN))["versions"]["churn"]
