"""The notebooks' exploration helpers against answers worked out by hand on tiny literal frames."""

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from pipelines.training import explore


def ts(day: str) -> pd.Timestamp:
    return pd.Timestamp(day, tz="UTC")


def test_project_root_is_the_nearest_folder_with_a_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "notebooks" / "deeper").mkdir(parents=True)
    assert explore.project_root(tmp_path / "notebooks" / "deeper") == tmp_path.resolve()
    assert explore.project_root(tmp_path) == tmp_path.resolve()


def test_project_root_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no pyproject\.toml"):
        explore.project_root(tmp_path)


def test_labeled_snapshots_joins_features_and_labels() -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE SCHEMA features")
    con.execute("""CREATE TABLE features.snapshots AS SELECT * FROM (VALUES
        ('b', TIMESTAMPTZ '2024-02-01', 5, 0.5), ('a', TIMESTAMPTZ '2024-02-01', 7, 0.1),
        ('a', TIMESTAMPTZ '2024-01-01', 3, 0.2)) t(account_id, as_of, events_30d, share)""")
    con.execute("""CREATE TABLE features.labels AS SELECT * FROM (VALUES
        ('a', TIMESTAMPTZ '2024-01-01', 0, 1, NULL::TIMESTAMPTZ),
        ('a', TIMESTAMPTZ '2024-02-01', 1, 0, TIMESTAMPTZ '2024-03-10'),
        ('b', TIMESTAMPTZ '2024-02-01', NULL, NULL, NULL::TIMESTAMPTZ)) t(account_id, as_of, churn, upsell,
        service_ends_at)""")
    got = explore.labeled_snapshots(con, ["events_30d"])
    assert list(got.columns) == ["account_id", "as_of", "events_30d", "churn", "upsell", "service_ends_at"]
    assert got["account_id"].tolist() == ["a", "a", "b"]
    assert got["as_of"].tolist() == [ts("2024-01-01"), ts("2024-02-01"), ts("2024-02-01")]
    assert got["events_30d"].tolist() == [3, 7, 5]
    assert got["churn"].tolist()[:2] == [0, 1] and np.isnan(got["churn"].iloc[2])
    assert got["service_ends_at"].iloc[1] == ts("2024-03-10") and got["service_ends_at"].iloc[[0, 2]].isna().all()


def test_rates_over_time_count_every_account_and_rate_only_the_labeled() -> None:
    labels = pd.DataFrame({
        "account_id": ["a", "b", "c", "a", "b"],
        "as_of": [ts("2024-01-01")] * 3 + [ts("2024-02-01")] * 2,
        "churn": pd.array([1, 0, 0, None, None], dtype="Int64"),
        "upsell": pd.array([0, 1, 0, 0, None], dtype="Int64"),
    })  # fmt: skip
    got = explore.rates_over_time(labels)
    assert got.index.tolist() == [ts("2024-01-01"), ts("2024-02-01")]
    assert got["accounts"].tolist() == [3, 2]
    assert got["churn_rate"].iloc[0] == pytest.approx(1 / 3) and np.isnan(got["churn_rate"].iloc[1])
    assert got["upsell_rate"].tolist() == pytest.approx([1 / 3, 0.0])


def test_cohort_retention_by_hand() -> None:
    subs = pd.DataFrame({
        "account_id": ["A", "B", "C", "C", "D"],
        "start_at": [ts("2024-01-10"), ts("2024-01-20"), ts("2024-02-01"), ts("2024-04-15"), ts("2023-12-01")],
        "end_at": [pd.NaT, ts("2024-03-05"), ts("2024-03-01"), pd.NaT, pd.NaT],
    })  # fmt: skip
    got = explore.cohort_retention(subs, start=ts("2024-01-01"), end=ts("2024-05-10"), months=4)
    # A: always active. B: Jan 20, Feb 20 active; ended Mar 5; May 20 is after the end (unknown).
    # C: active Feb 1; its end (Mar 1) is exclusive; gone Apr 1; back from Apr 15, so active May 1; Jun 1 unknown.
    # D started before the data: its cohort is left out.
    want = pd.DataFrame(
        {"accounts": [2, 1], 0: [1.0, 1.0], 1: [1.0, 0.0], 2: [0.5, 0.0], 3: [0.5, 1.0], 4: [1.0, np.nan]},
        index=pd.Index(["2024-01", "2024-02"], name="cohort"),
    )
    pd.testing.assert_frame_equal(got, want, check_dtype=False, check_names=False)
    assert got.index.name == "cohort"


def test_compare_outcomes_by_hand() -> None:
    rows = pd.DataFrame({
        "churn": [0, 0, 1, 1, np.nan],  # the last row is unlabeled: left out
        "x": [1.0, 3.0, 4.0, 2.0, 100.0],
        "y": [5.0, np.nan, 5.0, 7.0, 0.0],
    })  # fmt: skip
    got = explore.compare_outcomes(rows, ["x", "y"])
    # x: churned {4, 2} against retained {1, 3}: 3 of the 4 pairs ordered (2 < 3 is not): AUC 0.75.
    # y: churned {5, 7} against retained {5} (its NaN left out): a tie counts half, so (0.5 + 1) / 2 = 0.75.
    want = pd.DataFrame({"retained": [2.0, 5.0], "churned": [3.0, 6.0], "auc": [0.75, 0.75]},
                        index=pd.Index(["x", "y"], name="feature"))  # fmt: skip
    pd.testing.assert_frame_equal(got, want)


def test_before_churn_by_hand() -> None:
    months = [ts(f"2024-0{m}-01") for m in range(1, 7)]
    a_end, c_end = ts("2024-06-15"), ts("2024-03-10")
    rows = pd.DataFrame({
        # a churns on Jun 15: its snapshots are 166, 135, 106, 75, 45 and 14 days ahead (months 6 to 1), and
        # labeled 1 only within the 90-day horizon; they all count.
        "account_id": ["a"] * 6 + ["b"] + ["c"] * 4 + ["d"],
        "as_of": [*months, months[0], months[1], months[2], months[4], months[5], months[5]],
        "churn": [0, 0, 0, 1, 1, 1, 0, 1, 1, 0, 0, np.nan],
        "service_ends_at": [a_end] * 6 + [pd.NaT] + [c_end] * 2 + [pd.NaT] * 2 + [ts("2024-07-20")],
        "x": [60.0, 50.0, 40.0, 30.0, 20.0, 10.0, 1000.0, 8.0, 4.0, 1000.0, 1000.0, 1000.0],
    })  # fmt: skip
    # b never churns. c churns on Mar 10 (38 and 9 days ahead: months 2 and 1), then comes back: its new stretch
    # is not a churn. d's service has an end, but no snapshot is labeled churn (unknown yet): not a churn.
    got = explore.before_churn(rows, ["x"], months=7)
    assert got.index.name == "months_to_churn"
    assert got.index.tolist() == [1, 2, 3, 4, 5, 6, 7]
    np.testing.assert_allclose(got["x"].to_numpy(), [7.0, 14.0, 30.0, 40.0, 50.0, 60.0, np.nan])
