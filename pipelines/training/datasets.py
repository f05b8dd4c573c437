"""Training sets: feature snapshots joined with one target's labels, split by time (``features.split``)."""

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from features.split import SplitConfig, first_valid_date, time_split
from pipelines.warehouse import arrow_table

TARGETS = ("churn", "upsell")


@dataclass(frozen=True)
class DatasetReport:
    target: str
    rows: dict[str, int]  # per split
    positive_rate: dict[str, float]
    dates: dict[str, tuple[str, str]]  # first and last as_of per split
    accounts: dict[str, int]
    paths: dict[str, Path]


def families_off(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The feature families the last build left out, and why (``features.catalog.Available.families_off``)."""
    if not _exists(con, "families_off"):
        return {}
    return dict(con.execute("SELECT family, why FROM features.families_off ORDER BY family").fetchall())


def column_families(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """A feature table's column -> family map (``churn dataset import --families``); empty for the registry's
    features, whose families the registry says."""
    if not _exists(con, "column_families"):
        return {}
    return dict(con.execute("SELECT name, family FROM features.column_families").fetchall())


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    # Asked first rather than caught: on a missing table DuckDB looks for a Python variable of that name in the
    # caller (a "replacement scan") and finds these very functions.
    return bool(con.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = 'features' "
                            "AND table_name = ?", [table]).fetchall())  # fmt: skip


def build_dataset(
    con: duckdb.DuckDBPyConnection, target: str, out: Path | None = None, cfg: SplitConfig = SplitConfig()
) -> tuple[pd.DataFrame, DatasetReport]:
    """Rows of ``features.snapshots`` with the target label and a ``split`` column ('train' or 'valid');
    written to ``features.dataset_<target>`` and, if ``out`` is given, to ``out/<target>/{train,valid}.parquet``."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'features' AND table_name = 'snapshots'"
    ).fetchall()[0][0]
    if not exists:
        raise ValueError("the warehouse has no feature snapshots: run `churn features build` first")
    rows = con.sql(
        f"SELECT f.*, l.{target} AS label FROM features.snapshots f "
        "JOIN features.labels l USING (account_id, as_of) ORDER BY f.as_of, f.account_id"
    ).to_arrow_table().to_pandas()  # fmt: skip
    first_valid = first_valid_date(rows.loc[rows["label"].notna(), "as_of"].unique(), target, cfg)
    rows["split"] = time_split(rows, target, cfg, first_valid)
    data = rows[rows["split"].notna()].reset_index(drop=True)
    data["label"] = data["label"].astype("int8")
    return data, write_dataset(con, target, data, out)


def write_dataset(
    con: duckdb.DuckDBPyConnection, target: str, data: pd.DataFrame, out: Path | None = None
) -> DatasetReport:
    """Store a split training set (a ``split`` column of 'train' and 'valid') as ``features.dataset_<target>``
    and, if ``out`` is given, as Parquet files; its report."""
    con.register("_dataset", arrow_table(data))
    try:
        con.execute(f"CREATE OR REPLACE TABLE features.dataset_{target} AS SELECT * FROM _dataset")
    finally:
        con.unregister("_dataset")
    paths: dict[str, Path] = {}
    if out is not None:
        (out / target).mkdir(parents=True, exist_ok=True)
        for part in ("train", "valid"):
            paths[part] = out / target / f"{part}.parquet"
            data[data["split"] == part].drop(columns="split").to_parquet(paths[part], index=False)
    groups = data.groupby("split")
    return DatasetReport(
        target=target,
        rows={str(k): len(g) for k, g in groups},
        positive_rate={str(k): float(g["label"].mean()) for k, g in groups},
        dates={str(k): (str(g["as_of"].min().date()), str(g["as_of"].max().date())) for k, g in groups},
        accounts={str(k): int(g["account_id"].nunique()) for k, g in groups},
        paths=paths,
    )
