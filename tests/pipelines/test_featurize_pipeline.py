"""Storing snapshots (rebuilding a date replaces only that date) and training sets split by time."""

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from features.split import SplitConfig, held_out, time_split
from pipelines.datasets import build_dataset
from pipelines.featurize import default_dates, store
from pipelines.generate.run import generate
from pipelines.generate.simulate import Oracle
from pipelines.ingest import ingest


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("featurize")
    generate(root / "raw", accounts=400, months=18, seed=21, oracle=Oracle(paths=0))
    ingest(root / "raw", root / "w.duckdb")
    return root / "w.duckdb"


def _table(con: duckdb.DuckDBPyConnection, name: str) -> pd.DataFrame:
    return con.sql(f"SELECT * FROM {name} ORDER BY as_of, account_id").to_arrow_table().to_pandas()


def test_rebuilding_dates_replaces_them_and_keeps_the_others(warehouse: Path, tmp_path: Path) -> None:
    with duckdb.connect(str(warehouse)) as con:
        dates = default_dates(con)
        store(con, dates, export=tmp_path)
        first = _table(con, "features.snapshots")
        first_labels = _table(con, "features.labels")
        store(con, dates[3:5])  # rebuild two dates
        again = _table(con, "features.snapshots")
        pd.testing.assert_frame_equal(first, again)
        pd.testing.assert_frame_equal(first_labels, _table(con, "features.labels"))
        con.execute("DELETE FROM features.snapshots WHERE as_of = ?", [dates[4]])
        store(con, [dates[4]])
        pd.testing.assert_frame_equal(first, _table(con, "features.snapshots"))
    exported = pd.read_parquet(tmp_path / "snapshots.parquet")
    assert len(exported) == len(first) and exported.as_of.nunique() == len(dates)


def test_training_set_split_is_by_time_with_no_account_in_both(warehouse: Path) -> None:
    cfg = SplitConfig(valid_dates=2, valid_share=0.3)
    with duckdb.connect(str(warehouse)) as con:
        store(con, default_dates(con))
        for target in ("churn", "upsell"):
            data, report = build_dataset(con, target, cfg=cfg)
            train, valid = data[data.split == "train"], data[data.split == "valid"]
            assert len(train) > 1000 and len(valid) > 100
            assert not set(train.account_id) & set(valid.account_id)
            # Every training label matured before the validation period starts.
            assert (train.as_of + pd.Timedelta(days=90)).max() <= valid.as_of.min()
            assert valid.as_of.nunique() == 2
            assert data.label.isin([0, 1]).all()
            assert report.rows == {"train": len(train), "valid": len(valid)}
            stored = _table(con, f"features.dataset_{target}")
            assert len(stored) == len(data)


def test_time_split_by_hand() -> None:
    day = [datetime(2025, m, 1, tzinfo=UTC) for m in range(1, 8)]
    ids = [f"A{i}" for i in range(40)]
    rows = pd.DataFrame([(a, d) for a in ids for d in day], columns=["account_id", "as_of"])
    rows["label"] = 0.0
    rows.loc[rows.as_of == day[-1], "label"] = None  # the latest date is not yet labeled
    split = time_split(rows, "label", SplitConfig(valid_dates=1, valid_share=0.5, horizon_days=90))
    out = held_out(rows.account_id, 0.5)
    # Validation: the latest labeled date (June), held-out accounts; training: the others, matured by June 1.
    assert set(split[split == "valid"].index) == set(rows[(rows.as_of == day[5]) & out].index)
    assert set(split[split == "train"].index) == set(rows[(rows.as_of <= day[2]) & ~out].index)
    assert split[rows.label.isna()].isna().all()
    with pytest.raises(ValueError, match="only 6 snapshot dates"):
        time_split(rows, "label", SplitConfig(valid_dates=6))


def test_build_out_of_memory_names_the_setting_to_raise(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A memory cap too small even for spilling ends the build with the setting to raise, not a traceback."""
    from typer.testing import CliRunner

    from pipelines.cli import app
    from pipelines.settings import get_settings

    copy = tmp_path / "w.duckdb"
    copy.write_bytes(warehouse.read_bytes())
    monkeypatch.setenv("CHURN_DUCKDB_MEMORY", "2MB")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["features", "build", "--warehouse", str(copy), "--export", str(tmp_path)])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1, result.output
    assert "out of its memory cap (2MB)" in result.output and "CHURN_DUCKDB_MEMORY=4GB" in result.output
