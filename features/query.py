"""Assemble the registry's definitions into the SQL statements an engine runs (pure text, no I/O).

The engine first creates the tables ``snapshot_dates(as_of)``, ``spine`` (``rollups.SPINE``) and the rollups, then
one table per source (``source_sql``), then the snapshot (``snapshot_sql``).
"""

from features.registry import Family, Feature, Source

SPINE_COLUMNS = ("account_id", "as_of", "as_of_day", "created_at", "segment", "industry", "region", "touch_model",
                 "mrr", "seats", "plan", "row_start", "cancelled_at")  # fmt: skip


def source_table(family: Family, source: Source) -> str:
    return f"part_{family.name}_{source.name}"


def _typed(f: Feature, expr: str) -> str:
    """``expr`` as the snapshot stores feature ``f``: a string when categorical, else a DOUBLE."""
    return f"CAST({expr} AS {'VARCHAR' if f.categorical else 'DOUBLE'})"


def source_sql(source: Source, typed: bool = False) -> str:
    """One row per spine row: the source's aggregates, grouped by the spine's key (a ``per_row`` source's
    expressions, ungrouped). With ``typed``, each is already cast to its snapshot type (``snapshot_sql``)."""
    cols = ",\n    ".join(f"{_typed(f, f.sql) if typed else f.sql} AS {f.name}" for f in source.features)
    group = "" if source.per_row else "\nGROUP BY s.account_id, s.as_of, s.as_of_day, s.created_at"
    return f"SELECT s.account_id, s.as_of,\n    {cols}\nFROM {source.join}{group}"


def snapshot_sql(
    families: tuple[Family, ...],
    positional: bool = False,
    typed: bool = False,
    rows: str | None = None,
    keys: str | None = None,
) -> str:
    """The spine joined with every source table, then every feature in registry order (derived ones computed).
    With ``positional`` (DuckDB only), the source tables hold the spine's rows in the spine's order and are
    joined row by row (``POSITIONAL JOIN``) instead of by key; ``rows`` (a condition on ``rowid``) then reads
    the same slice of every table, and ``keys`` names a table, in the same order, whose ``account_id`` replaces
    the spine's. With ``typed``, the source tables' features are already cast
    (``source_sql``): DuckDB runs a positional join on one thread, and the casts of 0.8 M weekly rows cost 0.3 s
    of it, against a fraction of that in the source tables' parallel statements."""

    def table(name: str) -> str:
        return f"(SELECT * FROM {name} WHERE {rows})" if rows else name

    joins, cols = [], []
    if positional and keys:
        joins.append(f"POSITIONAL JOIN {table(keys)} {keys}")
    for fam in families:
        for src in fam.sources:
            t = source_table(fam, src)
            on = f" ON {t}.account_id = s.account_id AND {t}.as_of = s.as_of"
            joins.append(f"POSITIONAL JOIN {table(t)} {t}" if positional else f"LEFT JOIN {t}{on}")
            cols += [f"{t}.{f.name}" for f in src.features]
    spine = [f"{keys}.account_id" if positional and keys and c == "account_id" else f"s.{c}" for c in SPINE_COLUMNS]
    base = "SELECT " + ", ".join(spine + cols) + f"\nFROM {table('spine')} s\n"
    base += "\n".join(joins)
    out = []
    for fam in families:
        derived = {f.name for f in fam.derived}
        for f in fam.features:
            if f.name in derived:
                out.append(f"{_typed(f, f.sql)} AS {f.name}")
            else:
                out.append(f"{f.name if typed else _typed(f, f.name)} AS {f.name}")
    return f"WITH base AS (\n{base}\n)\nSELECT account_id, as_of,\n    " + ",\n    ".join(out) + "\nFROM base"
