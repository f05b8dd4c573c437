"""Churn over time in ``churn train --target churn``: survival times of the training set's rows (from the warehouse's
raw subscriptions under the labels' stored time rules; the training rows cut at the validation start), the
discrete-time hazard model (``models.hazard_model``) fitted on the training rows on the churn model's slices, and
its curve judged on the validation rows (``models.survival_metrics``: time-dependent ROC AUC and calibration error
per horizon, concordance, integrated Brier score, 95% intervals by account) beside a shifted-beta-geometric
baseline per segment (``models.sbg``), the churn model's own P(churn within its horizon) and the generator's
oracle (``p_churn_<days>``, when the ground truth has it). ``log_survival`` logs it all in the churn model's MLflow
run and registers the hazard model with it.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import mlflow
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from features.labels import LabelConfig, bounds_sql, service_ends_sql
from features.survival_labels import survival_times
from models.config import TrainConfig
from models.family import Model
from models.hazard import HORIZONS, INTERVAL_ENDS, churn_within
from models.hazard_model import HazardModel, fit_hazard, save
from models.sbg import SBG, fit_sbg
from models.survival_metrics import SurvivalTable, survival_table
from pipelines.training.expansion import trees_like
from pipelines.training.expansion_labels import empty_tables
from pipelines.warehouse import arrow_table, has_table

logger = logging.getLogger(__name__)
PERIOD_DAYS = 30  # the sBG's period
SEGMENT = "segment"  # the column whose values each get an sBG of their own (one for all rows without it)
MIN_SEGMENT_CHURNS = 10  # a segment with fewer churns among the training rows takes the sBG of all rows
# The curves compared on the validation rows, in words (the oracle's only where the generator's truth is known).
MODELS = {
    "hazard": "the discrete-time hazard model (models.hazard_model), calibrated per interval",
    "hazard_uncalibrated": "the same trees' hazards before calibration",
    "sbg": "a shifted-beta-geometric model of 30-day periods per segment (models.sbg), fitted on the training rows",
    "churn_model": "the churn model's P(churn within its horizon), at that horizon only",
    "oracle": "the generator's true P(churn within 30, 60, 90, 180, 365 days) (p_churn_<days>), interpolated between",
}


@dataclass(frozen=True)
class SurvivalReport:
    model: HazardModel
    table: SurvivalTable  # model -> metric -> value and interval, on the validation rows
    segments: dict[str, SBG]  # the baseline's fit per segment ("*": all rows)
    train_rows: int
    train_churned: int

    def metrics(self) -> dict[str, float]:
        """Every figure under one MLflow name: ``survival_<metric>_<model>[_<horizon>]`` (``auc_90`` of the hazard
        model is ``survival_auc_hazard_90``) with ``_low`` and ``_high``, and the rows behind them."""
        t = self.table
        out = {"survival_valid_rows": float(t.rows), "survival_valid_churned": float(t.churned),
               "survival_train_rows": float(self.train_rows),
               "survival_train_churned": float(self.train_churned)}  # fmt: skip
        for who, m in self.table.metrics.items():
            for k, v in m.items():
                metric, _, horizon = k.partition("_")
                name = f"survival_{metric}_{who}" + (f"_{horizon}" if horizon else "")
                out[name] = v
                out[f"{name}_low"], out[f"{name}_high"] = self.table.intervals[who][k]
        return {k: float(v) for k, v in out.items() if np.isfinite(v)}

    def as_dict(self) -> dict[str, object]:
        """The table for people and for ``survival.json``."""
        t = self.table
        return {"rows": t.rows, "churned": t.churned, "judged_days": t.times, "models": MODELS,
                "metrics": t.metrics, "intervals": t.intervals,
                "sbg": {s: {"alpha": m.alpha, "beta": m.beta} for s, m in self.segments.items()}}  # fmt: skip


def service_ends(
    con: duckdb.DuckDBPyConnection, keys: pd.DataFrame, labels: LabelConfig
) -> tuple[pd.Series, datetime] | None:
    """The ``service_ends_at`` of each row of ``keys`` (account_id, as_of; in its order and index; NaT when the
    service running at as_of never ends in the data) and the data's end (``features.labels.bounds_sql``); None when
    the warehouse has no raw subscriptions. Raises LookupError when a row is no snapshot of them (its account not
    served at as_of: a feature table imported beside raw tables). Uses the temp table ``spine`` of ``con``."""
    if not has_table(con, "raw", "subscriptions"):
        return None
    empty = empty_tables(con)
    con.execute("SET TimeZone = 'UTC'")
    key = pd.DataFrame({"account_id": keys["account_id"].astype(str).to_numpy(),
                        "as_of": pd.to_datetime(keys["as_of"], utc=True).dt.as_unit("us").to_numpy()})  # fmt: skip
    key["as_of"] = key["as_of"].dt.tz_localize("UTC") if key["as_of"].dt.tz is None else key["as_of"]
    spine = arrow_table(key)
    con.register("_survival_keys", spine)
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE spine AS SELECT DISTINCT account_id, as_of, "
                    "CAST(NULL AS DOUBLE) AS mrr, CAST(NULL AS DOUBLE) AS seats FROM _survival_keys")  # fmt: skip
    finally:
        con.unregister("_survival_keys")
    got = con.sql(service_ends_sql(labels, empty)).to_arrow_table().to_pandas()
    ((_, data_end),) = con.execute(bounds_sql(empty)).fetchall()
    got["as_of"] = pd.to_datetime(got["as_of"], utc=True).dt.as_unit("us")
    joined = key.merge(got.assign(_found=True), on=["account_id", "as_of"], how="left")
    if joined["_found"].isna().any():
        raise LookupError(f"{int(joined['_found'].isna().sum())} rows are no snapshots of the warehouse's "
                          "subscriptions (their account is not served at as_of)")  # fmt: skip
    return pd.Series(joined["service_ends_at"].to_numpy(), index=keys.index), data_end


def durations(
    keys: pd.DataFrame, ends: pd.Series, data_end: datetime, labels: LabelConfig, until: datetime | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Days and event (0/1) per row of ``keys`` (``features.survival_labels.survival_times``); a row with no
    follow-up gets NaN days."""
    frame = pd.DataFrame({"account_id": keys["account_id"].to_numpy(), "as_of": keys["as_of"].to_numpy(),
                          "service_ends_at": ends.to_numpy()})  # fmt: skip
    got = survival_times(frame, data_end, labels, until)
    joined = frame[["account_id", "as_of"]].merge(got, on=["account_id", "as_of"], how="left")
    return joined["duration"].to_numpy(dtype=float), joined["event"].fillna(0).to_numpy(dtype=int)


