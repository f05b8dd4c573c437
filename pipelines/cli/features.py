"""``churn features build``, ``churn dataset build`` and ``churn dataset import`` (a user's own feature table)."""

import tomllib
from datetime import date
from pathlib import Path
from typing import Annotated, TypeVar

import duckdb
import sqlalchemy as sa
import typer
from rich.markup import escape
from rich.table import Table

from features.config_file import read_features_file
from features.labels import LabelConfig
from features.split import SplitConfig
from pipelines.cli import spark as cli_spark
from pipelines.cli.console import Warehouse, console, failing_as
from pipelines.settings import get_settings
from pipelines.snapshots import BuildReport, default_dates, refresh, snapshot_dates
from pipelines.snapshots.inputs import resolve_features
from pipelines.snapshots.labels import resolve_labels
from pipelines.training.datasets import TARGETS, DatasetReport, build_dataset, split_config
from pipelines.training.feature_table import TableColumns, import_table, read_table
from pipelines.warehouse import connect

Horizon = Annotated[
    int | None,
    typer.Option("--horizon", min=1, help="Days after a snapshot within which churn and upsell count (default: "
                 "CHURN_HORIZON_DAYS, else 90 for about 17 months of data or more, 30 for less)."),
]  # fmt: skip
Grace = Annotated[
    int | None,
    typer.Option("--grace", min=0, help="Days a stop of service may last and not be churn (default: "
                 "CHURN_GRACE_DAYS, else 30)."),
]  # fmt: skip
Margin = Annotated[
    float | None,
    typer.Option("--margin", min=0, help="Share by which MRR or seats must grow to be upsell (default: "
                 "CHURN_MARGIN, else 0.10)."),
]  # fmt: skip
ValidDates = Annotated[
    int | None,
    typer.Option(min=1, help="Latest labeled dates used for validation (default: CHURN_VALID_DATES, else up to 3, "
                 "as many as leave 6 training dates)."),
]  # fmt: skip

N = TypeVar("N", int, float)

features_app = typer.Typer(help="Point-in-time feature snapshots and labels.", no_args_is_help=True)
dataset_app = typer.Typer(help="Training sets with a time-based split.", no_args_is_help=True)


def _given(option: N | None, setting: N | None) -> N | None:
    """A command's option, else its setting (``pipelines.settings``); None: derived from the data."""
    return setting if option is None else option


def _day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as e:
        raise typer.BadParameter(f"--{name} must be a date like 2025-01-01, got {value!r}") from e


@features_app.command("build")
def features_build(
    start: Annotated[str | None, typer.Option(help="First snapshot date (default: a month in).")] = None,
    end: Annotated[str | None, typer.Option(help="Last snapshot date (default: the end of the data).")] = None,
    every: Annotated[str, typer.Option(help="month (first days) or week (Mondays).")] = "month",
    warehouse: Warehouse = None,
    export: Annotated[Path | None, typer.Option(help="Folder for a Parquet export (default: data/features).")] = None,
    features: Annotated[
        Path | None,
        typer.Option(
            "--features",
            help="Features file (TOML; README, Your events); default: CHURN_FEATURES_FILE, "
            "else every event type above 1% of accounts.",
        ),
    ] = None,
    horizon: Horizon = None,
    grace: Grace = None,
    margin: Margin = None,
    engine: cli_spark.EngineOption = "duckdb",
    spark_master: cli_spark.Master = None,
    spark_conf: cli_spark.Conf = None,
    lake: cli_spark.Lake = None,
    raw: cli_spark.Raw = None,
) -> None:
    """Compute feature snapshots and labels of every account active at each date; rebuilt dates are replaced.
    The labels' time rules (--horizon, --grace, --margin; unset: from the settings, else derived from the data's
    span) are stored with them for `churn dataset build` and `churn train`.
    With --engine spark: from the Parquet raw tables in the lake, into LAKE/snapshots and LAKE/labels."""
    cli_spark.check_engine(engine)
    s = get_settings()
    rules = (_given(horizon, s.horizon_days), _given(grace, s.grace_days), _given(margin, s.margin))
    file = features or s.features_file
    if engine == "spark":
        opts = cli_spark.SparkOptions(spark_master, spark_conf, lake, raw)
        with failing_as("features build failed", ValueError):
            spec = read_features_file(file) if file else None
        cli_spark.features(every, _day(start, "start"), _day(end, "end"), opts, rules, spec)
        return
    path = warehouse or s.warehouse
    if not path.exists():
        console.print(f"[red]no warehouse at {path}[/red]: run `churn ingest SOURCE` (or `churn demo`) first")
        raise typer.Exit(1)
    with connect(path) as con, failing_as("features build failed", ValueError, duckdb.OutOfMemoryException):
        fcfg = resolve_features(con, read_features_file(file) if file else None)
        lcfg = resolve_labels(con, *rules)
        dates = default_dates(con, every)
        first, last = _day(start, "start"), _day(end, "end")
        if first or last:
            dates = snapshot_dates(first or dates[0].date(), last or dates[-1].date(), every)
        report = refresh(con, dates, fcfg, lcfg, export=export or s.data_dir / "features")
    print_build(report)


