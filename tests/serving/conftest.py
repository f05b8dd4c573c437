"""One served world per test process: a small generated warehouse, both targets trained and registered in a
SQLite MLflow store under a temporary folder (alias ``champion`` on version 1), the latest three snapshot dates
scored into ``scores.accounts`` and published as a version in the folder ``scores/`` beside the warehouse, and the
app running its lifespan in a ``TestClient``.

The world is built by ``build_served``, cached per process, so that the fixtures of ``tests/serving`` and of
``tests/pipelines/test_score.py`` share it when they run in the same worker.
"""

import json
import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow.tracking import MlflowClient

from features.catalog import Coverage, available
from features.config_file import FeaturesFile, resolve
from models.config import TrainConfig
from models.family import Model
from pipelines.generate.params import FEATURES, MILESTONES
from pipelines.generate.run import generate
from pipelines.generate.simulate import Oracle
from pipelines.ingest import ingest
from pipelines.score import champion_scorer, latest_dates, score
from pipelines.snapshots import default_dates, refresh
from pipelines.training.champion import CHAMPION
from pipelines.training.datasets import build_dataset, feature_definitions, label_config
from pipelines.training.expansion import fit_and_judge
from pipelines.training.survival import fit_and_judge_survival
from pipelines.training.train import fit_and_evaluate, log_and_register
from pipelines.warehouse import connect
from serving.app import create_app
from serving.settings import ServingSettings

TARGETS = ("churn", "upsell")
SCORED_DATES = 3
READ_KEY = "read-key-for-the-serving-tests"
ADMIN_KEY = "admin-key-for-the-serving-tests"
KEYS: dict[str, Any] = {READ_KEY: "read", ADMIN_KEY: "admin"}
READ = {"Authorization": f"Bearer {READ_KEY}"}
ADMIN = {"X-API-Key": ADMIN_KEY}
# The generator's usage rows have no durations: the served world has every feature of the registry but the hours of
# use, which features.catalog.available switches off; and its 17 usage event types (a login, 12 product features,
# 4 milestones), each used by far more than 1% of the accounts, are all counted one by one by default.
GENERATED = Coverage(empty_columns=frozenset({"usage_events.duration_secs"}))
GENERATED_TYPES = resolve(FeaturesFile(), dict.fromkeys(("login", *FEATURES, *MILESTONES), 100), 100)
FEATURE_NAMES = [f.name for f in available(GENERATED, GENERATED_TYPES).features]


@dataclass(frozen=True)
class Served:
    root: Path
    warehouse: Path
    scores: Path  # the folder of published score versions
    tracking_uri: str
    artifacts: Path
    datasets: dict[str, pd.DataFrame]  # target -> training set with a split column
    models: dict[str, Model]  # target -> the fitted object registered as version 1 (never reloaded)
    dates: list[datetime]  # the scored as_of dates, oldest first


_cache: dict[str, Any] = {}


def build_served(factory: pytest.TempPathFactory) -> Served:
    """Generate, ingest, build features and training sets, train and register both targets, score."""
    if "served" in _cache:
        return _cache["served"]
    root = factory.mktemp("served")
    warehouse = root / "warehouse.duckdb"
    generate(root / "raw", accounts=2500, months=20, seed=5, oracle=Oracle(paths=20))
    ingest(root / "raw", warehouse)
    with connect(warehouse) as con:
        refresh(con, default_dates(con))
        datasets = {t: build_dataset(con, t)[0] for t in TARGETS}
        registry = feature_definitions(con)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    fitted = {}
    for t in TARGETS:
        cfg = TrainConfig.for_target(t, max_trees=100)
        model, scores, _ = fit_and_evaluate(datasets[t], t, cfg, registry=registry)
        # The models registered with them, as `churn train` does: churn over time, expected expansion.
        with connect(warehouse, read_only=True) as con:
            labels = label_config(con)
            survival = fit_and_judge_survival(con, datasets[t], model, scores, cfg, labels) if t == "churn" else None
            expansion = fit_and_judge(con, datasets[t], model, scores, cfg, labels) if t == "upsell" else None
        # force: these tests need a champion to serve, whatever the small world's model earns.
        _, decision = log_and_register(datasets[t], t, cfg, model, scores, None, uri, root / "mlruns", force=True,
                                       expansion=expansion, survival=survival)  # fmt: skip
        assert (decision.version, decision.alias) == ("1", CHAMPION)
        fitted[t] = model
    with connect(warehouse) as con:
        dates = latest_dates(con, SCORED_DATES)
        score(con, champion_scorer(uri), dates, to=str(root / "scores"))
    _cache["served"] = Served(root, warehouse, root / "scores", uri, root / "mlruns", datasets, fitted, dates)
    return _cache["served"]


