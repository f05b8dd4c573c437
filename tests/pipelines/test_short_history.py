"""Short histories work: the labels' time rules and the validation dates fit the data's span when not given, are
stored beside the labels and read back by every later command, and `churn dataset build` refuses a training part
too small to learn from, naming the options that fix it.

The whole chain runs on a 9-month world with a 30-day horizon, from `churn generate` to `churn score`, through the
CLI in-process (settings and MLflow isolated under ``tmp_path``).
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.labels import LABELS, YEAR_LIKE_DAYS, LabelConfig, derived_labels
from features.split import SplitConfig, derived_valid_dates, training_dates
from pipelines.cli.app import app
from pipelines.settings import get_settings
from pipelines.training.datasets import MIN_TRAIN_POSITIVES, check_training_part, label_config

START = datetime(2024, 1, 1, tzinfo=UTC)


def _monthly(first: str, last: str) -> list[pd.Timestamp]:
    return list(pd.date_range(first, last, freq="MS", tz="UTC"))


def test_the_horizon_is_90_days_for_a_year_like_history_and_30_for_a_short_one() -> None:
    long_enough = START + pd.Timedelta(days=YEAR_LIKE_DAYS)
    assert derived_labels(START, long_enough) == LABELS
    assert derived_labels(START, long_enough - pd.Timedelta(days=1)) == LabelConfig(30, 30, 0.10)
    assert derived_labels(START, datetime(2024, 9, 30, tzinfo=UTC)).horizon_days == 30  # 9 months
    assert derived_labels(START, datetime(2024, 12, 31, tzinfo=UTC)).horizon_days == 30  # 12 months: too short
    assert derived_labels(START, datetime(2025, 12, 31, tzinfo=UTC)).horizon_days == 90  # 24 months
    # Values given win over the derived ones.
    assert derived_labels(START, long_enough, horizon_days=60, grace_days=0, margin=0.2) == LabelConfig(60, 0, 0.2)


def test_validation_dates_leave_enough_training_dates() -> None:
    """By hand: monthly labeled dates February..August (a 9-month world, 30-day horizon, churn reads 60 days):
    validating on August leaves February..June (June 1 + 60 days = July 31); on July and August, February..May."""
    nine = _monthly("2024-02-01", "2024-08-01")
    assert training_dates(nine, 1, 60) == _monthly("2024-02-01", "2024-06-01")
    assert training_dates(nine, 2, 60) == _monthly("2024-02-01", "2024-05-01")
    assert derived_valid_dates(nine, 60) == 1  # no count up to 3 leaves 6 training dates: one
    # 24 months with a 90-day horizon: 19 labeled dates; validating on June..August 2025 leaves February 2024 to
    # February 2025 (February 1 + 120 days = June 1), 13 dates.
    long = _monthly("2024-02-01", "2025-08-01")
    assert len(training_dates(long, 3, 120)) == 13 and derived_valid_dates(long, 120) == 3
    # 12 labeled dates with a 60-day read window: validating on November..January leaves February..September.
    twelve = _monthly("2024-02-01", "2025-01-01")
    assert len(training_dates(twelve, 3, 60)) == 8 and derived_valid_dates(twelve, 60) == 3


def _part(dates: list[pd.Timestamp], positives: int, rows_per_date: int = 100) -> pd.DataFrame:
    """A training set: ``rows_per_date`` training rows per date, the first ``positives`` labeled 1, one valid row."""
    n = len(dates) * rows_per_date
    as_of = [d for d in dates for _ in range(rows_per_date)]
    labels = [1] * positives + [0] * (n - positives)
    train = pd.DataFrame({"account_id": [f"A{i}" for i in range(n)], "as_of": as_of, "label": labels})
    valid = pd.DataFrame({"account_id": ["V"], "as_of": [dates[-1]], "label": [1]})
    return pd.concat([train.assign(split="train"), valid.assign(split="valid")], ignore_index=True)


@pytest.mark.parametrize(
    ("dates", "positives", "problem"),
    [
        (_monthly("2024-02-01", "2024-03-01"), 0, "no training rows"),
        # With a 60-day read window, no training date lies 60 days before March 1 (February 1 + 60 = April 1).
        (_monthly("2024-02-01", "2024-03-01"), 50, "none lies 60 days"),
        (_monthly("2024-02-01", "2024-06-01"), MIN_TRAIN_POSITIVES - 1, f"{MIN_TRAIN_POSITIVES - 1} positive"),
    ],
    ids=["empty", "no date to fit on", "few positives"],
)
def test_a_training_part_too_small_is_refused_naming_the_fixes(
    dates: list[pd.Timestamp], positives: int, problem: str
) -> None:
    data = _part(dates, positives, 0 if problem == "no training rows" else 100)
    cfg = SplitConfig(1, 0.3, LabelConfig(30, 30, 0.1))
    with pytest.raises(ValueError, match=problem) as e:
        check_training_part(data, "churn", cfg)
    for option in ("--horizon", "--grace", "--valid-dates", "--every week", "--inner-dates"):
        assert option in str(e.value)


def test_a_training_part_that_can_learn_passes() -> None:
    """February..April: February 1 + 60 days = April 1, a date to fit on; and enough positives."""
    cfg = SplitConfig(1, 0.3, LabelConfig(30, 30, 0.1))
    check_training_part(_part(_monthly("2024-02-01", "2024-04-01"), MIN_TRAIN_POSITIVES), "churn", cfg)


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Settings and MLflow under ``tmp_path`` (the warehouse, the data folder, the tracking store)."""
    monkeypatch.setenv("CHURN_WAREHOUSE", str(tmp_path / "wh.duckdb"))
    monkeypatch.setenv("CHURN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("CHURN_MLFLOW_ARTIFACTS", str(tmp_path / "mlruns"))
    for name in ("CHURN_HORIZON_DAYS", "CHURN_GRACE_DAYS", "CHURN_MARGIN", "CHURN_VALID_DATES", "CHURN_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def churn(*args: str) -> str:
    """Run ``churn ARGS`` in-process; its output (one line per paragraph) when it succeeds."""
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, f"churn {' '.join(args)} failed:\n{result.output}\n{result.exception!r}"
    return " ".join(result.output.split())


def _world(root: Path, months: int, accounts: int) -> None:
    churn("generate", "--out", str(root / "gen"), "--accounts", str(accounts), "--months", str(months),
          "--oracle-paths", "0", "--workers", "1")  # fmt: skip
    churn("ingest", str(root / "gen"))


@pytest.mark.slow
def test_a_9_month_world_runs_from_generate_to_scores_with_a_30_day_horizon(isolated: Path) -> None:
    _world(isolated, 9, 3000)
    built = churn("features", "build")
    assert "30-day horizon, 30 days of grace" in built  # derived from the 9 months, and said so
    with duckdb.connect(str(isolated / "wh.duckdb"), read_only=True) as con:
        assert label_config(con) == LabelConfig(30, 30, 0.10)  # stored beside the labels
        labeled = con.execute("SELECT count(DISTINCT as_of) FROM features.labels WHERE churn IS NOT NULL").fetchall()
    assert labeled == [(7,)]  # February..August
    for target in ("churn", "upsell"):
        out = churn("dataset", "build", "--target", target)
        assert "train" in out and "valid" in out
    churn("train", "--target", "churn")
    churn("train", "--target", "upsell")
    scored = churn("score")
    assert "Scored" in scored and "accounts at 2024-09-01" in scored


def test_an_8_month_world_with_the_year_like_horizon_is_refused_naming_the_fixes(isolated: Path) -> None:
    """With the 90-day horizon forced on 8 months, the churn labels leave no date to train on: `dataset build`
    refuses, naming the options; with the derived 30-day horizon it builds a training part."""
    _world(isolated, 8, 600)
    churn("features", "build", "--horizon", "90")
    result = CliRunner().invoke(app, ["dataset", "build", "--target", "churn"])
    out = " ".join(result.output.split())
    assert result.exit_code == 1, out
    assert "dataset build failed" in out and "training part is too small" in out
    for option in ("--horizon", "--grace", "--valid-dates", "--every week", "--inner-dates"):
        assert option in out
    churn("features", "build")  # the derived rules: 30 days, the labels rebuilt under them
    with duckdb.connect(str(isolated / "wh.duckdb"), read_only=True) as con:
        assert label_config(con).horizon_days == 30
    assert "train" in churn("dataset", "build", "--target", "upsell")
