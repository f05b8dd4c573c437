"""``churn retrain``: the command a scheduler runs (``pipelines.retrain``), and its summary of what changed."""

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from models.registered import ModelNotFound
from pipelines.cli.console import Warehouse, console, failing_as
from pipelines.cli.serve import print_score
from pipelines.ingest import IngestError
from pipelines.retrain import Busy, RetrainReport, retrain
from pipelines.settings import get_settings

BUSY_EXIT = 75  # EX_TEMPFAIL (sysexits.h): another run holds the lock; try again later


def retrain_cmd(
    source: Annotated[str, typer.Argument(help="The export to ingest: a folder of CSV/Parquet files, or a URL.")],
    mapping: Annotated[Path | None, typer.Option(help="TOML file mapping your tables and columns.")] = None,
    warehouse: Warehouse = None,
    full: Annotated[bool, typer.Option(help="Build every snapshot date again, with the feature definitions "
                                            "resolved from the data (new event types counted).")] = False,
    score_dates: Annotated[int, typer.Option(min=1, help="Score the latest N snapshot dates.")] = 1,
) -> None:  # fmt: skip
    """Ingest SOURCE, build the snapshot dates that are new or whose inputs changed, train challengers (the
    champion rules decide), score and publish: the running server picks the result up by itself. Exit status 75
    when another retrain is running on the warehouse (nothing done)."""
    s = get_settings()
    with failing_as("retrain failed", IngestError, ModelNotFound, ValueError):
        try:
            r = retrain(source, warehouse or s.warehouse, mapping=mapping, tracking_uri=s.mlflow_uri(),
                        artifacts=s.mlflow_artifacts, scores=s.scores, keep=s.scores_keep, full=full,
                        score_dates=score_dates)  # fmt: skip
        except Busy as e:
            console.print(f"[yellow]retrain skipped:[/yellow] {escape(str(e))}")
            raise typer.Exit(BUSY_EXIT) from e
    print_retrain(r)


def _days(dates: list[datetime]) -> str:
    return ", ".join(f"{d:%Y-%m-%d}" for d in dates) or "none"


def print_retrain(r: RetrainReport) -> None:
    added = ", ".join(f"{t} {n:+,}" for t, n in r.rows_added.items() if n) or "no rows added or removed"
    console.print(escape(f"Ingested {r.ingest.source}: {added}"))
    console.print(f"Snapshot dates built: new {_days(r.new_dates)}; inputs changed {_days(r.changed_dates)}; "
                  f"{r.kept_dates} kept as they were; {r.labels_matured:,} labels matured")  # fmt: skip
    for t in r.trained.values():
        d = t.decision
        if d is not None:
            console.print(f"[bold]{t.target}[/bold] v{d.version} -> {d.alias}: {escape(d.reason)}")
    if r.scored is None:
        console.print("[yellow]Nothing scored:[/yellow] no champion yet; a first version must beat chance and the "
                      "logistic baseline (see the decisions above)")  # fmt: skip
    else:
        print_score(r.scored)
    console.print("Seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in r.seconds.items()))
