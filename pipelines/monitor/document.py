"""The monitoring document the server shows (``GET /v1/monitoring`` and the Monitoring page): what ``churn monitor``
found, small and self-contained, published beside the scores (``pipelines.publish.publish_monitoring``) because the
server never opens the warehouse.

Keys: ``published_at``; ``dates`` (the scoring dates checked); ``reference`` (what drift was measured against);
``performance``: ``realised`` (per matured date, every account: ROC AUC with its 95% interval and the model's figure
at training), ``estimated`` (per date: the estimated ROC AUC and its 90% interval, and whether the date has matured);
``drift``: per date and feature family, the largest and the mean PSI; ``alerts``: every alert (latest dates first,
alerts before warnings, at most ``MAX_ALERTS``), and ``counts`` per level; ``notes``.
"""

from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd

from pipelines.monitor.config import Alert
from pipelines.monitor.performance import OVERALL
from pipelines.monitor.run import MonitorReport
from pipelines.warehouse import has_table

MAX_ALERTS = 200


def _rows(con: duckdb.DuckDBPyConnection, table: str, sql: str) -> list[dict[str, Any]]:
    if not has_table(con, "monitor", table):
        return []
    frame = con.sql(sql).to_arrow_table().to_pandas()
    frame["as_of"] = [pd.Timestamp(t).isoformat() for t in frame["as_of"]]
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")  # type: ignore[return-value]


REALISED_SQL = ("SELECT as_of, value, low, high, training_value, training_low, training_high, rows "
                "FROM monitor.realised "
                f"WHERE segment = '{OVERALL}' AND metric = 'roc_auc' ORDER BY as_of")  # fmt: skip
ESTIMATED_SQL = ("SELECT as_of, estimate, low, high, matured, rows FROM monitor.estimated "
                 f"WHERE segment = '{OVERALL}' AND metric = 'roc_auc' ORDER BY as_of")  # fmt: skip


def _alert(a: Alert) -> dict[str, Any]:
    return {"as_of": pd.Timestamp(a.as_of).isoformat(), "kind": a.kind, "level": a.level, "subject": a.subject,
            "value": a.value, "threshold": a.threshold, "message": a.message}  # fmt: skip


def monitoring_document(con: duckdb.DuckDBPyConnection, report: MonitorReport) -> dict[str, Any]:
    """The document of the module's docstring, from ``report`` and the ``monitor`` tables it stored."""
    families = report.drift[report.drift["kind"] == "family"]
    drift = [{"as_of": pd.Timestamp(r["as_of"]).isoformat(), "family": r["subject"], "psi": float(r["psi"]),
              "psi_mean": float(r["psi_mean"])} for r in families.to_dict(orient="records")]  # fmt: skip
    alerts = sorted(report.alerts, key=lambda a: (-pd.Timestamp(a.as_of).value, a.level != "alert", a.kind))
    return {
        "published_at": datetime.now(UTC).isoformat(),
        "dates": [pd.Timestamp(d).isoformat() for d in report.dates],
        "reference": report.reference,
        "performance": {
            "realised": _rows(con, "realised", REALISED_SQL),
            "estimated": _rows(con, "estimated", ESTIMATED_SQL),
        },
        "drift": drift,
        "alerts": [_alert(a) for a in alerts[:MAX_ALERTS]],
        "counts": {"alert": report.count("alert"), "warn": report.count("warn")},
        "notes": list(report.notes),
    }
