"""Quality by shape: one generated world, written in every shape the generator knows, each taken through the
product's own path to a churn model, and each model judged against the generator's oracle on its own validation
rows.

    uv run python benchmarks/shapes.py [--accounts 6000] [--months 24] [--seed 7] [--work DIR]

The paths, each in a warehouse of its own:

- ``contract``: the world as ``churn generate`` writes it, ingested as is (every table: the full-contract model);
- ``product-analytics``, ``billing``: the world's export in that shape, ingested with its example mapping
  (``examples/product_analytics.toml``, ``examples/billing.toml``); these three then ``refresh`` (snapshots at
  ``default_dates``), ``build_dataset`` (split by time) and ``fit_and_evaluate``, as ``churn train`` does;
- ``customer-table``, ``customer-month-table``: the feature table imported by ``import_table`` (a stratified holdout
  of customers for the one-date table, by time for the monthly one), then ``fit_and_evaluate``.

Every model is fitted with ``TrainConfig.for_target("churn")`` (LightGBM on 1 thread). For each: the model's
validation ROC AUC, the oracle's on the same rows (the generator's true probability of churn: ``ground_truth/
oracle.parquet``, or the feature table's ``oracle.csv``, joined on account and as_of) and the ratio model / oracle,
each with its 95% interval from the product's bootstrap over accounts (``models.evaluation.assess``: 400 resamples,
paired across scorers). Rows the oracle does not cover are left out of the oracle's columns only, and counted.
A shape's model is compared with the full-contract model only when their validation rows are the same
(account, as_of) rows with the same labels: then the difference of ROC AUC has a paired interval. Otherwise the
table says that they are not the same rows, and the shape is judged by its own oracle only.

Prints Markdown tables and writes them to ``benchmarks/results/shapes.md``. A path that fails (the product raises)
is shown with its error, and the others still run.
"""

import argparse
import json
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

# Run as a file, this folder comes first on sys.path, and its features.py would hide the features package.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# pandera imports pandas-on-Spark when PySpark is installed, which warns about pandas 3 (see pyproject.toml).
warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)

from tables import ci, markdown  # noqa: E402  (benchmarks/ is the script folder, after ROOT)

from models.config import TrainConfig  # noqa: E402
from models.evaluation import assess  # noqa: E402
from pipelines.generate.run import generate  # noqa: E402
from pipelines.generate.shapes import write_shape  # noqa: E402
from pipelines.generate.simulate import Oracle  # noqa: E402
from pipelines.ingest import ingest  # noqa: E402
from pipelines.snapshots import default_dates, refresh  # noqa: E402
from pipelines.training.champion import BASELINES, evidence  # noqa: E402
from pipelines.training.datasets import build_dataset, column_families  # noqa: E402
from pipelines.training.feature_table import TableColumns, import_table, read_table  # noqa: E402
from pipelines.training.train import fit_and_evaluate, load_dataset  # noqa: E402
from pipelines.warehouse import connect  # noqa: E402

EVENT_SHAPES = {"product-analytics": "product_analytics.toml", "billing": "billing.toml"}
TABLE_SHAPES = {
    "customer-table": ("customer_table.csv", None),
    "customer-month-table": ("customer_month_table.csv", "as_of"),
}  # fmt: skip  (file, as_of column)
KEY = ["account_id", "as_of"]
RESULTS = ROOT / "benchmarks" / "results" / "shapes.md"
ORACLE_PATHS = 20


@dataclass
class PathRun:
    """One path from its input to a model: what went in, what was left out, and the scores on validation."""

    name: str
    inputs: dict[str, str] = field(default_factory=dict)  # column of the inputs table -> text
    off: dict[str, str] = field(default_factory=dict)  # "family (where)" -> why it is off
    train_rows: int = 0
    # account_id, as_of, label, model (its score), oracle (NaN where the oracle has no row); None when it failed
    valid: pd.DataFrame | None = None
    error: str | None = None
    seconds: float = 0.0
    family: str = ""  # the model family chosen on the training rows' folds


