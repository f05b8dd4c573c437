"""Sign-in as a careful web app does it: every form post carries the session's CSRF token (and a foreign Origin is
refused), a session ended by logout stays ended when its cookie is replayed (for every server process: the revoked
ids are in a shared SQLite file), a password change ends the sessions made with the old one, failed sign-ins are
limited per user name and per client address (for every process, the same way), and an unknown user name costs as
much time as a known one."""

import statistics
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.pages import PASSWORDS
from serving.sessions import FORGED
from serving.settings import ServingSettings
from tests.serving.signin import form_token, sign_in

HASH = PASSWORDS.hash("s3cret-pass")


def _app(tmp_path: Path, password_hash: str = HASH, client: str = "10.0.0.1", **limits: Any) -> TestClient:
    """An app with user ana (no models: the sign-in needs none; the pages then say the models are not loaded), seen
    from address ``client``."""
    settings = ServingSettings(env="development", csm_users={"ana": {"password": password_hash, "owner": "Ana"}},
                               state_dir=tmp_path, tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
                               reload_interval=0, **limits)  # fmt: skip
    return TestClient(create_app(settings), follow_redirects=False, client=(client, 50000))


def _signed_in(c: TestClient) -> bool:
    """Whether a page takes the client as signed in (a page, or 503 for models not loaded; not a redirect)."""
    return c.get("/accounts").status_code != 303


def test_a_post_without_the_token_or_from_another_site_is_refused(tmp_path: Path) -> None:
    c = _app(tmp_path)
    token = form_token(c.get("/login").text)
    good = {"username": "ana", "password": "s3cret-pass"}
    for data, headers in (
        (good, {}),  # no token
        ({**good, "csrf": "forged-" + token[7:]}, {}),  # a wrong one
        ({**good, "csrf": token}, {"Origin": "https://evil.example"}),  # the right one, from another site
    ):
        got = c.post("/login", data=data, headers=headers)
        assert got.status_code == 403 and got.json() == {"error": FORGED}
        assert not _signed_in(c)
    assert c.post("/login", data={**good, "csrf": token}).headers["location"] == "/accounts"
    assert _signed_in(c)
    assert c.post("/logout", data={}).status_code == 403 and _signed_in(c)  # logout needs the token too


def test_a_cookie_replayed_after_logout_signs_in_no_more_in_any_process(tmp_path: Path) -> None:
    c = _app(tmp_path)
    assert sign_in(c, "ana", "s3cret-pass").status_code == 303 and _signed_in(c)
    copied = dict(c.cookies)  # what an attacker (or a shared computer) keeps
    got = c.post("/logout", data={"csrf": form_token(c.get("/login").text)})  # the session's token
    assert got.status_code == 303 and not _signed_in(c)
    for replay in (_app(tmp_path), c):  # another server process reading the same state folder, and this one
        replay.cookies.clear()
        replay.cookies.update(copied)
        assert not _signed_in(replay)


def test_a_password_change_ends_the_sessions_made_with_the_old_one(tmp_path: Path) -> None:
    c = _app(tmp_path)
    assert sign_in(c, "ana", "s3cret-pass").status_code == 303 and _signed_in(c)
    copied = dict(c.cookies)
    changed = _app(tmp_path, PASSWORDS.hash("a-new-pass-phrase"))  # the server restarted with the new hash
    changed.cookies.update(copied)
    assert not _signed_in(changed)
    assert sign_in(changed, "ana", "a-new-pass-phrase").status_code == 303 and _signed_in(changed)


@pytest.mark.parametrize("field", ["username", "password"])
def test_huge_form_fields_are_refused(tmp_path: Path, field: str) -> None:
    c = _app(tmp_path)
    token = form_token(c.get("/login").text)
    data = {"username": "ana", "password": "s3cret-pass", "csrf": token, field: "x" * 5000}
    assert c.post("/login", data=data).status_code == 422


def _wrong(c: TestClient, name: str = "ana") -> int:
    return sign_in(c, name, "not-the-password").status_code


def test_failed_sign_ins_per_user_name_are_limited_with_a_clear_429(tmp_path: Path) -> None:
    c = _app(tmp_path)
    assert [_wrong(c) for _ in range(5)] == [200] * 5  # the page again, "Wrong user name or password."
    got = sign_in(c, "ana", "s3cret-pass")  # the right password too: the limit comes before any check
    assert got.status_code == 429 and not _signed_in(c)
    assert 1 <= int(got.headers["retry-after"]) <= 60
    assert got.json() == {"error": f"too many failed sign-ins for this user name: try again in "
                                   f"{got.headers['retry-after']} s"}  # fmt: skip
    # Another process (the same state folder), from another address: the user name is still limited there.
    assert sign_in(_app(tmp_path, client="10.0.0.2"), "ana", "s3cret-pass").status_code == 429
    assert _wrong(c, "bob") == 200  # other user names are not


def test_failed_sign_ins_per_address_are_limited_whatever_the_user_name(tmp_path: Path) -> None:
    c = _app(tmp_path, login_limit_client=8)
    assert [_wrong(c, f"user{i}") for i in range(8)] == [200] * 8  # eight names, one failure each
    got = sign_in(c, "ana", "s3cret-pass")
    assert got.status_code == 429 and "from this address" in got.json()["error"] and "retry-after" in got.headers
    assert sign_in(_app(tmp_path, client="10.0.0.2"), "ana", "s3cret-pass").status_code == 303  # another address


def test_only_failures_count_and_they_leave_the_window(tmp_path: Path) -> None:
    c = _app(tmp_path, login_limit_user=3, login_window=1.5)
    for _ in range(6):  # twice the limit of sign-ins that succeed
        assert sign_in(c, "ana", "s3cret-pass").status_code == 303
    assert [_wrong(c) for _ in range(4)] == [200, 200, 200, 429]
    time.sleep(1.6)
    assert sign_in(c, "ana", "s3cret-pass").status_code == 303


def _median_seconds(c: TestClient, name: str, tries: int = 10) -> float:
    token = form_token(c.get("/login").text)
    took = []
    for _ in range(tries):
        t0 = time.perf_counter()
        got = c.post("/login", data={"username": name, "password": "not-the-password", "csrf": token})
        took.append(time.perf_counter() - t0)
        assert got.status_code == 200
    return statistics.median(took)


def test_an_unknown_user_name_takes_as_long_to_refuse_as_a_known_one(tmp_path: Path) -> None:
    ana = {"ana": {"password": HASH, "owner": "Ana"}, "broken": {"password": "not-a-hash", "owner": ""}}
    settings = ServingSettings(env="development", csm_users=ana, state_dir=tmp_path, reload_interval=0,
                               tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", login_limit_user=100,
                               login_limit_client=100)  # fmt: skip
    c = TestClient(create_app(settings), follow_redirects=False)
    known, unknown = _median_seconds(c, "ana"), _median_seconds(c, "nobody")
    # Generous bounds: a verified Argon2 hash takes tens of milliseconds, so only skipping it moves the ratio out.
    assert 0.5 <= unknown / known <= 2.0, (known, unknown)
    # What the test would see were no hash verified for an unknown name: a user whose hash cannot be verified.
    assert _median_seconds(c, "broken") < 0.5 * known
