"""A user's own feature table as a training set: one row per customer (or per customer and date) with a label,
the most common shape of public churn data and of what a warehouse team hands over.

``import_table`` writes it where the event path's build writes its snapshots (``features.snapshots``,
``features.labels``), so that ``churn train``, ``churn score``, the API and the pages work on its own columns:
the id becomes ``account_id``, the as_of column (when there is one) ``as_of``, the label the target's label;
every other column is a feature (numbers as numbers, anything else categorical). Rows whose id, as_of or label
cannot be read are quarantined with their reason (``features.table_quarantine``), never dropped silently.

The split: with at least ``valid_dates`` + 1 labeled dates, by time as the event path splits
(``features.split``); otherwise a holdout of customers stratified by the label, and said so: nothing then
shows how the model holds up on a later period.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import sqlalchemy as sa
from sklearn.model_selection import train_test_split

from features.contract import TABLES
from features.labels import TARGETS
from features.split import SplitConfig, first_valid_date
from pipelines.training.datasets import DatasetReport, build_dataset, write_dataset
from pipelines.warehouse import arrow_table

LABEL_VALUES = {"1": 1, "0": 0, "true": 1, "false": 0, "yes": 1, "no": 0, "1.0": 1, "0.0": 0}


@dataclass(frozen=True)
class TableColumns:
    """Which of the table's columns is what: ``id`` and ``label`` are needed; ``as_of`` (a date per row) and
    ``arr`` (annual revenue, for revenue at risk) are optional; ``drop`` are left out (say, other labels)."""

    id: str
    label: str
    as_of: str | None = None
    arr: str | None = None
    drop: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImportReport:
    source: str
    rows: int
    accepted: int
    quarantined: dict[str, int]  # reason -> rows
    features: list[str]
    categorical: list[str]
    empty_columns: list[str]  # columns with no value in any row: left out
    split: str  # how train and valid were cut, in words
    dataset: DatasetReport
    families: dict[str, str] = field(default_factory=dict)


def read_table(source: str, table: str | None = None) -> pd.DataFrame:
    """A CSV or Parquet file, or ``table`` of a database URL (``postgresql://...``)."""
    if "://" in source:
        if not table:
            raise ValueError(f"{source} is a database: name the table with --table")
        engine = sa.create_engine(source)
        try:
            schema, _, name = table.rpartition(".")
            with engine.connect() as conn:
                return pd.read_sql(sa.select(sa.text("*")).select_from(sa.table(name, schema=schema or None)), conn)
        finally:
            engine.dispose()
    path = Path(source)
    if not path.exists():
        raise ValueError(f"no file {path}: give a CSV or Parquet file, or a database URL with --table")
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path)


def _labels(values: pd.Series) -> pd.Series:
    """0/1 per row (nullable): numbers, booleans and yes/no/true/false text; anything else NA."""
    text = values.astype("string").str.strip().str.lower()
    return text.map(LABEL_VALUES, na_action="ignore").astype("Int8")


def prepare(frame: pd.DataFrame, cols: TableColumns, now: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows, quarantine): the table with ``account_id``, ``as_of``, ``label`` and its feature columns; the rows
    that could not be read, with their reason."""
    named = {"--id": cols.id, "--label": cols.label, "--as-of": cols.as_of, "--arr": cols.arr}
    missing = [f"{opt} {c!r}" for opt, c in named.items() if c is not None and c not in frame.columns]
    missing += [f"--drop {c!r}" for c in cols.drop if c not in frame.columns]
    if missing:
        raise ValueError(
            f"the table has no column {', '.join(missing)}; its columns are: {', '.join(map(str, frame.columns))}"
        )
    rows = frame.drop(columns=list(cols.drop)).rename(columns={cols.id: "account_id", cols.label: "label"})
    rows["account_id"] = rows["account_id"].astype("string").str.strip()
    rows["label"] = _labels(frame[cols.label])
    if cols.as_of is None:
        rows["as_of"] = pd.Timestamp(now.date(), tz="UTC")  # one snapshot: the day of the import
    else:
        rows = rows.rename(columns={cols.as_of: "as_of"})
        rows["as_of"] = pd.to_datetime(frame[cols.as_of], utc=True, errors="coerce", format="mixed")
    if cols.arr is not None and cols.arr != "arr":
        rows = rows.rename(columns={cols.arr: "arr"})
    reasons = pd.Series(pd.NA, index=rows.index, dtype="string")
    reasons[rows["account_id"].isna() | (rows["account_id"] == "")] = f"{cols.id}: missing"
    if cols.as_of is not None:
        reasons[reasons.isna() & rows["as_of"].isna()] = f"{cols.as_of}: not a date"
    bad_label = rows["label"].isna() & frame[cols.label].notna()
    reasons[reasons.isna() & bad_label] = f"{cols.label}: not 0/1, true/false or yes/no"
    duplicated = rows.duplicated(["account_id", "as_of"], keep=False)
    reasons[reasons.isna() & duplicated] = "the same id (and as_of) twice"
    bad = reasons.notna()
    quarantine = frame[bad].astype("string").assign(reason=reasons[bad])
    return rows[~bad].reset_index(drop=True), quarantine


def _typed(rows: pd.DataFrame) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Feature columns as DOUBLE (numbers, booleans) or strings (the rest: categorical); all-empty ones left
    out. Returns (rows, categorical, empty)."""
    out = rows[["account_id", "as_of"]].copy()
    categorical, empty = [], []
    for c in rows.columns:
        if c in ("account_id", "as_of", "label"):
            continue
        s = rows[c]
        if s.isna().all():
            empty.append(str(c))
            continue
        if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
            out[str(c)] = pd.to_numeric(s, errors="coerce").astype("float64")
        else:
            out[str(c)] = s.astype("string")
            categorical.append(str(c))
    return out, categorical, empty


