"""The expansion label (``features.expansion``) for the rows of a training set, computed in the warehouse from its
raw subscriptions under the labels' stored time rules. It is computed when a model is trained, not stored beside
the churn and upsell labels: it reads the same window as the upsell label, so every row with an upsell label has
one, and a warehouse built before it existed needs no rebuild."""

from datetime import datetime

import duckdb
import pandas as pd
import pyarrow as pa

from features.catalog import coverage_checks
from features.expansion import expansion_sql
from features.labels import LabelConfig, bounds_sql
from features.rollups import spine_sql
from pipelines.warehouse import has_table


def empty_tables(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """The contract tables of schema ``raw`` that have no rows or are not there (as ``features.catalog.Coverage``
    says them), which choose the rules of the spine, the labels and the data's end."""
    empty = set()
    for table, sql in coverage_checks().items():
        if "." in table:
            continue
        try:
            if not con.execute(sql).fetchall():
                empty.add(table)
        except duckdb.CatalogException:
            empty.add(table)
    return frozenset(empty)


def expansion_arr(
    con: duckdb.DuckDBPyConnection, keys: pd.DataFrame, labels: LabelConfig, data_end: datetime | None = None
) -> pd.Series | None:
    """The realised expansion ARR of each row of ``keys`` (account_id, as_of), in its order and index: NaN when
    unlabeled (the data end before as_of + horizon) or when the row is no snapshot (its account not served at
    as_of); None when the warehouse has no raw subscriptions (a user's own feature table). ``data_end`` defaults to
    the data's last observed time (``features.labels.bounds_sql``), as the labels'. Uses the temp tables
    ``snapshot_dates``, ``spine`` and ``data_end`` of ``con`` (a read-only connection may hold them)."""
    if not has_table(con, "raw", "subscriptions"):
        return None
    empty = empty_tables(con)
    con.execute("SET TimeZone = 'UTC'")
    dates = sorted({pd.Timestamp(d).to_pydatetime() for d in keys["as_of"]})
    con.register("_expansion_dates", pa.table({"as_of": pa.array(dates, type=pa.timestamp("us", tz="UTC"))}))
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE snapshot_dates AS SELECT as_of FROM _expansion_dates")
    finally:
        con.unregister("_expansion_dates")
    con.execute(f"CREATE OR REPLACE TEMP TABLE spine AS {spine_sql(empty)}")
    if data_end is None:
        ((_, data_end),) = con.execute(bounds_sql(empty)).fetchall()
    con.execute("CREATE OR REPLACE TEMP TABLE data_end AS SELECT CAST(? AS TIMESTAMPTZ) AS ts", [data_end])
    got = con.sql(expansion_sql(labels, empty)).to_arrow_table().to_pandas()
    got["as_of"] = got["as_of"].astype(keys["as_of"].dtype)
    joined = keys[["account_id", "as_of"]].merge(got, on=["account_id", "as_of"], how="left")
    return pd.Series(joined["expansion_arr"].to_numpy(dtype=float), index=keys.index, name="expansion_arr")
