"""The demo pipeline: a list of stages, each a small step that reads and extends a shared context.

Later stages (features, training, scoring, serving) are appended here as the product grows.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from features.labels import LabelConfig
from pipelines.cli.console import Report, counted, per_table
from pipelines.cli.forecast import make_forecast
from pipelines.forecast import forecast_document
from pipelines.generate.run import GenerateReport, generate
from pipelines.ingest import IngestReport, ingest
from pipelines.publish import publish_document
from pipelines.score import champion_scorer, latest_dates, score
from pipelines.settings import get_settings
from pipelines.snapshots import default_dates, refresh
from pipelines.snapshots.labels import resolve_labels
from pipelines.snapshots.summary import Rates, rates, table_rows
from pipelines.training.datasets import TARGETS, build_dataset, split_config
from pipelines.training.train import train
from pipelines.warehouse import connect


@dataclass
class DemoContext:
    data_dir: Path
    warehouse: Path
    accounts: int
    months: int
    seed: int
    on_progress: Report | None = None
    results: dict[str, Any] = field(default_factory=dict)
    # The labels' time rules and validation dates given (None: derived from the generated data's span).
    horizon_days: int | None = None
    grace_days: int | None = None
    margin: float | None = None
    valid_dates: int | None = None
    labels: LabelConfig | None = None  # the rules settled after ingest, used by every later stage

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "generated"


@dataclass(frozen=True)
class Stage:
    name: str
    description: str
    run: Callable[[DemoContext], None]


def _generate(ctx: DemoContext) -> None:
    progress = counted(ctx.on_progress, "generate", ctx.accounts) if ctx.on_progress else None
    ctx.results["generate"] = generate(
        ctx.raw_dir, accounts=ctx.accounts, months=ctx.months, seed=ctx.seed, on_progress=progress
    )


def _ingest(ctx: DemoContext) -> None:
    progress = per_table(ctx.on_progress, "ingest") if ctx.on_progress else None
    ctx.results["ingest"] = ingest(ctx.raw_dir, ctx.warehouse, on_progress=progress)


def _summarize(ctx: DemoContext) -> None:
    with connect(ctx.warehouse, read_only=True) as con:
        ctx.labels = resolve_labels(con, ctx.horizon_days, ctx.grace_days, ctx.margin)
        ctx.results["rows"] = table_rows(con)
        ctx.results["rates"] = rates(con, ctx.labels)


def _features(ctx: DemoContext) -> None:
    with connect(ctx.warehouse) as con:
        export = ctx.data_dir / "features"
        lcfg = ctx.labels or resolve_labels(con, ctx.horizon_days, ctx.grace_days, ctx.margin)
        ctx.results["features"] = refresh(con, default_dates(con), lcfg=lcfg, export=export,
                                          on_progress=ctx.on_progress)  # fmt: skip


def _train(ctx: DemoContext) -> None:
    s = get_settings()
    with connect(ctx.warehouse, read_only=True) as con:
        for target in TARGETS:
            ctx.results[f"train_{target}"] = train(
                con, target, tracking_uri=s.mlflow_uri(), artifacts=s.mlflow_artifacts,
                oracle=ctx.raw_dir / "ground_truth" / "oracle.parquet",
            )  # fmt: skip


def _score(ctx: DemoContext) -> None:
    s = get_settings()
    with connect(ctx.warehouse) as con:
        # Six months of scores, so that the pages and the API can show each account's health trend; published to
        # CHURN_SCORES for `churn serve`.
        scorer = champion_scorer(s.mlflow_uri())
        ctx.results["score"] = score(con, scorer, latest_dates(con, 6), s.scores, s.scores_keep)


def _forecast(ctx: DemoContext) -> None:
    s = get_settings()
    ctx.results["forecast"] = f = make_forecast(ctx.warehouse)
    publish_document("forecast", forecast_document(f), s.scores, s.scores_keep)


def _datasets(ctx: DemoContext) -> None:
    with connect(ctx.warehouse) as con:
        for target in TARGETS:
            cfg = split_config(con, target, ctx.valid_dates)
            _, ctx.results[f"dataset_{target}"] = build_dataset(con, target, ctx.data_dir / "datasets", cfg)


STAGES: list[Stage] = [
    Stage("generate", "simulate a SaaS customer base with ground truth", _generate),
    Stage("ingest", "validate against the contract and load the warehouse", _ingest),
    Stage("summarize", "count rows and measure churn and expansion", _summarize),
    Stage("features", "build monthly feature snapshots and labels", _features),
    Stage("datasets", "build churn and upsell training sets, split by time", _datasets),
    Stage("train", "train, evaluate and register the churn and upsell models (MLflow)", _train),
    Stage("score", "score every active account with the champion models (last six snapshots)", _score),
    Stage("forecast", "forecast the book's revenue retention over the next quarter", _forecast),
]


def run_demo(ctx: DemoContext, stages: list[Stage] | None = None) -> DemoContext:
    for stage in stages or STAGES:
        stage.run(ctx)
    return ctx


__all__ = ["STAGES", "DemoContext", "GenerateReport", "IngestReport", "Rates", "Stage", "run_demo"]
