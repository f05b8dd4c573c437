"""``pipelines.monitor.performance`` on a small generated world whose churn model was trained with the project's
code, its out-of-time figures logged to an MLflow run of a registered version, and the latest scoring dates scored
with it: realised metrics equal scikit-learn's (and slow references written here) on a hand join of the stored
scores and labels; dates whose labels have not matured get an estimate only; labels not known at the data end are
never read, even when planted."""

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
from sklearn.metrics import average_precision_score, roc_auc_score

from features.labels import LabelConfig
from models.config import TrainConfig
from models.estimated import Recalibration, estimate
from models.evaluation import evaluate_validation
from models.scoring import Scorer
from pipelines.generate.run import generate
from pipelines.ingest import ingest
from pipelines.monitor.config import MonitorConfig
from pipelines.monitor.performance import OVERALL, PerformanceReport, performance
from pipelines.monitor.performance_check import FRAMES, PerformanceCheck
from pipelines.score import score
from pipelines.snapshots import default_dates, refresh
from pipelines.snapshots.dates import data_bounds
from pipelines.snapshots.labels import resolve_labels, store_label_config
from pipelines.training.datasets import build_dataset, feature_definitions
from pipelines.training.train import fit_and_select, flat_metrics
from pipelines.warehouse import connect
from tests.models.test_estimated import platt_by_hand

SCORED = 6  # the latest snapshot dates scored: with 20 months (a 90-day horizon, 30 days of grace) 2 have matured
FAST = {"resamples": 60, "draws": 200}  # the intervals' sizes do not change the figures these tests compare


@dataclass(frozen=True)
class World:
    warehouse: Path
    tracking_uri: str
    version: str
    logged: dict[str, float]  # the training run's metrics, as churn train logs them
    scored: list[datetime]
    data_end: datetime
    labels: LabelConfig


def register(root: Path, logged: dict[str, float]) -> tuple[str, str]:
    """A registered churn version whose run holds ``logged``, in a SQLite store under ``root`` (the model's files are
    not logged: performance reads the run's metrics only)."""
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    experiment = client.create_experiment("churn-churn", artifact_location=(root / "mlruns").as_uri())
    run = client.create_run(experiment)
    client.log_batch(run.info.run_id, metrics=[Metric(k, float(v), 0, 0) for k, v in logged.items() if np.isfinite(v)])
    client.set_terminated(run.info.run_id)
    client.create_registered_model("churn")
    version = client.create_model_version("churn", f"{run.info.artifact_uri}/model", run.info.run_id)
    return uri, str(version.version)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("monitor-performance")
    warehouse = root / "warehouse.duckdb"
    generate(root / "raw", accounts=1200, months=20, seed=4)
    ingest(root / "raw", warehouse)
    with connect(warehouse) as con:
        labels = resolve_labels(con)
        dates = default_dates(con)
        refresh(con, dates, lcfg=labels)
        rows, _ = build_dataset(con, "churn")
        cfg = TrainConfig.for_target("churn", family="lightgbm", max_trees=40)
        fitted = fit_and_select(rows, "churn", cfg, labels=labels, registry=feature_definitions(con))
        valid = rows[rows["split"] == "valid"].reset_index(drop=True)
        logged = flat_metrics(evaluate_validation(valid, fitted.scores, "churn", resamples=50))
        uri, version = register(root, logged)
        scored = dates[-SCORED:]
        score(con, Scorer(fitted.model, None, {"churn": version}), scored)
        end = data_bounds(con)[1]
    return World(warehouse, uri, version, logged, scored, end, labels)


@pytest.fixture(scope="module")
def report(world: World) -> PerformanceReport:
    with duckdb.connect(str(world.warehouse), read_only=True) as con:
        return performance(con, "churn", world.tracking_uri, **FAST)


def matured(world: World, as_of: datetime, end: datetime | None = None) -> bool:
    return as_of + timedelta(days=world.labels.reads_days("churn")) <= (end or world.data_end)


def hand_joined(world: World, as_of: datetime) -> pd.DataFrame:
    """The stored scores of ``as_of`` joined by hand with the labels ``churn features build`` stored."""
    sql = ("SELECT s.account_id, s.segment, s.p_churn, s.arr, l.churn FROM scores.accounts s "
           "JOIN features.labels l USING (account_id, as_of) WHERE s.as_of = ? ORDER BY s.account_id")  # fmt: skip
    with duckdb.connect(str(world.warehouse), read_only=True) as con:
        return con.sql(sql, params=[as_of]).to_arrow_table().to_pandas()


