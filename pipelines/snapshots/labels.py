"""Labels of the snapshots (``features.labels``), computed in the warehouse for the current spine, and the time rules
they were built with, stored beside them in ``features.label_config`` so that every later command reads the rules
actually used (``pipelines.training.datasets.label_config``), never derives them again differently."""

from collections.abc import Sequence
from datetime import datetime

import duckdb
import pandas as pd

from features.labels import LabelConfig, derived_labels, labels_sql, service_ends_sql
from pipelines.snapshots.dates import data_bounds
from pipelines.snapshots.inputs import coverage, create_spine
from pipelines.warehouse import has_table


def compute_labels(
    con: duckdb.DuckDBPyConnection, cfg: LabelConfig = LabelConfig(), data_end: datetime | None = None
) -> None:
    """Create the temp table ``labels`` for the current ``spine``; churn comes from the churn events when the
    warehouse has any, else from the subscriptions' ends (``features.labels``)."""
    end = data_end or data_bounds(con)[1]
    con.execute("CREATE OR REPLACE TEMP TABLE data_end AS SELECT CAST(? AS TIMESTAMPTZ) AS ts", [end])
    con.execute(f"CREATE OR REPLACE TEMP TABLE labels AS {labels_sql(cfg, coverage(con).empty_tables)}")


def build_labels(
    con: duckdb.DuckDBPyConnection,
    dates: Sequence[datetime],
    cfg: LabelConfig = LabelConfig(),
    data_end: datetime | None = None,
) -> pd.DataFrame:
    """Labels for the accounts active at ``dates``: account_id, as_of, churn, upsell (NULL = unlabeled)."""
    create_spine(con, dates)
    compute_labels(con, cfg, data_end)
    return con.sql("SELECT * FROM labels ORDER BY as_of, account_id").to_arrow_table().to_pandas()


def store_labels(con: duckdb.DuckDBPyConnection, dates: Sequence[datetime], cfg: LabelConfig) -> None:
    """Replace the stored labels of ``dates`` with new ones (``build_labels``), in one transaction, without a round
    trip through Python."""
    create_spine(con, dates)
    compute_labels(con, cfg)
    con.begin()
    try:
        con.execute("DELETE FROM features.labels WHERE as_of IN (SELECT as_of FROM snapshot_dates)")
        con.execute("INSERT INTO features.labels BY NAME SELECT * FROM labels")
    except BaseException:
        con.rollback()
        raise
    con.commit()


def update_service_ends(con: duckdb.DuckDBPyConnection, cfg: LabelConfig, exclude: Sequence[datetime]) -> None:
    """Bring ``service_ends_at`` of the stored labels up to date, but at the dates ``exclude`` (labeled whole): a
    stretch of service may end after both labels of a date are known."""
    listed = ", ".join(f"TIMESTAMPTZ '{d.isoformat()}'" for d in exclude) or "NULL"
    con.execute("CREATE OR REPLACE TEMP TABLE spine AS SELECT account_id, as_of, CAST(NULL AS DOUBLE) AS mrr, "
                f"CAST(NULL AS DOUBLE) AS seats FROM features.labels WHERE as_of NOT IN ({listed})")  # fmt: skip
    con.execute(
        f"UPDATE features.labels l SET service_ends_at = n.service_ends_at "
        f"FROM ({service_ends_sql(cfg, coverage(con).empty_tables)}) n "
        "WHERE l.account_id = n.account_id AND l.as_of = n.as_of "
        "AND l.service_ends_at IS DISTINCT FROM n.service_ends_at"
    )
    con.execute("DROP TABLE spine")


def resolve_labels(
    con: duckdb.DuckDBPyConnection,
    horizon_days: int | None = None,
    grace_days: int | None = None,
    margin: float | None = None,
) -> LabelConfig:
    """The time rules for the warehouse's data: the values given, the rest derived from the data's span
    (``features.labels.derived_labels``)."""
    first, last = data_bounds(con)
    return derived_labels(first, last, horizon_days, grace_days, margin)


def store_label_config(con: duckdb.DuckDBPyConnection, cfg: LabelConfig) -> None:
    """Record ``cfg`` as the rules of the labels in ``features.labels`` (``refresh`` does, with the labels)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS features")
    con.execute("CREATE OR REPLACE TABLE features.label_config (config VARCHAR)")
    con.execute("INSERT INTO features.label_config VALUES (?)", [cfg.to_json()])


def stored_label_config(con: duckdb.DuckDBPyConnection) -> LabelConfig | None:
    """The time rules stored with the warehouse's labels; None when it has no labels. Labels built before the rules
    were stored used the defaults (``LabelConfig()``). The training side reads them with
    ``pipelines.training.datasets.label_config`` (pipelines.training may not import this room)."""
    if not has_table(con, "features", "labels"):
        return None
    stored = has_table(con, "features", "label_config")
    rows = con.execute("SELECT config FROM features.label_config").fetchall() if stored else []
    return LabelConfig.from_json(rows[0][0]) if rows else LabelConfig()
