"""The Spark engine: the registry's feature definitions, the labels and the training sets, executed by PySpark.

There is no second implementation here. Spark runs the portable SQL that the DuckDB engine also runs in
``build_portable`` (``features.rollups``, the registry's sources and snapshot, ``features.labels``), carried to Spark
SQL by sqlglot (``features.registry.to_dialect``); ``tests/pipelines/spark/test_engine.py`` checks both engines give
equal snapshots, labels and scores. This module only sends statements and moves tables in and out.

Partitioning: every rollup, running total and source query groups or windows by ``account_id`` first, so Spark
shuffles by account and each account's days are processed in one task; cost grows linearly with events and accounts
(``spark.sql.shuffle.partitions`` sets the number of account groups; on a cluster, about 2-4 per executor core).

The raw tables come from a folder of Parquet tables named as in the data contract (``<folder>/<table>.parquet`` or
``<folder>/<table>/``, e.g. what ``churn export`` writes from the warehouse), or from a database of the session's
catalog (``catalog:<database>``, e.g. tables a Databricks job maintains).
"""

import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

import pandas as pd
import sqlglot
from sqlglot import exp

from features.catalog import Coverage, available, coverage_checks, coverage_of
from features.config import FeatureConfig
from features.config_file import ACCOUNTS_SQL, TYPE_COVERAGE_SQL, FeaturesFile, resolve
from features.contract import TABLES
from features.labels import LABELS, LabelConfig, bounds_sql, labels_sql
from features.query import snapshot_sql, source_sql, source_table
from features.registry import Family
from features.rollups import TOTALS_TABLES, rollups, spine_sql, totals

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from models.scoring import Scorer

logger = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]
KEY = ("account_id", "as_of")  # the key of the spine, the running totals, the sources, snapshots and labels

# Settings every session gets, whatever the master: times are UTC (the contract's), Parquet times are written as
# plain microsecond timestamps (Spark's default INT96 is deprecated and other engines misread it), and rewriting a
# snapshot date replaces only that date's partition.
BASE_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
}
PANDAS_WARNING = "PySpark does not yet fully support pandas"
# Local mode on a small machine: no UI, few shuffle partitions (the default 200 costs more than it buys below a
# few million rows). A cluster user overrides both with --spark-conf.
LOCAL_CONF = {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "8", "spark.driver.memory": "4g"}


def session(master: str = "local[2]", conf: Iterable[tuple[str, str]] = (), app: str = "churn") -> "SparkSession":
    """A Spark session for ``master`` (``local[N]``, ``spark://host:7077``, ``yarn``, ...) with ``conf`` on top of
    the engine's own settings."""
    from pyspark.sql import SparkSession

    # PySpark 4.3 warns on each pandas conversion that it "does not yet fully support pandas >= 3.0.0". Decided:
    # keep pandas 3 and prove the conversions this engine makes by tests (tests/pipelines/spark/test_engine.py).
    warnings.filterwarnings("ignore", PANDAS_WARNING, FutureWarning)
    # The same for the Python workers (they inherit the driver's environment in local mode; executorEnv elsewhere).
    os.environ.setdefault("PYTHONWARNINGS", f"ignore:{PANDAS_WARNING}:FutureWarning")
    if master.startswith("local"):  # local workers run this interpreter, not whatever "python3" is on PATH
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app).master(master)
    settings = BASE_CONF | {"spark.executorEnv.PYTHONWARNINGS": f"ignore:{PANDAS_WARNING}:FutureWarning"}
    settings |= (LOCAL_CONF if master.startswith("local") else {}) | dict(conf)
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def parse_conf(pairs: Sequence[str]) -> list[tuple[str, str]]:
    """``key=value`` strings (the CLI's ``--spark-conf``) as pairs; a clear error for anything else."""
    out = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--spark-conf takes key=value (e.g. spark.executor.memory=8g), got {pair!r}")
        out.append((key.strip(), value.strip()))
    return out


