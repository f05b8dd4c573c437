"""Sign-in limits and revoked sessions hold across the server's processes: ``churn serve --workers 2``, each request
on a new connection (so that both processes answer, which the test checks), no models needed."""

import json
import re
from collections.abc import Iterator

import httpx
import pytest

from serving.pages import PASSWORDS
from tests.ports import free_port
from tests.serving.processes import serving
from tests.serving.signin import form_token

pytestmark = pytest.mark.slow  # a server of two processes to start: about 40 s on two busy cores
USERS = {name: {"password": PASSWORDS.hash(f"{name}-pass-phrase"), "owner": ""} for name in ("ana", "bob")}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("workers")
    with serving(
        tmp,
        free_port(),
        up="/healthz",
        CHURN_STATE_DIR=str(tmp),
        CHURN_CSM_USERS=json.dumps(USERS),
        CHURN_TRACKING_URI="sqlite:////nonexistent/place/mlflow.db",
        CHURN_RELOAD_INTERVAL="0",
    ) as url:
        yield url


def _fresh(url: str, cookies: httpx.Cookies | None = None) -> httpx.Client:
    """A client on a new connection (any of the processes may answer it)."""
    return httpx.Client(base_url=url, cookies=cookies, follow_redirects=False, timeout=30)


def _where(url: str, cookies: httpx.Cookies) -> str | None:
    """Where /accounts sends a client with ``cookies`` on a new connection: "/login", or None (it is signed in)."""
    with _fresh(url, cookies) as c:
        return c.get("/accounts").headers.get("location")


def _post_login(url: str, name: str, password: str) -> httpx.Response:
    """Load the sign-in page on one connection and post it on another, as a browser on two connections may."""
    with _fresh(url) as c:
        token = form_token(c.get("/login").text)
        cookies = c.cookies
    with _fresh(url, cookies) as c:
        return c.post("/login", data={"username": name, "password": password, "csrf": token})


def test_both_processes_answer(base: str) -> None:
    """Each process counts its own /metrics requests: the same count seen twice means two processes answered."""
    seen = []
    for _ in range(40):
        with _fresh(base) as c:
            text = c.get("/metrics").text
        found = re.search(r'churn_http_requests_total\{route="/metrics",status="200"\} (\d+)', text)
        seen.append(int(found.group(1)) if found else 0)
        if len(set(seen)) < len(seen):
            return
    pytest.fail(f"one process answered every request: {seen}")


def test_failed_sign_ins_are_counted_by_every_process_alike(base: str) -> None:
    assert [_post_login(base, "ana", "wrong").status_code for _ in range(5)] == [200] * 5
    assert [_post_login(base, "ana", "ana-pass-phrase").status_code for _ in range(4)] == [429] * 4


def test_a_cookie_replayed_after_logout_is_refused_by_every_process(base: str) -> None:
    got = _post_login(base, "bob", "bob-pass-phrase")
    assert got.status_code == 303
    copied = httpx.Cookies(got.cookies)
    assert [_where(base, copied) for _ in range(6)] == [None] * 6  # signed in, whichever process answers
    with _fresh(base, copied) as c:
        token = form_token(c.get("/login").text)
        assert c.post("/logout", data={"csrf": token}).status_code == 303
    assert [_where(base, copied) for _ in range(12)] == ["/login"] * 12
