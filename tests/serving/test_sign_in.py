"""Sign-in as a careful web app does it: every form post carries the session's CSRF token (and a foreign Origin is
refused), a session ended by logout stays ended when its cookie is replayed (for every server process: the revoked
ids are in a shared SQLite file), and a password change ends the sessions made with the old one."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.pages import PASSWORDS
from serving.sessions import FORGED
from serving.settings import ServingSettings
from tests.serving.signin import form_token, sign_in

HASH = PASSWORDS.hash("s3cret-pass")


def _app(tmp_path: Path, password_hash: str = HASH) -> TestClient:
    """An app with user ana (no models: the sign-in needs none; the pages then say the models are not loaded)."""
    settings = ServingSettings(env="development", csm_users={"ana": {"password": password_hash, "owner": "Ana"}},
                               state_dir=tmp_path, tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
                               reload_interval=0)  # fmt: skip
    return TestClient(create_app(settings), follow_redirects=False)


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
