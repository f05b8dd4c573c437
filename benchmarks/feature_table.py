"""The product's churn model against a cross-validated logistic regression on a per-customer feature table, on the
same split in the same run, over several generated worlds.

    uv run python benchmarks/feature_table.py [--accounts 20000] [--months 24] [--seeds 7,8,9] [--tune 60]

For each world seed: the world is generated, written as the ``customer-table`` shape (one row per customer in
service at one as_of, label ``churned``) and imported by ``import_table`` as ``churn dataset import`` does, which
holds out a stratified 30% of the customers (the table has one date). Every side fits on the train rows of
``features.dataset_churn`` only and is scored on its valid rows, with every BLAS and OpenMP pool limited to one
thread (``threadpoolctl``):

- ``product``: ``fit_and_evaluate`` with ``TrainConfig.for_target("churn")``, as ``churn train`` runs it: the
  family (LightGBM or logistic regression) and its settings chosen by cross-validation on the train customers
  (``models.selection``: folds of customers, the table having one date), then fitted (trees on 60% of the train
  customers, early stopping on 20%, calibration on 20%). Its time is that of ``fit_model`` (the choice and the fit)
  and the prediction run again alone (and checked to give ``fit_and_evaluate``'s scores), since
  ``fit_and_evaluate`` also fits the product's baselines;
- ``product, tuned``: the same after ``churn train --tune``'s search (``pipelines.training.tune``, ``--tune``
  seconds, on a tuning slice of the train customers: the valid rows are never seen), the tuned LightGBM against the
  logistic regression on the folds; time: search, choice and fit;
- ``LR (CV)``: scikit-learn's ``GridSearchCV`` (``n_jobs=1``) over ``LogisticRegression``'s C on a log grid, 5-fold
  stratified cross-validation on the train rows, scoring ROC AUC, on a pipeline fitted inside each fold (median
  imputation with missing indicators and standard scaling for numbers, one-hot for text columns), then refitted on
  every train row at the best C. Time: the search, the refit and the prediction.

Prints per seed each side's ROC AUC with its 95% interval and the paired differences with the LR (the product's
bootstrap over customers, ``models.evaluation.assess``: 400 resamples, the same ones for every side), the oracle's
ROC AUC on the same rows (the generator's true probabilities: the ceiling), and the times; then the medians over the
seeds. Writes the tables to ``benchmarks/results/feature_table.md`` too. The issue's floor: the product's ROC AUC at
least the LR's.
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

from tables import ci, markdown  # noqa: E402  (benchmarks/ is the script folder, after ROOT)

from features.labels import LABELS  # noqa: E402
from models.config import TrainConfig  # noqa: E402
from models.evaluation import Assessment, assess  # noqa: E402
from models.selection import fit_model  # noqa: E402
from models.slices import settled  # noqa: E402
from pipelines.generate.run import generate  # noqa: E402
from pipelines.generate.shapes import write_shape  # noqa: E402
from pipelines.generate.simulate import Oracle  # noqa: E402
from pipelines.training.datasets import column_families  # noqa: E402
from pipelines.training.feature_table import TableColumns, import_table, read_table  # noqa: E402
from pipelines.training.train import fit_and_evaluate, load_dataset  # noqa: E402
from pipelines.training.tune import tune  # noqa: E402
from pipelines.warehouse import connect  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "feature_table.md"
C_GRID = np.logspace(-6, 3, 19)  # 1e-6 to 1e3, two steps per decade
FOLDS = 5
ORACLE_PATHS = 20
NOT_FEATURES = ("account_id", "as_of", "label", "split")
TUNED = ("learning_rate", "num_leaves", "min_child_samples", "colsample_bytree", "reg_lambda")
PRODUCT, TUNED_PRODUCT, LR = "product", "product, tuned", "LR (CV)"


@dataclass(frozen=True)
class Side:
    scores: np.ndarray  # on the valid rows, in their order
    seconds: float  # wall
    cpu: float  # process CPU seconds over the same work: CPU / wall shows the cores busy
    settings: str


@dataclass(frozen=True)
class SeedRun:
    seed: int
    rows: dict[str, int]  # split -> rows
    positives: dict[str, int]
    split: str
    sides: dict[str, Side]
    assessment: Assessment  # every side on every valid row, paired
    oracle: tuple[float, tuple[float, float]]  # its ROC AUC and interval on the valid rows it covers
    oracle_rows: int


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


def timed(fn: Callable[[], tuple[np.ndarray, str]]) -> Side:
    """``fn()``'s scores and settings, with its wall and CPU seconds (every thread of the process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    scores, settings = fn()
    return Side(scores, time.perf_counter() - wall, time.process_time() - cpu, settings)


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
    text = [str(c) for c in features if not pd.api.types.is_numeric_dtype(features[c])]
    return features.assign(**{c: features[c].astype(object).where(features[c].notna(), np.nan) for c in text})


