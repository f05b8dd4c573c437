"""``--engine spark`` of ``churn features build``, ``churn dataset build`` and ``churn score``, and ``churn export``
(the warehouse's raw tables as the Parquet the Spark engine reads)."""

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from features.config_file import FeaturesFile
from features.labels import LabelConfig, derived_labels
from pipelines.cli.console import Warehouse, console, failing_as
from pipelines.settings import get_settings
from pipelines.spark import engine as spark

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

ENGINES = ("duckdb", "spark")

EngineOption = Annotated[str, typer.Option(help="duckdb (the embedded warehouse) or spark (Parquet in the lake).")]
Master = Annotated[str | None, typer.Option(help="Spark master (default CHURN_SPARK_MASTER, local[2]).")]
Conf = Annotated[
    list[str] | None, typer.Option(help="Spark setting key=value (repeat), e.g. spark.executor.memory=8g.")
]
Lake = Annotated[str | None, typer.Option(help="Spark's folder or URI (default CHURN_LAKE, data/lake).")]
Raw = Annotated[
    str | None, typer.Option(help="Spark's raw tables: a Parquet folder or catalog:<database> (default LAKE/raw).")
]


@dataclass(frozen=True)
class SparkOptions:
    master: str | None
    conf: list[str] | None
    lake: str | None
    raw: str | None


def check_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise typer.BadParameter(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")


def open_session(o: SparkOptions) -> "SparkSession":
    """The Spark session for the CLI's options; exits with a clear message when they are wrong."""
    try:
        import pyspark  # noqa: F401
    except ImportError as e:
        console.print("[red]--engine spark needs PySpark:[/red] uv sync (dev group) or pip install 'churn[spark]'")
        raise typer.Exit(1) from e
    with failing_as("spark"):
        return spark.session(o.master or get_settings().spark_master, spark.parse_conf(o.conf or []))


def open_engine(o: SparkOptions) -> tuple[spark.SparkEngine, str]:
    """The engine over the lake's raw tables (or ``--raw``), and the lake."""
    folder = o.lake or get_settings().lake
    session = open_session(o)
    with failing_as("spark", ValueError, FileNotFoundError):
        return spark.SparkEngine(session, o.raw or f"{folder}/raw"), folder


def ingest(source: Path, mapping: Path | None, o: SparkOptions) -> None:
    from pipelines.ingest import IngestError
    from pipelines.spark.ingest import ingest as check

    lake = o.lake or get_settings().lake
    with failing_as("ingest failed", IngestError, ValueError, FileNotFoundError):
        report = check(open_session(o), source, lake, mapping)
    table = Table("table", "input rows", "accepted", "quarantined", "reasons")
    for name, c in report.tables.items():
        why = ", ".join(f"{k}: {v:,}" for k, v in report.reasons.get(name, {}).items())
        table.add_row(name, f"{c.input_rows:,}", f"{c.accepted:,}", f"{c.quarantined:,}", why)
    console.print(table)
    console.print(f"Accepted rows in {lake}/raw, quarantined rows with their reasons in {lake}/quarantine")


def features(
    every: str,
    first: date | None,
    last: date | None,
    o: SparkOptions,
    rules: tuple[int | None, int | None, float | None] = (None, None, None),
    spec: FeaturesFile | None = None,
) -> None:
    """Snapshots and labels with Spark; ``rules``: the horizon, grace and margin given (None: derived from the
    data's span, ``features.labels.derived_labels``); ``spec``: the features file (None: the defaults, every event
    type above the coverage floor), resolved against the lake's event types as the DuckDB build does."""
    from pipelines.snapshots import dates_within, snapshot_dates

    run, lake = open_engine(o)
    with failing_as("features build failed"):
        begin, end = run.data_bounds()
        dates = dates_within(begin, end, every)
        if first or last:
            dates = snapshot_dates(first or dates[0].date(), last or dates[-1].date(), every)
        lcfg: LabelConfig = derived_labels(begin, end, *rules)
        report = spark.build(run, dates, lake, fcfg=run.resolve_features(spec), lcfg=lcfg, data_end=end)
    console.print(
        f"Built {report.features} features for {report.snapshots:,} snapshots on {len(report.dates)} dates with "
        f"Spark in {report.seconds:.1f} s into {lake}/snapshots and {lake}/labels ({lcfg.horizon_days}-day "
        f"horizon, {lcfg.grace_days} days of grace)"
    )


def dataset(target: str, valid_dates: int | None, valid_share: float, o: SparkOptions) -> None:
    run, lake = open_engine(o)
    with failing_as("dataset build failed"):
        stats = spark.build_dataset(run.spark, lake, target, valid_dates, valid_share)
    parts = ", ".join(f"{k} {v['rows']:,} rows ({v['positive_rate']:.1%} positive)" for k, v in sorted(stats.items()))
    console.print(f"Training set {target} with Spark into {lake}/datasets/{target}: {parts}")


def score(dates: int, o: SparkOptions) -> None:
    from models.registered import ModelNotFound
    from pipelines.score import champion_scorer

    with failing_as("score failed", ModelNotFound):
        scorer = champion_scorer(get_settings().mlflow_uri())
    run, lake = open_engine(o)
    with failing_as("score failed"):
        got = spark.score(run, lake, scorer, dates)
    console.print(
        f"Scored {got['accounts']:,} accounts with Spark into {lake}/scores: {got['red']:,} red; revenue at risk "
        f"{got['revenue_at_risk']:,.0f} a year"
    )


def export_cmd(
    to: Annotated[Path | None, typer.Option(help="Folder to write <table>.parquet into (default LAKE/raw).")] = None,
    warehouse: Warehouse = None,
) -> None:
    """Write the warehouse's validated raw tables as Parquet: the input of --engine spark."""
    from pipelines.warehouse import connect, export_raw

    s = get_settings()
    folder = to or Path(s.lake) / "raw"
    with failing_as("export failed"), connect(warehouse or s.warehouse, read_only=True) as con:
        rows = export_raw(con, folder)
    console.print(f"Exported {len(rows)} tables ({sum(rows.values()):,} rows) to {folder}")
