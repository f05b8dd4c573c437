"""``churn monitor``: the configuration file, the health flags, and faults planted in real warehouses.

Two warehouses, each built once per module:

- a generated world run through the project's own pipelines (generate, ingest, snapshots, the churn training
  set, a small LightGBM registered as champion, scores at the latest three dates): faults are planted in copies
  of it, and each must be flagged where planted and nowhere else. The generated world drifts by itself (it grows
  from its first day); drift is judged against its own history, which such growth does not alert (the injected
  changes of the generator are in tests/pipelines/test_monitor_changes.py).
- a steady world written here (every snapshot date drawn from the same distributions, events arriving every
  day): no alert without a fault, so the CLI's exit status and webhook can be checked both ways.
"""

import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from models.config import TrainConfig
from pipelines.cli.app import app
from pipelines.generate.run import generate
from pipelines.generate.simulate import Oracle
from pipelines.ingest import ingest
from pipelines.monitor.config import Alert, MonitorConfig, load_config, parse_config
from pipelines.monitor.health import empty_days, stale_alert, type_drops
from pipelines.monitor.run import DRIFT_COLUMNS, EXPERIMENT, MonitorReport, monitor
from pipelines.score import DDL as SCORES_DDL
from pipelines.score import champion_scorer, latest_dates, score
from pipelines.settings import get_settings
from pipelines.snapshots import default_dates, refresh
from pipelines.training.datasets import build_dataset, feature_definitions
from pipelines.training.train import fit_and_evaluate, log_and_register
from pipelines.warehouse import arrow_table, connect
from tests.ports import free_port

EXAMPLE = Path(__file__).parents[2] / "examples" / "monitoring.toml"


# -- the configuration --------------------------------------------------------------------------------------------


def test_the_example_file_documents_every_key_at_its_default() -> None:
    assert load_config(EXAMPLE) == MonitorConfig()
    text = EXAMPLE.read_text()
    for section, model in (("drift", MonitorConfig().drift), ("health", MonitorConfig().health),
                           ("webhook", MonitorConfig().webhook)):  # fmt: skip
        assert f"[{section}]" in text
        for key in type(model).model_fields:
            assert f"\n{key} = " in text, key


