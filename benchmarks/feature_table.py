"""The product's churn model against a cross-validated logistic regression on a per-customer feature table, on the
same split in the same run, over several generated worlds.

    uv run python benchmarks/feature_table.py [--accounts 20000] [--months 24] [--seeds 7,8,9] [--work DIR]

For each world seed: the world is generated, written as the ``customer-table`` shape (one row per customer in
service at one as_of, label ``churned``) and imported by ``import_table`` as ``churn dataset import`` does, which
holds out a stratified 30% of the customers (the table has one date). On the train rows and scored on the valid
rows of ``features.dataset_churn``, both sides with every BLAS and OpenMP pool limited to one thread
(``threadpoolctl``):

- the product: ``fit_and_evaluate`` with ``TrainConfig.for_target("churn")`` (its defaults, untouched: LightGBM on
  ``TrainConfig.threads`` threads; trees on 60% of the train customers, early stopping on 20%, calibration on 20%);
  its time is that of ``fit_on_slices`` and the prediction of the valid rows, run again alone (the scores are
  checked to be the same as ``fit_and_evaluate``'s), since ``fit_and_evaluate`` also fits the product's baselines;
- scikit-learn: ``GridSearchCV`` (``n_jobs=1``) over ``LogisticRegression``'s C on a log grid, 5-fold stratified
  cross-validation on the train rows only, scoring ROC AUC, on a pipeline fitted inside each fold: median imputation
  with missing indicators and standard scaling for numbers, one-hot encoding for the table's text columns; then
  refitted on all train rows at the best C. Its time covers the search and the refit and the prediction.

Prints per seed each side's ROC AUC with its 95% interval, and the paired difference product - LR with its 95%
interval (the product's bootstrap over customers, ``models.evaluation.assess``: 400 resamples, the same for both),
the oracle's ROC AUC on the same rows for scale, and the times; then the medians over the seeds. Writes the tables
to ``benchmarks/results/feature_table.md`` too. The floor the issue sets: the product's ROC AUC at least the LR's.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

# Run as a file, this folder comes first on sys.path, and its features.py would hide the features package.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# pandera imports pandas-on-Spark when PySpark is installed, which warns about pandas 3 (see pyproject.toml).
warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)

from models.config import TrainConfig  # noqa: E402
from models.estimator import fit_on_slices  # noqa: E402
from models.evaluation import Assessment, assess  # noqa: E402
from pipelines.generate.run import generate  # noqa: E402
from pipelines.generate.shapes import write_shape  # noqa: E402
from pipelines.generate.simulate import Oracle  # noqa: E402
from pipelines.training.datasets import column_families  # noqa: E402
from pipelines.training.feature_table import TableColumns, import_table, read_table  # noqa: E402
from pipelines.training.train import fit_and_evaluate, load_dataset  # noqa: E402
from pipelines.warehouse import connect  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "feature_table.md"
C_GRID = np.logspace(-6, 3, 19)  # 1e-6 to 1e3, two steps per decade
FOLDS = 5
ORACLE_PATHS = 20
NOT_FEATURES = ("account_id", "as_of", "label", "split")


@dataclass(frozen=True)
class Side:
    scores: np.ndarray  # on the valid rows, in their order
    seconds: float  # wall
    cpu: float  # process CPU seconds over the same work
    note: str


@dataclass(frozen=True)
class SeedRun:
    seed: int
    rows: dict[str, int]  # split -> rows
    positives: dict[str, int]
    split: str
    product: Side
    lr: Side
    assessment: Assessment  # product and lr on every valid row
    oracle: tuple[float, tuple[float, float]]  # its ROC AUC and interval on the valid rows it covers
    oracle_rows: int
    threads: int


def world_for(work: Path, accounts: int, months: int, seed: int) -> Path:
    """A world in ``work/seed-<seed>`` with its customer-table shape (kept when one of the same arguments is
    there)."""
    world = work / f"seed-{seed}"
    manifest = world / "manifest.json"
    if manifest.exists() and (world / "customer-table" / "oracle.csv").exists():
        m = json.loads(manifest.read_text())
        if (m["accounts"], m["months"], m["seed"], m["oracle"]["paths"]) == (accounts, months, seed, ORACLE_PATHS):
            return world
    generate(world, accounts=accounts, months=months, seed=seed, oracle=Oracle(paths=ORACLE_PATHS), workers=2)
    write_shape(world, "customer-table")
    return world


def timed(fn):  # type: ignore[no-untyped-def]
    """``fn()``'s result, wall seconds and CPU seconds (every thread of the process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def logistic_cv(features: pd.DataFrame, seed: int) -> GridSearchCV:
    """The logistic regression, its preprocessing fitted inside each fold, tuned over ``C_GRID`` (not yet fitted)."""
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(features[c])]
    text = [c for c in features if c not in numeric]
    prep = ColumnTransformer([
        ("numbers", Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True)),
                              ("scale", StandardScaler())]), numeric),
        ("text", Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="(missing)")),
                           ("onehot", OneHotEncoder(handle_unknown="ignore"))]), text),
    ])  # fmt: skip
    pipe = Pipeline([("prep", prep), ("lr", LogisticRegression(max_iter=5000))])
    cv = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
    return GridSearchCV(pipe, {"lr__C": C_GRID}, scoring="roc_auc", cv=cv, n_jobs=1)


