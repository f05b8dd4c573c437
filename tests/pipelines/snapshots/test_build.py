"""Storing snapshots (rebuilding a date replaces only that date) and training sets split by time."""

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from features.split import SplitConfig, held_out, time_split
from pipelines.generate.run import generate
from pipelines.generate.simulate import Oracle
from pipelines.ingest import ingest
from pipelines.snapshots import default_dates, refresh
from pipelines.training.datasets import build_dataset
from tests.features.reference_labels import reference_labels


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
        refresh(con, dates, export=tmp_path)
        first = _table(con, "features.snapshots")
        first_labels = _table(con, "features.labels")
        refresh(con, dates[3:5])  # rebuild two dates
        again = _table(con, "features.snapshots")
        pd.testing.assert_frame_equal(first, again)
        pd.testing.assert_frame_equal(first_labels, _table(con, "features.labels"))
        con.execute("DELETE FROM features.snapshots WHERE as_of = ?", [dates[4]])
        refresh(con, [dates[4]])
        pd.testing.assert_frame_equal(first, _table(con, "features.snapshots"))
    exported = pd.read_parquet(tmp_path / "snapshots.parquet")
    assert len(exported) == len(first) and exported.as_of.nunique() == len(dates)


def _known_by(subscriptions: pd.DataFrame, t: pd.Timestamp) -> pd.DataFrame:
    """The subscriptions as they stood at ``t``: rows starting later removed, ends after ``t`` not yet known."""
    out = subscriptions[subscriptions.start_at < t].copy()
    out["end_at"] = out["end_at"].where(out["end_at"] <= t)
    return out


def test_training_set_split_is_by_time_with_no_account_in_both(warehouse: Path) -> None:
    """Every training label is already decided by what was known at the first validation as_of: recomputed by the
    brute-force reference from the subscriptions as they stood then, it is the same (nothing the label reads lies
    in the validation period)."""
    cfg = SplitConfig(valid_dates=2, valid_share=0.3)
    with duckdb.connect(str(warehouse)) as con:
        refresh(con, default_dates(con))
        subs = con.sql("SELECT * FROM raw.subscriptions").to_arrow_table().to_pandas()
        accounts = con.sql("SELECT * FROM raw.accounts").to_arrow_table().to_pandas()
        for target in ("churn", "upsell"):
            data, report = build_dataset(con, target, cfg=cfg)
            train, valid = data[data.split == "train"], data[data.split == "valid"]
            assert len(train) > 500 and len(valid) > 100
            assert not set(train.account_id) & set(valid.account_id)
            first_valid = valid.as_of.min()
            then = reference_labels(_known_by(subs, first_valid), accounts, train.as_of.unique(),
                                    data_end=datetime(2100, 1, 1, tzinfo=UTC))  # fmt: skip
            merged = train.merge(then, on=["account_id", "as_of"], how="left", validate="1:1")
            assert (merged["label"].astype(float) == merged[target]).all(), target
            assert valid.as_of.nunique() == 2
            assert data.label.isin([0, 1]).all()
            assert report.rows == {"train": len(train), "valid": len(valid)}
            stored = _table(con, f"features.dataset_{target}")
            assert len(stored) == len(data)


def test_time_split_by_hand() -> None:
    day = [datetime(2025, m, 1, tzinfo=UTC) for m in range(1, 9)]
    ids = [f"A{i}" for i in range(40)]
    rows = pd.DataFrame([(a, d) for a in ids for d in day], columns=["account_id", "as_of"])
    rows["label"] = 0.0
    rows.loc[rows.as_of == day[-1], "label"] = None  # the latest date is not yet labeled
    cfg = SplitConfig(valid_dates=1, valid_share=0.5)  # 90-day horizon, 30-day grace
    out = held_out(rows.account_id, 0.5)
    # Validation: the latest labeled date (July 1), held-out accounts. Training, the other accounts: an upsell
    # label reads 90 days (March 1 + 90 days = May 30, before July 1; April 1 + 90 days = June 30), a churn label
    # 120 (March 1 + 120 days = June 29; April 1 + 120 days = July 30, past July 1).
    for target, last in (("upsell", day[3]), ("churn", day[2])):
        split = time_split(rows, target, cfg)
        assert set(split[split == "valid"].index) == set(rows[(rows.as_of == day[6]) & out].index)
        assert set(split[split == "train"].index) == set(rows[(rows.as_of <= last) & ~out].index), target
        assert split[rows.label.isna()].isna().all()
    with pytest.raises(ValueError, match="only 7 snapshot dates"):
        time_split(rows, "churn", SplitConfig(valid_dates=7))


def test_a_churn_label_still_open_in_its_grace_period_stays_out_of_training() -> None:
    """Service stops on day 80 and resumes on day 100 (inside the 30-day grace): not churn, but only known on day
    100, after the validation period began on day 95; a 90-day rule would train on it."""
    t0 = pd.Timestamp("2025-01-01", tz="UTC")
    day = pd.Timedelta(days=1)
    never = pd.Series([pd.NaT] * 2, dtype="datetime64[us, UTC]")
    subs = pd.DataFrame({"account_id": ["A", "A"], "start_at": [t0 - 10 * day, t0 + 100 * day],
                         "end_at": [t0 + 80 * day, pd.NaT], "mrr": [10.0, 10.0], "seats": [1, 1],
                         "plan": ["pro", "pro"], "cancelled_at": never})  # fmt: skip
    first_valid = t0 + 95 * day
    accounts = pd.DataFrame({"account_id": ["A"], "created_at": [t0 - 10 * day], "name": ["a"], "csm_owner": ["b"]})
    far = datetime(2100, 1, 1, tzinfo=UTC)
    full = reference_labels(subs, accounts, [t0], data_end=far)["churn"].item()
    then = reference_labels(_known_by(subs, first_valid), accounts, [t0], data_end=far)["churn"].item()
    assert (full, then) == (0.0, 1.0)  # what was known at the validation start would call it churn
    rows = pd.DataFrame({"account_id": ["A"], "as_of": [t0], "label": [full]})
    assert time_split(rows, "churn", SplitConfig(valid_share=0.01), first_valid).isna().all()


def test_build_out_of_memory_names_the_setting_to_raise(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A memory cap too small even for spilling ends the build with the setting to raise, not a traceback."""
    from typer.testing import CliRunner

    from pipelines.cli.app import app
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
