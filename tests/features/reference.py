"""A plain pandas reference for every feature of the registry, and helpers to move contract tables in and out of
DuckDB.

``reference_snapshots`` is what a data scientist would write in a notebook: for each snapshot date, cut each raw
table at as_of, keep each window, group by account. It is vectorised per snapshot (benchmarks race it against the
DuckDB engine as the pandas baseline) but shares nothing with the engine: it reads the raw tables, not the rollups,
and none of the registry's SQL. Tests assert that both give the same numbers.
"""

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

import duckdb
import pandas as pd

from features.catalog import families
from features.config import FeatureConfig
from features.contract import TABLES
from pipelines.ingest.load import SQL_TYPES
from pipelines.warehouse import arrow_table
from tests.factories import as_contract
from tests.features import reference_account as account
from tests.features import reference_activity as activity
from tests.features.reference_base import TIME_OF, Cut, reference_spine
from tests.features.reference_event_types import event_types
from tests.features.reference_labels import reference_labels

__all__ = ["load_raw", "read_raw", "reference_labels", "reference_snapshots", "reference_spine"]

BUILDERS: dict[str, Callable[[Cut], pd.DataFrame]] = {
    "engagement": activity.engagement,
    "milestones": activity.milestones,
    "support": activity.support,
    "email": activity.email,
    "payments": account.payments,
    "growth": account.growth,
    "sentiment": account.sentiment,
    "relationship": account.relationship,
    "firmographics": account.firmographics,
}


def _empty(table: str) -> pd.DataFrame:
    return as_contract(table, {c: [] for c in TABLES[table].columns})


def _prepared(tables: Mapping[str, pd.DataFrame], tuned: bool) -> tuple[dict[str, pd.DataFrame], pd.Index]:
    """Every contract table (absent optional ones empty), sorted by the time that dates its rows; ``tuned``, with
    account_id replaced by its position in the returned index (grouping by integers is much faster than by
    strings)."""
    frames = {name: tables[name] if name in tables else _empty(name) for name in TABLES}
    ids = pd.Index(frames["accounts"]["account_id"].unique())
    out = {}
    for name, frame in frames.items():
        if tuned:
            frame = frame.assign(account_id=ids.get_indexer(frame["account_id"]))
        if name in TIME_OF:
            frame = frame.sort_values(TIME_OF[name], kind="stable", ignore_index=True)
        out[name] = frame
    return out, ids


def reference_snapshots(
    tables: Mapping[str, pd.DataFrame], dates: Iterable[datetime], cfg: FeatureConfig = FeatureConfig()
) -> pd.DataFrame:
    """Feature snapshots as ``pipelines.snapshots.read_snapshots`` returns them: account_id, as_of, then every
    feature in registry order; numbers float64 (NaN = unknown), categories ``str``. ``tables`` are contract
    frames (``features.contract``), left unchanged. Groups by integer account ids and cuts the time-sorted tables
    by binary search (the tests' form)."""
    return _snapshots(tables, dates, cfg, tuned=True)


def notebook_snapshots(
    tables: Mapping[str, pd.DataFrame], dates: Iterable[datetime], cfg: FeatureConfig = FeatureConfig()
) -> pd.DataFrame:
    """``reference_snapshots`` computed the plain notebook way, which the issue's benchmark baseline describes: the
    same code grouping by the string ids and cutting each table by comparing every row's time. Both give the same
    frame (a test asserts it)."""
    return _snapshots(tables, dates, cfg, tuned=False)


def _snapshots(
    tables: Mapping[str, pd.DataFrame], dates: Iterable[datetime], cfg: FeatureConfig, *, tuned: bool
) -> pd.DataFrame:
    raw, account_ids = _prepared(tables, tuned)
    fams = families(cfg)
    names = [f.name for fam in fams for f in fam.features]
    categorical = {f.name for fam in fams for f in fam.features if f.categorical}
    parts = []
    for when in sorted(set(dates)):
        as_of = pd.Timestamp(when).tz_convert("UTC")
        spine = reference_spine(raw["accounts"], raw["subscriptions"], as_of, raw["churn_events"])
        cut = Cut(as_of, spine, raw, cfg, tuned)
        columns: dict[str, pd.Series] = {}
        for fam in fams:
            frame = BUILDERS[fam.name](cut)
            if cfg.event_types:
                frame = frame.join(event_types(cut, fam.name))
            expected = [f.name for f in fam.features]
            if sorted(frame.columns) != sorted(expected):
                raise AssertionError(f"reference {fam.name}: columns {sorted(frame.columns)} != {sorted(expected)}")
            columns |= {name: frame[name].reindex(cut.ids) for name in expected}
        part = {
            "account_id": pd.Series((account_ids[cut.ids] if tuned else cut.ids).to_numpy(), dtype="str"),
            "as_of": pd.Series(as_of, index=range(len(cut.ids)), dtype="datetime64[us, UTC]"),
        }
        for name in names:
            part[name] = pd.Series(columns[name].to_numpy(), dtype="str" if name in categorical else "float64")
        if len(cut.ids):
            parts.append(pd.DataFrame(part))
    if not parts:
        empty = {"account_id": pd.Series(dtype="str"), "as_of": pd.Series(dtype="datetime64[us, UTC]")}
        return pd.DataFrame(empty | {n: pd.Series(dtype="str" if n in categorical else "float64") for n in names})
    return pd.concat(parts, ignore_index=True).sort_values(["as_of", "account_id"], ignore_index=True)


def load_raw(con: duckdb.DuckDBPyConnection, tables: Mapping[str, pd.DataFrame]) -> None:
    """Create schema ``raw`` with every contract table, typed as ingest types it, holding ``tables`` (contract
    frames; an absent table is created empty). Existing raw tables are replaced."""
    unknown = set(tables) - set(TABLES)
    if unknown:
        raise ValueError(f"not contract tables: {sorted(unknown)}; expected some of {list(TABLES)}")
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    for name, spec in TABLES.items():
        frame = as_contract(name, tables[name]) if name in tables else _empty(name)
        cols = ", ".join(f'"{c}" {SQL_TYPES[spec.kind(c)]}' for c in spec.columns)
        con.execute(f"CREATE OR REPLACE TABLE raw.{name} ({cols})")
        con.register("_frame", arrow_table(frame))
        try:
            con.execute(f"INSERT INTO raw.{name} SELECT * FROM _frame")
        finally:
            con.unregister("_frame")


def read_raw(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
    """Every contract table of schema ``raw``, as contract frames."""
    return {
        name: as_contract(name, con.sql(f"SELECT * FROM raw.{name}").to_arrow_table().to_pandas()) for name in TABLES
    }
