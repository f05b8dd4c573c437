"""Settings of the API server (environment prefix ``CHURN_``). Unsafe defaults are refused outside development:
the demo's API keys work only with ``CHURN_ENV=development`` (the default, for the demo)."""

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_KEYS = {"demo-read-key": "read", "demo-admin-key": "admin"}
# The demo user's password, "demo", as `churn password` hashes it: written out, so no app start spends a hash on it.
DEMO_PASSWORD = "$argon2id$v=19$m=65536,t=3,p=4$5T1/Jzc9R5boCY8neIKKjg$5JqYWiBHvIJxOPUWScOjAS6eglgMczO3Vr3ZUXJmpHg"


class ServingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHURN_", extra="ignore")

    env: Literal["development", "production"] = Field("development", description="production refuses demo keys.")
    warehouse: Path = Field(Path("data/warehouse.duckdb"), description="Warehouse holding scores.accounts.")
    tracking_uri: str = Field(
        default_factory=lambda: os.environ.get("MLFLOW_TRACKING_URI") or "sqlite:///mlflow.db",
        description="MLflow tracking and registry URI; unset: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db.",
    )
    alias: str = Field("champion", description="Registry alias the server loads and follows.")
    api_keys: dict[str, Literal["read", "admin"]] = Field(
        default_factory=dict,
        description='API keys and their scope, as JSON: {"key": "read", "other": "admin"}. Development without '
        "keys uses demo-read-key and demo-admin-key.",
    )
    reload_interval: float = Field(60.0, description="Seconds between checks of the registry alias; 0: never.")
    max_ids: int = Field(1000, description="Most account ids in one request.")
    max_rows: int = Field(100, description="Most raw feature rows in one live-scoring request.")
    max_body_bytes: int = Field(1 << 20, ge=1024, description="Largest request body; larger ones get 413 unread.")
    threads: int = Field(1, description="LightGBM threads per request (more oversubscribes the server's pool).")
    state_dir: Path = Field(
        Path("data"),
        description="Folder of the server's own small state (the sign-in "
        "sessions ended by logout, sessions.sqlite), shared by its processes.",
    )
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
        return self

    def keys(self) -> dict[str, str]:
        return dict(self.api_keys) or (dict(DEMO_KEYS) if self.env == "development" else {})

    def users(self) -> dict[str, dict[str, str]]:
        """The CSM sign-ins: ``csm_users``, or in development without them user demo (password demo) whose owner
        is chosen at sign-in (the owner with the most accounts)."""
        demo = {"demo": {"password": DEMO_PASSWORD, "owner": ""}}
        return dict(self.csm_users) or (demo if self.env == "development" else {})


@lru_cache
def get_serving_settings() -> ServingSettings:
    return ServingSettings()
