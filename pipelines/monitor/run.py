"""``monitor``: for every scored as_of in ``scores.accounts``, the drift of each feature, each family and of
p_churn against the champion's training rows, the health of the raw tables, and the alerts the configuration's
thresholds raise; stored in the warehouse's ``monitor`` schema (the rows of the dates it computes are replaced:
running it twice leaves the same rows) and summarised in an MLflow run of the experiment ``monitoring``.

The reference (what "no drift" means) is the churn champion's training rows: the train part of
``features.dataset_churn`` when the champion was trained on those dates (its run's ``data_fingerprint.json``
says which); when the training set has been rebuilt since, the snapshots at the champion's own training dates;
without a registry to ask, the train part of ``features.dataset_churn``. p_churn's reference is the champion's
probabilities on those rows (with a registry), else the stored scores at those dates, if any.

Performance checks (realised and estimated performance of past scores, ``pipelines/monitor/performance.py``)
plug in through ``extra_checks``: callables given the connection, the dates and the configuration, returning
alerts that are stored, counted and sent with the rest.
"""

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import duckdb
import httpx
import numpy as np
import pandas as pd

from models.drift import drift_table, family_drift, psi
from pipelines.monitor.config import LEVELS, Alert, DriftConfig, Level, MonitorConfig
from pipelines.monitor.health import HEALTH_COLUMNS, table_health
from pipelines.monitor.history import STEP_COLUMNS, history_checks
from pipelines.training.datasets import column_families, feature_definitions
from pipelines.warehouse import arrow_table, has_table

logger = logging.getLogger(__name__)

EXPERIMENT = "monitoring"
KEYS = ("account_id", "as_of")  # snapshot columns that are not features
NOT_FEATURES = ("label", "split")  # training-set columns that are not features


class Check(Protocol):
    """An extra check (the hook for performance checks): alerts about ``dates`` under ``config``. Each alert's
    as_of should be one of ``dates``; its alerts replace the stored ones of the same as_of and kind."""

    def __call__(self, con: duckdb.DuckDBPyConnection, dates: list[datetime], config: MonitorConfig) -> list[Alert]: ...


@dataclass(frozen=True)
class Reference:
    rows: pd.DataFrame  # feature rows the models learnt from
    source: str  # where they come from, in words
    p_churn: np.ndarray | None  # the churn probabilities at the training dates; None: unknown
    p_churn_source: str


@dataclass
class MonitorReport:
    dates: list[datetime]
    reference: str  # which rows served as the reference, in words
    drift: pd.DataFrame  # the rows stored in monitor.drift
    health: pd.DataFrame  # the rows stored in monitor.health
    alerts: list[Alert]
    seconds: float
    run_id: str | None = None  # the MLflow run, when logged
    notes: list[str] = field(default_factory=list)  # what could not be computed, and why

    def count(self, level: Level) -> int:
        return sum(a.level == level for a in self.alerts)


# -- what to compare ----------------------------------------------------------------------------------------------


def scored_dates(con: duckdb.DuckDBPyConnection) -> list[datetime]:
    """The as_of dates of ``scores.accounts``, oldest first."""
    if not has_table(con, "scores", "accounts"):
        raise ValueError("the warehouse has no scores.accounts: run `churn score` first")
    dates = [r[0] for r in con.execute("SELECT DISTINCT as_of FROM scores.accounts ORDER BY 1").fetchall()]
    if not dates:
        raise ValueError("scores.accounts is empty: run `churn score` first")
    return dates


def feature_families(con: duckdb.DuckDBPyConnection, columns: Sequence[str]) -> tuple[dict[str, str], set[str]]:
    """The features among ``columns`` (feature -> family) and which are categorical: the registry's families for
    its features, a feature table's own (``churn dataset import --families``) for its columns, else each column is
    a family of its own; a column of text is categorical."""
    registry = feature_definitions(con)
    own = column_families(con)
    families: dict[str, str] = {}
    for c in columns:
        if c in KEYS or c in NOT_FEATURES:
            continue
        families[c] = registry[c].family if c in registry else own.get(c, c)
    categorical = {c for c in families if c in registry and registry[c].categorical}
    return families, categorical


