"""The ``churn`` command line: generate data, ingest it, run the demo."""

import logging
import os
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from features.labels import LabelConfig
from pipelines.cli import spark as cli_spark
from pipelines.cli.console import Warehouse, console, counted, failing_as, per_table, progress_bars
from pipelines.cli.demo import STAGES, DemoContext
from pipelines.cli.effects import effects_cmd
from pipelines.cli.features import (
    Grace,
    Horizon,
    Margin,
    ValidDates,
    dataset_app,
    features_app,
    print_build,
    print_dataset,
    print_off,
)
from pipelines.cli.forecast import forecast_cmd, print_forecast
from pipelines.cli.models import models_app, print_train, train_cmd
from pipelines.cli.monitor import monitor_cmd
from pipelines.cli.retrain import retrain_cmd
from pipelines.cli.serve import password_cmd, print_score, score_cmd, serve_cmd
from pipelines.cli.spark import export_cmd
from pipelines.generate.changes import KINDS, parse_change, resolve_changes
from pipelines.generate.params import WORLDS
from pipelines.generate.playbook import PLAYS
from pipelines.generate.run import DEFAULT_START, GenerateReport, generate
from pipelines.generate.shapes import SHAPES, write_shape
from pipelines.generate.simulate import Oracle
from pipelines.ingest import IngestError, IngestReport, ingest
from pipelines.settings import get_settings
from pipelines.snapshots.summary import Rates

app = typer.Typer(help="Churn and expansion prediction for Customer Success teams.", no_args_is_help=True)


@app.callback()
def _quiet_libraries() -> None:
    """Keep the CLI's output to its own tables: MLflow logs every artifact step, and warns that our own wrapper
    is pickled."""
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


app.add_typer(features_app, name="features")
app.add_typer(dataset_app, name="dataset")
app.add_typer(models_app, name="models")
app.command("train")(train_cmd)
app.command("score")(score_cmd)
app.command("retrain")(retrain_cmd)
app.command("serve")(serve_cmd)
app.command("password")(password_cmd)
app.command("export")(export_cmd)
app.command("monitor")(monitor_cmd)
app.command("effects")(effects_cmd)
app.command("forecast")(forecast_cmd)