def as_sklearn(rows: pd.DataFrame) -> pd.DataFrame:
    """The feature columns, text as object columns with NaN for missing (SimpleImputer does not take pd.NA)."""
    features = rows.drop(columns=[c for c in NOT_FEATURES if c in rows])
    text = [c for c in features if not pd.api.types.is_numeric_dtype(features[c])]
    return features.assign(**{c: features[c].astype(object).where(features[c].notna(), np.nan) for c in text})


def run_seed(world: Path, seed: int, warehouse: Path) -> SeedRun:
    folder = world / "customer-table"
    oracle = pd.read_csv(folder / "oracle.csv").rename(columns={"customer_id": "account_id"})
    oracle["as_of"] = pd.to_datetime(oracle["as_of"], utc=True)
    # The table has no as_of column: the import dates its rows by ``now``. Given the table's own date (the
    # oracle's), its rows join the oracle's on account and as_of.
    now = pd.Timestamp(oracle["as_of"].min()).to_pydatetime()
    cfg = TrainConfig.for_target("churn")
    with connect(warehouse) as con:
        report = import_table(con, read_table(str(folder / "customer_table.csv")),
                              TableColumns("customer_id", "churned"), now=now)  # fmt: skip
        rows, families = load_dataset(con, "churn"), column_families(con)
    train, valid = rows[rows["split"] == "train"], rows[rows["split"] == "valid"].reset_index(drop=True)
    with threadpool_limits(limits=1):
        _, scores, _ = fit_and_evaluate(rows, "churn", cfg, families=families)

        def product() -> np.ndarray:
            model = fit_on_slices(train.drop(columns="split"), "churn", cfg, families=families)
            return model.predict_proba(model.prepare(valid))[:, 1]

        p, p_wall, p_cpu = timed(product)
        if not np.array_equal(p, scores["model"]):
            raise SystemExit("fit_on_slices run alone did not give fit_and_evaluate's scores: not deterministic?")
        search = logistic_cv(as_sklearn(train), seed)
        y_train = train["label"].to_numpy(dtype=int)

        def logistic() -> np.ndarray:
            search.fit(as_sklearn(train), y_train)
            return search.predict_proba(as_sklearn(valid))[:, 1]

        q, q_wall, q_cpu = timed(logistic)
    best = search.best_params_["lr__C"]
    edge = " (at the grid's edge)" if best in (C_GRID[0], C_GRID[-1]) else ""
    lr_note = f"best C {best:.3g}{edge} of {len(C_GRID)} (CV ROC AUC {search.best_score_:.3f})"
    truth = valid[["account_id", "as_of"]].merge(oracle, on=["account_id", "as_of"], how="left")["p_churn"]
    covered = truth.notna().to_numpy()
    y, groups = valid["label"].to_numpy(dtype=float), valid["account_id"].to_numpy()
    assessment = assess(y, {"product": p, "lr": q}, groups)
    # The oracle on the rows it covers (a few customers may lack an oracle row); the comparison is on every row.
    truthful = assess(y[covered], {"oracle": truth.to_numpy(dtype=float)[covered]}, groups[covered])
    oracle = (truthful.metrics["oracle"]["roc_auc"], truthful.intervals["oracle"]["roc_auc"])
    split = rows.groupby("split")
    return SeedRun(
        seed, {str(k): len(g) for k, g in split}, {str(k): int(g["label"].sum()) for k, g in split}, report.split,
        Side(p, p_wall, p_cpu, f"{cfg.threads} LightGBM thread(s)"), Side(q, q_wall, q_cpu, lr_note),
        assessment, oracle, int(covered.sum()), cfg.threads,
    )  # fmt: skip


def ci(value: float, bounds: tuple[float, float], digits: int = 3) -> str:
    lo, hi = bounds
    return f"{value:.{digits}f} ({lo:.{digits}f} to {hi:.{digits}f})"


