"""The worlds of the model benchmarks (expansion, survival): the demo's warehouse and oracle, or a world generated
for the run (generate, ingest, snapshots, labels and one target's training set) in a temporary folder."""

import argparse
import logging
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipelines.generate.run import generate
from pipelines.ingest import ingest
from pipelines.snapshots import default_dates, refresh
from pipelines.snapshots.labels import resolve_labels
from pipelines.training.datasets import build_dataset, split_config
from pipelines.warehouse import connect


def arguments(description: str) -> argparse.Namespace:
    """The benchmarks' options (--warehouse and --oracle, or --accounts, --months, --seed), parsed; quiet logs."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--warehouse", type=Path, default=Path("data/warehouse.duckdb"))
    ap.add_argument("--oracle", type=Path, default=Path("data/generated/ground_truth/oracle.parquet"))
    ap.add_argument("--accounts", type=int, default=None, help="generate a world of this many accounts instead")
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore", category=FutureWarning)
    return args


@contextmanager
def world(args: argparse.Namespace, target: str) -> Iterator[tuple[Path, Path]]:
    """The warehouse and oracle ``args`` name, or with --accounts those of a world built for ``target`` in a
    temporary folder, removed on leaving."""
    if args.accounts is None:
        yield args.warehouse, args.oracle
        return
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        built = build_world(Path(tmp), target, args.accounts, args.months, args.seed)
        print(f"world: {args.accounts} accounts, {args.months} months, seed {args.seed} "
              f"({time.perf_counter() - t0:.0f} s)")  # fmt: skip
        yield built


def build_world(root: Path, target: str, accounts: int, months: int, seed: int) -> tuple[Path, Path]:
    """Generate, ingest and build ``target``'s training set of a world in ``root``; its warehouse and oracle."""
    generate(root / "generated", accounts=accounts, months=months, seed=seed)
    warehouse = root / "warehouse.duckdb"
    ingest(root / "generated", warehouse)
    with connect(warehouse) as con:
        refresh(con, default_dates(con), lcfg=resolve_labels(con))
        build_dataset(con, target, cfg=split_config(con, target))
    return warehouse, root / "generated" / "ground_truth" / "oracle.parquet"
