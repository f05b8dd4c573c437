"""A generated world as an export taken at an earlier time would show it: the same customers, observed at ``t``.
Growing worlds for ``churn retrain`` (its tests and ``benchmarks/retrain.py``) and point-in-time checks of feature
code (``tests/pipelines/test_shapes.py``) are cut from one full world this way.

States (accounts, subscription rows, contacts) as at ``t``: what began by ``t``, and no time after it (a contact
promoted to champion after ``t`` is still a user). Events (usage, tickets, invoices, NPS, email, churn events)
strictly before ``t``, with no time from ``t`` on. A status is the state at the end of the data, unknown at ``t``:
blanked. A ticket's rating comes with its resolution: blanked while unresolved.
"""

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from features.contract import STATE_TABLES, TABLES


def observed_at(tables: Mapping[str, pd.DataFrame], t: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Each contract table of ``tables`` as an export taken at ``t`` shows it (see the module's docstring)."""
    out = {}
    for name, frame in tables.items():
        state = name in STATE_TABLES
        first = TABLES[name].time_columns[0]
        kept = frame[frame[first] <= t if state else frame[first] < t].copy()
        if name == "contacts":
            kept.loc[kept["role_since"] > t, "role"] = "user"
        for c in TABLES[name].time_columns:
            if c != first and c in kept:
                kept[c] = kept[c].mask(kept[c] > t if state else kept[c] >= t)
        if "status" in kept:
            kept["status"] = pd.NA
        if name == "support_tickets":
            kept["csat"] = kept["csat"].mask(kept["resolved_at"].isna())
        out[name] = kept
    return out


def write_observed(world: Path, out: Path, t: pd.Timestamp) -> dict[str, int]:
    """The contract tables of the generated ``world`` (Parquet) observed at ``t``, written to ``out`` as Parquet;
    rows per table."""
    tables = {n: pd.read_parquet(world / f"{n}.parquet") for n in TABLES if (world / f"{n}.parquet").exists()}
    out.mkdir(parents=True, exist_ok=True)
    rows = {}
    for name, frame in observed_at(tables, t).items():
        frame.to_parquet(out / f"{name}.parquet", index=False)
        rows[name] = len(frame)
    return rows