@dataset_app.command("build")
def dataset_build(
    target: Annotated[str, typer.Option(help="churn or upsell.")] = "churn",
    valid_dates: ValidDates = None,
    valid_share: Annotated[float, typer.Option(help="Share of accounts held out for validation.")] = 0.3,
    warehouse: Warehouse = None,
    engine: cli_spark.EngineOption = "duckdb",
    spark_master: cli_spark.Master = None,
    spark_conf: cli_spark.Conf = None,
    lake: cli_spark.Lake = None,
) -> None:
    """Join snapshots with the target's labels and split by time (no account in both train and valid), with the
    labels' own time rules; refuses a training part too small to learn from, naming the options that fix it.
    With --engine spark: from LAKE/snapshots and LAKE/labels into LAKE/datasets/TARGET."""
    if target not in TARGETS:
        raise typer.BadParameter(f"--target must be one of {', '.join(TARGETS)}, got {target!r}")
    cli_spark.check_engine(engine)
    s = get_settings()
    if engine == "spark":
        opts = cli_spark.SparkOptions(spark_master, spark_conf, lake, None)
        cli_spark.dataset(target, _given(valid_dates, s.valid_dates), valid_share, opts)
        return
    with (
        connect(warehouse or s.warehouse) as con,
        failing_as("dataset build failed", ValueError, duckdb.OutOfMemoryException),
    ):
        cfg = split_config(con, target, _given(valid_dates, s.valid_dates), valid_share)
        _, report = build_dataset(con, target, s.data_dir / "datasets", cfg)
    print_dataset(report)


def _families(path: Path | None) -> dict[str, str]:
    """A families file (TOML): ``[families]`` then ``family = ["column", ...]``; column -> family."""
    if path is None:
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        groups = data["families"]
        out = {str(c): str(fam) for fam, columns in groups.items() for c in columns}
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, AttributeError) as e:
        raise typer.BadParameter(
            f'--families {path}: {e}; write it as [families] then family = ["column", ...], see '
            "examples/feature_table_families.toml"
        ) from e
    return out


