"""`churn password` (written in the CLI, which does not import serving) makes Argon2 hashes that the sign-in accepts,
through the same library (pwdlib), at a cost above the floor production enforces on every CSM's hash."""

from pathlib import Path
from typing import Any

import pytest
from argon2 import Type
from fastapi.testclient import TestClient
from pwdlib.hashers.argon2 import Argon2Hasher
from pydantic import ValidationError
from typer.testing import CliRunner

from pipelines.cli.app import app
from serving.app import create_app
from serving.pages import NO_USER, PASSWORDS, check_password
from serving.settings import MIN_MEMORY_KIB, MIN_PASSES, ServingSettings, strong
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
    settings = ServingSettings(env="development", csm_users=ana, state_dir=tmp_path,
                               tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", reload_interval=0)  # fmt: skip
    c = TestClient(create_app(settings))  # not entered: signing in needs no models
    for name, password in (("ana", "wrong"), ("nobody", "s3cret-pass"), ("broken", "not-a-hash"), ("demo", "demo")):
        r = sign_in(c, name, password, follow_redirects=False)
        assert r.status_code == 200 and "Wrong user name or password." in r.text, name
    r = sign_in(c, "ana", "s3cret-pass", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/accounts")


PRODUCTION: dict[str, Any] = {"api_keys": {"k" * 16: "read"}, "session_secret": "s" * 32}


def _production(stored: str) -> ServingSettings:
    return ServingSettings(env="production", csm_users={"ana": {"password": stored, "owner": ""}}, **PRODUCTION)


@pytest.mark.parametrize(
    "stored",
    [
        Argon2Hasher(memory_cost=MIN_MEMORY_KIB - 1, time_cost=MIN_PASSES).hash("s3cret-pass"),  # too little memory
        Argon2Hasher(memory_cost=MIN_MEMORY_KIB, time_cost=MIN_PASSES - 1).hash("s3cret-pass"),  # too few passes
        Argon2Hasher(type=Type.I).hash("s3cret-pass"),  # Argon2i, not Argon2id
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",  # bcrypt, which the sign-in cannot verify
        "pbkdf2$200000$0123456789abcdef$00ff",
        "not-a-hash",
    ],
    ids=["memory", "passes", "argon2i", "bcrypt", "pbkdf2", "garbage"],  # salted hashes differ per xdist worker
)
def test_production_refuses_a_weak_hash_naming_the_user_not_the_hash(stored: str) -> None:
    with pytest.raises(ValidationError) as e:
        _production(stored)
    message = e.value.errors(include_input=False)[0]["msg"]
    assert "'ana'" in message and "churn password" in message
    assert stored not in str(e.value.errors(include_input=False)) and stored.split("$")[-1] not in message
    assert ServingSettings(env="development", csm_users={"ana": {"password": stored, "owner": ""}})  # allowed there


def test_production_takes_the_floor_itself_and_what_churn_password_makes() -> None:
    at_floor = Argon2Hasher(memory_cost=MIN_MEMORY_KIB, time_cost=MIN_PASSES, parallelism=1).hash("s3cret-pass")
    assert strong(at_floor) and _production(at_floor).users()["ana"]["password"] == at_floor
    made = CliRunner().invoke(app, ["password", "--password", "s3cret-pass"]).output.strip().splitlines()[-1]
    assert strong(made) and _production(made)
