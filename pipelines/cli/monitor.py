"""``churn monitor``: drift, data health and alerts for every scored date, stored in the warehouse's ``monitor``
schema, printed as a short table, sent to a webhook, and turned into an exit status for schedulers."""

from pathlib import Path
from typing import Annotated, Literal

import adbc_driver_manager
import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from models.registered import ModelNotFound
from pipelines.cli.console import Warehouse, console, failing_as
from pipelines.monitor.config import Level, load_config
from pipelines.monitor.document import monitoring_document
from pipelines.monitor.performance_check import PerformanceCheck
from pipelines.monitor.run import MonitorReport, WebhookError, at_least, monitor, post_alerts
from pipelines.publish import publish_monitoring
from pipelines.settings import get_settings
from pipelines.warehouse import connect

FailOn = Literal["alert", "warn", "never"]
SHOWN = 20  # alerts printed in the table; all of them are stored
WORDED = 5  # the worst alerts also printed in words


def monitor_cmd(
    warehouse: Warehouse = None,
    config: Annotated[
        Path | None, typer.Option(help="TOML file of thresholds (see examples/monitoring.toml); default: defaults.")
    ] = None,
    fail_on: Annotated[
        str,
        typer.Option(
            help="Exit with status 1 when an alert (alert), a warning or an alert (warn) was raised for the latest "
            "scored date; never: always 0."
        ),
    ] = "alert",
    webhook: Annotated[
        str | None, typer.Option(help="POST the alerts as JSON to this URL (default: url under webhook in --config).")
    ] = None,
    mlflow: Annotated[
        bool, typer.Option(help="Log a summary run in the MLflow experiment 'monitoring' (CHURN_TRACKING_URI).")
    ] = True,
) -> None:
    """Realised and estimated performance of the churn scores, drift of every feature, family and of p_churn against
    the champion's training rows, and the health of the raw tables (stale tables, days with no events, an event type
    that stopped), for every scored date; stored in the warehouse's monitor schema (a date computed again is
    replaced) and published beside the scores (CHURN_SCORES) for the server's /v1/monitoring and Monitoring page.

    Exit status: 0, or 1 when --fail-on is met by the latest scored date's alerts (or when the monitor cannot
    run). A webhook that fails is reported in one line; the alerts are stored all the same and the exit status
    is unchanged."""
    if fail_on not in ("alert", "warn", "never"):
        raise typer.BadParameter(f"--fail-on must be alert, warn or never, got {fail_on!r}")
    s = get_settings()
    with failing_as("monitor failed", ValueError, ModelNotFound, OSError):
        cfg = load_config(config)
        with connect(warehouse or s.warehouse) as con:
            report = monitor(con, cfg, tracking_uri=s.mlflow_uri() if mlflow else None, artifacts=s.mlflow_artifacts,
                             extra_checks=[PerformanceCheck(s.mlflow_uri())])  # fmt: skip
            document = monitoring_document(con, report)
    print_monitor(report)
    # Beside the scores the server reads (it never opens the warehouse): GET /v1/monitoring and the Monitoring page.
    with failing_as(
        "publishing the monitoring failed", ValueError, OSError, SQLAlchemyError, adbc_driver_manager.Error
    ):
        where = publish_monitoring(document, s.scores, s.scores_keep)
    console.print(escape(f"Published the monitoring for the server to {where}"))
    url = webhook or cfg.webhook.url
    if url:
        sent = at_least(report.alerts, cfg.webhook.level)
        try:
            status = post_alerts(url, sent, report.dates, cfg.webhook.timeout_seconds)
            console.print(escape(f"Sent {len(sent)} alert(s) to {url} ({status})"))
        except WebhookError as e:
            console.print(f"[red]webhook failed:[/red] {escape(str(e))}; the alerts are stored in monitor.alerts")
    if fail_on != "never":
        latest = [a for a in report.alerts if a.as_of == report.dates[-1]]
        if at_least(latest, fail_on):  # type: ignore[arg-type]
            raise typer.Exit(1)


def print_monitor(r: MonitorReport) -> None:
    """The alerts, worst first (alerts before warnings, the latest date first), at most ``SHOWN`` of them."""
    console.print(escape(f"Monitored {len(r.dates)} scored date(s), {r.dates[0]:%Y-%m-%d} to {r.dates[-1]:%Y-%m-%d}, "
                         f"against {r.reference}, in {r.seconds:.1f} s"))  # fmt: skip
    for note in r.notes:
        console.print(escape(f"Note: {note}"))
    order: dict[Level, int] = {"alert": 0, "warn": 1}
    ranked = sorted(r.alerts, key=lambda a: (order[a.level], -a.as_of.timestamp(), a.kind, a.subject))
    if ranked:
        t = Table(title=f"{r.count('alert')} alert(s), {r.count('warn')} warning(s)")
        for col in ("as_of", "level", "kind", "subject", "value", "threshold"):
            t.add_column(col, justify="right" if col in ("value", "threshold") else "left")
        for a in ranked[:SHOWN]:
            t.add_row(f"{a.as_of:%Y-%m-%d}", a.level, a.kind, escape(a.subject), f"{a.value:.3g}",
                      f"{a.threshold:.3g}")  # fmt: skip
        console.print(t)
        if len(ranked) > SHOWN:
            console.print(f"... and {len(ranked) - SHOWN} more in monitor.alerts")
        for a in ranked[:WORDED]:
            console.print(escape(f"- {a.as_of:%Y-%m-%d} {a.message}"))
    else:
        console.print("No alerts.")
    if r.run_id:
        console.print(f"MLflow run {r.run_id} (experiment monitoring)")