def import_table(
    con: duckdb.DuckDBPyConnection,
    frame: pd.DataFrame,
    cols: TableColumns,
    *,
    target: str = "churn",
    families: dict[str, str] | None = None,
    split: SplitConfig = SplitConfig(),
    out: Path | None = None,
    source: str = "",
    now: datetime | None = None,
) -> ImportReport:
    """Write ``frame`` as the warehouse's snapshots, labels and ``target``'s training set (see the module)."""
    if target not in TARGETS:
        raise ValueError(f"--target must be one of {', '.join(TARGETS)}, got {target!r}")
    rows, quarantine = prepare(frame, cols, now or datetime.now(UTC))
    if rows.empty:
        raise ValueError(f"no row of the table could be read ({len(quarantine)} quarantined); see the reasons above")
    snapshots, categorical, empty = _typed(rows)
    names = [c for c in snapshots.columns if c not in ("account_id", "as_of")]
    unknown = sorted(set(families or {}) - set(names))
    if unknown:
        raise ValueError(f"the families file names columns the table does not have (as features): {unknown}")
    labels = rows[["account_id", "as_of"]].assign(**{t: pd.array([pd.NA] * len(rows), dtype="Int8") for t in TARGETS})
    labels[target] = rows["label"]
    labels["service_ends_at"] = pd.Series(pd.NaT, index=rows.index, dtype="datetime64[us, UTC]")
    con.execute("CREATE SCHEMA IF NOT EXISTS features")
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    accounts = pd.DataFrame({c: rows["account_id"].drop_duplicates() if c == "account_id" else None
                             for c in TABLES["accounts"].columns})  # fmt: skip
    con.begin()
    try:
        for name, table in (("features.snapshots", snapshots), ("features.labels", labels),
                            ("raw.accounts", accounts), ("features.table_quarantine", quarantine)):  # fmt: skip
            con.register("_t", arrow_table(table))
            con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _t")
            con.unregister("_t")
        con.execute("CREATE OR REPLACE TABLE features.families_off (family VARCHAR, why VARCHAR)")
        con.execute("CREATE OR REPLACE TABLE features.column_families (name VARCHAR, family VARCHAR)")
        # The time rules the split reads (its gaps), stored as a build stores its own (``datasets.label_config``).
        con.execute("CREATE OR REPLACE TABLE features.label_config AS SELECT ? AS config", [split.labels.to_json()])
        if families:
            con.executemany("INSERT INTO features.column_families VALUES (?, ?)", list(families.items()))
    except BaseException:
        con.rollback()
        raise
    con.commit()
    labeled = rows.loc[rows["label"].notna(), "as_of"].unique()
    if len(labeled) > split.valid_dates:
        first = first_valid_date(labeled, target, split)
        how = (f"by time: validation on the {split.valid_dates} latest labeled dates from {first.date()} for "
               f"{split.valid_share:.0%} of the customers, training on the others' earlier rows")  # fmt: skip
        _, report = build_dataset(con, target, out, split)
    else:
        how = (f"a holdout of {split.valid_share:.0%} of the customers stratified by the label: the table has "
               f"{len(labeled)} labeled date(s), too few for an out-of-time validation")  # fmt: skip
        report = _holdout(con, target, split, out)
    reasons = quarantine["reason"].value_counts() if len(quarantine) else pd.Series(dtype="int64")
    return ImportReport(
        source=source, rows=len(frame), accepted=len(rows), quarantined={str(k): int(v) for k, v in reasons.items()},
        features=names, categorical=categorical, empty_columns=empty, split=how, dataset=report,
        families=dict(families or {}),
    )  # fmt: skip


def _holdout(con: duckdb.DuckDBPyConnection, target: str, split: SplitConfig, out: Path | None) -> DatasetReport:
    rows = con.sql(
        f"SELECT f.*, l.{target} AS label FROM features.snapshots f JOIN features.labels l USING (account_id, as_of) "
        f"WHERE l.{target} IS NOT NULL ORDER BY f.as_of, f.account_id"
    ).to_arrow_table().to_pandas()  # fmt: skip
    customers = rows.groupby("account_id")["label"].max()
    if customers.nunique() < 2 or customers.value_counts().min() < 2:
        raise ValueError(f"the label {target} needs at least two customers of each class to hold some out")
    _, valid = train_test_split(customers.index.to_numpy(), test_size=split.valid_share, stratify=customers.to_numpy(),
                                random_state=7)  # fmt: skip
    rows["split"] = np.where(rows["account_id"].isin(set(valid)), "valid", "train")
    rows["label"] = rows["label"].astype("int8")
    return write_dataset(con, target, rows, out)