def slow_ece(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Ten bins of (nearly) equal counts over the rows sorted by probability, the first ones one row larger."""
    rows = sorted(zip(p, y, strict=True), key=lambda r: r[0])
    size, extra = divmod(len(rows), bins)
    total, start = 0.0, 0
    for b in range(bins):
        part = rows[start : start + size + (1 if b < extra else 0)]
        start += len(part)
        total += len(part) * abs(sum(r[1] for r in part) / len(part) - sum(r[0] for r in part) / len(part))
    return total / len(rows)


def slow_top_decile(y: np.ndarray, p: np.ndarray, arr: np.ndarray) -> tuple[float, float]:
    """Lift (churn rate in the top 10% over the overall rate) and the share of churned ARR there."""
    k = max(1, round(0.1 * len(p)))
    top = sorted(range(len(p)), key=lambda i: -p[i])[:k]
    lift = (sum(y[i] for i in top) / k) / (sum(y) / len(y))
    churned = sum(a for a, v in zip(arr, y, strict=True) if v)
    return lift, sum(arr[i] for i in top if y[i]) / churned


def test_the_world_has_matured_and_unmatured_scoring_dates(world: World) -> None:
    states = [matured(world, d) for d in world.scored]
    assert any(states) and not all(states)


def test_a_matured_date_gets_sklearns_metrics_on_the_hand_joined_scores_and_labels(
    world: World, report: PerformanceReport
) -> None:
    as_of = max(d for d in world.scored if matured(world, d))
    rows = hand_joined(world, as_of)
    realised = report.realised[report.realised["as_of"] == pd.Timestamp(as_of)]
    segment = rows["segment"].value_counts().index[0]
    for scope, part in ((OVERALL, rows), (segment, rows[rows["segment"] == segment])):
        y, p, arr = part["churn"].to_numpy(float), part["p_churn"].to_numpy(float), part["arr"].to_numpy(float)
        lift, revenue = slow_top_decile(y, p, arr)
        want = {"roc_auc": roc_auc_score(y, p), "pr_auc": average_precision_score(y, p), "ece": slow_ece(y, p),
                "lift_top_decile": lift, "revenue_captured_top_decile": revenue}  # fmt: skip
        got = realised[realised["segment"] == scope].set_index("metric")
        assert set(got.index) == set(want)
        for metric, value in want.items():
            assert got.loc[metric, "value"] == pytest.approx(value, abs=1e-12), (scope, metric)
            assert got.loc[metric, "low"] <= value <= got.loc[metric, "high"], (scope, metric)
        assert (got["rows"] == len(y)).all() and (got["positives"] == y.sum()).all()
        assert (got["model_version"] == world.version).all()
    # The figure seen at training is the registered version's logged one, beside the overall scope only.
    overall = realised[realised["segment"] == OVERALL].set_index("metric")
    assert overall.loc["roc_auc", "training_value"] == pytest.approx(world.logged["roc_auc"])
    assert overall.loc["pr_auc", "training_low"] == pytest.approx(world.logged["pr_auc_low"])
    assert realised.loc[realised["segment"] != OVERALL, "training_value"].isna().all()
    # Its reliability bins hold every row, and the estimate that would have been made sits in the track record.
    bins = report.reliability[(report.reliability["as_of"] == pd.Timestamp(as_of))
                              & (report.reliability["segment"] == OVERALL)]  # fmt: skip
    assert bins["rows"].sum() == len(rows) and len(bins) == 10
    track = report.track_record[(report.track_record["as_of"] == pd.Timestamp(as_of))
                                & (report.track_record["segment"] == OVERALL)].set_index("metric")  # fmt: skip
    assert track.loc["roc_auc", "realised"] == pytest.approx(roc_auc_score(rows["churn"], rows["p_churn"]))
    # No date's labels were known the day this one was scored: its probabilities are taken as they are.
    assert track.loc["roc_auc", "calibrated_on"] == 0
    expected = estimate(rows["p_churn"].to_numpy(float), FAST["draws"])["roc_auc"]
    assert track.loc["roc_auc", "estimate"] == pytest.approx(expected.value, abs=1e-12)
    covered = expected.low <= track.loc["roc_auc", "realised"] <= expected.high
    assert track.loc["roc_auc", "covered"] == covered


def test_an_unmatured_date_gets_an_estimate_only(world: World, report: PerformanceReport) -> None:
    waiting = [pd.Timestamp(d) for d in world.scored if not matured(world, d)]
    for frame in (report.realised, report.track_record, report.reliability):
        assert not frame["as_of"].isin(waiting).any()
    latest = report.estimated[(report.estimated["as_of"] == waiting[-1]) & (report.estimated["segment"] == OVERALL)]
    assert set(latest["metric"]) == {"roc_auc", "pr_auc"} and not latest["matured"].any()
    with duckdb.connect(str(world.warehouse), read_only=True) as con:
        p = con.sql("SELECT p_churn FROM scores.accounts WHERE as_of = ? ORDER BY account_id",
                    params=[waiting[-1].to_pydatetime()]).fetchnumpy()["p_churn"]  # fmt: skip
    got = latest.set_index("metric").loc["roc_auc"]
    # Recalibrated on the labels known the day it was scored: the matured dates whose read window closed by then.
    reads = timedelta(days=world.labels.reads_days("churn"))
    known = [d for d in world.scored if matured(world, d) and d + reads <= waiting[-1]]
    ref = pd.concat([hand_joined(world, d) for d in known])
    assert got["calibrated_on"] == len(ref) >= 500
    ab, cov = platt_by_hand(ref["p_churn"].to_numpy(float), ref["churn"].to_numpy(float))
    want = estimate(p, FAST["draws"], recalibration=Recalibration(ab[0], ab[1], cov, len(ref)))["roc_auc"]
    assert (got["estimate"], got["low"], got["high"], got["rows"]) == pytest.approx(
        (want.value, want.low, want.high, len(p)), abs=2e-3
    )
    assert report.data_end == world.data_end


def test_labels_not_known_at_the_data_end_are_never_used(world: World, tmp_path: Path) -> None:
    """Planted: labels stored for a date whose read window passes the data end (as a build with later data would
    leave); and a run whose data end is set before a date's window closes. Neither date gets a realised figure."""
    copy = tmp_path / "warehouse.duckdb"
    copy.write_bytes(world.warehouse.read_bytes())
    waiting = max(world.scored)
    ripe = max(d for d in world.scored if matured(world, d))
    with duckdb.connect(str(copy)) as con:
        con.execute("UPDATE features.labels SET churn = CASE WHEN hash(account_id) % 2 = 0 THEN 1 ELSE 0 END "
                    "WHERE as_of = ?", [waiting])  # fmt: skip
        no_registry = f"sqlite:///{tmp_path / 'none.db'}"  # not created: no training figures sought
        planted = performance(con, "churn", no_registry, **FAST)
        # A data end one day before the latest matured date's label window closes.
        early = ripe + timedelta(days=world.labels.reads_days("churn") - 1)
        earlier = performance(con, "churn", no_registry, data_end=early, **FAST)
    assert not planted.realised["as_of"].isin([pd.Timestamp(waiting)]).any()
    assert pd.Timestamp(ripe) in set(planted.realised["as_of"])
    assert not earlier.realised["as_of"].isin([pd.Timestamp(ripe)]).any()
    assert earlier.data_end == early and not (tmp_path / "none.db").exists()
    flags = earlier.estimated.groupby("as_of")["matured"].first()
    assert {d: bool(flags[pd.Timestamp(d)]) for d in world.scored} == {
        d: matured(world, d, early) for d in world.scored
    }
    # Dates matured at both ends get the same figures.
    both = [pd.Timestamp(d) for d in world.scored if matured(world, d, early)]
    keep = ["as_of", "segment", "metric", "value"]
    np.testing.assert_allclose(
        planted.realised[planted.realised["as_of"].isin(both)].sort_values(keep[:3])["value"],
        earlier.realised[earlier.realised["as_of"].isin(both)].sort_values(keep[:3])["value"],
    )


def test_scores_are_required() -> None:
    with duckdb.connect() as con, pytest.raises(ValueError, match="run `churn score` first"):
        performance(con)


def test_a_feature_table_warehouse_is_judged_by_its_stored_labels(tmp_path: Path) -> None:
    """No raw tables (``churn dataset import``): the stored labels say which dates have matured (not NULL)."""
    rng = np.random.default_rng(0)
    first, second = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC)
    ids = [f"A{i:03d}" for i in range(60)]
    p = rng.uniform(0.01, 0.6, size=2 * len(ids))
    y = (rng.random(len(ids)) < p[: len(ids)]).astype(float)
    with duckdb.connect() as con:
        con.execute("CREATE SCHEMA scores")
        con.execute(
            "CREATE TABLE scores.accounts (account_id VARCHAR, as_of TIMESTAMPTZ, segment VARCHAR, "
            "p_churn DOUBLE, p_upsell DOUBLE, arr DOUBLE, churn_version VARCHAR, upsell_version VARCHAR)"
        )
        keys = [(a, d) for d in (first, second) for a in ids]
        scored = [(a, d, float(q)) for (a, d), q in zip(keys, p, strict=True)]
        con.executemany("INSERT INTO scores.accounts VALUES (?, ?, NULL, ?, NULL, 1000, '3', NULL)", scored)
        store_label_config(con, LabelConfig())
        con.execute("CREATE TABLE features.labels (account_id VARCHAR, as_of TIMESTAMPTZ, churn INTEGER, "
                    "upsell INTEGER)")  # fmt: skip
        con.executemany("INSERT INTO features.labels VALUES (?, ?, ?, NULL)",
                        [(a, first, int(v)) for a, v in zip(ids, y, strict=True)]
                        + [(a, second, None) for a in ids])  # fmt: skip
        got = performance(con, "churn", f"sqlite:///{tmp_path / 'none.db'}", **FAST)
    assert got.data_end is None
    assert set(got.realised["as_of"]) == {pd.Timestamp(first)}
    assert set(got.realised["segment"]) == {OVERALL, "unknown"}
    auc = got.realised.set_index(["segment", "metric"]).loc[(OVERALL, "roc_auc"), "value"]
    assert auc == pytest.approx(roc_auc_score(y, p[: len(ids)]), abs=1e-12)
    assert got.estimated.groupby("as_of")["matured"].first().to_dict() == {
        pd.Timestamp(first): True, pd.Timestamp(second): False
    }  # fmt: skip