def row(r: SeedRun) -> dict[str, str]:
    a = r.assessment
    auc = {k: a.metrics[k]["roc_auc"] for k in a.metrics}
    iv = {k: a.intervals[k]["roc_auc"] for k in a.intervals}
    valid = r.rows["valid"]
    oracle_rows = "" if r.oracle_rows == valid else f" ({r.oracle_rows:,} of {valid:,} rows)"
    return {
        "seed": str(r.seed),
        "train / valid rows (positives)": f"{r.rows['train']:,} ({r.positives['train']:,}) / "
        f"{valid:,} ({r.positives['valid']:,})",
        "product ROC AUC": ci(auc["product"], iv["product"]),
        "LR (CV) ROC AUC": ci(auc["lr"], iv["lr"]),
        "product - LR (paired)": ci(auc["product"] - auc["lr"], a.difference("product", "lr"), 4),
        "oracle ROC AUC": ci(*r.oracle) + oracle_rows,
        "product s (CPU s)": f"{r.product.seconds:.1f} ({r.product.cpu:.1f})",
        "LR s (CPU s)": f"{r.lr.seconds:.1f} ({r.lr.cpu:.1f})",
        "LR's C": r.lr.note,
    }


def markdown(rows: list[dict[str, str]]) -> str:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return "\n".join([*lines, *("| " + " | ".join(r[c] for c in columns) + " |" for r in rows)])


def medians(runs: list[SeedRun]) -> dict[str, str]:
    def med(f: Callable[[SeedRun], float]) -> float:
        return statistics.median(f(r) for r in runs)

    def auc(r: SeedRun, who: str) -> float:
        return r.oracle[0] if who == "oracle" else r.assessment.metrics[who]["roc_auc"]

    return {
        "seed": f"median of {len(runs)}", "train / valid rows (positives)": "",
        "product ROC AUC": f"{med(lambda r: auc(r, 'product')):.3f}",
        "LR (CV) ROC AUC": f"{med(lambda r: auc(r, 'lr')):.3f}",
        "product - LR (paired)": f"{med(lambda r: auc(r, 'product') - auc(r, 'lr')):.4f}",
        "oracle ROC AUC": f"{med(lambda r: auc(r, 'oracle')):.3f}",
        "product s (CPU s)": f"{med(lambda r: r.product.seconds):.1f} ({med(lambda r: r.product.cpu):.1f})",
        "LR s (CPU s)": f"{med(lambda r: r.lr.seconds):.1f} ({med(lambda r: r.lr.cpu):.1f})", "LR's C": "",
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=20000)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--seeds", default="7,8,9", help="world seeds, comma-separated")
    ap.add_argument("--work", type=Path, default=None, help="keep the worlds and warehouses here (default: temporary)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    started = time.perf_counter()
    runs = []
    with tempfile.TemporaryDirectory(prefix="feature_table_") as tmp:
        work = args.work or Path(tmp)
        for seed in seeds:
            world = world_for(work, args.accounts, args.months, seed)
            warehouse = work / f"seed-{seed}.duckdb"
            warehouse.unlink(missing_ok=True)  # a kept --work's warehouse of an earlier run
            runs.append(run_seed(world, seed, warehouse))
            print(f"seed {seed}: done", file=sys.stderr)
    table = markdown([*map(row, runs), medians(runs)])
    wins = sum(r.assessment.metrics["product"]["roc_auc"] >= r.assessment.metrics["lr"]["roc_auc"] for r in runs)
    text = "\n".join([
        "# The product's churn model against a cross-validated logistic regression, customer table",
        "",
        f"Worlds of {args.accounts:,} accounts over {args.months} months (seeds {', '.join(map(str, seeds))}), "
        "written as the `customer-table` shape and imported by `import_table`. "
        f"Split: {runs[0].split}. Both sides fit on the same train rows and are scored on the same valid rows.",
        "",
        f"- product: `fit_and_evaluate` with `TrainConfig.for_target('churn')` defaults ({runs[0].threads} LightGBM "
        "thread); time: `fit_on_slices` and the prediction, run alone.",
        f"- LR (CV): `GridSearchCV(n_jobs=1)` over C in {len(C_GRID)} log-spaced values from {C_GRID[0]:g} to "
        f"{C_GRID[-1]:g}, {FOLDS}-fold stratified CV on the train rows, scoring ROC AUC; median imputation with "
        "missing indicators and standard scaling, one-hot for text columns, inside the CV pipeline; then refit on "
        "all train rows. Time: the search, the refit and the prediction.",
        "- Both with BLAS and OpenMP pools limited to 1 thread (threadpoolctl). Intervals: 95%, bootstrap over "
        "customers (400 resamples), paired: the same resamples for every scorer. The oracle (the generator's true "
        "probability) shows the ceiling on the same rows.",
        "",
        table,
        "",
        f"The product's ROC AUC reached the LR's in {wins} of {len(runs)} seeds (point estimates; see the paired "
        "intervals). Whole run: " + f"{time.perf_counter() - started:.0f} s.",
    ])  # fmt: skip
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
