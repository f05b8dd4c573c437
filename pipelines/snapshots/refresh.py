"""Saving a build: snapshots and labels for some dates replace those dates in ``features.snapshots`` and
``features.labels`` (other dates are kept), with an optional Parquet export."""

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from features.config import FeatureConfig
from features.labels import LabelConfig
from pipelines.snapshots.fast import build_fast
from pipelines.snapshots.inputs import Progress, resolve_features
from pipelines.snapshots.labels import compute_labels, store_label_config, stored_label_config

logger = logging.getLogger(__name__)


def read_snapshots(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The temp table ``snapshots`` a build left, as a frame (account_id, as_of, then every feature in registry
    order), ordered by as_of and account."""
    return con.sql("SELECT * FROM snapshots ORDER BY as_of, account_id").to_arrow_table().to_pandas()


@dataclass(frozen=True)
class BuildReport:
    dates: list[datetime]
    snapshots: int
    features: int
    off: dict[str, str]  # feature family -> why it is (partly) off: its table has no rows, a needed column no values
    churn_rate: dict[str, float | None]  # per as_of (ISO date): share of labeled snapshots that churned
    upsell_rate: dict[str, float | None]
    seconds: float
    parquet: Path | None
    labels: LabelConfig  # the time rules the labels were built with (stored in ``features.label_config``)


def refresh(
    con: duckdb.DuckDBPyConnection,
    dates: Sequence[datetime],
    fcfg: FeatureConfig | None = None,
    lcfg: LabelConfig = LabelConfig(),
    export: Path | None = None,
    data_end: datetime | None = None,
    on_progress: Progress | None = None,
) -> BuildReport:
    """Compute snapshots and labels for ``dates`` and replace those dates in ``features.snapshots`` and
    ``features.labels`` (other dates are kept). If the columns changed (the registry's, or the families the data
    can feed), the tables are rebuilt. ``fcfg`` None: the default features, every event type discovered
    (``resolve_features``); the configuration used is stored in ``features.config`` for later commands
    (``pipelines.training.datasets.feature_definitions``), and so are the labels' time rules ``lcfg``
    (``pipelines.training.datasets.label_config``): when they differ from the stored ones, the tables are rebuilt
    from these dates only, as when the columns change."""
    t0 = time.perf_counter()
    fcfg = resolve_features(con) if fcfg is None else fcfg
    avail = build_fast(con, dates, fcfg, on_progress)
    compute_labels(con, lcfg, data_end)
    con.execute("CREATE SCHEMA IF NOT EXISTS features")
    names = ["account_id", "as_of", *(f.name for f in avail.features)]
    # Labels of other dates built with other time rules would mix two definitions in one table.
    relabeled = stored_label_config(con) not in (None, lcfg)
    have = [r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'features' "
        "AND table_name = 'snapshots' ORDER BY ordinal_position"
    ).fetchall()]  # fmt: skip
    con.begin()
    try:
        if have != names or relabeled:
            if have:
                why = "the labels' time rules" if relabeled else "feature columns"
                logger.warning("%s changed: rebuilding features.snapshots from these dates only", why)
            con.execute("CREATE OR REPLACE TABLE features.snapshots AS SELECT * FROM snapshots WHERE false")
            con.execute("CREATE OR REPLACE TABLE features.labels AS SELECT * FROM labels WHERE false")
        con.execute("CREATE TABLE IF NOT EXISTS features.labels AS SELECT * FROM labels WHERE false")
        for table in ("snapshots", "labels"):
            con.execute(f"DELETE FROM features.{table} WHERE as_of IN (SELECT as_of FROM snapshot_dates)")
            con.execute(f"INSERT INTO features.{table} SELECT * FROM {table}")
        # What training and its run say about the families left out (``pipelines.training.datasets.families_off``).
        con.execute("CREATE OR REPLACE TABLE features.families_off (family VARCHAR, why VARCHAR)")
        con.execute("DROP TABLE IF EXISTS features.column_families")  # left by a feature table's import
        # The feature definitions these snapshots hold (with the event types counted), for dataset, train, score.
        con.execute("CREATE OR REPLACE TABLE features.config (config VARCHAR)")
        con.execute("INSERT INTO features.config VALUES (?)", [json.dumps(fcfg.as_dict())])
        store_label_config(con, lcfg)
        if avail.off:
            con.executemany("INSERT INTO features.families_off VALUES (?, ?)", list(avail.families_off().items()))
    except BaseException:
        con.rollback()
        raise
    con.commit()
    if export is not None:
        export.mkdir(parents=True, exist_ok=True)
        for table in ("snapshots", "labels"):
            con.execute(f"COPY (SELECT * FROM features.{table} ORDER BY as_of, account_id) TO "
                        f"'{export / (table + '.parquet')}' (FORMAT parquet)")  # fmt: skip
    rates = con.execute(
        "SELECT CAST(CAST(as_of AS DATE) AS VARCHAR), avg(churn), avg(upsell) FROM labels GROUP BY 1 ORDER BY 1"
    ).fetchall()
    ((n,),) = con.execute("SELECT count(*) FROM snapshots").fetchall()
    return BuildReport(
        dates=sorted(set(dates)), snapshots=int(n), features=len(names) - 2, off=avail.families_off(),
        churn_rate={d: c for d, c, _ in rates}, upsell_rate={d: u for d, _, u in rates},
        seconds=time.perf_counter() - t0, parquet=export, labels=lcfg,
    )  # fmt: skip
