"""Training sets: feature snapshots joined with one target's labels, split by time (``features.split``)."""

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from features.catalog import features
from features.config import FeatureConfig
from features.labels import LabelConfig
from features.registry import Feature
from features.split import SplitConfig, derived_valid_dates, first_valid_date, time_split
from models.slices import fit_dates
from pipelines.warehouse import arrow_table, has_table

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


def feature_config(con: duckdb.DuckDBPyConnection) -> FeatureConfig:
    """The feature configuration the last ``churn features build`` used (with the event types it counted), stored
    in ``features.config``; the default one for a warehouse built before it was stored."""
    if not _exists(con, "config"):
        return FeatureConfig()
    rows = con.execute("SELECT config FROM features.config").fetchall()
    return FeatureConfig.from_dict(json.loads(rows[0][0])) if rows else FeatureConfig()


def label_config(con: duckdb.DuckDBPyConnection) -> LabelConfig:
    """The time rules the warehouse's labels were built with (stored in ``features.label_config`` by
    ``churn features build``: ``pipelines.snapshots.refresh``, or by a feature table's import); the defaults
    (``LabelConfig()``) for labels built before the rules were stored, which all used them."""
    if not _exists(con, "label_config"):
        return LabelConfig()
    rows = con.execute("SELECT config FROM features.label_config").fetchall()
    return LabelConfig.from_json(rows[0][0]) if rows else LabelConfig()


def feature_definitions(con: duckdb.DuckDBPyConnection) -> dict[str, Feature]:
    """Every feature the last build defined, by name (``feature_config``): what ``models.frame.describe`` and
    ``is_categorical`` take as ``registry`` so that training and explanations read the same definitions."""
    return {f.name: f for f in features(feature_config(con))}


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    # Asked first rather than caught: on a missing table DuckDB looks for a Python variable of that name in the
    # caller (a "replacement scan") and finds these very functions.
    return has_table(con, "features", table)


MIN_TRAIN_POSITIVES = 20  # fewer positive training rows than this leave nothing to learn from
FIXES = ("--horizon or --grace (churn features build: labels known sooner), --valid-dates (fewer validation dates), "
         "--every week (churn features build: more snapshot dates), or train's --inner-dates")  # fmt: skip


def split_config(
    con: duckdb.DuckDBPyConnection, target: str, valid_dates: int | None = None, valid_share: float = 0.3
) -> SplitConfig:
    """The split of ``target``'s training set: the labels' own time rules (``label_config``), and ``valid_dates``,
    or when None, as many as the labeled dates allow (``features.split.derived_valid_dates``)."""
    labels = label_config(con)
    if valid_dates is None:
        dates = [d for (d,) in con.execute(f"SELECT DISTINCT as_of FROM features.labels WHERE {target} IS NOT NULL")
                 .fetchall()]  # fmt: skip
        valid_dates = derived_valid_dates(dates, labels.reads_days(target))
    return SplitConfig(valid_dates, valid_share, labels)


def check_training_part(data: pd.DataFrame, target: str, cfg: SplitConfig) -> None:
    """Refuses a training set the model cannot learn from (no training rows, no positives or fewer than
    ``MIN_TRAIN_POSITIVES``, too few training dates for the inner slices, which need a date to fit on whose label's
    read window ends by the latest one) with a message naming the options that fix it."""
    train = data[data["split"] == "train"]
    dates = sorted(train["as_of"].unique())
    gap = cfg.labels.reads_days(target)
    problem = None
    if train.empty:
        problem = "no training rows"
    elif fit_dates(dates, 1, gap) < 1:
        problem = (f"{len(dates)} training dates, {dates[0]:%Y-%m-%d} to {dates[-1]:%Y-%m-%d}, and none lies "
                   f"{gap} days (the label's read window) before the latest, which early stopping and calibration "
                   "read")  # fmt: skip
    elif int(train["label"].sum()) < MIN_TRAIN_POSITIVES:
        problem = f"{int(train['label'].sum())} positive training rows (at least {MIN_TRAIN_POSITIVES} are needed)"
    if problem is not None:
        raise ValueError(
            f"the {target} training part is too small: {problem}, with a {cfg.labels.horizon_days}-day horizon, "
            f"{cfg.labels.grace_days} days of grace and valid_dates={cfg.valid_dates}. Fix it with {FIXES}, or "
            "bring a longer history."
        )


def build_dataset(
    con: duckdb.DuckDBPyConnection, target: str, out: Path | None = None, cfg: SplitConfig | None = None
) -> tuple[pd.DataFrame, DatasetReport]:
    """Rows of ``features.snapshots`` with the target label and a ``split`` column ('train' or 'valid');
    written to ``features.dataset_<target>`` and, if ``out`` is given, to ``out/<target>/{train,valid}.parquet``.
    ``cfg`` None: ``split_config``; given, its time rules must be the labels' own (``label_config``). Refuses a
    training part too small to learn from (``check_training_part``)."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    if not _exists(con, "snapshots"):
        raise ValueError("the warehouse has no feature snapshots: run `churn features build` first")
    cfg = split_config(con, target) if cfg is None else cfg
    if cfg.labels != label_config(con):
        raise ValueError(
            f"the split's time rules ({cfg.labels}) are not those the labels were built with "
            f"({label_config(con)}): pass SplitConfig(labels=label_config(con)), or rebuild the labels"
        )
    rows = con.sql(
        f"SELECT f.*, l.{target} AS label FROM features.snapshots f "
        "JOIN features.labels l USING (account_id, as_of) ORDER BY f.as_of, f.account_id"
    ).to_arrow_table().to_pandas()  # fmt: skip
    first_valid = first_valid_date(rows.loc[rows["label"].notna(), "as_of"].unique(), target, cfg)
    rows["split"] = time_split(rows, target, cfg, first_valid)
    data = rows[rows["split"].notna()].reset_index(drop=True)
    data["label"] = data["label"].astype("int8")
    check_training_part(data, target, cfg)
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