def run_seed(world: Path, seed: int, warehouse: Path, tune_seconds: float) -> SeedRun:
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
    fit_rows = train.drop(columns="split")

    def product(c: TrainConfig, searched: float = 0) -> Callable[[], tuple[np.ndarray, str]]:
        def run() -> tuple[np.ndarray, str]:
            base = settled(c, fit_rows["as_of"], LABELS.reads_days("churn"))
            chosen = tune(fit_rows, "churn", base, searched) if searched else base
            model, sel = fit_model(fit_rows, "churn", chosen, families=families, tuned=bool(searched))
            assert sel is not None  # family "auto"
            margin = f", margin {sel.margin:+.4f}" if sel.margin is not None else ""
            if model.summary()["family"] == "logistic":
                settings = f"logistic C {model.summary()['C']:g}"
            else:
                trained = model.config_
                settings = ", ".join(f"{k} {getattr(trained, k):.3g}" for k in TUNED)
                settings += f"; {model.summary()['trees']} trees"
            note = f"{settings} ({sel.family} won on {sel.folds}{margin})"
            return model.predict_proba(model.prepare(valid))[:, 1], note

        return run

    def logistic() -> tuple[np.ndarray, str]:
        search = logistic_cv(as_sklearn(train), seed).fit(as_sklearn(train), train["label"].to_numpy(dtype=int))
        best = search.best_params_["lr__C"]
        edge = " (the grid's edge)" if best in (C_GRID[0], C_GRID[-1]) else ""
        note = f"C {best:.3g}{edge}, CV ROC AUC {search.best_score_:.3f}"
        return search.predict_proba(as_sklearn(valid))[:, 1], note

    with threadpool_limits(limits=1):
        _, scores, _ = fit_and_evaluate(rows, "churn", cfg, families=families)
        sides = {PRODUCT: timed(product(cfg))}
        if not np.array_equal(sides[PRODUCT].scores, scores["model"]):
            raise SystemExit("fit_model run alone did not give fit_and_evaluate's scores: not deterministic?")
        if tune_seconds:
            sides[TUNED_PRODUCT] = timed(product(cfg, tune_seconds))
        sides[LR] = timed(logistic)
    y, groups = valid["label"].to_numpy(dtype=float), valid["account_id"].to_numpy()
    assessment = assess(y, {k: s.scores for k, s in sides.items()}, groups)
    # The oracle on the rows it covers (a few customers may lack an oracle row); the sides are compared on every row.
    truth = valid[["account_id", "as_of"]].merge(oracle, on=["account_id", "as_of"], how="left")["p_churn"]
    covered = truth.notna().to_numpy()
    part = assess(y[covered], {"oracle": truth.to_numpy(dtype=float)[covered]}, groups[covered])
    split = rows.groupby("split")
    return SeedRun(
        seed, {str(k): len(g) for k, g in split}, {str(k): int(g["label"].sum()) for k, g in split}, report.split,
        sides, assessment, (part.metrics["oracle"]["roc_auc"], part.intervals["oracle"]["roc_auc"]),
        int(covered.sum()),
    )  # fmt: skip


def auc(r: SeedRun, who: str) -> float:
    return r.oracle[0] if who == "oracle" else r.assessment.metrics[who]["roc_auc"]


def quality_row(r: SeedRun) -> dict[str, str]:
    a, valid = r.assessment, r.rows["valid"]
    out = {"seed": str(r.seed),
           "train / valid rows (positives)": f"{r.rows['train']:,} ({r.positives['train']:,}) / "
                                             f"{valid:,} ({r.positives['valid']:,})"}  # fmt: skip
    for who in r.sides:
        out[f"{who} ROC AUC"] = ci(auc(r, who), a.intervals[who]["roc_auc"])
    for who in r.sides:
        if who != LR:
            out[f"{who} - LR (paired)"] = ci(auc(r, who) - auc(r, LR), a.difference(who, LR), 4)
    covered = "" if r.oracle_rows == valid else f" ({r.oracle_rows:,} of {valid:,} rows)"
    out["oracle ROC AUC"] = ci(*r.oracle) + covered
    return out