def test_an_unknown_key_is_refused_naming_it_and_the_closest_known_one(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text("[drift]\nmin_psy = 0.3\n")
    with pytest.raises(ValueError, match=r"unknown key 'min_psy' in \[drift\]; did you mean 'min_psi'\?"):
        load_config(path)
    with pytest.raises(ValueError, match=r"the key 'psi_alert' in \[drift\] is retired: drift is now judged against"):
        parse_config({"drift": {"psi_alert": 0.3}})
    with pytest.raises(ValueError, match=r"stale_days belongs under \[health\]"):
        parse_config({"drift": {"stale_days": 3}})
    with pytest.raises(ValueError, match=r"unknown section \[helth\]; did you mean 'health'\?"):
        parse_config({"helth": {}})
    with pytest.raises(ValueError, match=r"min_history \(13\) is above history \(12\)"):
        parse_config({"drift": {"min_history": 13}})
    with pytest.raises(ValueError, match=r"health\.type_drop_fraction"):
        parse_config({"health": {"type_drop_fraction": 2}})


# -- the health flags, on counts written here ---------------------------------------------------------------------

AS_OF = datetime(2025, 3, 1, tzinfo=UTC)


def test_a_type_that_drops_alone_is_flagged_and_a_season_that_lowers_every_type_is_not() -> None:
    def weekly(counts: dict[str, list[int]]) -> pd.DataFrame:
        return pd.DataFrame([{"event_type": t, "week": w, "rows": n} for t, ns in counts.items()
                             for w, n in enumerate(ns)])  # fmt: skip

    steady = [100, 100, 90, 110, 100, 105, 95, 100, 100]  # week 0 first
    gone = weekly({"login": steady, "search": [0, *steady[1:]]})
    assert [(d.event_type, d.last_week, d.median) for d in type_drops(gone, 8, 0.5, 20)] == [("search", 0, 100.0)]
    holidays = weekly({"login": [40, *steady[1:]], "search": [45, *steady[1:]]})  # every type at 40-45%
    assert type_drops(holidays, 8, 0.5, 20) == []
    rare = weekly({"login": steady, "export": [0, 5, 5, 5, 5, 5, 5, 5, 5]})  # median 5 < 20 a week
    assert type_drops(rare, 8, 0.5, 20) == []
    missing_weeks = pd.DataFrame({"event_type": ["login"] * 3 + ["search"], "week": [0, 1, 2, 5], "rows": 100})
    assert type_drops(missing_weeks, 8, 0.5, 1) == []  # search's median over 8 weeks with 7 at 0 is 0: not judged


def test_stale_and_empty_day_flags() -> None:
    assert stale_alert("invoices", AS_OF - timedelta(days=13), 10, AS_OF, 14) is None
    a = stale_alert("invoices", AS_OF - timedelta(days=21), 10, AS_OF, 14)
    assert a is not None and (a.kind, a.level, a.subject, a.value) == ("stale_table", "alert", "invoices", 21)
    assert stale_alert("invoices", None, 0, AS_OF, 14) is None  # never had rows: not stale
    days = pd.date_range("2025-02-20", "2025-02-28", tz="UTC")
    daily = pd.Series(5, index=days).drop(pd.Timestamp("2025-02-23", tz="UTC"))
    assert empty_days(daily, datetime(2025, 2, 20, tzinfo=UTC), AS_OF) == [datetime(2025, 2, 23, tzinfo=UTC)]


# -- the generated world ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    warehouse: Path
    tracking_uri: str
    artifacts: Path
    dates: list[datetime]  # the scored as_of dates


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("monitored")
    warehouse = root / "warehouse.duckdb"
    generate(root / "raw", accounts=1000, months=16, seed=5, oracle=Oracle(paths=0))
    ingest(root / "raw", warehouse)
    with connect(warehouse) as con:
        refresh(con, default_dates(con))
        rows, _ = build_dataset(con, "churn")
        registry = feature_definitions(con)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    cfg = TrainConfig.for_target("churn", max_trees=30, family="lightgbm")
    model, scores, _ = fit_and_evaluate(rows, "churn", cfg, registry=registry)
    log_and_register(rows, "churn", cfg, model, scores, None, uri, root / "mlruns", force=True)
    with connect(warehouse) as con:
        dates = latest_dates(con, 3)
        score(con, champion_scorer(uri), dates)
    return World(warehouse, uri, root / "mlruns", dates)


@pytest.fixture
def copy(world: World, tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A writable copy of the generated warehouse, for planting a fault."""
    shutil.copy(world.warehouse, tmp_path / "w.duckdb")
    with connect(tmp_path / "w.duckdb") as con:
        yield con


def flagged(report: MonitorReport, kind: str, subject: str) -> dict[datetime, Alert]:
    return {a.as_of: a for a in report.alerts if a.kind == kind and a.subject == subject}


def test_the_run_stores_drift_health_and_alerts_logs_to_mlflow_and_is_idempotent(world: World, copy: Any) -> None:
    report = monitor(copy, tracking_uri=world.tracking_uri, artifacts=world.artifacts)
    assert report.dates == world.dates
    assert "churn v1's training rows" in report.reference
    drift = copy.sql("SELECT * FROM monitor.drift").to_arrow_table().to_pandas()
    assert list(drift.columns) == list(DRIFT_COLUMNS)
    per_date = drift.groupby(["as_of", "kind"]).size().unstack()
    assert (per_date["score"] == 1).all() and (per_date["family"] >= 8).all() and (per_date["feature"] > 200).all()
    # p_churn's reference is the champion's probabilities on its training rows, as many as those rows.
    assert (drift.loc[drift["kind"] == "score", "n_reference"] == drift["n_reference"].max()).all()
    counts = {t: copy.execute(f"SELECT count(*) FROM monitor.{t}").fetchall()[0][0] for t in ("drift", "health",
                                                                                             "alerts")}  # fmt: skip
    assert counts["alerts"] == len(report.alerts) and counts["health"] == len(report.health)
    client = MlflowClient(world.tracking_uri, world.tracking_uri)
    run = client.get_run(report.run_id)  # type: ignore[arg-type]
    assert client.get_experiment(run.info.experiment_id).name == EXPERIMENT
    history = client.get_metric_history(run.info.run_id, "feature_psi_max")
    assert [m.step for m in history] == [0, 1, 2]
    monitor(copy, tracking_uri=world.tracking_uri, artifacts=world.artifacts)  # again: replaced, not added
    again = {t: copy.execute(f"SELECT count(*) FROM monitor.{t}").fetchall()[0][0] for t in counts}
    assert again["drift"] == counts["drift"] and again["health"] == counts["health"]
    assert again["alerts"] == counts["alerts"]


def test_a_feature_shifted_at_one_date_is_flagged_there_and_an_unshifted_one_nowhere(world: World, copy: Any) -> None:
    latest = world.dates[-1]
    before = monitor(copy)
    copy.execute("UPDATE features.snapshots SET billing_months = billing_months + 6 WHERE as_of = ?", [latest])
    after = monitor(copy)
    hit = flagged(after, "feature_drift", "billing_months")
    assert list(hit) == [latest] and hit[latest].level == "alert", hit
    assert "billing_months (payments) moved abruptly since" in hit[latest].message
    assert flagged(before, "feature_drift", "billing_months") == {}
    assert flagged(after, "feature_drift", "segment") == {}  # unshifted
    psi = after.drift.set_index(["as_of", "subject"])["psi"]
    assert psi[(latest, "billing_months")] > 1 and psi[(latest, "segment")] < 0.05


def test_a_category_no_earlier_date_had_is_flagged_and_gradual_growth_is_not(world: World, copy: Any) -> None:
    latest = world.dates[-1]
    before = monitor(copy)
    # The generated world grows from its first day; judged against its own history, nothing alerts on drift.
    drift_kinds = {"feature_drift", "family_drift", "missing_rate", "changed_share", "new_category", "score_shift"}
    assert [a for a in before.alerts if a.kind in drift_kinds] == []
    copy.execute("UPDATE features.snapshots SET segment = 'startup' WHERE as_of = ? AND account_id IN (SELECT "
                 "account_id FROM features.snapshots WHERE as_of = ? ORDER BY account_id LIMIT 12)",
                 [latest, latest])  # fmt: skip
    hit = flagged(monitor(copy), "new_category", "segment")
    assert list(hit) == [latest] and hit[latest].value == 12, hit
    assert "segment (firmographics) has values no earlier snapshot date had: 'startup' (12 rows)" in hit[latest].message


def test_a_table_whose_last_three_weeks_are_deleted_is_flagged_as_stale(world: World, copy: Any) -> None:
    latest = world.dates[-1]
    assert flagged(monitor(copy), "stale_table", "support_tickets") == {}
    copy.execute("DELETE FROM raw.support_tickets WHERE created_at >= ?", [latest - timedelta(weeks=3)])
    hit = flagged(monitor(copy), "stale_table", "support_tickets")
    assert list(hit) == [latest] and hit[latest].value >= 21, hit
    assert "raw.support_tickets has stopped arriving" in hit[latest].message


def test_an_event_type_deleted_for_14_days_is_flagged_at_the_first_date_after(world: World, copy: Any) -> None:
    middle = world.dates[1]
    copy.execute("DELETE FROM raw.usage_events WHERE event_type = 'search' AND ts >= ? AND ts < ?",
                 [middle - timedelta(days=14), middle])  # fmt: skip
    report = monitor(copy)
    drops = [a for a in report.alerts if a.kind == "event_type_drop"]
    assert [(a.as_of, a.subject, a.value) for a in drops] == [(middle, "usage_events.search", 0)]
    assert "search events in raw.usage_events fell to 0" in drops[0].message


# -- the steady world and the CLI ---------------------------------------------------------------------------------

# 15 monthly dates: the last three have the 12 earlier date-to-date changes that drift is judged against.
STEADY_DATES = [datetime(2024 + (m - 1) // 12, (m - 1) % 12 + 1, 1, tzinfo=UTC) for m in range(4, 19)]
TRAINING = STEADY_DATES[:3]


def steady_warehouse(path: Path, seed: int = 11) -> Path:
    """Accounts created one a day, 150 usage events a day of three types, and snapshots and scores of 600 accounts
    at 15 monthly dates, every date drawn from the same distributions; the first three are the training rows."""
    rng = np.random.default_rng(seed)
    start = datetime(2023, 6, 1, tzinfo=UTC)
    days = (STEADY_DATES[-1] - start).days
    accounts = pd.DataFrame({"account_id": [f"A{i:04d}" for i in range(days)],
                             "created_at": [start + timedelta(days=i) for i in range(days)]})  # fmt: skip
    n = 150 * days
    usage = pd.DataFrame({
        "account_id": rng.choice(accounts["account_id"], n), "user_id": "u",
        "ts": [start + timedelta(seconds=float(s)) for s in np.sort(rng.uniform(0, days * 86400, n))],
        "event_type": rng.choice(["login", "search", "export"], n, p=[0.5, 0.3, 0.2]),
    })  # fmt: skip
    snaps = pd.concat([pd.DataFrame({
        "account_id": [f"A{i:04d}" for i in range(600)], "as_of": d, "logins_30d": rng.poisson(10, 600).astype(float),
        "mrr": np.round(rng.lognormal(6, 0.5, 600), 2), "segment": rng.choice(["smb", "mid_market", "enterprise"], 600),
    }) for d in STEADY_DATES], ignore_index=True)  # fmt: skip
    scores = snaps[["account_id", "as_of"]].assign(p_churn=rng.beta(2, 8, len(snaps)))
    dataset = snaps[snaps["as_of"].isin(TRAINING)].assign(label=0, split="train")
    with connect(path) as con:
        for schema in ("raw", "features", "scores"):
            con.execute(f"CREATE SCHEMA {schema}")
        for name, frame in (("raw.accounts", accounts), ("raw.usage_events", usage), ("features.snapshots", snaps),
                            ("features.dataset_churn", dataset)):  # fmt: skip
            con.register("_f", arrow_table(frame))
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM _f")
            con.unregister("_f")
        con.execute(SCORES_DDL.format(table="scores.accounts"))
        con.register("_f", arrow_table(scores))
        con.execute("INSERT INTO scores.accounts BY NAME SELECT * FROM _f")
    return path


@pytest.fixture(scope="module")
def steady(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return steady_warehouse(tmp_path_factory.mktemp("steady") / "steady.duckdb")


@pytest.fixture
def steady_copy(steady: Path, tmp_path: Path) -> Path:
    shutil.copy(steady, tmp_path / "w.duckdb")
    return tmp_path / "w.duckdb"


def plant_drift(path: Path) -> None:
    with connect(path) as con:
        con.execute("UPDATE features.snapshots SET logins_30d = logins_30d + 8 WHERE as_of = ?", [STEADY_DATES[-1]])


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI's settings under ``tmp_path``: the published monitoring goes to tmp_path/scores, not the checkout."""
    monkeypatch.setenv("CHURN_SCORES", str(tmp_path / "scores"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.delenv("CHURN_TRACKING_URI", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run_cli(path: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["monitor", "--warehouse", str(path), "--no-mlflow", *args])


def stored_alerts(path: Path) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.sql("SELECT * FROM monitor.alerts").to_arrow_table().to_pandas()


def test_fail_on_alert_exits_1_on_planted_drift_and_0_without(steady_copy: Path) -> None:
    clean = run_cli(steady_copy, "--fail-on", "alert")
    assert clean.exit_code == 0, clean.output
    assert stored_alerts(steady_copy).query("level == 'alert'").empty
    plant_drift(steady_copy)
    drifted = run_cli(steady_copy, "--fail-on", "alert")
    assert drifted.exit_code == 1, drifted.output
    out = " ".join(drifted.output.split())
    assert "feature_drift" in out and "logins_30d" in out
    alerts = stored_alerts(steady_copy)
    # The feature, and its family (engagement), whose only feature it is here.
    assert set(alerts.loc[alerts["level"] == "alert", "subject"]) == {"logins_30d", "engagement"}
    assert run_cli(steady_copy, "--fail-on", "never").exit_code == 0
    # Published for the server (it never opens the warehouse): the same alerts, as GET /v1/monitoring serves them.
    published = json.loads((steady_copy.parent / "scores" / "monitoring.json").read_text())
    assert {(a["subject"], a["level"]) for a in published["alerts"]} == {
        (r.subject, r.level) for r in alerts.itertuples(index=False)}  # fmt: skip
    assert published["counts"] == {"alert": int((alerts["level"] == "alert").sum()),
                                   "warn": int((alerts["level"] == "warn").sum())}  # fmt: skip


class Receiver:
    """A real HTTP server on a free loopback port, in a thread, that records each POST's JSON body and answers
    ``status``."""

    def __init__(self, status: int = 200) -> None:
        self.bodies: list[Any] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"receiver says no" if status >= 400 else b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/churn"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_webhook_delivers_the_alerts_as_json(steady_copy: Path) -> None:
    plant_drift(steady_copy)
    with Receiver() as receiver:
        result = run_cli(steady_copy, "--webhook", receiver.url)
    assert result.exit_code == 1, result.output
    assert f"to {receiver.url} (200)" in " ".join(result.output.split())
    [body] = receiver.bodies
    assert body["source"] == "churn monitor" and len(body["dates"]) == len(STEADY_DATES)
    assert body["counts"]["alert"] == sum(a["level"] == "alert" for a in body["alerts"]) >= 1
    hit = [a for a in body["alerts"] if a["subject"] == "logins_30d" and a["kind"] == "feature_drift"]
    assert len(hit) == 1 and hit[0]["as_of"].startswith("2025-06-01") and hit[0]["value"] >= 0.25
    assert set(hit[0]) == {"as_of", "kind", "level", "subject", "value", "threshold", "message"}


@pytest.mark.parametrize("receiver_up", [True, False], ids=["answers-500", "down"])
def test_a_failed_webhook_is_one_clear_line_and_the_alerts_are_still_stored(steady_copy: Path,
                                                                            receiver_up: bool) -> None:  # fmt: skip
    plant_drift(steady_copy)
    if receiver_up:
        with Receiver(status=500) as receiver:
            result = run_cli(steady_copy, "--webhook", receiver.url, "--fail-on", "never")
        expected = f"webhook failed: the webhook {receiver.url} answered 500 Internal Server Error: receiver says no"
    else:
        url = f"http://127.0.0.1:{free_port()}/hooks/churn"
        result = run_cli(steady_copy, "--webhook", url, "--fail-on", "never")
        expected = f"webhook failed: the webhook {url} could not be reached"
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert expected in out and "the alerts are stored in monitor.alerts" in out
    assert "Traceback" not in result.output
    assert "logins_30d" in set(stored_alerts(steady_copy)["subject"])


def test_score_shift_is_measured_against_the_stored_scores_at_the_training_dates(steady_copy: Path) -> None:
    with connect(steady_copy) as con:
        con.execute("UPDATE scores.accounts SET p_churn = least(p_churn * 2.5, 1) WHERE as_of = ?",
                    [STEADY_DATES[-1]])  # fmt: skip
        report = monitor(con, MonitorConfig())
    assert "stored scores" not in " ".join(report.notes)
    shift = flagged(report, "score_shift", "p_churn")
    assert list(shift) == [STEADY_DATES[-1]] and shift[STEADY_DATES[-1]].level == "alert"


def test_a_day_without_events_is_a_warning_at_the_first_date_after(steady_copy: Path) -> None:
    with connect(steady_copy) as con:
        assert [a for a in monitor(con).alerts if a.kind == "empty_day"] == []
        con.execute("DELETE FROM raw.usage_events WHERE ts >= '2025-05-20' AND ts < '2025-05-21'")
        empty = [a for a in monitor(con).alerts if a.kind == "empty_day"]
    assert [(a.as_of, a.level, a.subject) for a in empty] == [(STEADY_DATES[-1], "warn", "usage_events")]
    assert "raw.usage_events has no rows on 2025-05-20" in empty[0].message


def test_the_reference_follows_the_champion_when_the_training_set_was_rebuilt_since(world: World, copy: Any) -> None:
    copy.execute("DELETE FROM features.dataset_churn WHERE as_of = (SELECT min(as_of) FROM features.dataset_churn)")
    report = monitor(copy, tracking_uri=world.tracking_uri, artifacts=world.artifacts)
    assert report.reference.startswith("the snapshots at churn v1's training dates"), report.reference
    with_dataset = monitor(copy)  # no registry to ask: the training set as it is now
    assert with_dataset.reference.startswith("the train part of features.dataset_churn,")


def test_extra_checks_add_alerts_that_are_stored_and_replaced(steady_copy: Path) -> None:
    def check(con: duckdb.DuckDBPyConnection, dates: list[datetime], config: MonitorConfig) -> list[Alert]:
        return [Alert(dates[-1], "performance", "alert", "roc_auc", 0.55, 0.6, "ROC AUC fell to 0.55")]

    with connect(steady_copy) as con:
        report = monitor(con, extra_checks=[check])
        assert report.count("alert") == 1 and report.alerts[-1].kind == "performance"
        assert con.execute("SELECT count(*) FROM monitor.alerts WHERE kind = 'performance'").fetchall() == [(1,)]
        monitor(con)  # the check gone: its alert at a recomputed date goes too
        assert con.execute("SELECT count(*) FROM monitor.alerts WHERE kind = 'performance'").fetchall() == [(0,)]
