"""The ``billing`` shape: the world's tables in contract form, except invoices, which come as a billing system's
charges (``charges.csv``, ingested with ``examples/billing.toml``):

charge_id, customer, created, amount (integer cents), currency, days_until_due (payment terms; 0 for card
payers, charged on the day), succeeded_at, failed_at, refunded_at (a charge cancelled unpaid).

There is no status column: the billing system knows only its own times, and the mapping derives the status.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.generate.shapes.world import as_text, check, copy, read, write_csv

AS_IS = ("accounts", "subscriptions", "usage_events", "support_tickets", "email_events", "nps_responses", "contacts")


def write(world: Path, folder: Path) -> dict[str, int]:
    """Write the shape of ``world`` into ``folder``; returns rows per file written."""
    check(world, (*AS_IS, "invoices"))
    rows = {f"{table}.parquet": copy(world, table, folder) for table in AS_IS}
    rows["charges.csv"] = write_csv(charges(read(world, "invoices")), folder / "charges.csv")
    return rows


def charges(invoices: pd.DataFrame) -> pd.DataFrame:
    """One charge per invoice, under the invoice's id. The invoice's status is left out: it follows from the times
    (paid if it succeeded, else failed if a payment failed, else void if refunded, else open)."""
    i = invoices
    terms = (i["due_at"] - i["issued_at"]).dt.total_seconds() / 86400
    if not np.allclose(terms, np.round(terms)):
        raise ValueError("invoices' payment terms (due_at - issued_at) must be whole days to be written as charges")
    return pd.DataFrame({
        "charge_id": i["invoice_id"],
        "customer": i["account_id"],
        "created": as_text(i["issued_at"]),
        "amount": np.round(i["amount"].to_numpy() * 100).astype(np.int64),
        "currency": "usd",
        "days_until_due": np.round(terms).astype(np.int64),
        "succeeded_at": as_text(i["paid_at"]),
        "failed_at": as_text(i["failed_at"]),
        "refunded_at": as_text(i["voided_at"]),
    })  # fmt: skip
