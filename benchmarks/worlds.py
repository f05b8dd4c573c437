"""A generated world's training set for the model benchmarks (expansion, survival): generate, ingest, snapshots,
labels and one target's training set, in a folder of the run's own."""

from pathlib import Path

from pipelines.generate.run import generate
from pipelines.ingest import ingest
from pipelines.snapshots import default_dates, refresh
from pipelines.snapshots.labels import resolve_labels
from pipelines.training.datasets import build_dataset, split_config
from pipelines.warehouse import connect


def build_world(root: Path, target: str, accounts: int, months: int, seed: int) -> tuple[Path, Path]:
    """Generate, ingest and build ``target``'s training set of a world in ``root``; its warehouse and oracle."""
    generate(root / "generated", accounts=accounts, months=months, seed=seed)
    warehouse = root / "warehouse.duckdb"
    ingest(root / "generated", warehouse)
    with connect(warehouse) as con:
        refresh(con, default_dates(con), lcfg=resolve_labels(con))
        build_dataset(con, target, cfg=split_config(con, target))
    return warehouse, root / "generated" / "ground_truth" / "oracle.parquet"
