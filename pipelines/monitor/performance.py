"""Performance of the stored scores (``scores.accounts``), per scoring date: realised once the labels have matured,
estimated from the calibrated probabilities before they do (``models.estimated``; recalibrated on the labels of the
same model known on the day the date was scored, ``recalibrations``), and the estimator's track record where both
exist. ``churn monitor`` calls ``performance`` and stores its frames.

Labels are computed again from the raw tables with the project's own rules (``features.labels``, through
``pipelines.snapshots.labels.build_labels``) and the time rules stored with the warehouse's labels, against the data's
end (``pipelines.snapshots.dates.data_bounds``, or the ``data_end`` given): a date has matured when its label's whole
read window (horizon, plus the grace period for churn) lies inside the data, the very rule that leaves a label NULL.
Labels stored in ``features.labels`` are not read when raw tables exist: they were built against the data end of
their own build. A warehouse built from a feature table (no raw tables) has only those, and they are used as stored.

Every realised metric carries its 95% interval (``models.metrics.bootstrap`` over accounts); every estimate its 90%
interval (``models.estimated``). Each scope is a scoring date's accounts overall (segment ``OVERALL``) and those of
each segment (a missing segment is ``UNKNOWN``); the top decile of a segment is that segment's top 10%.
"""

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from scipy.stats import binomtest

from features.labels import TARGETS, LabelConfig
from models.estimated import DRAWS, Recalibration, estimate, fit_recalibration
from models.estimated import LEVEL as ESTIMATE_LEVEL
from models.evaluation import assess
from models.metrics import LEVEL, RESAMPLES, calibration_bins
from pipelines.settings import get_settings
from pipelines.snapshots.dates import data_bounds
from pipelines.snapshots.labels import build_labels, resolve_labels, stored_label_config
from pipelines.warehouse import has_table

logger = logging.getLogger(__name__)

OVERALL = "all"  # the segment value of a date's figures over every account
UNKNOWN = "unknown"  # the segment value of accounts with no segment
REALISED = ("roc_auc", "pr_auc", "ece", "lift_top_decile", "revenue_captured_top_decile")
ESTIMATED = ("roc_auc", "pr_auc")  # the expected ECE is 0 by construction (models.estimated): not reported
BINS = 10  # reliability bins (equal-count, as models.metrics.expected_calibration_error)


@dataclass(frozen=True)
class PerformanceReport:
    """The frames of ``performance``, one row per (as_of, segment, metric) or per reliability bin.

    ``realised`` (matured dates only): as_of, segment, metric (``REALISED``), value, low, high (the ``level``
    interval, bootstrap over accounts), level, rows (scored accounts with a label), positives, model_version,
    training_value, training_low, training_high (the registered version's out-of-time figure and 95% interval as
    logged to MLflow at training; overall scope only, NaN when not found).

    ``estimated`` (every date): as_of, segment, metric (``ESTIMATED``), estimate, low, high (the ``level`` interval
    of the realised metric over labels drawn from the probabilities), level, rows, expected_positives (sum of the
    probabilities), matured (whether labels exist for the date: then the estimate is what would have been said
    before they did), model_version, calibrated_on (the matured rows the probabilities were recalibrated on,
    ``recalibrations``; 0: taken as they were).

    ``track_record`` (matured dates): as_of, segment, metric, estimate, low, high, realised, error (estimate -
    realised), abs_error, covered (low <= realised <= high), rows, model_version, calibrated_on.

    ``reliability`` (matured dates): as_of, segment, bin (0 = lowest probabilities), rows, mean_predicted,
    observed_rate, observed_low, observed_high (95% Wilson interval of the rate), over ``BINS`` equal-count bins.
    """

    target: str
    data_end: datetime | None  # None: a feature-table warehouse, whose stored labels say what has matured
    labels: LabelConfig
    realised: pd.DataFrame
    estimated: pd.DataFrame
    track_record: pd.DataFrame
    reliability: pd.DataFrame