def reference(con: duckdb.DuckDBPyConnection, tracking_uri: str | None = None, alias: str = "champion") -> Reference:
    """The rows the churn model at ``alias`` was trained on, and its probabilities on them (see the module's
    docstring for the rules)."""
    dataset = _rows(con, "SELECT * FROM features.dataset_churn WHERE split = 'train' ORDER BY as_of, account_id") \
        if has_table(con, "features", "dataset_churn") else None  # fmt: skip
    source = "the train part of features.dataset_churn"
    model = None
    if tracking_uri is not None:
        from models.registered import ModelNotFound, load_registered

        try:
            model = load_registered("churn", alias, tracking_uri)
        except ModelNotFound as e:
            logger.info("no churn model at %s to take the training dates from: %s", alias, e)
    if model is not None:
        first, last = _trained_dates(tracking_uri, model.run_id)  # type: ignore[arg-type]
        have = (dataset["as_of"].min(), dataset["as_of"].max()) if dataset is not None and len(dataset) else None
        if first is not None and (have is None or (have[0], have[1]) != (first, last)):
            dataset = _rows(con, "SELECT * FROM features.snapshots WHERE as_of BETWEEN ? AND ? ORDER BY as_of, "
                            "account_id", [first, last])  # fmt: skip
            source = f"the snapshots at churn v{model.version}'s training dates"
        else:
            source = f"the train part of features.dataset_churn (churn v{model.version}'s training rows)"
    if dataset is None or dataset.empty:
        raise ValueError("no training rows to compare against: build the training set (`churn dataset build "
                         "--target churn`) and train (`churn train --target churn`) first")  # fmt: skip
    first_date, last_date = dataset["as_of"].min(), dataset["as_of"].max()
    source += f", {len(dataset):,} rows from {first_date:%Y-%m-%d} to {last_date:%Y-%m-%d}"
    if model is not None:
        m = model.model
        p = np.asarray(m.predict_proba(m.prepare(dataset))[:, 1], dtype=float)
        return Reference(dataset, source, p, f"churn v{model.version}'s probabilities on the reference rows")
    stored = _rows(con, "SELECT p_churn FROM scores.accounts WHERE as_of BETWEEN ? AND ?", [first_date, last_date])
    if len(stored):
        return Reference(dataset, source, stored["p_churn"].to_numpy(dtype=float),
                         "the stored scores at the training dates")  # fmt: skip
    return Reference(dataset, source, None, "")