@dataset_app.command("import")
def dataset_import(
    source: Annotated[str, typer.Argument(help="A CSV or Parquet file, or a database URL (with --table).")],
    id_column: Annotated[str, typer.Option("--id", help="The column that names the customer.")],
    label: Annotated[str, typer.Option(help="The label column: 1/0, true/false or yes/no (empty: unlabeled).")],
    as_of: Annotated[str | None, typer.Option(help="The date of each row, for a table per customer and date.")] = None,
    arr: Annotated[str | None, typer.Option(help="Annual revenue per row, for revenue at risk.")] = None,
    drop: Annotated[list[str] | None, typer.Option(help="A column to leave out (repeat the option).")] = None,
    target: Annotated[str, typer.Option(help="What the label says: churn or upsell.")] = "churn",
    table: Annotated[str | None, typer.Option(help="The table, for a database URL (schema.table).")] = None,
    families: Annotated[Path | None, typer.Option(help="A TOML file putting columns into families.")] = None,
    valid_dates: Annotated[int, typer.Option(min=1, help="Latest labeled dates used for validation.")] = 3,
    valid_share: Annotated[float, typer.Option(help="Share of customers held out for validation.")] = 0.3,
    warehouse: Warehouse = None,
) -> None:
    """Your own feature table (one row per customer, or per customer and date, with a label) as the warehouse's
    snapshots and the TARGET's training set: `churn train`, `churn score` and the API then work on its columns."""
    s = get_settings()
    cols = TableColumns(id_column, label, as_of, arr, tuple(drop or ()))
    with failing_as("dataset import failed", ValueError, OSError, sa.exc.SQLAlchemyError):
        frame = read_table(source, table)
        with connect(warehouse or s.warehouse) as con:
            r = import_table(con, frame, cols, target=target, families=_families(families),
                             split=SplitConfig(valid_dates, valid_share), out=s.data_dir / "datasets",
                             source=source)  # fmt: skip
    console.print(escape(f"Imported {r.source}: {r.rows:,} rows, {r.accepted:,} accepted, "
                         f"{sum(r.quarantined.values()):,} quarantined (features.table_quarantine)"))  # fmt: skip
    for reason, n in r.quarantined.items():
        console.print(escape(f"  {n:,} rows: {reason}"))
    console.print(escape(f"{len(r.features)} features ({len(r.categorical)} categorical: "
                         f"{', '.join(r.categorical) or 'none'})"))  # fmt: skip
    if r.empty_columns:
        console.print(escape(f"Columns with no value in any row, left out: {', '.join(r.empty_columns)}"))
    console.print(escape(f"Split: {r.split}"))
    print_dataset(r.dataset)


def print_build(r: BuildReport) -> None:
    console.print(
        f"Built {r.features} features for {r.snapshots:,} snapshots on {len(r.dates)} dates "
        f"({r.dates[0]:%Y-%m-%d} .. {r.dates[-1]:%Y-%m-%d}) in {r.seconds:.1f} s; export: {r.parquet}"
    )
    print_off(r.off)
    t = Table(title=f"Labels per snapshot date ({rules(r.labels)}; blank: not yet known)")
    for col in ("as_of", "churn rate", "upsell rate"):
        t.add_column(col, justify="right")
    for day in r.churn_rate:
        c, u = r.churn_rate[day], r.upsell_rate[day]
        t.add_row(day, "" if c is None else f"{c:.1%}", "" if u is None else f"{u:.1%}")
    console.print(t)


def rules(cfg: LabelConfig) -> str:
    """The labels' time rules in words, for the tables that show labels."""
    return f"{cfg.horizon_days}-day horizon, {cfg.grace_days} days of grace, upsell above {cfg.margin:.0%}"


def print_off(off: dict[str, str]) -> None:
    """The feature families switched off (left out of snapshots, training and scores; never zero-filled)."""
    for family, why in off.items():
        console.print(escape(f"Family {family} {why}: its features are left out, not filled with zeros"))


def print_dataset(r: DatasetReport) -> None:
    t = Table(title=f"Training set: {r.target}")
    for col in ("split", "rows", "accounts", "positive rate", "as_of from", "to"):
        t.add_column(col)
    for part in r.rows:
        t.add_row(part, f"{r.rows[part]:,}", f"{r.accounts[part]:,}", f"{r.positive_rate[part]:.1%}",
                  *r.dates[part])  # fmt: skip
    console.print(t)
    if r.paths:
        console.print(f"Files: {', '.join(str(p) for p in r.paths.values())}")
