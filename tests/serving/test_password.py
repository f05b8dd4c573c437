"""`churn password` (written in the CLI, which does not import serving) makes Argon2 hashes that the sign-in accepts,
through the same library (pwdlib)."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pipelines.cli.app import app
from serving.app import create_app
from serving.pages import NO_USER, PASSWORDS, check_password
from serving.settings import ServingSettings
from tests.serving.signin import sign_in

WRONG = ["correct horse ", "Correct horse", "", "demo"]


def test_cli_hash_is_accepted_by_the_sign_in_and_only_for_its_password() -> None:
    result = CliRunner().invoke(app, ["password", "--password", "correct horse"])
    assert result.exit_code == 0, result.output
    stored = result.output.strip().splitlines()[-1]
    assert stored.startswith("$argon2id$")
    assert check_password(stored, "correct horse")
    for given in WRONG:
        assert not check_password(stored, given)
    again = CliRunner().invoke(app, ["password", "--password", "correct horse"]).output.strip().splitlines()[-1]
    assert again != stored  # salted: equal passwords do not give equal hashes
    assert check_password(again, "correct horse")


@pytest.mark.parametrize(
    "stored",
    [
        "not-a-hash",
        "pbkdf2$200000$0123456789abcdef$00ff",  # the format before Argon2
        "$argon2id$v=19$m=65536,t=3,p=4$abc$def",  # the right prefix, a broken salt and digest
        "$argon2id$v=19$m=65536,t=3,p=4$$",
    ],
)
def test_a_malformed_stored_hash_is_refused_without_an_exception(stored: str) -> None:
    assert not check_password(stored, "correct horse")


def test_an_unknown_user_is_refused_after_verifying_a_hash_that_costs_as_much_as_a_real_one() -> None:
    assert not check_password(None, "anything")
    assert not check_password("", "anything")
    # NO_USER is a well-formed hash with the parameters `churn password` uses, so verifying it costs the same.
    assert not PASSWORDS.verify("anything", NO_USER)
    assert not PASSWORDS.current_hasher.check_needs_rehash(NO_USER)


def test_development_without_users_signs_in_demo_with_demo_and_production_signs_in_nobody() -> None:
    users = ServingSettings(env="development", csm_users={}).users()
    assert set(users) == {"demo"}
    assert check_password(users["demo"]["password"], "demo")
    assert not check_password(users["demo"]["password"], "demo ")
    assert not PASSWORDS.current_hasher.check_needs_rehash(users["demo"]["password"])
    ana = {"ana": {"password": PASSWORDS.hash("s3cret-pass"), "owner": "Ana Ruiz"}}
    assert ServingSettings(env="development", csm_users=ana).users() == ana
    production = ServingSettings(env="production", csm_users={}, api_keys={"k" * 16: "read"}, session_secret="s" * 32)
    assert production.users() == {}


def test_the_sign_in_lets_in_the_right_password_and_refuses_unknown_users_alike(tmp_path: Path) -> None:
    ana = {"ana": {"password": PASSWORDS.hash("s3cret-pass"), "owner": "Ana Ruiz"},
           "broken": {"password": "not-a-hash", "owner": ""}}  # fmt: skip
    settings = ServingSettings(env="development", csm_users=ana, warehouse=tmp_path / "none.duckdb",
                               tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", reload_interval=0)  # fmt: skip
    c = TestClient(create_app(settings))  # not entered: signing in needs no models
    for name, password in (("ana", "wrong"), ("nobody", "s3cret-pass"), ("broken", "not-a-hash"), ("demo", "demo")):
        r = sign_in(c, name, password, follow_redirects=False)
        assert r.status_code == 200 and "Wrong user name or password." in r.text, name
    r = sign_in(c, "ana", "s3cret-pass", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/accounts")