def world_for(work: Path, accounts: int, months: int, seed: int) -> tuple[Path, float]:
    """The world in ``work/world`` (generated unless one of the same arguments is there), and the seconds taken."""
    world = work / "world"
    manifest = world / "manifest.json"
    if manifest.exists():
        m = json.loads(manifest.read_text())
        if (m["accounts"], m["months"], m["seed"], m["oracle"]["paths"]) == (accounts, months, seed, ORACLE_PATHS):
            return world, 0.0
    t0 = time.perf_counter()
    generate(world, accounts=accounts, months=months, seed=seed, oracle=Oracle(paths=ORACLE_PATHS), workers=2)
    return world, time.perf_counter() - t0


def train_on(run: PathRun, con: duckdb.DuckDBPyConnection, oracle: pd.DataFrame) -> None:
    """Fit and score as ``churn train`` does, on the training set in ``con``; a failure is recorded, not raised."""
    rows = load_dataset(con, "churn")
    run.train_rows = int((rows["split"] == "train").sum())
    try:
        model, scores, _ = fit_and_evaluate(rows, "churn", TrainConfig.for_target("churn"),
                                            families=column_families(con))  # fmt: skip
    except ValueError as e:
        run.error = f"{type(e).__name__}: {e}"
        return
    run.family = str(model.summary()["family"])
    valid = rows.loc[rows["split"] == "valid", [*KEY, "label"]].reset_index(drop=True)
    for scorer in ("model", *BASELINES):
        valid[scorer] = scores[scorer]
    joined = valid.merge(oracle[[*KEY, "p_churn"]], on=KEY, how="left", validate="one_to_one")
    run.valid = joined.rename(columns={"p_churn": "oracle"})


def event_path(name: str, folder: Path, mapping: Path | None, warehouse: Path, oracle: pd.DataFrame) -> PathRun:
    run = PathRun(name)
    report = ingest(folder, warehouse, mapping=mapping)
    with connect(warehouse) as con:
        build = refresh(con, default_dates(con))
        build_dataset(con, "churn")
        train_on(run, con, oracle)
    by_table = ", ".join(f"{t} {c.quarantined:,}" for t, c in report.tables.items() if c.quarantined)
    run.inputs = {
        "input rows": f"{report.input_rows:,}", "accepted": f"{report.accepted:,}",
        "quarantined": f"{report.quarantined:,}" + (f" ({by_table})" if by_table else ""),
        "families off: ingest": ", ".join(report.families_off) or "none",
        "families off: build": ", ".join(build.off) or "none",
        "split": "by time (`features.split`)",
    }  # fmt: skip
    for family in {**report.families_off, **build.off}:
        said = {"ingest": report.families_off.get(family), "build": build.off.get(family)}
        if said["ingest"] == said["build"]:
            run.off[f"{family} (ingest and build)"] = str(said["ingest"])
        else:
            run.off |= {f"{family} ({where})": str(why) for where, why in said.items() if why is not None}
    return run


def table_path(name: str, folder: Path, warehouse: Path) -> PathRun:
    run = PathRun(name)
    file, as_of = TABLE_SHAPES[name]
    oracle = pd.read_csv(folder / "oracle.csv").rename(columns={"customer_id": "account_id"})
    oracle["as_of"] = pd.to_datetime(oracle["as_of"], utc=True)
    # The one-date table has no as_of column: the import dates its rows by ``now``. Given the table's own date
    # (the oracle's), its rows join the oracle's on account and as_of.
    now = None if as_of is not None else pd.Timestamp(oracle["as_of"].min()).to_pydatetime()
    with connect(warehouse) as con:
        report = import_table(con, read_table(str(folder / file)), TableColumns("customer_id", "churned", as_of),
                              now=now, source=file)  # fmt: skip
        train_on(run, con, oracle)
    reasons = ", ".join(f"{k}: {v}" for k, v in report.quarantined.items())
    run.inputs = {
        "input rows": f"{report.rows:,}", "accepted": f"{report.accepted:,}",
        "quarantined": f"{sum(report.quarantined.values()):,}" + (f" ({reasons})" if reasons else ""),
        "families off: ingest": "n/a (own columns)", "families off: build": "n/a (own columns)",
        "split": report.split,
    }  # fmt: skip
    return run


