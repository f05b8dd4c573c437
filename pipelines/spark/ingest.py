"""Ingestion checks on Spark: the embedded ingest's own parsing and contract checks, applied by Spark to each part
of each source table, writing the accepted rows to ``LAKE/raw/<table>`` (what ``--engine spark`` reads) and the
rest to ``LAKE/quarantine`` with their reasons (the columns of the warehouse's ``raw.quarantine``).

Nothing is checked twice in two ways: every part goes through ``pipelines.ingest.parse.parse_chunk`` and
``pipelines.ingest.validate.check_chunk``, as each chunk of the embedded ingest does. Event tables are checked in
parallel, part by part; a keyed table is checked in one part, since a duplicate or conflicting key can only be
seen across the whole table (keyed tables are the small ones: accounts, subscriptions, tickets, invoices,
contacts). Rows that name an account not accepted are quarantined, as in the embedded ingest. Input rows =
accepted + quarantined, per table. A quarantined row's ``source_row`` is Spark's row id, not a line number.
"""

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from features.contract import TABLES, TableSpec
from pipelines.ingest.mapping import Mapping, load_mapping
from pipelines.ingest.parse import parse_chunk
from pipelines.ingest.report import TableCounts
from pipelines.ingest.validate import check_chunk

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

ROW = "_row"
REASON = "_reason"
CODES = "_codes"
VALUES = "_values"


@dataclass(frozen=True)
class SparkIngestReport:
    tables: dict[str, TableCounts]
    reasons: dict[str, dict[str, int]]  # table -> reason code -> rows
    lake: str


def _spark_type(spec: TableSpec, column: str) -> str:
    return {"time": "timestamp", "number": "double", "count": "bigint"}.get(spec.kind(column), "string")


def _schema(spec: TableSpec) -> "StructType":
    from pyspark.sql.types import StructType, _parse_datatype_string

    fields = ", ".join(f"`{c}` {_spark_type(spec, c)}" for c in spec.columns)
    parsed = _parse_datatype_string(f"{fields}, {ROW} bigint, {REASON} string, {CODES} string, {VALUES} string")
    assert isinstance(parsed, StructType)
    return parsed


def _checked(
    spec: TableSpec, mapping: Mapping, known: pd.Index | None
) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """The function Spark applies to each part: parse, check, and one row out per row in (reasons joined)."""
    values = mapping.table(spec.name).values

    def check(parts: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        aware_seen: dict[str, bool] = {}
        for part in parts:
            raw = part.set_index(ROW)
            parsed, parse_reasons = parse_chunk(spec, raw, values, aware_seen)
            result = check_chunk(spec, raw, parsed, parse_reasons, known)
            by_row = result.reasons.drop_duplicates(["row", "code"]).groupby("row", sort=False)
            why, codes = by_row["reason"].agg("; ".join), by_row["code"].agg("\n".join)
            out = parsed.copy()
            for c in spec.time_columns:  # naive UTC instants: the session's zone is UTC
                out[c] = out[c].dt.tz_convert("UTC").dt.tz_localize(None)
            out[REASON] = why.reindex(out.index).astype("string")
            out[CODES] = codes.reindex(out.index).astype("string")
            # The source values as text, for the rejected rows only (most rows of a part pass).
            shown = result.rejected.astype("string")
            row_json = pd.Series(
                [json.dumps({c: (None if pd.isna(v) else v) for c, v in row.items()}) for _, row in shown.iterrows()],
                index=shown.index, dtype="object",
            )  # fmt: skip
            out[VALUES] = row_json.reindex(out.index)
            yield out.reset_index(names=ROW)

    return check


def _read(spark: "SparkSession", source: Path, spec: TableSpec, mapping: Mapping) -> "DataFrame | None":
    """The source table with contract column names (unmapped columns dropped), or None if an optional table is
    absent; a clear error for a missing table or required column."""
    from pyspark.sql import functions as F

    tm = mapping.table(spec.name)
    names = [tm.file] if tm.file else [f"{spec.name}.parquet", spec.name, f"{spec.name}.csv"]
    path = next((source / n for n in names if (source / n).exists()), None)
    if path is None:
        if spec.optional_table:
            return None
        raise FileNotFoundError(f"{source} has no table {spec.name} (looked for {', '.join(names)})")
    reader = spark.read.option("header", "true").option("encoding", tm.encoding)
    frame = reader.csv(str(path)) if path.suffix == ".csv" else reader.parquet(str(path))
    picked = {c: tm.source_column(c) for c in spec.columns if tm.source_column(c) in frame.columns}
    missing = [c for c in spec.required if c not in picked]
    if missing:
        raise ValueError(
            f"table {spec.name} in {path} has no column {', '.join(missing)}; columns found: "
            f"{', '.join(frame.columns)}. Rename it in the source or map it in a mapping file"
        )
    return frame.select(*(F.col(f"`{s}`").alias(c) for c, s in picked.items())).withColumn(
        ROW, F.monotonically_increasing_id()
    )


def ingest(spark: "SparkSession", source: Path, lake: str, mapping: Path | None = None) -> SparkIngestReport:
    """Check every contract table of ``source`` (a folder of Parquet or CSV tables) and write the accepted rows
    to ``lake/raw/<table>`` and the quarantined ones to ``lake/quarantine`` (as the warehouse's quarantine)."""
    from pyspark.sql import functions as F

    plan = load_mapping(mapping)
    frames = {name: _read(spark, Path(source), spec, plan) for name, spec in TABLES.items()}
    counts: dict[str, TableCounts] = {}
    reasons: dict[str, dict[str, int]] = {}
    known: pd.Index | None = None
    quarantine = f"{lake}/quarantine"
    first = True
    for name, spec in TABLES.items():
        frame = frames[name]
        if frame is None:  # an optional table the source lacks: empty, as in the embedded ingest
            empty = _schema(spec)
            spark.createDataFrame([], empty).drop(ROW, REASON, CODES, VALUES).write.mode("overwrite") \
                .parquet(f"{lake}/raw/{name}")  # fmt: skip
            counts[name] = TableCounts(0, 0, 0)
            continue
        if not spec.event_table:
            frame = frame.coalesce(1)  # keys are checked across the whole table
        checked = frame.mapInPandas(_checked(spec, plan, known), _schema(spec)).localCheckpoint(eager=True)
        good = checked.where(F.col(REASON).isNull()).drop(ROW, REASON, CODES, VALUES)
        good.write.mode("overwrite").parquet(f"{lake}/raw/{name}")
        bad = checked.where(F.col(REASON).isNotNull()).select(
            F.lit(name).alias("table_name"), F.col(ROW).alias("source_row"), F.col(REASON).alias("reasons"),
            F.col(VALUES).alias("row_json"),
        )  # fmt: skip
        bad.write.mode("overwrite" if first else "append").parquet(quarantine)
        first = False
        total, rejected = checked.count(), bad.count()
        counts[name] = TableCounts(input_rows=total, accepted=total - rejected, quarantined=rejected)
        codes = checked.where(F.col(CODES).isNotNull()).select(F.explode(F.split(CODES, "\n")).alias("code")) \
            .groupBy("code").count().collect()  # fmt: skip
        reasons[name] = {r["code"]: r["count"] for r in sorted(codes, key=lambda r: -r["count"])}
        if name == "accounts":
            known = pd.Index([r[0] for r in good.select("account_id").collect()], dtype="string")
    return SparkIngestReport(counts, reasons, lake)