@app.command("generate")
def generate_cmd(
    out: Annotated[Path, typer.Option(help="Folder to write the tables into.")] = Path("data/generated"),
    accounts: Annotated[int, typer.Option(min=1, help="Number of accounts.")] = 3000,
    months: Annotated[int, typer.Option(min=4, help="Months of data.")] = 24,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same data.")] = 7,
    start: Annotated[str, typer.Option(help="First day of the data (YYYY-MM-01).")] = DEFAULT_START.isoformat(),
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
    oracle_paths: Annotated[
        int, typer.Option(min=0, help="Simulated futures per account and snapshot (0: no oracle).")
    ] = 100,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 2,
    world: Annotated[
        str,
        typer.Option(
            help=f"Which world: {', '.join(WORLDS)} (type-mix: eight usage event types whose mix drives churn)."
        ),
    ] = "default",
    shape: Annotated[
        list[str] | None,
        typer.Option(help=f"Also write the data in a foreign shape into OUT/SHAPE (repeatable): {', '.join(SHAPES)}."),
    ] = None,
    change: Annotated[
        list[str] | None,
        typer.Option(
            help=f"Inject a known change (repeatable), written into ground_truth/changes.parquet: KIND:YYYY-MM-DD "
            f"then :key=value fields; KIND is one of {', '.join(KINDS)} (fields: release event_type, share; outage "
            "event_type, days; price factor; segment segment), e.g. outage:2024-09-01:event_type=export:days=14."
        ),
    ] = None,
    plays: Annotated[
        bool,
        typer.Option(
            help="CSMs run four plays with holdouts and known effects (play_assignments, play_actions, "
            "ground_truth/plays.parquet; see pipelines/generate/playbook.py); needs 10 months or more."
        ),
    ] = False,
) -> None:
    """Generate a realistic B2B SaaS customer base with ground truth (latent health, oracle probabilities); with
    --shape, also as other systems export it (ingest each with its mapping in examples/) or as feature tables."""
    if fmt not in ("parquet", "csv"):
        raise typer.BadParameter(f"--format must be parquet or csv, got {fmt!r}")
    if world not in WORLDS:
        raise typer.BadParameter(f"--world must be one of {', '.join(WORLDS)}, got {world!r}")
    shapes = list(dict.fromkeys(shape or []))
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        raise typer.BadParameter(f"--shape must be one of {', '.join(SHAPES)}, got {', '.join(map(repr, unknown))}")
    if shapes and fmt != "parquet":
        raise typer.BadParameter("--shape reads the Parquet tables: leave out --format csv (or use --format parquet)")
    if plays and (oracle_paths < 1 or months < 10):
        raise typer.BadParameter(
            "--plays needs the oracle (--oracle-paths 1 or more) and 10 months or more of data "
            f"(the last play's horizon and grace period); got {oracle_paths} and {months}"
        )
    try:
        first = date.fromisoformat(start)
    except ValueError as e:
        raise typer.BadParameter(f"--start must be a date like 2024-01-01, got {start!r}") from e
    try:
        changes = resolve_changes([parse_change(c) for c in change or []], first, months, WORLDS[world])
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e
    with progress_bars() as progress:
        report = generate(
            out, accounts=accounts, months=months, seed=seed, start=first, fmt=fmt,  # type: ignore[arg-type]
            oracle=Oracle(paths=oracle_paths), workers=workers, changes=changes,
            params=replace(WORLDS[world], plays=PLAYS) if plays else WORLDS[world],
            on_progress=counted(progress, "generate", accounts),
        )  # fmt: skip
    _print_generate(report)
    for ch in changes:
        console.print(escape(f"Injected change {ch.spec()} (ground_truth/changes.parquet)"))
    for name in shapes:
        with failing_as(f"shape {name} failed", ValueError, FileNotFoundError):
            rows = write_shape(out, name)
        files = ", ".join(f"{file} {n:,}" for file, n in rows.items())
        console.print(escape(f"Wrote shape {name} into {out / name}: {files} rows"))


@app.command("ingest")
def ingest_cmd(
    source: Annotated[str, typer.Argument(help="A folder of CSV/Parquet files, or postgresql://... URL.")],
    mapping: Annotated[Path | None, typer.Option(help="TOML file mapping your tables and columns.")] = None,
    warehouse: Warehouse = None,
    engine: cli_spark.EngineOption = "duckdb",
    spark_master: cli_spark.Master = None,
    spark_conf: cli_spark.Conf = None,
    lake: cli_spark.Lake = None,
) -> None:
    """Validate SOURCE against the data contract and load it into the warehouse; bad rows go to quarantine.
    With --engine spark: SOURCE is a folder of Parquet or CSV tables; accepted rows go to LAKE/raw, the rest to
    LAKE/quarantine."""
    cli_spark.check_engine(engine)
    if engine == "spark":
        cli_spark.ingest(Path(source), mapping, cli_spark.SparkOptions(spark_master, spark_conf, lake, None))
        return
    target = warehouse or get_settings().warehouse
    with failing_as("ingest failed", IngestError), progress_bars() as progress:
        report = ingest(source, target, mapping=mapping, on_progress=per_table(progress, "ingest"))
    _print_ingest(report)


