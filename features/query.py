"""Assemble the registry's definitions into the SQL statements an engine runs (pure text, no I/O).

The engine first creates the tables ``snapshot_dates(as_of)``, ``spine`` (``rollups.spine_sql``) and the rollups, then
one table per source (``source_sql``), then the snapshot (``snapshot_sql``).
"""

from functools import cache

import sqlglot
from sqlglot import exp

from features.registry import Family, Feature, Source

SPINE_COLUMNS = ("account_id", "as_of", "as_of_day", "created_at", "segment", "industry", "region", "touch_model",
                 "mrr", "seats", "plan", "row_start", "cancelled_at")  # fmt: skip


def source_table(family: Family, source: Source) -> str:
    return f"part_{family.name}_{source.name}"


def _typed(f: Feature, expr: str) -> str:
    """``expr`` as the snapshot stores feature ``f``: a string when categorical, else a DOUBLE."""
    return f"CAST({expr} AS {'VARCHAR' if f.categorical else 'DOUBLE'})"


def _source(source: Source, cast: bool) -> str:
    cols = ",\n    ".join(f"{_typed(f, f.sql) if cast else f.sql} AS {f.name}" for f in source.features)
    group = "" if source.per_row else "\nGROUP BY s.account_id, s.as_of, s.as_of_day, s.created_at"
    return f"SELECT s.account_id, s.as_of,\n    {cols}\nFROM {source.join}{group}"


def source_sql(source: Source) -> str:
    """One row per spine row: the source's aggregates, grouped by the spine's key (a ``per_row`` source's
    expressions, ungrouped)."""
    return _source(source, cast=False)


def typed_source_sql(source: Source) -> str:
    """As ``source_sql``, each feature already cast to its snapshot type, for ``typed_snapshot_sql``."""
    return _source(source, cast=True)


@cache
def tables_read(source: Source) -> frozenset[str]:
    """The tables ``source`` reads (``spine``, ``raw.<table>``, a rollup), named as its FROM clause names them: an
    engine may drop a rollup once no later source reads it. Read from sqlglot's parse of the FROM clause (a
    source's expressions read only its join, which ``tests/features/test_registry.py`` checks)."""
    tree = sqlglot.parse_one(f"SELECT 1 FROM {source.join}", read="duckdb")
    return frozenset(".".join(p for p in (t.db, t.name) if p) for t in tree.find_all(exp.Table))


def source_columns(families: tuple[Family, ...]) -> list[str]:
    """``<source table>.<feature>`` of every source's feature, in registry order."""
    return [f"{source_table(fam, src)}.{f.name}" for fam in families for src in fam.sources for f in src.features]


def _snapshot(families: tuple[Family, ...], base: str, cast: bool) -> str:
    out = []
    for fam in families:
        derived = {f.name for f in fam.derived}
        for f in fam.features:
            if f.name in derived:
                out.append(f"{_typed(f, f.sql)} AS {f.name}")
            else:
                out.append(f"{_typed(f, f.name) if cast else f.name} AS {f.name}")
    return f"WITH base AS (\n{base}\n)\nSELECT account_id, as_of,\n    " + ",\n    ".join(out) + "\nFROM base"


def snapshot_sql(families: tuple[Family, ...]) -> str:
    """The spine joined with every source table by key, then every feature in registry order (derived ones
    computed)."""
    joins = []
    for fam in families:
        for src in fam.sources:
            t = source_table(fam, src)
            joins.append(f"LEFT JOIN {t} ON {t}.account_id = s.account_id AND {t}.as_of = s.as_of")
    base = "SELECT " + ", ".join([f"s.{c}" for c in SPINE_COLUMNS] + source_columns(families)) + "\nFROM spine s\n"
    return _snapshot(families, base + "\n".join(joins), cast=True)


def typed_snapshot_sql(families: tuple[Family, ...], base: str) -> str:
    """Every feature in registry order (derived ones computed) over ``base``: a query with the spine's columns
    (``SPINE_COLUMNS``) and the source tables' features (``source_columns``), already cast (``typed_source_sql``).
    An engine that joins the source tables its own way writes ``base``."""
    return _snapshot(families, base, cast=False)
