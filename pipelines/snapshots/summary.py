"""Rates that describe a warehouse's customer base: churn and expansion, with the labels' own definitions.

The rates are the shares of labeled monthly snapshots whose churn or upsell label is 1 (``features.labels``: the
same spine, horizon, grace period and margin as the training sets), so the churn rate the demo prints is the rate
of the label the models learn, not a second definition.
"""

from dataclasses import dataclass

import duckdb

from features.labels import LabelConfig
from pipelines.snapshots import build_labels, default_dates
from pipelines.snapshots.labels import resolve_labels, stored_label_config


@dataclass(frozen=True)
class Rates:
    segment: str  # "all" for the whole base
    snapshots: int  # (account, monthly as_of) pairs whose churn label is known (horizon and grace inside the data)
    churn_rate: float  # share of those whose account churned within the horizon (the churn label)
    expansion_snapshots: int  # pairs whose upsell label is known (horizon inside the data)
    expansion_rate: float  # share of those whose account expanded within the horizon (the upsell label)


def rates(con: duckdb.DuckDBPyConnection, cfg: LabelConfig | None = None) -> list[Rates]:
    """Churn and expansion within the horizon of each monthly snapshot, overall and by segment, under the time
    rules ``cfg``; None: those the warehouse's labels were built with, or for a warehouse with no labels yet,
    those derived from its data (``resolve_labels``)."""
    if cfg is None:
        cfg = stored_label_config(con) or resolve_labels(con)
    labels = build_labels(con, default_dates(con), cfg)
    con.register("_labels", labels)
    try:
        rows = con.execute("""
            SELECT a.segment, count(l.churn), avg(l.churn), count(l.upsell), avg(l.upsell)
            FROM _labels l JOIN raw.accounts a USING (account_id)
            GROUP BY ROLLUP (a.segment) ORDER BY a.segment NULLS FIRST
        """).fetchall()  # fmt: skip
    finally:
        con.unregister("_labels")
    return [Rates(seg or "all", int(n), float(c or 0), int(m), float(e or 0)) for seg, n, c, m, e in rows]


def table_rows(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows per raw table of the warehouse."""
    names = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw' ORDER BY table_name"
    ).fetchall()]  # fmt: skip
    return {n: int(con.execute(f'SELECT count(*) FROM raw."{n}"').fetchone()[0]) for n in names}  # type: ignore[index]