REALISED_COLUMNS = ("as_of", "segment", "metric", "value", "low", "high", "level", "rows", "positives",
                    "model_version", "training_value", "training_low", "training_high")  # fmt: skip
ESTIMATED_COLUMNS = ("as_of", "segment", "metric", "estimate", "low", "high", "level", "rows", "expected_positives",
                     "matured", "model_version", "calibrated_on")  # fmt: skip
TRACK_COLUMNS = ("as_of", "segment", "metric", "estimate", "low", "high", "realised", "error", "abs_error", "covered",
                 "rows", "model_version", "calibrated_on")  # fmt: skip
RELIABILITY_COLUMNS = ("as_of", "segment", "bin", "rows", "mean_predicted", "observed_rate", "observed_low",
                       "observed_high")  # fmt: skip


def performance(
    con: duckdb.DuckDBPyConnection,
    target: str = "churn",
    tracking_uri: str | None = None,
    *,
    data_end: datetime | None = None,
    resamples: int = RESAMPLES,
    draws: int = DRAWS,
    seed: int = 0,
) -> PerformanceReport:
    """The realised and estimated performance of ``target``'s stored scores at every scored as_of (see
    ``PerformanceReport`` for the frames). ``tracking_uri``: the MLflow store whose registered versions give the
    figures seen at training (None: the settings' one, ``pipelines.settings``); ``data_end``: the end of the data the
    labels may read (None: the warehouse's). Reads only: ``con``'s tables are left as they were."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    scores = stored_scores(con, target)
    dates = sorted(scores["as_of"].unique())
    cfg, end, labels, matured_dates = matured_labels(
        con, target, [pd.Timestamp(d).to_pydatetime() for d in dates], data_end
    )
    joined = scores.merge(labels, on=["account_id", "as_of"], how="left")
    uri = tracking_uri or get_settings().mlflow_uri()
    training = training_figures(uri, target, scores["model_version"].dropna().unique())
    maps = recalibrations(joined, timedelta(days=cfg.reads_days(target)))
    realised: list[tuple] = []
    estimated: list[tuple] = []
    reliability: list[tuple] = []
    for (as_of, segment), rows in scopes(joined):
        p = rows["p"].to_numpy(dtype=float)
        version = versions(rows)
        matured = pd.Timestamp(as_of) in matured_dates
        recal = maps.get(pd.Timestamp(as_of))
        for metric, e in estimate(p, draws, ESTIMATE_LEVEL, seed, recal).items():
            estimated.append((as_of, segment, metric, e.value, e.low, e.high, e.level, len(p), float(p.sum()),
                              matured, version, recal.rows if recal else 0))  # fmt: skip
        labeled = rows[rows["label"].notna()] if matured else rows.iloc[:0]
        y, p = labeled["label"].to_numpy(dtype=float), labeled["p"].to_numpy(dtype=float)
        if len(y) == 0 or y.min() == y.max():
            continue  # a scope whose labels hold one class has no realised ranking metric
        arr = labeled["arr"].to_numpy(dtype=float)
        a = assess(y, {"model": p}, labeled["account_id"].to_numpy(), arr, resamples, seed)
        seen = training.get(version, {}) if segment == OVERALL and version is not None else {}
        for metric in REALISED:
            value = a.metrics["model"].get(metric, np.nan)
            lo, hi = a.intervals["model"].get(metric, (np.nan, np.nan))
            t = seen.get(metric, (np.nan, np.nan, np.nan))
            realised.append((as_of, segment, metric, value, lo, hi, LEVEL, len(y), int(y.sum()), version, *t))
        reliability.extend((as_of, segment, *b) for b in reliability_bins(y, p))
    est = frame(estimated, ESTIMATED_COLUMNS)
    real = frame(realised, REALISED_COLUMNS)
    return PerformanceReport(target, end, cfg, real, est, track_record(est, real),
                             frame(reliability, RELIABILITY_COLUMNS))  # fmt: skip


def recalibrations(joined: pd.DataFrame, reads: timedelta) -> dict[pd.Timestamp, Recalibration]:
    """Per scoring date d, the recalibration of its model's probabilities (``models.estimated.fit_recalibration``)
    fitted on the labels known at d: those of the dates scored by the same model version whose read window closed
    by d (as_of + ``reads`` <= d). The estimate of a date is then what could have been said on the day it was
    scored, whenever the monitor runs, so its track record is honest. Dates with too few such labels get none."""
    known = joined[joined["label"].notna()]
    out = {}
    for as_of, rows in joined.groupby("as_of", sort=True):
        d = pd.Timestamp(as_of)  # type: ignore[arg-type]
        ref = known[(known["as_of"] + reads <= d) & (known["model_version"] == versions(rows))]
        fitted = fit_recalibration(ref["p"].to_numpy(dtype=float), ref["label"].to_numpy(dtype=float),
                                   ref["as_of"].to_numpy())  # fmt: skip
        if fitted is not None:
            out[d] = fitted
    return out


def stored_scores(con: duckdb.DuckDBPyConnection, target: str) -> pd.DataFrame:
    """``scores.accounts``' rows scored for ``target``: account_id, as_of, segment, p, arr, model_version."""
    if not has_table(con, "scores", "accounts"):
        raise ValueError("the warehouse has no scores (scores.accounts): run `churn score` first")
    prob = "p_churn" if target == "churn" else "p_upsell"
    rows = con.sql(
        f"SELECT account_id, as_of, segment, {prob} AS p, arr, {target}_version AS model_version "
        f"FROM scores.accounts WHERE {prob} IS NOT NULL ORDER BY as_of, account_id"
    ).to_arrow_table().to_pandas()  # fmt: skip
    if rows.empty:
        raise ValueError(f"scores.accounts holds no {target} probabilities: score with a {target} model first")
    return rows


