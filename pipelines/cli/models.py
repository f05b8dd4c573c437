"""``churn train`` and ``churn models list|promote``."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import mlflow
import typer
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from rich.markup import escape
from rich.table import Table

from models.config import TrainConfig
from models.evaluation import Assessment
from models.selection import Selection
from pipelines.cli.console import Warehouse, console, failing_as
from pipelines.settings import get_settings
from pipelines.training.champion import promote, versions
from pipelines.training.datasets import TARGETS
from pipelines.training.expansion import EXPECTED, FLOOR_OF_ORACLE, RANKINGS, ExpansionReport
from pipelines.training.train import TrainReport, train
from pipelines.warehouse import connect

models_app = typer.Typer(help="Registered models: list versions and aliases, promote by hand.", no_args_is_help=True)
SHOWN = ("roc_auc", "pr_auc", "brier", "ece", "revenue_captured_top_decile", "roc_auc_vs_oracle")


def _target(value: str) -> str:
    if value not in TARGETS:
        raise typer.BadParameter(f"--target must be one of {', '.join(TARGETS)}, got {value!r}")
    return value


def train_cmd(
    target: Annotated[str, typer.Option(help="churn or upsell.")] = "churn",
    tune: Annotated[float, typer.Option(help="Seconds of hyperparameter search (Optuna) first; 0: none.")] = 0,
    inner_dates: Annotated[int | None, typer.Option(min=1,
        help="Latest training dates where other accounts stop the boosting and calibrate; default: 2, or 1 when "
             "the history leaves the trees fewer than 3 dates.")] = None,
    stop_share: Annotated[float, typer.Option(min=0.01, max=0.5,
        help="Share of the accounts that stops the boosting (at the inner dates).")] = 0.2,
    calibrate_share: Annotated[float, typer.Option(min=0.01, max=0.5,
        help="Share of the accounts that fits the calibration (at the inner dates).")] = 0.2,
    family: Annotated[str, typer.Option(
        help="auto: cross-validation over the training dates chooses LightGBM's settings or a logistic "
             "regression; lightgbm: the target's default settings, no choice; logistic: logistic regression.")
    ] = "auto",
    folds: Annotated[int | None, typer.Option(min=1,
        help="Folds of the choice (each judges one block of the latest training dates); default: as many as the "
             "dates allow, up to 3.")] = None,
    refit: Annotated[bool, typer.Option(
        help="After early stopping, grow the trees again on every account but the calibration ones, at every "
             "training date (the latest too); --no-refit keeps the trees on the earlier dates alone.")] = True,
    force: Annotated[bool, typer.Option(
        help="Make the new version champion even if it does not beat chance, its best baseline or the "
             "current champion.")] = False,
    oracle: Annotated[
        Path | None, typer.Option(help="Generator ground truth (default: DATA_DIR/generated/ground_truth).")
    ] = None,
    warehouse: Warehouse = None,
) -> None:  # fmt: skip
    """Train a target's model on its training set, compare with the baselines, log to MLflow and register it."""
    s = get_settings()
    truth = oracle or s.data_dir / "generated" / "ground_truth" / "oracle.parquet"
    with connect(warehouse or s.warehouse, read_only=True) as con, failing_as("train failed"):
        if family not in ("auto", "lightgbm", "logistic"):
            raise typer.BadParameter(f"--family must be auto, lightgbm or logistic, got {family!r}")
        cfg = TrainConfig.for_target(_target(target), inner_dates=inner_dates, stop_share=stop_share,
                                     calibrate_share=calibrate_share, family=family, folds=folds,
                                     refit=refit)  # fmt: skip
        report = train(con, target, cfg, tracking_uri=s.mlflow_uri(), artifacts=s.mlflow_artifacts,
                       oracle=truth, tune_seconds=tune or None, force=force)  # fmt: skip
    print_train(report)


COLUMNS = ("roc_auc", "pr_auc", "brier", "log_loss", "ece", "lift_top_decile", "capture_top_decile",
           "revenue_captured_top_decile")  # fmt: skip


def metrics_table(title: str, a: Assessment) -> Table:
    """Each scorer's metrics with their 95% intervals under them."""
    t = Table(title=title)
    t.add_column("")
    for c in COLUMNS:
        t.add_column(c.replace("_top_decile", " top 10%").replace("_", " "), justify="right")
    for who, m in a.metrics.items():
        cells = []
        for c in COLUMNS:
            lo, hi = a.intervals[who].get(c, (float("nan"), float("nan")))
            cells.append(f"{m.get(c, float('nan')):.3f}\n[dim]{lo:.3f}-{hi:.3f}[/dim]")
        t.add_row(who, *cells)
    return t


