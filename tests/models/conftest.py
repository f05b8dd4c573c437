"""A small generated world, built once per test session (and per xdist worker): warehouse, snapshots, labels
and both training sets."""

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from features.config import FeatureConfig
from models.estimator import PropensityModel, fit_on_slices
from pipelines.generate.run import generate
from pipelines.generate.simulate import Oracle
from pipelines.ingest import ingest
from pipelines.snapshots import default_dates, refresh
from pipelines.training.datasets import build_dataset
from pipelines.warehouse import connect


@dataclass(frozen=True)
class World:
    warehouse: Path
    oracle: Path
    datasets: dict[str, pd.DataFrame]  # target -> rows with a split column


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("world")
    # 26 months: the trees grow only on dates whose labels end before the inner slices, which start after the
    # training dates end, which end before the validation dates; 20 months left the trees about four dates.
    # 4,000 accounts: at 2,500 the calibration slice held about 340 rows (25 churned), too few for the calibration
    # tests to tell a better calibrator from noise; adding two features (exports) tipped them either way.
    generate(root / "raw", accounts=4000, months=26, seed=5, oracle=Oracle(paths=20))
    ingest(root / "raw", root / "warehouse.duckdb")
    with connect(root / "warehouse.duckdb") as con:
        # The registry's own features, without the per-event-type ones (features/event_types.py): these tests are
        # about the models, and the default registry describes every column they fit on.
        refresh(con, default_dates(con), FeatureConfig())
        data = {t: build_dataset(con, t)[0] for t in ("churn", "upsell")}
    return World(root / "warehouse.duckdb", root / "raw" / "ground_truth" / "oracle.parquet", data)


@pytest.fixture(scope="session")
def churn_model(world: World) -> PropensityModel:
    rows = world.datasets["churn"]
    return fit_on_slices(rows[rows["split"] == "train"], "churn")


@pytest.fixture(scope="session")
def valid_rows(world: World) -> pd.DataFrame:
    rows = world.datasets["churn"]
    return rows[rows["split"] == "valid"].reset_index(drop=True)