def _trained_dates(tracking_uri: str, run_id: str) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """The first and last training as_of of an MLflow training run (its ``data_fingerprint.json``)."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        run = MlflowClient(tracking_uri, tracking_uri).get_run(run_id)
        got = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/data_fingerprint.json")
        train = got["train"]
        return pd.Timestamp(train["first_as_of"]), pd.Timestamp(train["last_as_of"])
    except (MlflowException, OSError, KeyError, ValueError):
        return None, None


# -- drift and its alerts -----------------------------------------------------------------------------------------


def drift_at(
    as_of: datetime, ref: Reference, current: pd.DataFrame, p_churn: np.ndarray, families: dict[str, str],
    categorical: set[str], cfg: DriftConfig,
) -> pd.DataFrame:  # fmt: skip
    """The monitor.drift rows of one scoring date against the training rows: information, not alerts (a growing
    customer base drifts from any fixed reference by itself; the alerts judge each date against the data's own
    history, ``pipelines/monitor/history.py``)."""
    per_feature = drift_table(ref.rows, current, families, categorical, bins=cfg.bins)
    per_family = family_drift(per_feature)
    rows = [per_feature.assign(kind="feature", subject=per_feature["feature"]).drop(columns="feature"),
            per_family.rename(columns={"family": "subject", "psi_max": "psi"})
            .assign(kind="family", family=per_family["family"])]  # fmt: skip
    if ref.p_churn is not None and len(p_churn):
        value = psi(ref.p_churn, p_churn, bins=cfg.bins)
        rows.append(pd.DataFrame([{"kind": "score", "subject": "p_churn", "psi": value,
                                   "n_reference": len(ref.p_churn), "n_current": len(p_churn)}]))  # fmt: skip
    out = pd.concat([r for r in rows if len(r)], ignore_index=True).assign(as_of=as_of, reference=ref.source)
    return out.reindex(columns=list(DRIFT_COLUMNS))


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]


DRIFT_COLUMNS = ("as_of", "kind", "subject", "family", "categorical", "psi", "psi_mean", "js", "missing_reference",
                 "missing_current", "missing_change", "n_reference", "n_current", "reference",
                 *STEP_COLUMNS)  # fmt: skip
"""``monitor.drift``: per as_of, a row per feature (kind 'feature': psi, js, missing rates against the training
rows), per family (kind 'family': psi is the max over its features, psi_mean their mean) and for p_churn (kind
'score'), with the reference in words; and the change since the snapshot date before with the limit its history
allows (``history.STEP_COLUMNS``: step_psi, step_limit; missing_step, missing_limit; changed_share,
changed_limit; NaN where not measured or not judged)."""
ALERT_COLUMNS = ("as_of", "kind", "level", "subject", "value", "threshold", "message")


# -- the run ------------------------------------------------------------------------------------------------------


def monitor(
    con: duckdb.DuckDBPyConnection, config: MonitorConfig | None = None, *, tracking_uri: str | None = None,
    alias: str = "champion", dates: Sequence[datetime] | None = None, extra_checks: Sequence[Check] = (),
    artifacts: Path = Path("mlruns"),
) -> MonitorReport:  # fmt: skip
    """Compute drift, data health and alerts for ``dates`` (default: every as_of of ``scores.accounts``), store them
    in ``monitor.drift``, ``monitor.health`` and ``monitor.alerts`` (replacing those dates' rows), and, with
    ``tracking_uri``, log a summary run in the MLflow experiment ``monitoring`` (its artifacts under
    ``artifacts``). ``tracking_uri`` also finds the champion (at ``alias``) whose training rows are the
    reference; ``extra_checks`` add alerts (performance checks)."""
    t0 = time.perf_counter()
    cfg = config or MonitorConfig()
    dates = sorted(dates or scored_dates(con))
    ref = reference(con, tracking_uri, alias)
    families, categorical = feature_families(con, list(ref.rows.columns))
    snap_cols = {r[0] for r in con.execute("DESCRIBE features.snapshots").fetchall()}
    gone = [f for f in families if f not in snap_cols]
    notes = [f"{len(gone)} features of the reference are not in features.snapshots any more (left out): "
             f"{', '.join(gone[:5])}"] if gone else []  # fmt: skip
    families = {f: fam for f, fam in families.items() if f in snap_cols}
    if ref.p_churn is None:
        notes.append("no churn probabilities at the training dates (no registry given, and no stored scores then): "
                     "the score shift is not measured")  # fmt: skip
    drift_parts, health_parts, alerts = [], [], []
    for as_of in dates:
        current = _rows(con, "SELECT * FROM features.snapshots WHERE as_of = ?", [as_of])
        if current.empty:
            notes.append(f"no snapshot rows at {as_of:%Y-%m-%d}: its drift is not measured")
            continue
        p = _rows(con, "SELECT p_churn FROM scores.accounts WHERE as_of = ?", [as_of])["p_churn"].to_numpy(float)
        drift_parts.append(drift_at(as_of, ref, current, p, families, categorical, cfg.drift))
        h, a = table_health(con, as_of, cfg.health)
        health_parts.append(h)
        alerts += a
    steps, found, short = history_checks(con, dates, families, categorical, cfg.drift)
    alerts, notes = found + alerts, notes + short
    for check in extra_checks:
        alerts += check(con, list(dates), cfg)
    drift = pd.concat(drift_parts, ignore_index=True) if drift_parts else pd.DataFrame(columns=list(DRIFT_COLUMNS))
    drift = _with_steps(drift, steps)
    health = pd.concat(health_parts, ignore_index=True) if health_parts else pd.DataFrame(columns=list(HEALTH_COLUMNS))
    store(con, dates, drift, health, alerts)
    report = MonitorReport(list(dates), ref.source, drift, health, alerts, 0.0, notes=notes)
    if tracking_uri is not None:
        report.run_id = log_run(report, tracking_uri, artifacts)
    report.seconds = time.perf_counter() - t0
    return report


def _with_steps(drift: pd.DataFrame, steps: pd.DataFrame) -> pd.DataFrame:
    """The training-reference rows with the history columns of the same (as_of, kind, subject) beside them."""
    keys = ["as_of", "kind", "subject"]
    merged = drift.drop(columns=list(STEP_COLUMNS)).merge(steps[[*keys, *STEP_COLUMNS]], on=keys, how="left")
    return merged.reindex(columns=list(DRIFT_COLUMNS))


DDL = {
    "drift": "CREATE TABLE IF NOT EXISTS monitor.drift (as_of TIMESTAMPTZ NOT NULL, kind VARCHAR NOT NULL, "
             "subject VARCHAR NOT NULL, family VARCHAR, categorical BOOLEAN, psi DOUBLE, psi_mean DOUBLE, js DOUBLE, "
             "missing_reference DOUBLE, missing_current DOUBLE, missing_change DOUBLE, n_reference BIGINT, "
             "n_current BIGINT, reference VARCHAR, step_psi DOUBLE, step_limit DOUBLE, missing_step DOUBLE, "
             "missing_limit DOUBLE, changed_share DOUBLE, changed_limit DOUBLE)",
    "health": "CREATE TABLE IF NOT EXISTS monitor.health (as_of TIMESTAMPTZ NOT NULL, table_name VARCHAR NOT NULL, "
              "event_type VARCHAR, metric VARCHAR NOT NULL, period_start TIMESTAMPTZ, value DOUBLE, "
              "latest_at TIMESTAMPTZ)",
    "alerts": "CREATE TABLE IF NOT EXISTS monitor.alerts (as_of TIMESTAMPTZ NOT NULL, kind VARCHAR NOT NULL, "
              "level VARCHAR NOT NULL, subject VARCHAR NOT NULL, value DOUBLE, threshold DOUBLE, message VARCHAR, "
              "created_at TIMESTAMPTZ)",
}  # fmt: skip


def alerts_frame(alerts: Sequence[Alert]) -> pd.DataFrame:
    frame = pd.DataFrame([asdict(a) for a in alerts], columns=list(ALERT_COLUMNS))
    frame["as_of"] = pd.to_datetime(frame["as_of"], utc=True)
    return frame.astype({"value": float, "threshold": float})


def store(con: duckdb.DuckDBPyConnection, dates: Sequence[datetime], drift: pd.DataFrame, health: pd.DataFrame,
          alerts: Sequence[Alert]) -> None:  # fmt: skip
    """Replace the rows of ``dates`` in monitor.drift, monitor.health and monitor.alerts (one transaction); alerts
    at other dates (from an extra check) replace those of their own as_of and kind."""
    con.execute("CREATE SCHEMA IF NOT EXISTS monitor")
    for ddl in DDL.values():
        con.execute(ddl)
    for c in STEP_COLUMNS:  # a monitor.drift written before these columns existed
        con.execute(f"ALTER TABLE monitor.drift ADD COLUMN IF NOT EXISTS {c} DOUBLE")
    frames = {
        "drift": drift.reindex(columns=list(DRIFT_COLUMNS)).astype({"categorical": "boolean"}),
        "health": health.reindex(columns=list(HEALTH_COLUMNS)),
        "alerts": alerts_frame(alerts).assign(created_at=pd.Timestamp(datetime.now(UTC))),
    }
    for name, frame in frames.items():
        for c in ("as_of", "period_start", "latest_at"):
            if c in frame.columns:
                frame[c] = pd.to_datetime(frame[c], utc=True)
        con.register(f"_monitor_{name}", arrow_table(frame))
    con.execute("CREATE OR REPLACE TEMP TABLE _monitor_dates AS SELECT UNNEST(CAST(? AS TIMESTAMPTZ[])) AS as_of",
                [list(dates)])  # fmt: skip
    con.begin()
    try:
        for name in frames:
            con.execute(f"DELETE FROM monitor.{name} WHERE as_of IN (SELECT as_of FROM _monitor_dates)")
        con.execute("DELETE FROM monitor.alerts WHERE EXISTS (SELECT 1 FROM _monitor_alerts n WHERE "
                    "n.as_of = monitor.alerts.as_of AND n.kind = monitor.alerts.kind)")  # fmt: skip
        for name in frames:
            con.execute(f"INSERT INTO monitor.{name} BY NAME SELECT * FROM _monitor_{name}")
    except BaseException:
        con.rollback()
        raise
    finally:
        for name in frames:
            con.unregister(f"_monitor_{name}")
    con.commit()


# -- reporting: MLflow and the webhook ----------------------------------------------------------------------------


def log_run(report: MonitorReport, tracking_uri: str, artifacts: Path) -> str:
    """One run in the experiment ``monitoring``: per as_of (step = its index; timestamp = the as_of) the largest and
    mean feature PSI, the features at warning and alert, each family's mean PSI, the score PSI and the alert
    counts; the alerts as ``alerts.json``; the reference as a tag."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri, tracking_uri)
    exp = client.get_experiment_by_name(EXPERIMENT)
    exp_id = exp.experiment_id if exp else client.create_experiment(EXPERIMENT, artifacts.resolve().as_uri())
    latest = report.dates[-1]
    dates = ", ".join(f"{d:%Y-%m-%d}" for d in report.dates)
    tags = {"reference": report.reference[:5000], "dates": dates[:5000]}
    run = client.create_run(exp_id, run_name=f"monitor {latest:%Y-%m-%d}", tags=tags)
    metrics: list[Metric] = []
    for step, as_of in enumerate(report.dates):
        ms = int(pd.Timestamp(as_of).timestamp() * 1000)
        d = report.drift[report.drift["as_of"] == as_of]
        feats = d[d["kind"] == "feature"]
        values: dict[str, float] = {
            "feature_psi_max": float(feats["psi"].max()), "feature_psi_mean": float(feats["psi"].mean()),
            "alerts": sum(a.as_of == as_of and a.level == "alert" for a in report.alerts),
            "warnings": sum(a.as_of == as_of and a.level == "warn" for a in report.alerts),
        }  # fmt: skip
        for level in LEVELS:
            kind_alerts = [a for a in report.alerts if a.as_of == as_of and a.kind == "feature_drift"]
            values[f"features_{level}"] = sum(a.level == level for a in kind_alerts)
        for r in _records(d[d["kind"] == "family"]):
            values[f"family_psi_mean/{r['subject']}"] = float(r["psi_mean"])
        for r in _records(d[d["kind"] == "score"]):
            values["score_psi"] = float(r["psi"])
        metrics += [Metric(k, float(v), ms, step) for k, v in values.items() if np.isfinite(v)]
    for i in range(0, len(metrics), 1000):
        client.log_batch(run.info.run_id, metrics=metrics[i : i + 1000])
    client.log_dict(run.info.run_id, {"alerts": [_jsonable(a) for a in report.alerts], "notes": report.notes},
                    "alerts.json")  # fmt: skip
    client.set_terminated(run.info.run_id)
    return str(run.info.run_id)


class WebhookError(RuntimeError):
    """The alerts could not be delivered (they are stored all the same)."""


def _jsonable(a: Alert) -> dict[str, object]:
    out = asdict(a)
    out["as_of"] = pd.Timestamp(a.as_of).isoformat()
    return out


def webhook_body(alerts: Sequence[Alert], dates: Sequence[datetime]) -> dict[str, object]:
    """The JSON the webhook gets: the dates monitored, the counts per level and every alert."""
    return {"source": "churn monitor", "dates": [pd.Timestamp(d).isoformat() for d in dates],
            "counts": {level: sum(a.level == level for a in alerts) for level in LEVELS},
            "alerts": [_jsonable(a) for a in alerts]}  # fmt: skip


def post_alerts(url: str, alerts: Sequence[Alert], dates: Sequence[datetime], timeout: float = 10.0) -> int:
    """POST the alerts (``webhook_body``) to ``url``; the status code. Raises ``WebhookError`` with one line saying
    what went wrong when the receiver cannot be reached, takes longer than ``timeout`` seconds, or answers other
    than 2xx."""
    try:
        response = httpx.post(url, json=webhook_body(alerts, dates), timeout=timeout)
    except httpx.TimeoutException as e:
        raise WebhookError(f"the webhook {url} did not answer within {timeout:g} s ({type(e).__name__})") from e
    except httpx.HTTPError as e:
        raise WebhookError(f"the webhook {url} could not be reached: {e}") from e
    if not response.is_success:
        raise WebhookError(f"the webhook {url} answered {response.status_code} {response.reason_phrase}: "
                           f"{response.text[:200].strip() or 'no body'}")  # fmt: skip
    return response.status_code


def at_least(alerts: Sequence[Alert], level: Level) -> list[Alert]:
    """The alerts at ``level`` or above (warn: every alert; alert: only alerts)."""
    lowest = LEVELS.index(level)
    return [a for a in alerts if LEVELS.index(a.level) >= lowest]


# -- helpers ------------------------------------------------------------------------------------------------------


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> pd.DataFrame:
    # Through Arrow: duckdb's .df() warns on time-zone-aware columns under pandas 3.1.
    return con.sql(sql, params=params).to_arrow_table().to_pandas()


def dumps(alerts: Sequence[Alert]) -> str:
    return json.dumps([_jsonable(a) for a in alerts], indent=2)