def settings_for(served: Served, **overrides: Any) -> ServingSettings:
    """Every field given, so that no CHURN_* variable of the environment leaks into a test."""
    values: dict[str, Any] = {
        "env": "development", "scores": str(served.scores), "tracking_uri": served.tracking_uri,
        "alias": CHAMPION, "api_keys": KEYS, "reload_interval": 0, "max_ids": 1000, "max_rows": 100, "threads": 1,
        "state_dir": served.root,
    }  # fmt: skip
    return ServingSettings(**{**values, **overrides})


def nothing_to_load(state_dir: Path, **overrides: Any) -> ServingSettings:
    """Settings of an app with nothing to load (no registry at that path, no scores there): the guard, the headers,
    the error shapes and /readyz need no models."""
    values: dict[str, Any] = {
        "env": "development", "api_keys": KEYS, "reload_interval": 0, "scores": "/nonexistent/scores",
        "tracking_uri": "sqlite:////nonexistent/place/mlflow.db", "state_dir": state_dir,
    }  # fmt: skip
    return ServingSettings(**{**values, **overrides})


@pytest.fixture(scope="module")
def unloadable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """An app whose models cannot load, its lifespan run."""
    with TestClient(create_app(nothing_to_load(tmp_path_factory.mktemp("state")))) as c:
        yield c


def read_table(path: Path, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.sql(sql, params=params).to_arrow_table().to_pandas()  # .df() warns (pandas 3.1)


def plain(v: Any) -> Any:
    """A frame value as JSON would carry it."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return None
    return v.item() if hasattr(v, "item") else v


def feature_rows(snapshots: pd.DataFrame) -> list[dict[str, Any]]:
    """Snapshot rows as the live-scoring route takes them: every feature, plus account_id."""
    cols = ["account_id", *FEATURE_NAMES]
    return [{c: plain(v) for c, v in zip(cols, row, strict=True)} for row in snapshots[cols].itertuples(index=False)]


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Served:
    return build_served(tmp_path_factory)


@pytest.fixture(scope="session")
def warehouse_scores(served: Served) -> pd.DataFrame:
    """``scores.accounts`` as the batch wrote it, read straight from the warehouse."""
    return read_table(served.warehouse, "SELECT * FROM scores.accounts ORDER BY account_id, as_of")


@pytest.fixture(scope="session")
def latest_snapshots(served: Served) -> pd.DataFrame:
    """``features.snapshots`` at the latest scored as_of."""
    sql = "SELECT * FROM features.snapshots WHERE as_of = ? ORDER BY account_id"
    return read_table(served.warehouse, sql, [served.dates[-1]])


@pytest.fixture(scope="session")
def client(served: Served) -> Iterator[TestClient]:
    """The app with its lifespan run (models and scores loaded), shared by the read-only tests."""
    with TestClient(create_app(settings_for(served))) as c:
        yield c


@dataclass(frozen=True)
class Candidate:
    version: str
    model: Model


@pytest.fixture(scope="session")
def second_churn(served: Served) -> Candidate:
    """Another churn version (a different seed, and other accounts stopping the trees, so that a logistic
    regression, which no seed changes, differs too). The registry may make it champion; the alias is put back on
    version 1, which scored the warehouse, and tests that move models use an alias of their own."""
    rows = served.datasets["churn"]
    cfg = TrainConfig.for_target("churn", max_trees=100, seed=8, stop_share=0.25)
    with duckdb.connect(str(served.warehouse), read_only=True) as con:
        registry = feature_definitions(con)
    model, scores, _ = fit_and_evaluate(rows, "churn", cfg, registry=registry)
    _, decision = log_and_register(rows, "churn", cfg, model, scores, None, served.tracking_uri,
                                   served.artifacts)  # fmt: skip
    MlflowClient(served.tracking_uri, served.tracking_uri).set_registered_model_alias("churn", CHAMPION, "1")
    return Candidate(decision.version, model)


def body(response: Any) -> Any:
    """The JSON body, after checking that the response says it is JSON."""
    assert response.headers["content-type"].startswith("application/json"), response.headers["content-type"]
    return json.loads(response.content)


@pytest.fixture
def store(served: Served, tmp_path: Path) -> Path:
    """A copy of the published scores, to publish a document (monitoring, a forecast) beside."""
    shutil.copytree(served.scores, tmp_path / "scores")
    return tmp_path / "scores"