def quality(run: PathRun, contract: PathRun | None) -> dict[str, str]:
    """The row of the validation table: the model's ROC AUC, the oracle's on the same rows, their ratio, and the
    difference with the full-contract model's where the rows are the same."""
    if run.valid is None:
        return {"valid rows (positives)": "-", "model ROC AUC": f"failed: {run.error}", "oracle ROC AUC": "-",
                "model / oracle": "-", "model - best baseline": "-", "model - contract model": "-"}  # fmt: skip
    v = run.valid
    y, groups, model = v["label"].to_numpy(dtype=float), v["account_id"].to_numpy(), v["model"].to_numpy()
    everyone = assess(y, {"model": model}, groups)
    row = {
        "valid rows (positives)": f"{len(v):,} ({int(y.sum()):,})",
        "model ROC AUC": ci(everyone.metrics["model"]["roc_auc"], everyone.intervals["model"]["roc_auc"]),
    }
    covered = v["oracle"].notna().to_numpy()
    if covered.any():
        both = assess(y[covered], {"model": model[covered], "oracle": v["oracle"].to_numpy()[covered]},
                      groups[covered])  # fmt: skip
        ratio, bounds = both.ratio("model", "oracle")
        rows = "all rows" if covered.all() else f"{covered.sum():,} of {len(v):,} rows: the oracle lacks the others"
        row["oracle ROC AUC"] = ci(both.metrics["oracle"]["roc_auc"], both.intervals["oracle"]["roc_auc"])
        row["oracle ROC AUC"] += f" ({rows})"
        row["model / oracle"] = ci(ratio, bounds)
    else:
        row["oracle ROC AUC"] = row["model / oracle"] = "no oracle row"
    row["model - best baseline"] = against_baselines(run)
    row["model - contract model"] = against_contract(run, contract)
    return row


def against_baselines(run: PathRun) -> str:
    """The model against the best of its baselines on its validation rows, as the champion rule reads it
    (``pipelines.training.champion.evidence``: the paired 90% interval of the difference must reach 0)."""
    assert run.valid is not None
    v = run.valid
    y = v["label"].to_numpy(dtype=float)
    a = assess(y, {s: v[s].to_numpy() for s in ("model", *BASELINES)}, v["account_id"].to_numpy())
    e = evidence(a, int(y.sum()))
    lo, hi = e.versus_baseline
    verdict = "not below" if hi >= 0 else "BELOW beyond noise: no champion"
    return (
        f"{e.roc_auc - e.baseline_roc_auc:+.3f} ({lo:+.3f} to {hi:+.3f}, 90%) against {e.baseline} "
        f"{e.baseline_roc_auc:.3f}: {verdict}; family {run.family}"
    )


