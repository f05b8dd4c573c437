"""Labels of the snapshots (``features.labels``), computed in the warehouse for the current spine."""

from collections.abc import Sequence
from datetime import datetime

import duckdb
import pandas as pd

from features.labels import LabelConfig, labels_sql
from pipelines.snapshots.dates import data_bounds
from pipelines.snapshots.inputs import coverage, create_spine


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