def sbg_periods(duration: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Whole periods: the period a churn falls in (1 for days 0-30), the periods a censored row survived."""
    days = np.asarray(duration, dtype=float) / PERIOD_DAYS
    return np.where(np.asarray(event) == 1, np.maximum(np.ceil(days), 1), np.floor(days))


def fit_segments(train: pd.DataFrame, duration: np.ndarray, event: np.ndarray) -> dict[str, SBG]:
    """An sBG per value of ``SEGMENT`` with ``MIN_SEGMENT_CHURNS`` churns, and one of all rows (``"*"``)."""
    periods = sbg_periods(duration, event)
    out = {"*": fit_sbg(periods, event)}
    if SEGMENT in train:
        segment = train[SEGMENT].astype(str).to_numpy()
        for s in np.unique(segment):
            pick = segment == s
            if event[pick].sum() >= MIN_SEGMENT_CHURNS:
                out[str(s)] = fit_sbg(periods[pick], event[pick])
    return out


def sbg_curves(rows: pd.DataFrame, segments: dict[str, SBG], times: tuple[int, ...] = INTERVAL_ENDS) -> np.ndarray:
    """P(churn within t) per row of ``rows`` by its segment's sBG (all rows' when its segment has none): 1 - S at
    t / 30 periods, S read between whole periods along its own smooth formula."""
    segment = rows[SEGMENT].astype(str).to_numpy() if SEGMENT in rows else np.full(len(rows), "*")
    periods = np.asarray(times, dtype=float) / PERIOD_DAYS
    out = np.empty((len(rows), len(times)))
    for s in np.unique(segment):
        out[segment == s] = 1.0 - segments.get(str(s), segments["*"]).survival(periods)
    return out


def oracle_curves(valid: pd.DataFrame, path: Path | None) -> np.ndarray | None:
    """The generator's P(churn within t) at ``INTERVAL_ENDS`` for the validation rows from its ``p_churn_<days>``
    columns (``HORIZONS``; the cumulative hazard read linearly between them, as ``models.hazard.churn_within``
    does), or None when the ground truth is unknown or has no such columns."""
    if path is None or not path.exists():
        return None
    wanted = [f"p_churn_{d}" for d in HORIZONS]
    if not set(wanted) <= set(pq.read_schema(path).names):
        return None
    truth = pd.read_parquet(path, columns=["account_id", "as_of", *wanted])
    joined = valid[["account_id", "as_of"]].merge(truth, on=["account_id", "as_of"], how="left")
    p = joined[wanted].to_numpy(dtype=float)
    if np.isnan(p).any():
        logger.warning("the oracle at %s does not cover every validation row; oracle survival metrics skipped", path)
        return None
    cum = -np.log(np.clip(1.0 - p, 1e-12, 1.0))
    t = np.concatenate([[0.0], HORIZONS])
    return np.array([1.0 - np.exp(-np.interp(INTERVAL_ENDS, t, np.concatenate([[0.0], row]))) for row in cum])


def fit_and_judge_survival(
    con: duckdb.DuckDBPyConnection, rows: pd.DataFrame, model: Model, scores: dict[str, np.ndarray],
    config: TrainConfig, labels: LabelConfig, oracle: Path | None = None,
) -> SurvivalReport | None:  # fmt: skip
    """The hazard model for the churn training set ``rows`` (a ``split`` column of 'train' and 'valid'), fitted on
    the training rows (their follow-up cut at the first validation date) on ``config``'s slices (the churn
    training's, settled) with ``model``'s tree settings, and judged on the validation rows beside the sBG baseline,
    ``scores["model"]`` (the churn model's P(churn within the horizon)) and the oracle's curve at ``oracle`` when
    known. None (with a warning) when the warehouse has no raw subscriptions, the rows are no snapshots of them, or
    the training rows are too few to learn a curve from: training the churn model goes on."""
    try:
        found = service_ends(con, rows, labels)
    except LookupError as e:
        logger.warning("churn over time skipped: %s (rebuild with churn dataset build)", e)
        return None
    if found is None:
        return None
    ends, data_end = found
    is_train, is_valid = (rows["split"] == "train").to_numpy(), (rows["split"] == "valid").to_numpy()
    train = rows[is_train].drop(columns="split").reset_index(drop=True)
    valid = rows[is_valid].reset_index(drop=True)
    first_valid = pd.Timestamp(valid["as_of"].min()).to_pydatetime()
    d_train, e_train = durations(train, ends[is_train], data_end, labels, until=first_valid)
    d_valid, e_valid = durations(valid, ends[is_valid], data_end, labels)
    kept, judged = np.isfinite(d_train), np.isfinite(d_valid)
    train, d_train, e_train = train[kept].reset_index(drop=True), d_train[kept], e_train[kept]
    valid, d_valid, e_valid = valid[judged].reset_index(drop=True), d_valid[judged], e_valid[judged]
    try:
        hazard = fit_hazard(train, d_train, e_train, trees_like(model, config, "churn"), labels.grace_days)
        segments = fit_segments(train, d_train, e_train)
    except ValueError as e:
        logger.warning("churn over time skipped: %s", e)
        return None
    curves = {"hazard": hazard.churn_within(valid, INTERVAL_ENDS),
              "hazard_uncalibrated": churn_within(hazard.raw_hazards(valid), INTERVAL_ENDS),
              "sbg": sbg_curves(valid, segments)}  # fmt: skip
    if labels.horizon_days in INTERVAL_ENDS:
        own = np.full((len(valid), len(INTERVAL_ENDS)), np.nan)
        own[:, INTERVAL_ENDS.index(labels.horizon_days)] = np.asarray(scores["model"], dtype=float)[judged]
        curves["churn_model"] = own
    truth = oracle_curves(valid, oracle)
    if truth is not None:
        curves["oracle"] = truth
    table = survival_table(d_valid, e_valid, curves, valid["account_id"].to_numpy())
    return SurvivalReport(hazard, table, segments, len(train), int(e_train.sum()))


def log_survival(report: SurvivalReport, folder: Path) -> dict[str, str]:
    """Log ``report`` to the active MLflow run (the churn model's): its figures (``SurvivalReport.metrics``), the
    hazard model's settings as parameters, the table as ``survival.json``; returns the artifact to log beside the
    churn model (``models.hazard_model.HAZARD_ARTIFACT``, written to ``folder``), so the hazard model is
    registered in the same version."""
    mlflow.log_metrics(report.metrics())
    mlflow.log_params({f"hazard_{k}": v for k, v in report.model.summary().items()})
    mlflow.log_dict(report.as_dict(), "survival.json")
    return {"hazard": str(save(report.model, folder))}
