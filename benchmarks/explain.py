"""Cost of explanations per row: exact TreeSHAP (with family sums, health and reasons) against a plain calibrated
prediction of the same rows, in the same run, on the demo's churn model.

    uv run python benchmarks/explain.py [--repeats 7] [--threads 1]

Needs the demo's training set (``make demo`` first). Prints median milliseconds per row for batches of 1, 100
and all validation rows, and the ratio to the plain prediction. Serving pays the one-row figures when it explains
raw rows live; batch scoring pays the batch figures.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from models.config import TrainConfig  # noqa: E402
from models.estimator import fit_on_slices  # noqa: E402
from models.explain import explain, health, reasons  # noqa: E402


def per_row_ms(fn, rows: int, repeats: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000 / rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    folder = ROOT / "data" / "datasets" / "churn"
    if not (folder / "train.parquet").exists():
        raise SystemExit(f"no training set in {folder}: run `make demo` first")
    train, valid = pd.read_parquet(folder / "train.parquet"), pd.read_parquet(folder / "valid.parquet")
    model = fit_on_slices(train, "churn", TrainConfig.for_target("churn", threads=args.threads))
    print(f"churn model: {model.trees_} trees, {len(model.features_)} features, {args.threads} thread(s)")
    for n in (1, 100, len(valid)):
        rows = valid.head(n)
        X = model.prepare(rows)
        predict = per_row_ms(lambda X=X: model.predict_proba(X), n, args.repeats)
        shap_only = per_row_ms(lambda X=X: model.contributions(X, args.threads), n, args.repeats)

        def full(X: pd.DataFrame = X, rows: pd.DataFrame = rows) -> None:
            e = explain(model, X, args.threads)
            health(model, e)
            reasons(rows, e)

        everything = per_row_ms(full, n, args.repeats)
        print(f"batch {n:>5}: predict {predict:.3f} ms/row, TreeSHAP {shap_only:.3f} ms/row "
              f"({shap_only / predict:.1f}x), explanation with health and reasons {everything:.3f} ms/row "
              f"({everything / predict:.1f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