@app.command("demo")
def demo_cmd(
    accounts: Annotated[int | None, typer.Option(min=1, help="Accounts to generate.")] = None,
    months: Annotated[int | None, typer.Option(min=4, help="Months of data.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    horizon: Horizon = None,
    grace: Grace = None,
    margin: Margin = None,
    valid_dates: ValidDates = None,
) -> None:
    """Run the whole pipeline on generated data: generate, ingest, summarize, features, datasets, train, score.
    The labels' time rules and validation dates not given come from the settings, else from the data's span."""
    s = get_settings()
    ctx = DemoContext(
        data_dir=s.data_dir, warehouse=s.warehouse, accounts=accounts or s.demo_accounts,
        months=months or s.demo_months, seed=s.seed if seed is None else seed,
        horizon_days=s.horizon_days if horizon is None else horizon,
        grace_days=s.grace_days if grace is None else grace, margin=s.margin if margin is None else margin,
        valid_dates=s.valid_dates if valid_dates is None else valid_dates,
    )  # fmt: skip
    with progress_bars() as progress:
        ctx.on_progress = progress
        for i, stage in enumerate(STAGES, 1):
            console.print(f"[bold cyan]{i}/{len(STAGES)} {stage.name}[/bold cyan]: {stage.description}")
            with failing_as(f"{stage.name} failed", IngestError, ValueError):
                stage.run(ctx)
    _print_generate(ctx.results["generate"])
    _print_ingest(ctx.results["ingest"])
    assert ctx.labels is not None  # settled by the summarize stage
    _print_rates(ctx.results["rates"], ctx.labels)
    print_build(ctx.results["features"])
    for target in ("churn", "upsell"):
        print_dataset(ctx.results[f"dataset_{target}"])
    for target in ("churn", "upsell"):
        print_train(ctx.results[f"train_{target}"])
    print_score(ctx.results["score"])
    print_forecast(ctx.results["forecast"])
    console.print(
        "Next: [bold]uv run churn serve[/bold] starts the API and the CSM pages on http://127.0.0.1:8000 "
        "(sign in as demo / demo; API docs at /docs); demo API keys: demo-read-key (read), demo-admin-key "
        "(admin), e.g.\n"
        "  curl -H 'Authorization: Bearer demo-read-key' 'http://127.0.0.1:8000/v1/rankings/at-risk?limit=5'"
    )
    console.print(f"Warehouse: [bold]{ctx.warehouse}[/bold] (tables in schema raw)")


def _print_generate(r: GenerateReport) -> None:
    events = r.rows.get("usage_events", 0)
    console.print(
        f"Generated {r.rows.get('accounts', 0):,} accounts and {events:,} usage events into {r.out} "
        f"in {r.seconds:.1f} s ({events / max(r.seconds, 1e-9):,.0f} events/s)"
    )


def _print_ingest(r: IngestReport) -> None:
    """The counts per table, the source columns no contract column reads, and the tables that came with no rows;
    every cell printed literally (a reason or a column name may hold brackets, which Rich would read as markup)."""
    t = Table(title=escape(f"Ingested {r.source} in {r.seconds:.1f} s"))
    for col in ("table", "input rows", "accepted", "quarantined", "reasons", "source columns not used"):
        t.add_column(col, justify="right" if col in ("input rows", "accepted", "quarantined") else "left")
    for name, c in r.tables.items():
        reasons = ", ".join(f"{k}: {v}" for k, v in r.reasons.get(name, {}).items())
        unused = ", ".join(r.ignored_columns.get(name, []))
        t.add_row(name, f"{c.input_rows:,}", f"{c.accepted:,}", f"{c.quarantined:,}", escape(reasons), escape(unused))
    console.print(t)
    missing = [t for t in r.absent_optional_tables if t not in r.declared_absent]
    if r.declared_absent:
        console.print(escape(f"Tables declared absent in the mapping: {', '.join(r.declared_absent)}"))
    if missing:
        console.print(escape(f"Optional tables not in the source (loaded with no rows): {', '.join(missing)}"))
    empty = [n for n, c in r.tables.items() if c.input_rows == 0 and n not in r.absent_optional_tables]
    if empty:
        console.print(
            escape(f"Tables found with no rows: {', '.join(empty)}; check the export if they should have some")
        )
    print_off(r.families_off)


def _print_rates(rates: list[Rates], labels: LabelConfig) -> None:
    t = Table(title=f"Within {labels.horizon_days} days of a monthly snapshot (the labels' churn and expansion: "
                    f"a stop of service that lasts over {labels.grace_days} days; MRR or seats up by over "
                    f"{labels.margin:.0%})")  # fmt: skip
    for col in ("segment", "snapshots (churn)", "churn rate", "snapshots (expansion)", "expansion rate"):
        t.add_column(col, justify="left" if col == "segment" else "right")
    for r in rates:
        t.add_row(r.segment, f"{r.snapshots:,}", f"{r.churn_rate:.1%}", f"{r.expansion_snapshots:,}",
                  f"{r.expansion_rate:.1%}")  # fmt: skip
    console.print(t)


if __name__ == "__main__":
    app()