def cost_row(r: SeedRun) -> dict[str, str]:
    out = {"seed": str(r.seed)}
    for who, s in r.sides.items():
        out[f"{who}: s (CPU s)"] = f"{s.seconds:.1f} ({s.cpu:.1f})"
    for who, s in r.sides.items():
        out[f"{who}: settings"] = s.settings
    return out


def median_rows(runs: list[SeedRun]) -> tuple[dict[str, str], dict[str, str]]:
    quality = {"seed": f"median of {len(runs)}", "train / valid rows (positives)": ""}
    cost = {"seed": f"median of {len(runs)}"}
    sides = list(runs[0].sides)
    for w in sides:
        quality[f"{w} ROC AUC"] = f"{statistics.median([auc(r, w) for r in runs]):.3f}"
        seconds, cpu = (
            statistics.median([r.sides[w].seconds for r in runs]),
            statistics.median([r.sides[w].cpu for r in runs]),
        )
        cost[f"{w}: s (CPU s)"] = f"{seconds:.1f} ({cpu:.1f})"
    for w in sides:
        if w != LR:
            quality[f"{w} - LR (paired)"] = f"{statistics.median([auc(r, w) - auc(r, LR) for r in runs]):.4f}"
        cost[f"{w}: settings"] = ""
    quality["oracle ROC AUC"] = f"{statistics.median([auc(r, 'oracle') for r in runs]):.3f}"
    return quality, cost


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=20000)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--seeds", default="7,8,9", help="world seeds, comma-separated")
    ap.add_argument("--tune", type=float, default=60, help="seconds of `churn train --tune`'s search (0: none)")
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
            runs.append(run_seed(world, seed, warehouse, args.tune))
            print(f"seed {seed}: done", file=sys.stderr)
    quality, cost = median_rows(runs)
    floor = sum(auc(r, PRODUCT) >= auc(r, LR) for r in runs)
    sure = sum(runs[i].assessment.difference(PRODUCT, LR)[1] < 0 for i in range(len(runs)))
    tuned = (f"- {TUNED_PRODUCT}: the same after `churn train --tune {args.tune:g}` (`pipelines.training.tune`: "
             "Optuna over the tree settings, judged on a tuning slice of the train customers; the valid rows are "
             "never seen). Time: the search and the final fit.") if args.tune else ""  # fmt: skip
    text = "\n".join([
        "# The product's churn model against a cross-validated logistic regression, customer table",
        "",
        f"Worlds of {args.accounts:,} accounts over {args.months} months (seeds {', '.join(map(str, seeds))}), "
        "written as the `customer-table` shape and imported by `import_table`. "
        f"Split: {runs[0].split}. Every side fits on the same train rows and is scored on the same valid rows.",
        "",
        f"- {PRODUCT}: `fit_and_evaluate` with the `TrainConfig.for_target('churn')` defaults "
        f"({TrainConfig.for_target('churn').threads} LightGBM thread), as `churn train` runs: the family and "
        "settings chosen by cross-validation on the train customers (`models.selection`), then fitted: trees on "
        "60% of the train customers, early stopping on 20%, calibration on 20% (logistic regression: fitted on the "
        "60%, calibrated on 20%). Time: `fit_model` (the choice and the fit) and the prediction, run alone.",
        *([tuned] if tuned else []),
        f"- {LR}: `GridSearchCV(n_jobs=1)` over C in {len(C_GRID)} log-spaced values from {C_GRID[0]:g} to "
        f"{C_GRID[-1]:g}, {FOLDS}-fold stratified CV on the train rows, scoring ROC AUC; median imputation with "
        "missing indicators and standard scaling, one-hot for text columns, fitted inside the CV pipeline; then "
        "refit on every train row. Time: the search, the refit and the prediction.",
        "- Every side with its BLAS and OpenMP pools limited to 1 thread (threadpoolctl). Intervals: 95%, bootstrap "
        "over customers (400 resamples), paired: the same resamples for every side. The oracle (the generator's "
        "true probabilities) is the ceiling on the same rows.",
        "",
        "## ROC AUC on the valid rows",
        "",
        markdown([*map(quality_row, runs), quality]),
        "",
        "## Cost (wall seconds, and CPU seconds of the process over the same work) and settings",
        "",
        markdown([*map(cost_row, runs), cost]),
        "",
        f"The floor (the product's ROC AUC at least the LR's, on its defaults): met in {floor} of {len(runs)} seeds; "
        f"in {sure} of them the LR is ahead beyond the paired interval. Whole run: "
        f"{time.perf_counter() - started:.0f} s.",
    ])  # fmt: skip
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