def matured_labels(
    con: duckdb.DuckDBPyConnection, target: str, dates: list[datetime], data_end: datetime | None
) -> tuple[LabelConfig, datetime | None, pd.DataFrame, set[pd.Timestamp]]:
    """The time rules, the data end, (account_id, as_of, label) for ``dates``, and the dates whose labels have
    matured. A label is NULL where it is not known at the data end: every label of a date whose read window runs
    past the end. A feature-table warehouse's dates have matured where its stored labels say so (not NULL)."""
    cfg = stored_label_config(con)
    if not has_raw(con):
        if cfg is None:
            raise ValueError("the warehouse has neither raw tables nor features.labels: nothing to judge scores by")
        stored = con.sql(f"SELECT account_id, as_of, {target} AS label FROM features.labels").to_arrow_table()
        frame = stored.to_pandas()
        return cfg, None, frame, {pd.Timestamp(d) for d in frame.loc[frame["label"].notna(), "as_of"].unique()}
    cfg = cfg or resolve_labels(con)
    end = data_end or data_bounds(con)[1]
    # On a cursor of its own: build_labels leaves temp tables (spine, labels, data_end) and registers a view named
    # _dates, which would replace the caller's temp tables or collide with the one `churn score` leaves.
    with con.cursor() as cur:
        built = build_labels(cur, dates, cfg, end)
    labels = built[["account_id", "as_of", target]].rename(columns={target: "label"})
    # The SQL leaves a label NULL when its read window passes the end; this says the same per date, so that no date
    # is judged on part of its accounts.
    reads = timedelta(days=cfg.reads_days(target))
    known = labels["as_of"].map(lambda d: pd.Timestamp(d).to_pydatetime() + reads <= end)
    labels["label"] = labels["label"].where(known.to_numpy(dtype=bool))
    matured = {pd.Timestamp(d) for d in dates if d + reads <= end}
    return cfg, end, labels, matured