def against_contract(run: PathRun, contract: PathRun | None) -> str:
    """The difference of ROC AUC with the full-contract model's, only on the very same rows and labels."""
    if contract is None:
        return "-"
    if run.valid is None or contract.valid is None:
        return "n/a (a model failed)"
    mine, theirs = run.valid.set_index(KEY), contract.valid.set_index(KEY)
    if run.name in TABLE_SHAPES or not mine.index.sort_values().equals(theirs.index.sort_values()):
        why = "the table's own population and split; " if run.name in TABLE_SHAPES else ""
        common = len(mine.index.intersection(theirs.index))
        return (f"not the same rows ({why}{len(mine):,} rows against {len(theirs):,}, {common:,} in common): "
                "not compared; judged by its own oracle only")  # fmt: skip
    theirs = theirs.reindex(mine.index)
    differ = int((mine["label"] != theirs["label"]).sum())
    if differ:
        return f"same rows, but {differ:,} labels differ: not compared"
    if np.array_equal(mine["model"].to_numpy(), theirs["model"].to_numpy()):
        return "0 (same rows and labels, identical scores)"
    y, groups = mine["label"].to_numpy(dtype=float), mine.index.get_level_values("account_id").to_numpy()
    both = assess(y, {"shape": mine["model"].to_numpy(), "contract": theirs["model"].to_numpy()}, groups)
    point = both.metrics["shape"]["roc_auc"] - both.metrics["contract"]["roc_auc"]
    return ci(point, both.difference("shape", "contract"), 4) + " (same rows and labels, paired)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=6000)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--work", type=Path, default=None, help="keep the world and warehouses here (default: temporary)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="shapes_") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        world, gen_seconds = world_for(work, args.accounts, args.months, args.seed)
        t0 = time.perf_counter()
        for shape in (*EVENT_SHAPES, *TABLE_SHAPES):
            write_shape(world, shape)
        shape_seconds = time.perf_counter() - t0
        oracle = pd.read_parquet(world / "ground_truth" / "oracle.parquet", columns=[*KEY, "p_churn"])
        examples = ROOT / "examples"
        paths: list[tuple[str, Callable[[Path], PathRun]]] = [
            ("contract", lambda wh: event_path("contract", world, None, wh, oracle)),
            *((s, lambda wh, s=s, m=m: event_path(s, world / s, examples / m, wh, oracle))
              for s, m in EVENT_SHAPES.items()),
            *((s, lambda wh, s=s: table_path(s, world / s, wh)) for s in TABLE_SHAPES),
        ]  # fmt: skip
        runs: list[PathRun] = []
        for name, path in paths:
            for old in work.glob(f"{name}.duckdb*"):  # a kept --work's warehouse of an earlier run
                shutil.rmtree(old) if old.is_dir() else old.unlink()
            t0 = time.perf_counter()
            run = path(work / f"{name}.duckdb")
            run.seconds = time.perf_counter() - t0
            runs.append(run)
            print(f"{name}: {'failed' if run.error else 'done'} in {run.seconds:.0f} s", file=sys.stderr)
    contract = runs[0]
    inputs = [{"path": r.name, **r.inputs, "train rows": f"{r.train_rows:,}", "seconds": f"{r.seconds:.0f}"}
              for r in runs]  # fmt: skip
    scores = [{"path": r.name, **quality(r, None if r is contract else contract)} for r in runs]
    off = [f"- {r.name}: {k}: {why}" for r in runs for k, why in r.off.items()]
    text = "\n".join([
        "# Churn model quality by shape of the input",
        "",
        f"One world: {args.accounts:,} accounts, {args.months} months, seed {args.seed}, oracle of {ORACLE_PATHS} "
        f"paths; generated in {gen_seconds:.0f} s (2 processes), shapes written in {shape_seconds:.0f} s. Every path "
        "trains as `churn train` does with `TrainConfig.for_target('churn')` (the family, LightGBM or logistic "
        "regression, chosen on folds of the training dates; 1 thread) and is evaluated on its own validation rows, "
        "beside its baselines (scorecard, logistic baseline, best single feature). Intervals: 95% (the difference "
        "with the best baseline: 90%, as the champion rule reads it), bootstrap over accounts (400 resamples, paired "
        "across scorers on the same rows).",
        "",
        "## Inputs (seconds: ingest or import, feature build, dataset and training)",
        "",
        markdown(inputs),
        "",
        "Families off, and why:",
        "",
        *(off or ["- none"]),
        "",
        "## Validation ROC AUC",
        "",
        markdown(scores),
        "",
        "The feature tables have their own population (the customers in service at the table's dates) and their own "
        "split, so their validation rows are not the event paths' rows: each is compared only with its own oracle on "
        "its own rows.",
        "",
        f"Whole run: {time.perf_counter() - started:.0f} s.",
    ])  # fmt: skip
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
