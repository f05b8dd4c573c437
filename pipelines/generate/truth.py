"""Ground truth written beside the tables: the latent health per account and month, and the oracle."""

import numpy as np
import pyarrow as pa

from pipelines.generate.chunk import Chunk
from pipelines.generate.latent import PRE_MONTHS
from pipelines.generate.simulate import CURVE_COLUMNS
from pipelines.generate.type_mix import EVENT_TYPES


def health(c: Chunk) -> pa.Table:
    """One row per account active at the start of a month of the data: its latent health and contract then."""
    row, m = np.nonzero(c.window("active_start"))
    return pa.table({
        "account_id": c.ids(row),
        "month": c.times(c.cal.ms(m)),
        "health": np.round(c.window("h_start")[row, m], 4),
        "seats": c.window("seats_start")[row, m].astype(np.int64),
        "mrr": np.round(c.window("seats_start")[row, m] * c.window("price_start")[row, m], 2),
        "budget_pressure": np.round(c.window("budget_start")[row, m], 4),
    })  # fmt: skip


def oracle(c: Chunk) -> pa.Table:
    """P(churn) and P(expansion) within the horizon, per account active at each monthly snapshot date, and the churn
    curve: P(churn within d days) for each d of ``CURVE_DAYS`` (``p_churn_<d>``, non-decreasing in d; NaN where the
    simulated future does not reach as_of + d; ``p_churn_90`` is ``p_churn`` under the default 90-day horizon)."""
    o = c.hist.oracle
    row = o["row"].astype(np.int64)
    return pa.table({
        "account_id": c.ids(row),
        "as_of": c.times(c.cal.ms(o["as_of_month"].astype(np.int64))),
        "p_churn": o["p_churn"],
        "p_expand": o["p_expand"],
        **{name: o[name] for name in CURVE_COLUMNS},
    })  # fmt: skip


def type_mix(c: Chunk) -> pa.Table:
    """Type-mix world: per account active at the start of a month of the data, its mix of event types then (the
    shares the oracle's state holds at that snapshot: those of the month before) and that mix's utility, the
    amount by which it lowers the churn logit (``TypeMix.utility_of``)."""
    tm = c.p.type_mix
    if tm is None:
        raise ValueError("type_mix ground truth exists only in the type-mix world: generate with Params.type_mix set")
    row, m = np.nonzero(c.window("active_start"))
    shares = tm.mix_of(c.hist.static.mix[row], c.hist.logs["friction"][row, m + PRE_MONTHS - 1])
    columns = {f"share_{name}": np.round(shares[:, i], 4) for i, name in enumerate(EVENT_TYPES)}
    return pa.table({
        "account_id": c.ids(row),
        "month": c.times(c.cal.ms(m)),
        **columns,
        "utility": np.round(tm.utility_of(shares), 4),
    })  # fmt: skip
