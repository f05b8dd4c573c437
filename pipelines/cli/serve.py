"""``churn score`` and ``churn serve``."""

import os
from typing import Annotated

import adbc_driver_manager
import typer
from pwdlib import PasswordHash
from rich.markup import escape
from sqlalchemy.exc import SQLAlchemyError

from models.registered import ModelNotFound
from pipelines.cli import spark as cli_spark
from pipelines.cli.console import Warehouse, console, failing_as
from pipelines.score import ScoreReport, champion_scorer, configured_holdout, latest_dates, score
from pipelines.settings import get_settings
from pipelines.warehouse import connect


def score_cmd(
    to: Annotated[
        str | None,
        typer.Option(
            help="Where to publish the scores for the server: a folder, or postgresql://... (then the table "
            "churn_scores there holds them, not the warehouse). Default: CHURN_SCORES (data/scores)."
        ),
    ] = None,
    dates: Annotated[int, typer.Option(min=1, help="Score the latest N snapshot dates (history for trends).")] = 1,
    holdout_seed: Annotated[
        int | None, typer.Option(help="Seed of the plays' holdouts. Default: CHURN_HOLDOUT_SEED, else 24.")
    ] = None,
    holdout_share: Annotated[
        float | None,
        typer.Option(min=0.0, max=0.99, help="Share of each play's accounts held out. Default: CHURN_HOLDOUT_SHARE."),
    ] = None,
    warehouse: Warehouse = None,
    engine: cli_spark.EngineOption = "duckdb",
    spark_master: cli_spark.Master = None,
    spark_conf: cli_spark.Conf = None,
    lake: cli_spark.Lake = None,
) -> None:
    """Score the latest snapshot of every active account with the champion models; an as_of scored again is
    replaced. Each run publishes a new version of the scores, which a running server picks up by itself.
    With --engine spark: LAKE/snapshots scored into LAKE/scores (Parquet, the same columns)."""
    cli_spark.check_engine(engine)
    if engine == "spark":
        if to:
            raise typer.BadParameter("--to is for the DuckDB engine; Spark writes LAKE/scores (load it from there)")
        cli_spark.score(dates, cli_spark.SparkOptions(spark_master, spark_conf, lake, None))
        return
    s = get_settings()
    # Also a store that cannot be written (a folder, or PostgreSQL): one line naming why, not a traceback.
    with failing_as("score failed", ModelNotFound, ValueError, OSError, SQLAlchemyError, adbc_driver_manager.Error):
        scorer = champion_scorer(s.mlflow_uri())
        with connect(warehouse or s.warehouse) as con:
            holdout = configured_holdout(holdout_seed, holdout_share)
            report = score(con, scorer, latest_dates(con, dates), to or s.scores, s.scores_keep, holdout)
    print_score(report)


def print_score(r: ScoreReport) -> None:
    tiers = ", ".join(f"{r.tiers.get(t, 0):,} {t}" for t in ("red", "yellow", "green"))
    upsell = f"upsell v{r.versions['upsell']}" if "upsell" in r.versions else "no upsell model"
    at_risk = f"{r.revenue_at_risk:,.0f} a year" if r.revenue_at_risk == r.revenue_at_risk else "unknown (no ARR)"
    console.print(
        f"Scored {r.accounts:,} accounts at {r.as_of[-1]:%Y-%m-%d} ({len(r.as_of)} date(s)) with churn "
        f"v{r.versions.get('churn')} and {upsell} in {r.seconds:.1f} s into {r.target}: "
        f"{tiers}; revenue at risk {at_risk}"
    )
    if r.published is not None:
        p = r.published
        pruned = f"; {len(p.pruned)} older version(s) removed" if p.pruned else ""
        console.print(f"Published version {p.version} ({p.rows:,} accounts) to {escape(p.store)}{pruned}")


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def serve_cmd(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes.")] = 1,
) -> None:
    """Start the API (and the CSM pages) with uvicorn; models load from the registry alias at start."""
    import uvicorn
    from uvicorn.importer import import_from_string

    s = get_settings()
    os.environ.setdefault("CHURN_TRACKING_URI", s.mlflow_uri())
    # The server's settings are checked here, before anything is printed or a process started: with --workers, a
    # worker that exits on them is started again by uvicorn, for ever. Imported by name, as uvicorn imports the app
    # below, since the CLI does not import serving.
    refused = import_from_string("serving.settings:refusal")()
    if refused:
        typer.echo(f"churn serve refused: {refused}", err=True)
        raise typer.Exit(2)
    if host not in LOOPBACK and os.environ.get("CHURN_ENV", "development") != "production":
        typer.echo(f"churn serve refused: --host {host} is not a loopback address, and development mode (demo keys, "
                   "demo sign-in) serves only 127.0.0.1 or localhost. Set CHURN_ENV=production with CHURN_API_KEYS, "
                   "CHURN_SESSION_SECRET and CHURN_CSM_USERS to serve other hosts.", err=True)  # fmt: skip
        raise typer.Exit(2)
    console.print(f"Starting the server on http://{host}:{port} (docs at /docs); uvicorn says when it is up")
    # The app is imported by uvicorn from its path: the CLI (pipelines) does not import serving.
    # With --workers, each worker process starts by importing this CLI (the spawning module) and then the app,
    # MLflow included: over 5 s on a busy machine, uvicorn's default health-check timeout, after which it kills the
    # worker and starts another, for ever. 60 s lets them start.
    uvicorn.run("serving.app:factory", factory=True, host=host, port=port, workers=workers, log_level="info",
                timeout_worker_healthcheck=60)  # fmt: skip


def password_cmd(
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, help="The CSM's password.")],
) -> None:
    """Print the hash of a CSM password (Argon2id), for CHURN_CSM_USERS."""
    typer.echo(PasswordHash.recommended().hash(password))
