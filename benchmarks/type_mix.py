"""The type-mix world: does the product recover churn that depends on WHICH events customers do?

    uv run python benchmarks/type_mix.py [--accounts 8000] [--months 24] [--seed 7] [--work DIR]

One world from ``churn generate --world type-mix`` (eight usage event types whose mix drives churn; the oracle
replays the same latent transition), ingested as is, built with ``examples/features_type_mix.toml`` (the eight types
counted one by one, two named ratios), split by time (``churn dataset build``) and trained as ``churn train`` does
(``fit_and_evaluate``: model selection on inner folds of the training dates, then the chosen family). The ablation,
in the same run and on the very same rows and labels, drops every per-type feature (those the features file adds
to the default ones) and trains again. Both are judged on the validation rows against the oracle's true
probabilities: ROC AUC with its 95% interval (bootstrap over accounts, 400 resamples, paired across scorers), the
ratio to the oracle's, and the paired difference with and without the per-type features.

Prints a Markdown table and writes it to ``benchmarks/results/type_mix.md``.
"""

import argparse
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)

from tables import ci, markdown  # noqa: E402

from features.catalog import features  # noqa: E402
from features.config_file import read_features_file  # noqa: E402
from models.config import TrainConfig  # noqa: E402
from models.evaluation import assess  # noqa: E402
from pipelines.generate.params import WORLDS  # noqa: E402
from pipelines.generate.run import generate  # noqa: E402
from pipelines.generate.simulate import Oracle  # noqa: E402
from pipelines.ingest import ingest  # noqa: E402
from pipelines.snapshots import default_dates, refresh  # noqa: E402
from pipelines.snapshots.inputs import resolve_features  # noqa: E402
from pipelines.training.datasets import build_dataset, column_families  # noqa: E402
from pipelines.training.train import fit_and_evaluate, load_dataset  # noqa: E402
from pipelines.warehouse import connect  # noqa: E402

FEATURES_FILE = ROOT / "examples" / "features_type_mix.toml"
RESULTS = ROOT / "benchmarks" / "results" / "type_mix.md"
KEY = ["account_id", "as_of"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=8000)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--oracle-paths", type=int, default=40)
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="type_mix_"))
    world, warehouse = work / "world", work / "warehouse.duckdb"
    t0 = time.perf_counter()
    generate(world, accounts=args.accounts, months=args.months, seed=args.seed, params=WORLDS["type-mix"],
             oracle=Oracle(paths=args.oracle_paths), workers=2)  # fmt: skip
    generated = time.perf_counter() - t0
    warehouse.unlink(missing_ok=True)
    ingest(world, warehouse)
    with connect(warehouse) as con:
        cfg = resolve_features(con, read_features_file(FEATURES_FILE))
        refresh(con, default_dates(con), cfg)
        build_dataset(con, "churn")
        rows = load_dataset(con, "churn")
        families = column_families(con)
    # The ablation keeps every other feature of the same configuration (its login event and milestones too).
    untyped = replace(cfg, event_types=(), ratios=())
    per_type = sorted(({f.name for f in features(cfg)} - {f.name for f in features(untyped)}) & set(rows.columns))
    oracle = pd.read_parquet(world / "ground_truth" / "oracle.parquet", columns=[*KEY, "p_churn"])
    runs = {}
    for name, frame in (("with per-type features", rows), ("without (ablation)", rows.drop(columns=per_type))):
        t = time.perf_counter()
        model, scores, _ = fit_and_evaluate(frame, "churn", TrainConfig.for_target("churn"), families=families)
        runs[name] = (model, scores["model"], time.perf_counter() - t)
    valid = rows.loc[rows["split"] == "valid", [*KEY, "label"]].reset_index(drop=True)
    valid = valid.merge(oracle, on=KEY, how="left", validate="one_to_one")
    covered = valid["p_churn"].notna().to_numpy()
    y, groups = valid["label"].to_numpy(dtype=float)[covered], valid["account_id"].to_numpy()[covered]
    scores = {name: s[covered] for name, (_, s, _) in runs.items()} | {"oracle": valid["p_churn"].to_numpy()[covered]}
    a = assess(y, scores, groups)
    table = []
    for name, (model, _, seconds) in runs.items():
        ratio, bounds = a.ratio(name, "oracle")
        table.append({
            "features": f"{name}: {model.n_features_in_} columns",
            "family chosen": str(model.summary().get("family", "lightgbm")),
            "ROC AUC": ci(a.metrics[name]["roc_auc"], a.intervals[name]["roc_auc"]),
            "oracle ROC AUC": ci(a.metrics["oracle"]["roc_auc"], a.intervals["oracle"]["roc_auc"]),
            "model / oracle": ci(ratio, bounds),
            "fit seconds": f"{seconds:.0f}",
        })  # fmt: skip
    lo, hi = a.difference("with per-type features", "without (ablation)")
    diff = a.metrics["with per-type features"]["roc_auc"] - a.metrics["without (ablation)"]["roc_auc"]
    lines = [
        f"# The type-mix world ({args.accounts:,} accounts, {args.months} months, seed {args.seed}; oracle "
        f"{args.oracle_paths} paths; generated in {generated:.0f} s)",
        "",
        f"Validation: {int(covered.sum()):,} rows ({int(y.sum()):,} churned) of {len(valid):,}; {len(per_type)} "
        "per-type features dropped in the ablation. LightGBM and logistic regression on 1 thread.",
        "",
        markdown(table),
        "",
        f"With minus without per-type features, same rows: {diff:+.3f} (95% interval {lo:+.3f} to {hi:+.3f}).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.write_text(text)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
