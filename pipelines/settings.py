"""Settings for the pipelines and the CLI: one class, read from the environment (prefix ``CHURN_``)."""

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where things live. Every field can be set as ``CHURN_<FIELD>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="CHURN_", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Folder for generated data and the warehouse.")
    warehouse: Path = Field(
        Path("data/warehouse.duckdb"), description="The embedded DuckDB warehouse file (raw tables, features)."
    )
    scores: str = Field(
        "data/scores",
        description="Where `churn score` publishes each run's scores for the server (CHURN_SCORES, which `churn "
        "serve` reads too): a folder of versions, or a postgresql:// URL.",
    )
    scores_keep: int = Field(5, ge=2, description="Published score versions kept; older ones are removed.")
    # Unset: pipelines.score.Holdout's defaults (a fixed seed, features.holdout.HOLDOUT_SHARE).
    holdout_seed: int | None = Field(
        None,
        description="Seed of the holdouts of plays (`churn score --holdout-seed`): which accounts are held out of "
        "their suggested play. Keep it fixed; a new seed starts a new experiment. Unset: 24.",
    )
    holdout_share: float | None = Field(
        None,
        ge=0.0,
        lt=1.0,
        description="Share of the accounts suggested each play that are held out of it (--holdout-share); unset: 0.2.",
    )
    features_file: Path | None = Field(
        None,
        description="The features file (TOML: login event, milestones, event types counted one by one, ratios; "
        "README, Your events) that `churn features build` uses when --features is not given; unset: the defaults.",
    )
    # The labels' time rules and the validation period: unset, derived from the data (``features.labels.
    # derived_labels``, ``features.split.derived_valid_dates``); the command options win over these.
    horizon_days: int | None = Field(
        None,
        ge=1,
        description="Days after a snapshot within which churn and upsell count (--horizon); unset: 90 "
        "for a history of about 17 months or more, else 30.",
    )
    grace_days: int | None = Field(
        None, ge=0, description="Days a stop of service may last and still not be churn (--grace); unset: 30."
    )
    margin: float | None = Field(
        None, ge=0, description="Share by which MRR or seats must grow to be upsell (--margin); unset: 0.10."
    )
    valid_dates: int | None = Field(
        None,
        ge=1,
        description="Latest labeled snapshot dates used for validation (--valid-dates); unset: up to 3, "
        "as many as leave 6 training dates, else 1.",
    )
    seed: int = Field(7, description="Seed of the demo's generated dataset.")
    demo_accounts: int = Field(10_000, description="Accounts in the demo's generated dataset.")
    demo_months: int = Field(24, description="Months of history in the demo's generated dataset.")
    lake: str = Field(
        "data/lake",
        description="The Spark engine's folder or URI (s3://, hdfs://, abfss://): raw/ in, snapshots/, labels/, "
        "datasets/ and scores/ out, as Parquet.",
    )
    spark_master: str = Field("local[2]", description="Spark master of --engine spark (local[N], yarn, spark://...).")
    # 1.5GB: the weekly feature benchmark (10 M events, 52 snapshots) peaked at 1.7 GB of resident memory against
    # 2.2 GB at 4GB; at 1GB it peaked at 1.3 GB but took about 2 s more (its 0.7 GB result no longer fits beside the
    # tables it is built from, so DuckDB spills). DuckDB spills the rest to disk (at 300MB it still finished).
    duckdb_memory: str = Field("1.5GB", description="Memory cap of DuckDB in the warehouse; it spills to disk beyond.")
    tracking_uri: str | None = Field(
        None,
        description="MLflow tracking URI; unset: MLFLOW_TRACKING_URI if set, else sqlite:///mlflow.db (the default).",
    )
    mlflow_artifacts: Path = Field(
        Path("mlruns"), description="Folder for the artifacts of experiments this project creates (models, plots)."
    )

    def mlflow_uri(self) -> str:
        return self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or "sqlite:///mlflow.db"


@lru_cache
def get_settings() -> Settings:
    """The process's settings, created on first use (never at import time)."""
    return Settings()
