"""Settings of the API server (environment prefix ``CHURN_``). Unsafe defaults are refused outside development:
the demo's API keys work only with ``CHURN_ENV=development`` (the default, for the demo)."""

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from argon2 import Type, extract_parameters
from argon2.exceptions import InvalidHashError
from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

DEMO_KEYS = {"demo-read-key": "read", "demo-admin-key": "admin"}
# The demo user's password, "demo", as `churn password` hashes it: written out, so no app start spends a hash on it.
DEMO_PASSWORD = "$argon2id$v=19$m=65536,t=3,p=4$5T1/Jzc9R5boCY8neIKKjg$5JqYWiBHvIJxOPUWScOjAS6eglgMczO3Vr3ZUXJmpHg"
# The least Argon2id cost production accepts for a CSM's password hash: OWASP's floor (19 MiB of memory, 2 passes).
# pwdlib verifies Argon2 only, so scrypt or bcrypt hashes could not sign in at all.
MIN_MEMORY_KIB, MIN_PASSES = 19456, 2


class ServingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHURN_", extra="ignore")

    env: Literal["development", "production"] = Field("development", description="production refuses demo keys.")
    scores: str = Field(
        "data/scores",
        description="The published scores served: the folder `churn score` publishes versions to, or a "
        "postgresql:// URL (then every server process reads the same versions there). The warehouse is never opened.",
    )
    tracking_uri: str = Field(
        default_factory=lambda: os.environ.get("MLFLOW_TRACKING_URI") or "sqlite:///mlflow.db",
        description="MLflow tracking and registry URI; unset: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db.",
    )
    alias: str = Field("champion", description="Registry alias the server loads and follows.")
    api_keys: dict[str, Literal["read", "write", "admin"]] = Field(
        default_factory=dict,
        description='API keys and their scope, as JSON: {"key": "read", "other": "admin"}; write also records '
        "actions on accounts, admin also reloads. Development without keys uses demo-read-key and demo-admin-key.",
    )
    reload_interval: float = Field(
        60.0, description="Seconds between checks of the registry alias and of the current scores version; 0: never."
    )
    max_ids: int = Field(1000, description="Most account ids in one request.")
    max_rows: int = Field(100, description="Most raw feature rows in one live-scoring request.")
    max_body_bytes: int = Field(1 << 20, ge=1024, description="Largest request body; larger ones get 413 unread.")
    threads: int = Field(1, description="LightGBM threads per live scoring batch (one batch at a time per process).")
    state_dir: Path = Field(
        Path("data"),
        description="Folder of the server's own small state (the sign-in "
        "sessions ended by logout and the failed sign-ins, sessions.sqlite), shared by its processes.",
    )
    login_limit_user: int = Field(5, ge=1, description="Most failed sign-ins per user name in login_window seconds.")
    login_limit_client: int = Field(20, ge=1, description="Most failed sign-ins per client address in login_window.")
    login_window: float = Field(60.0, gt=0, description="Seconds over which failed sign-ins are counted.")
    session_secret: str = Field("dev-only-session-secret", description="Signs the CSM pages' session cookie.")
    csm_users: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description='CSM sign-ins, as JSON: {"ana": {"password": "$argon2id$...", "owner": "Ana Ruiz"}}; make the '
        "hash with `churn password`. Development without users: user demo, password demo.",
    )

    @model_validator(mode="after")
    def _safe(self) -> "ServingSettings":
        if self.env == "production":
            if not self.api_keys:
                raise ValueError('CHURN_API_KEYS must be set in production (JSON: {"key": "read"})')
            weak = [k for k in self.api_keys if k in DEMO_KEYS or len(k) < 16]
            if weak:
                raise ValueError("in production every API key must be at least 16 characters and not a demo key")
            if self.session_secret.startswith("dev-only") or len(self.session_secret) < 32:
                raise ValueError("CHURN_SESSION_SECRET must be set in production (32 characters or more)")
            for name, user in self.csm_users.items():
                if not strong(user.get("password", "")):
                    raise ValueError(f"CHURN_CSM_USERS: the password hash of user {name[:60]!r} is not Argon2id "
                                     f"with at least m={MIN_MEMORY_KIB} KiB and t={MIN_PASSES}, the floor of "
                                     "production: make a new one with `churn password`")  # fmt: skip
        return self

    def keys(self) -> dict[str, str]:
        return dict(self.api_keys) or (dict(DEMO_KEYS) if self.env == "development" else {})

    def users(self) -> dict[str, dict[str, str]]:
        """The CSM sign-ins: ``csm_users``, or in development without them user demo (password demo) whose owner
        is chosen at sign-in (the owner with the most accounts)."""
        demo = {"demo": {"password": DEMO_PASSWORD, "owner": ""}}
        return dict(self.csm_users) or (demo if self.env == "development" else {})


def strong(stored_hash: str) -> bool:
    """Whether a stored password hash is Argon2id (version 1.3) at or above the cost floor of production."""
    try:
        p = extract_parameters(stored_hash)
    except InvalidHashError:
        return False
    return p.type == Type.ID and p.version == 19 and p.memory_cost >= MIN_MEMORY_KIB and p.time_cost >= MIN_PASSES


@lru_cache
def get_serving_settings() -> ServingSettings:
    return ServingSettings()


def refusal() -> str | None:
    """Why the settings from the environment cannot serve, in one line that names the setting and the fix; None when
    they can. Nothing of the values given is said (a key or a secret may be among them, even in a dict key)."""
    try:
        get_serving_settings()
    except SettingsError as e:  # a value that is not the JSON it must be; its text is not repeated
        field = str(e).split('"')[1] if str(e).count('"') >= 2 else ""
        return f"CHURN_{field.upper()} is not valid JSON: see the README's settings table for its form"
    except ValidationError as e:
        first = e.errors(include_input=False, include_url=False)[0]
        setting = f"CHURN_{str(first['loc'][0]).upper()}: " if first["loc"] else ""
        return f"{setting}{first['msg'].removeprefix('Value error, ')}"
    return None