def print_train(r: TrainReport) -> None:
    e = r.evaluation
    m = e.everyone.metrics["model"]
    kind = "out-of-time validation" if r.out_of_time else "validation on held-out customers (not out of time)"
    console.print(metrics_table(f"{r.target}: {kind} ({int(m['rows']):,} rows, "
                                f"{m['positive_rate']:.1%} positive; under each figure its 95% interval, bootstrap "
                                "over accounts)", e.everyone))  # fmt: skip
    if e.beyond_notice is not None:
        b = e.beyond_notice.metrics["model"]
        console.print(metrics_table(f"{r.target} beyond notice: the {int(b['rows']):,} rows whose account had not "
                                    f"given notice ({e.noticed:,} had; {b['positive_rate']:.1%} positive)",
                                    e.beyond_notice))  # fmt: skip
    extra = ""
    if e.oracle_ratio is not None:
        ratio, (lo, hi) = e.oracle_ratio
        extra = f"; ROC AUC {ratio:.3f} x the oracle's (95% interval {lo:.3f}-{hi:.3f})"
    sizes = ", ".join(f"{k} {v:,}" for k, v in r.summary.items() if k.startswith("rows_"))
    shape = (f"{r.summary['trees']} trees of {r.summary['num_leaves']} leaves" if r.summary["family"] == "lightgbm"
             else f"logistic regression, C {r.summary['C']:g}")  # fmt: skip
    console.print(f"{shape}, {r.summary['calibration']} calibration ({sizes}), {r.seconds:.1f} s{extra}")
    for name, words in r.baselines.items():
        console.print(escape(f"Baseline {name}: {words}"))
    if r.selection is not None:
        print_selection(r.selection)
    if r.expansion is not None:
        print_expansion(r.expansion)
    for family, why in r.families_off.items():
        console.print(escape(f"Family {family} {why}: left out of training (no data fed it)"))
    if r.decision:
        console.print(f"Registered [bold]{r.target}[/bold] v{r.decision.version} as "
                      f"[bold]{r.decision.alias}[/bold]: {escape(r.decision.reason)} (run {r.run_id})")  # fmt: skip


def print_selection(sel: Selection) -> None:
    """Which family won on the inner folds, each candidate's ROC AUC there and the margin."""
    t = Table(title=f"Model family chosen on the training rows ({escape(sel.folds)}; ROC AUC on each fold's "
                    "judged rows, never the validation rows)")  # fmt: skip
    t.add_column("candidate")
    t.add_column("mean", justify="right")
    t.add_column("per fold", justify="right")
    for name in sorted(sel.scores, key=sel.mean, reverse=True):
        mark = " (chosen)" if name == sel.chosen.name else ""
        t.add_row(escape(name + mark), f"{sel.mean(name):.4f}", " ".join(f"{v:.3f}" for v in sel.scores[name]))
    console.print(t)
    margin = "" if sel.margin is None else f", ahead of the other family's best by {sel.margin:+.4f} mean ROC AUC"
    console.print(escape(f"Family: {sel.family} won{margin}"))


def print_expansion(x: ExpansionReport) -> None:
    """The rankings' share of the validation rows' expansion ARR in their top decile, the kind chosen and the
    floor."""
    t = Table(title=f"Expansion ARR captured in the top 10% ({x.rows:,} validation rows, {x.total:,.0f} expansion "
                    "ARR; 95% intervals, bootstrap over accounts)")  # fmt: skip
    t.add_column("ranking")
    for c in ("captured", "interval", "expected / it"):
        t.add_column(c, justify="right")
    for who, v in x.captured.items():
        lo, hi = x.intervals[who]
        ratio = x.ratios.get(who)
        shown = "" if ratio is None else f"{ratio[0]:.3f} ({ratio[1][0]:.3f}-{ratio[1][1]:.3f})"
        t.add_row(who, f"{v:.3f}", f"{lo:.3f}-{hi:.3f}", shown)
    console.print(t)
    for who in x.captured:
        console.print(escape(f"Ranking {who}: {RANKINGS[who]}"))
    s = x.selection
    means = ", ".join(f"{n} {s.mean(n):.3f}" for n in s.scores)
    console.print(escape(f"Expected expansion: kind {s.chosen} chosen on the training rows ({s.folds}; mean share "
                         f"captured: {means})"))  # fmt: skip
    for who, met in x.floors().items():
        bar = "" if who == "scorecard" else f"{FLOOR_OF_ORACLE} x "
        console.print(f"Floor {EXPECTED} >= {bar}{who}: {'met' if met else 'NOT met'}")


@models_app.command("list")
def list_cmd() -> None:
    """Versions of each registered model with their aliases and out-of-time metrics."""
    mlflow.set_tracking_uri(get_settings().mlflow_uri())
    client = MlflowClient()
    t = Table(title=f"Registered models ({get_settings().mlflow_uri()})")
    for c in ("model", "version", "aliases", "created", *SHOWN):
        t.add_column(c.replace("_top_decile", " top 10%").replace("_", " "))
    for name in TARGETS:
        try:
            rows = versions(client, name)
        except MlflowException:
            rows = []
        for v in rows:
            m = v["metrics"]
            assert isinstance(m, dict) and isinstance(v["created"], int)
            created = datetime.fromtimestamp(v["created"] / 1000, UTC).strftime("%Y-%m-%d %H:%M")
            t.add_row(name, str(v["version"]), ", ".join(v["aliases"]) or "-", created,  # type: ignore[arg-type]
                      *(f"{m[k]:.3f}" if k in m else "-" for k in SHOWN))  # fmt: skip
    console.print(t)


@models_app.command("promote")
def promote_cmd(
    target: Annotated[str, typer.Option(help="churn or upsell.")],
    version: Annotated[str, typer.Option(help="The version to make champion.")],
) -> None:
    """Make a version the champion by hand, whatever its metrics."""
    mlflow.set_tracking_uri(get_settings().mlflow_uri())
    try:
        promote(MlflowClient(), _target(target), version)
    except MlflowException as e:
        console.print(f"[red]promote failed:[/red] {target} has no version {version!r} ({e.message})")
        raise typer.Exit(1) from e
    console.print(f"{target} v{version} is now the champion")