def _utc(t: datetime) -> datetime:
    """Spark hands back session-time (UTC) instants as naive datetimes."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


class SparkEngine:
    """Runs the portable SQL in one Spark session. Tables the SQL creates become checkpointed temp views; the SQL's
    ``raw.<table>`` names are read from ``raw`` (a local Parquet folder, a URI of one whose tables are folders
    ``<table>/``, or ``catalog:<database>``)."""

    def __init__(self, spark: "SparkSession", raw: str) -> None:
        self.spark = spark
        self.database: str | None = None
        if raw.startswith("catalog:"):
            self.database = raw.removeprefix("catalog:")
        elif "://" in raw:  # shared storage (s3a://, abfss://, hdfs://): Spark itself says what is missing
            for table in TABLES:
                self.spark.read.parquet(f"{raw.rstrip('/')}/{table}").createOrReplaceTempView(f"raw_{table}")
        else:
            self._register_parquet(Path(raw))

    def _register_parquet(self, folder: Path) -> None:
        if not folder.is_dir():
            raise FileNotFoundError(f"no folder {folder}: give a folder of Parquet tables (churn export --to {folder})")
        paths = {t: next((p for p in (folder / f"{t}.parquet", folder / t) if p.exists()), None) for t in TABLES}
        missing = [t for t, p in paths.items() if p is None]
        if missing:
            raise FileNotFoundError(
                f"{folder} lacks the contract's tables {', '.join(missing)} (as <table>.parquet or <table>/): "
                "export them from the warehouse with `churn export --to FOLDER`"
            )
        for table, path in paths.items():
            self.spark.read.parquet(str(path)).createOrReplaceTempView(f"raw_{table}")

    def to_spark(self, sql: str) -> str:
        """The DuckDB-dialect ``sql`` as Spark SQL, with ``raw.<table>`` pointed at the registered source."""

        def rename(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Anonymous) and node.name.lower() == "to_months":  # DuckDB's month interval
                return exp.Anonymous(this="make_interval", expressions=[exp.Literal.number(0), *node.expressions])
            if isinstance(node, exp.Table) and node.db == "raw":
                if self.database:
                    return exp.table_(node.name, db=self.database, alias=node.alias or None)
                return exp.table_(f"raw_{node.name}", alias=node.alias or None)
            return node

        trees = sqlglot.parse(sql, read="duckdb")
        return ";\n".join(t.transform(rename).sql(dialect="spark") for t in trees if t is not None)

    def create(self, name: str, sql: str, by: Sequence[str] = ()) -> "DataFrame":
        """``CREATE TEMP TABLE name AS sql``: the result is computed now and kept as a local checkpoint, a table
        with no lineage. Plain caching was measured slower: every source query joins the spine again, and Spark
        then failed to reuse the cached tables in the snapshot's 13-way join (2,500 accounts: 29.8 s for that
        join cached, 5.9 s checkpointed; 134 s cached at 10 M events). Tables created with the same ``by`` are
        hash-partitioned alike, so that joins on those keys need not shuffle the ever wider join."""
        t0 = time.perf_counter()
        frame = self.spark.sql(self.to_spark(sql))
        if by:
            frame = frame.repartition(int(self.spark.conf.get("spark.sql.shuffle.partitions") or 200), *by)
        frame = frame.localCheckpoint(eager=True)
        rows = frame.count()
        logger.debug("%s: %d rows in %.1f s", name, rows, time.perf_counter() - t0)
        frame.createOrReplaceTempView(name)
        return frame

    def drop(self, *names: str) -> None:
        """Drop temp views; their checkpoint blocks go once nothing refers to them (Spark's context cleaner)."""
        for name in names:
            self.spark.catalog.dropTempView(name)

    def data_bounds(self) -> tuple[datetime, datetime]:
        """First and last observed times (as ``pipelines.snapshots.data_bounds``)."""
        sql = bounds_sql(self.coverage().empty_tables)
        ((first, last),) = self.spark.sql(self.to_spark(sql)).collect()
        if first is None or last is None:
            raise ValueError("the raw tables hold no dated rows: nothing to build features from")
        return _utc(first), _utc(last)

    def coverage(self, cfg: FeatureConfig = FeatureConfig()) -> Coverage:
        """Which raw tables have no rows and which needed columns no values (``features.catalog.coverage_checks``)."""
        checks = coverage_checks(cfg)
        return coverage_of({k: bool(self.spark.sql(self.to_spark(sql)).collect()) for k, sql in checks.items()})

    def resolve_features(self, spec: FeaturesFile | None = None) -> FeatureConfig:
        """The ``FeatureConfig`` of a features file (None: the defaults) for the raw usage event types, as
        ``pipelines.snapshots.inputs.resolve_features``."""
        present = {r[0]: int(r[1]) for r in self.spark.sql(self.to_spark(TYPE_COVERAGE_SQL)).collect()}
        ((accounts,),) = self.spark.sql(self.to_spark(ACCOUNTS_SQL)).collect()
        return resolve(spec or FeaturesFile(), present, int(accounts))

    def data_end(self) -> datetime:
        """The last usage event time: labels need it to tell a matured horizon from an open one."""
        return self.data_bounds()[1]

    def snapshot_dates(self, dates: Sequence[datetime]) -> None:
        if not dates:
            raise ValueError("no snapshot dates given")
        # Python datetimes with their zone, not a pandas frame: PySpark's Arrow path reads zone-aware columns
        # through Series.values, which pandas 3.1 deprecates.
        rows = [(pd.Timestamp(d).tz_convert("UTC").to_pydatetime(),) for d in sorted(set(dates))]
        self.spark.createDataFrame(rows, "as_of timestamp").createOrReplaceTempView("snapshot_dates")

    def snapshots(self, dates: Sequence[datetime], cfg: FeatureConfig = FeatureConfig(),
                  on_progress: Progress | None = None,
                  families: tuple[Family, ...] | None = None) -> "DataFrame":  # fmt: skip
        """Feature snapshots for ``dates`` (account_id, as_of, every feature in registry order), as the DuckDB
        engine's ``build_portable``; leaves the views ``spine`` and ``snapshot_dates`` for the labels."""
        from features.rollups import window_bounds

        self.snapshot_dates(dates)
        held = self.coverage(cfg)
        self.create("spine", spine_sql(held.empty_tables), KEY)
        for name, sql in rollups(cfg).items():
            self.create(name, Template(sql).substitute(window_bounds(dates)), KEY if name in TOTALS_TABLES else ())
        self.drop(*(t.daily for t in totals(cfg).values()))
        fams = available(held, cfg).families if families is None else families
        sources = [(fam, src) for fam in fams for src in fam.sources]
        for i, (fam, src) in enumerate(sources, 1):
            self.create(source_table(fam, src), source_sql(src), KEY)
            if on_progress:
                on_progress("features", i, len(sources))
        out = self.create("snapshots", snapshot_sql(fams), KEY)
        self.drop(*TOTALS_TABLES, "milestone_first", *(source_table(fam, src) for fam, src in sources))
        return out

    def labels(self, cfg: LabelConfig = LabelConfig(), data_end: datetime | None = None) -> "DataFrame":
        """Labels for the current ``spine`` (``features.labels``)."""
        end = data_end or self.data_end()
        last = pd.Timestamp(end).tz_convert("UTC").to_pydatetime()
        self.spark.createDataFrame([(last,)], "ts timestamp").createOrReplaceTempView("data_end")
        return self.create("labels", labels_sql(cfg, self.coverage().empty_tables), KEY)


@dataclass(frozen=True)
class SparkBuild:
    dates: list[datetime]
    snapshots: int
    features: int
    churn_rate: dict[str, float | None]
    upsell_rate: dict[str, float | None]
    seconds: float
    out: Path


def build(
    engine: SparkEngine,
    dates: Sequence[datetime],
    out: str,
    fcfg: FeatureConfig | None = None,
    lcfg: LabelConfig = LabelConfig(),
    data_end: datetime | None = None,
    on_progress: Progress | None = None,
) -> SparkBuild:
    """Snapshots and labels for ``dates``, written as Parquet to ``out/snapshots`` and ``out/labels`` partitioned
    by snapshot date: rebuilding a date replaces its partition, other dates are kept."""
    from pyspark.sql import functions as F

    t0 = time.perf_counter()
    fcfg = engine.resolve_features() if fcfg is None else fcfg  # None: the defaults, every event type discovered
    snaps = engine.snapshots(dates, fcfg, on_progress)
    labels = engine.labels(lcfg, data_end)
    for name, frame in (("snapshots", snaps), ("labels", labels)):
        frame.withColumn("as_of_date", F.to_date("as_of")).write.mode("overwrite").partitionBy("as_of_date") \
            .parquet(f"{out}/{name}")  # fmt: skip
    # The labels' time rules, beside them, for build_dataset (as features.label_config in the warehouse).
    engine.spark.createDataFrame([(lcfg.to_json(),)], "config string").write.mode("overwrite") \
        .json(f"{out}/label_config")  # fmt: skip
    rates = labels.groupBy(F.date_format("as_of", "yyyy-MM-dd").alias("d")) \
        .agg(F.avg("churn").alias("c"), F.avg("upsell").alias("u")).orderBy("d").collect()  # fmt: skip
    n = snaps.count()
    engine.drop("snapshots", "labels")
    return SparkBuild(
        dates=sorted(set(dates)), snapshots=n, features=len(snaps.columns) - 2,
        churn_rate={r["d"]: r["c"] for r in rates}, upsell_rate={r["d"]: r["u"] for r in rates},
        seconds=time.perf_counter() - t0, out=Path(out),
    )  # fmt: skip


def read_built(spark: "SparkSession", out: str, name: str) -> "DataFrame":
    """A table ``build`` wrote (``snapshots`` or ``labels``), without the partition column."""
    try:
        return spark.read.parquet(f"{out}/{name}").drop("as_of_date")
    except Exception as e:  # Spark's AnalysisException: PATH_NOT_FOUND
        raise ValueError(f"no {name} under {out}: run `churn features build --engine spark --out {out}` first") from e


def label_config(spark: "SparkSession", out: str) -> LabelConfig:
    """The time rules ``build`` made the labels under ``out`` with; LABELS for labels built before they were
    stored (every build used LABELS then)."""
    try:
        rows = spark.read.json(f"{out}/label_config").collect()
    except Exception:  # Spark's AnalysisException: PATH_NOT_FOUND
        return LABELS
    return LabelConfig.from_json(rows[0]["config"]) if rows else LABELS


def build_dataset(
    spark: "SparkSession", out: str, target: str, valid_dates: int | None = None, valid_share: float = 0.3
) -> dict[str, dict[str, float]]:
    """The training set of ``target``: snapshots joined with the target's label, split by time with
    ``features.split.time_split`` (the validation period's first date computed once over the whole table, then
    the same function applied to each part), written to ``out/datasets/<target>`` partitioned by split, with the
    labels' own time rules (``label_config``) and ``valid_dates`` (None: ``features.split.derived_valid_dates``).
    Returns rows and positive rate per split."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    from features.split import SplitConfig, derived_valid_dates, first_valid_date, time_split
    from pipelines.training.datasets import TARGETS

    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    labels = read_built(spark, out, "labels").select("account_id", "as_of", F.col(target).alias("label"))
    rows = read_built(spark, out, "snapshots").join(labels, ["account_id", "as_of"])
    dates = [pd.Timestamp(r[0]).tz_localize("UTC") for r in rows.where("label IS NOT NULL").select("as_of")
             .distinct().collect()]  # fmt: skip
    rules = label_config(spark, out)
    n = derived_valid_dates(dates, rules.reads_days(target)) if valid_dates is None else valid_dates
    cfg = SplitConfig(n, valid_share, rules)
    first_valid = first_valid_date(dates, target, cfg)

    def split(parts: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for part in parts:
            part["as_of"] = part["as_of"].dt.tz_localize("UTC") if part["as_of"].dt.tz is None else part["as_of"]
            yield part.assign(split=time_split(part, target, cfg, first_valid).astype("string"))

    schema = StructType([*rows.schema.fields, StructField("split", StringType())])
    data = rows.mapInPandas(split, schema).where("split IS NOT NULL").withColumn("label", F.col("label").cast("byte"))
    data.write.mode("overwrite").partitionBy("split").parquet(f"{out}/datasets/{target}")
    stats = spark.read.parquet(f"{out}/datasets/{target}").groupBy("split") \
        .agg(F.count("*").alias("rows"), F.avg("label").alias("rate")).collect()  # fmt: skip
    return {r["split"]: {"rows": r["rows"], "positive_rate": r["rate"]} for r in stats}


def score(
    engine: SparkEngine, out: str, scorer: "Scorer", dates: int = 1, scored_at: datetime | None = None
) -> dict[str, float]:
    """Scores of every account's snapshot at the latest ``dates`` snapshot dates under ``out/snapshots``, with
    the champion models in ``scorer``: ``pipelines.score.scored`` (the embedded path's own function) applied to
    each part of the table, written to ``out/scores`` (the columns of the warehouse's ``scores.accounts``)
    partitioned by snapshot date. Returns the accounts, revenue at risk and red tier count at the latest date."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import BooleanType, DoubleType, StringType, StructField, StructType, TimestampType

    from features.renewals import renewals_sql
    from models.scoring import CURVE_COLUMNS
    from pipelines.score import ACCOUNT_COLUMNS, COLUMNS, scored

    spark = engine.spark
    snaps = read_built(spark, out, "snapshots")
    latest = [r[0] for r in snaps.select("as_of").distinct().orderBy(F.col("as_of").desc()).limit(dates).collect()]
    accounts = spark.sql(engine.to_spark(f"SELECT account_id, {', '.join(ACCOUNT_COLUMNS)} FROM raw.accounts"))
    engine.snapshot_dates([_utc(d) for d in latest])
    renewals = engine.create("renewals", renewals_sql(engine.coverage().empty_tables))
    rows = (
        snaps.where(F.col("as_of").isin(latest))
        .join(accounts.drop("segment", "touch_model", "industry", "region"), "account_id", "left")
        .join(renewals.select("account_id", "as_of", "next_renewal_at", "renewal_arr"), ["account_id", "as_of"], "left")
    )
    at = scored_at or datetime.now(UTC)
    numbers = {"p_churn", "p_upsell", "health", "arr", "revenue_at_risk", "renewal_arr", "expected_expansion_arr",
               *CURVE_COLUMNS}  # fmt: skip
    times = ("as_of", "scored_at", "next_renewal_at", "expected_churn_at")
    schema = StructType([
        StructField(c, TimestampType() if c in times else DoubleType() if c in numbers
                    else BooleanType() if c in ("notice_given", "held_out") else StringType())
        for c in COLUMNS
    ])  # fmt: skip

    def apply(parts: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for part in parts:
            if len(part):
                yield scored(part, scorer, at)

    scores = rows.mapInPandas(apply, schema)
    scores.withColumn("as_of_date", F.to_date("as_of")).write.mode("overwrite").partitionBy("as_of_date") \
        .parquet(f"{out}/scores")  # fmt: skip
    ((n, risk, red),) = (
        spark.read.parquet(f"{out}/scores")
        .where(F.col("as_of") == max(latest))
        .agg(F.count("*"), F.sum("revenue_at_risk"), F.sum(F.when(F.col("tier") == "red", 1).otherwise(0)))
        .collect()
    )
    return {"accounts": n, "revenue_at_risk": risk or 0.0, "red": red}
