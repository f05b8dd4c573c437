"""Ground truth written beside the tables: the latent health per account and month, and the oracle."""

import numpy as np
import pyarrow as pa

from pipelines.generate.chunk import Chunk


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
    """P(churn) and P(expansion) within the horizon, per account active at each monthly snapshot date."""
    o = c.hist.oracle
    row = o["row"].astype(np.int64)
    return pa.table({
        "account_id": c.ids(row),
        "as_of": c.times(c.cal.ms(o["as_of_month"].astype(np.int64))),
        "p_churn": o["p_churn"],
        "p_expand": o["p_expand"],
    })  # fmt: skip