def has_raw(con: duckdb.DuckDBPyConnection) -> bool:
    return has_table(con, "raw", "subscriptions")


def scopes(joined: pd.DataFrame) -> Iterator[tuple[tuple[Any, str], pd.DataFrame]]:
    """(as_of, segment) -> rows: every date overall, then each of its segments."""
    segment = joined["segment"].fillna(UNKNOWN).astype(str)
    for as_of, rows in joined.groupby("as_of", sort=True):
        yield (as_of, OVERALL), rows
        for name, part in rows.groupby(segment.loc[rows.index], sort=True):
            yield (as_of, str(name)), part


def versions(rows: pd.DataFrame) -> str | None:
    """The model version that scored ``rows``; several joined by commas (then no training figure matches)."""
    found = sorted(str(v) for v in rows["model_version"].dropna().unique())
    return ",".join(found) if found else None


def training_figures(uri: str, target: str, versions: Any) -> dict[str, dict[str, tuple[float, float, float]]]:
    """version -> metric -> (value, low, high) as the registered model ``target``'s training run logged them
    (``pipelines.training.train.flat_metrics``: ``roc_auc``, ``roc_auc_low``, ...); versions not found are left
    out. A local SQLite store that does not exist is not created."""
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return {}
    client = MlflowClient(uri, uri)
    out = {}
    for v in versions:
        try:
            run_id = client.get_model_version(target, str(v)).run_id
            metrics: Mapping[str, float] = client.get_run(run_id).data.metrics if run_id else {}
        except MlflowException as e:
            logger.warning("no training figures for %s version %s in %s: %s", target, v, uri, e)
            continue
        out[str(v)] = {m: (metrics.get(m, np.nan), metrics.get(f"{m}_low", np.nan), metrics.get(f"{m}_high", np.nan))
                       for m in REALISED}  # fmt: skip
    return out


Bin = tuple[int, int, float, float, float, float]


def reliability_bins(y: np.ndarray, p: np.ndarray, bins: int = BINS) -> list[Bin]:
    """(bin, rows, mean predicted, observed rate, its 95% Wilson interval) in the equal-count bins of
    ``models.metrics.calibration_bins``."""
    sizes = [len(i) for i in np.array_split(np.arange(len(p)), bins) if len(i)]
    out = []
    for b, (n, (predicted, observed)) in enumerate(zip(sizes, calibration_bins(y, p, bins), strict=True)):
        ci = binomtest(round(observed * n), n).proportion_ci(confidence_level=LEVEL, method="wilson")
        out.append((b, n, predicted, observed, float(ci.low), float(ci.high)))
    return out


def track_record(estimated: pd.DataFrame, realised: pd.DataFrame) -> pd.DataFrame:
    """The estimate beside the realised value at every matured scope (see ``PerformanceReport``)."""
    keys = ["as_of", "segment", "metric"]
    got = estimated[estimated["matured"]].merge(realised[[*keys, "value"]], on=keys, how="inner")
    got = got.rename(columns={"value": "realised"})
    got["error"] = got["estimate"] - got["realised"]
    got["abs_error"] = got["error"].abs()
    got["covered"] = (got["low"] <= got["realised"]) & (got["realised"] <= got["high"])
    return got[list(TRACK_COLUMNS)].reset_index(drop=True)


# The frames' types, so that an empty frame (no matured date yet) joins and stores like a full one.
DTYPES: dict[str, Any] = {"as_of": "datetime64[us, UTC]", "segment": object, "metric": object, "model_version": object,
          "rows": "int64", "positives": "int64", "bin": "int64", "matured": bool, "covered": bool,
          "calibrated_on": "int64"}  # fmt: skip


def frame(rows: list[tuple], columns: tuple[str, ...]) -> pd.DataFrame:
    out = pd.DataFrame.from_records(rows, columns=list(columns))
    return out.astype({c: DTYPES.get(c, "float64") for c in columns})
