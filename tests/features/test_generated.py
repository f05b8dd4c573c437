"""On a generated dataset (300 accounts, 12 months): every feature and label equals the reference, at monthly and
weekly snapshots, and a snapshot built from the data censored at its as_of is the same."""

from datetime import datetime

import duckdb
import pandas as pd
import pytest

from features.labels import LabelConfig
from pipelines.generate.run import generate
from pipelines.generate.simulate import Oracle
from pipelines.ingest import ingest
from pipelines.snapshots import data_bounds, snapshot_dates
from tests.features.checks import (
    assert_labels_match,
    assert_matches_reference,
    assert_same,
    censored,
    engine_snapshots,
)
from tests.features.reference import notebook_snapshots, read_raw

MONTHLY = snapshot_dates(datetime(2024, 2, 1).date(), datetime(2024, 12, 1).date(), "month")
WEEKLY = snapshot_dates(datetime(2024, 2, 5).date(), datetime(2024, 12, 30).date(), "week")[::6]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, pd.DataFrame], datetime]:
    """The raw tables of a generated dataset, and the time of its last usage event."""
    root = tmp_path_factory.mktemp("generated")
    generate(root / "src", accounts=300, months=12, seed=11, oracle=Oracle(paths=0))
    ingest(root / "src", root / "warehouse.duckdb")
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        return read_raw(con), data_bounds(con)[1]


def test_every_feature_equals_the_reference_on_generated_data(
    generated: tuple[dict[str, pd.DataFrame], datetime],
) -> None:
    tables, _ = generated
    got = assert_matches_reference(tables, MONTHLY + WEEKLY)
    # The comparison means something only if the data exercise the features: most are not constant.
    numeric = got.select_dtypes("number")
    constant = [c for c in numeric.columns if numeric[c].nunique(dropna=False) <= 1]
    assert len(got) > 2500 and len(constant) <= 5, constant


def test_the_notebook_style_reference_equals_the_engine(generated: tuple[dict[str, pd.DataFrame], datetime]) -> None:
    """The benchmark's pandas baseline (string ids, every table cut by comparing times) computes the same features
    as the engine, so the race is over equal work."""
    tables, _ = generated
    dates = MONTHLY[::3] + WEEKLY[::2]
    assert_same(engine_snapshots(tables, dates), notebook_snapshots(tables, dates))


def test_labels_equal_the_reference_on_generated_data(generated: tuple[dict[str, pd.DataFrame], datetime]) -> None:
    tables, data_end = generated
    got = assert_labels_match(tables, MONTHLY, LabelConfig(), data_end)
    labeled = got.dropna(subset=["churn"])
    assert labeled["churn"].sum() > 0 and got["upsell"].sum() > 0 and got["churn"].isna().any()


@pytest.mark.parametrize("as_of", [MONTHLY[3], WEEKLY[5], MONTHLY[-1]], ids=lambda d: d.date().isoformat())
def test_a_snapshot_is_the_same_from_the_data_censored_at_its_as_of(
    generated: tuple[dict[str, pd.DataFrame], datetime], as_of: datetime
) -> None:
    tables, _ = generated
    whole = engine_snapshots(tables, [as_of])
    assert_same(engine_snapshots(censored(tables, pd.Timestamp(as_of)), [as_of]), whole, ("censored", "whole"))