def test_the_check_of_churn_monitor_stores_the_frames_and_alerts_on_planted_drops(world: World, tmp_path: Path) -> None:
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(world.warehouse, copy)
    ripe = next(d for d in world.scored if matured(world, d))
    unripe = world.scored[-1]
    assert not matured(world, unripe)
    check = PerformanceCheck(world.tracking_uri, resamples=60)
    with connect(copy) as con:
        assert check(con, world.scored, MonitorConfig()) == []  # the model as it was: nothing to say
        counts = [con.execute(f"SELECT count(*) FROM monitor.{n}").fetchall()[0][0] for n in FRAMES]
        assert all(c > 0 for c in counts)
        # Planted: the scores of a matured date shuffled across its accounts (a ranking no better than chance), and
        # those of the latest date squashed to nearly one value (an estimate of chance before any label).
        rows = con.sql("SELECT account_id, p_churn FROM scores.accounts WHERE as_of = ?", params=[ripe]).df()
        rows["p_churn"] = np.random.default_rng(0).permutation(rows["p_churn"].to_numpy())
        con.register("shuffled", rows)
        con.execute("UPDATE scores.accounts s SET p_churn = x.p_churn FROM shuffled x "
                    "WHERE s.account_id = x.account_id AND s.as_of = ?", [ripe])  # fmt: skip
        con.execute("UPDATE scores.accounts SET p_churn = 0.05 + (hash(account_id) % 7) * 1e-6 WHERE as_of = ?",
                    [unripe])  # fmt: skip
        got = check(con, world.scored, MonitorConfig())
        again = [con.execute(f"SELECT count(*) FROM monitor.{n}").fetchall()[0][0] for n in FRAMES]
    assert {(a.kind, a.level, a.as_of) for a in got} == {("performance_drop", "alert", ripe),
                                                         ("estimated_drop", "warn", unripe)}  # fmt: skip
    assert again == counts  # the dates' rows replaced, not added again
