"""The generated world written in foreign shapes: the same customers as other systems export them, each with a
mapping file in ``examples/`` that ingests it without code, and the feature tables a data scientist would bring.

``write_shape(world, name)`` reads a world written by ``pipelines.generate.run.generate`` (Parquet) and writes the
shape into ``world / name`` (a folder of its own: a shape's file names would clash with the contract's).

- ``product-analytics`` (``product_analytics``): a product-analytics tool's CSV export, daily usage counts per
  subscription and feature, churn records; no email, invoices or contacts (``examples/product_analytics.toml``);
- ``billing`` (``charges``): the contract tables, with invoices as a billing system's charges
  (``examples/billing.toml``);
- ``customer-table``, ``customer-month-table`` (``feature_tables``): one row per customer at one as_of, or per
  customer and month start, with a ``churned`` label (``examples/feature_tables.md``).
"""

from collections.abc import Callable
from pathlib import Path

from pipelines.generate.shapes import charges, feature_tables, product_analytics

SHAPES: dict[str, Callable[[Path, Path], dict[str, int]]] = {
    "product-analytics": product_analytics.write,
    "billing": charges.write,
    "customer-table": feature_tables.write_customer_table,
    "customer-month-table": feature_tables.write_customer_month_table,
}


def write_shape(world: Path, name: str, folder: Path | None = None) -> dict[str, int]:
    """Write shape ``name`` of ``world`` into ``folder`` (default ``world / name``); returns rows per file."""
    if name not in SHAPES:
        raise ValueError(f"shape must be one of {', '.join(SHAPES)}, got {name!r}")
    return SHAPES[name](world, folder or world / name)
