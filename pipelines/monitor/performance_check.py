"""The performance check of ``churn monitor`` (an ``extra_checks`` entry of ``pipelines.monitor.run.monitor``): run
``pipelines.monitor.performance`` for the churn model, store its frames, and alert when the scores rank worse than the
model did at training.

Stored (the dates computed replace their rows): ``monitor.realised``, ``monitor.estimated``,
``monitor.track_record`` and ``monitor.reliability``, with ``PerformanceReport``'s columns.

Alerts, on every account's figures (segment "all") and ROC AUC, against the registered version's out-of-time figure
at training with its 95% interval: ``performance_drop`` (alert) when the realised value's interval lies wholly below
the training interval; ``estimated_drop`` (warn) when, before the labels have matured, the estimate's 90% interval
does. Intervals apart, not a threshold on the value: on a date of a few thousand accounts the realised AUC moves by
about 0.03 by chance alone.
"""

import logging
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from pipelines.monitor.config import Alert, MonitorConfig
from pipelines.monitor.performance import OVERALL, PerformanceReport, has_raw, performance, training_figures
from pipelines.settings import get_settings
from pipelines.snapshots.labels import stored_label_config
from pipelines.warehouse import replace_rows

logger = logging.getLogger(__name__)
FRAMES = ("realised", "estimated", "track_record", "reliability")
METRIC = "roc_auc"


def judged(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the warehouse has what labels come from: raw tables, or the labels stored with a feature table."""
    return has_raw(con) or stored_label_config(con) is not None


def store_performance(con: duckdb.DuckDBPyConnection, report: PerformanceReport) -> None:
    """Replace the rows of the dates in ``report`` in the ``monitor`` tables of its frames."""
    con.execute("CREATE SCHEMA IF NOT EXISTS monitor")
    for name in FRAMES:
        frame: pd.DataFrame = getattr(report, name)
        con.register("_performance_rows", frame)
        try:
            con.execute(f"CREATE TABLE IF NOT EXISTS monitor.{name} AS SELECT * FROM _performance_rows WHERE false")
            # A column this version reports and an earlier one did not (``calibrated_on``) is added, empty before.
            have = {c for (c,) in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'monitor' AND table_name = ?",
                [name]).fetchall()}  # fmt: skip
            for column, kind in con.execute("SELECT column_name, column_type FROM (DESCRIBE _performance_rows)"
                                            ).fetchall():  # fmt: skip
                if column not in have:
                    con.execute(f'ALTER TABLE monitor.{name} ADD COLUMN "{column}" {kind}')
        finally:
            con.unregister("_performance_rows")
        replace_rows(con, f"monitor.{name}", frame, "as_of IN (SELECT DISTINCT as_of FROM _new)")


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dict(orient="records")  # type: ignore[return-value]


def drops(report: PerformanceReport, training: dict[str, dict[str, tuple[float, float, float]]]) -> list[Alert]:
    """The alerts of the module's docstring. ``training``: model version -> metric -> (value, low, high)."""
    out = []
    realised = report.realised[(report.realised["segment"] == OVERALL) & (report.realised["metric"] == METRIC)]
    for r in _records(realised):
        if not math.isnan(r["training_low"]) and r["high"] < r["training_low"]:
            words = (f"ROC AUC realised at {r['value']:.3f} ({r['low']:.3f}-{r['high']:.3f}), below the "
                     f"{r['training_value']:.3f} ({r['training_low']:.3f}-{r['training_high']:.3f}) of model version "
                     f"{r['model_version']} at training: retrain, or look for drift")  # fmt: skip
            out.append(Alert(pd.Timestamp(r["as_of"]).to_pydatetime(), "performance_drop", "alert", METRIC,
                             float(r["value"]), float(r["training_low"]), words))  # fmt: skip
    estimated = report.estimated[(report.estimated["segment"] == OVERALL) & (report.estimated["metric"] == METRIC)
                                 & ~report.estimated["matured"].astype(bool)]  # fmt: skip
    for r in _records(estimated):
        value, low, high = training.get(str(r["model_version"]), {}).get(METRIC, (math.nan,) * 3)
        if not math.isnan(low) and r["high"] < low:
            words = (f"ROC AUC estimated at {r['estimate']:.3f} ({r['low']:.3f}-{r['high']:.3f}) before the "
                     f"labels mature, below the {value:.3f} ({low:.3f}-{high:.3f}) of model version "
                     f"{r['model_version']} at training")  # fmt: skip
            out.append(Alert(pd.Timestamp(r["as_of"]).to_pydatetime(), "estimated_drop", "warn", METRIC,
                             float(r["estimate"]), float(low), words))  # fmt: skip
    return out


@dataclass(frozen=True)
class PerformanceCheck:
    """Realised and estimated performance of the churn scores, stored and alerted on (see the module)."""

    tracking_uri: str | None = None
    resamples: int = 200  # bootstrap resamples of each realised interval

    def __call__(self, con: duckdb.DuckDBPyConnection, dates: list[datetime], config: MonitorConfig) -> list[Alert]:
        if not judged(con):
            logger.warning("performance not measured: the warehouse has neither raw tables nor features.labels")
            return []
        report = performance(con, "churn", self.tracking_uri, resamples=self.resamples)
        store_performance(con, report)
        uri = self.tracking_uri or get_settings().mlflow_uri()
        versions = report.estimated["model_version"].dropna().unique()
        wanted = {pd.Timestamp(d) for d in dates}
        return [a for a in drops(report, training_figures(uri, "churn", versions)) if pd.Timestamp(a.as_of) in wanted]
