"""The feature registry: every feature defined once, with its family, plain-words description and unit.

Why SQL text (DuckDB dialect) and not Ibis or pandas: each definition is a small SQL expression that DuckDB runs
in the warehouse and that sqlglot carries to Spark SQL unchanged in meaning (``to_dialect``), so a second engine
reuses the very same text instead of a second implementation that could drift. SQL also lets every window be
computed from daily rollups in one pass, which is where the speed comes from (see ``features/rollups.py``).
"""

from dataclasses import dataclass, field

import sqlglot

FAMILIES = (
    "engagement", "milestones", "support", "email", "payments", "growth", "sentiment", "relationship",
    "firmographics",
)  # fmt: skip


@dataclass(frozen=True)
class Feature:
    """One feature: ``sql`` is an aggregate over its source's join (a plain expression for a ``per_row`` source;
    when derived, an expression over the family's other columns). ``categorical`` features are strings; the rest
    are numbers (NULL = unknown)."""

    name: str
    family: str
    description: str
    unit: str
    sql: str
    categorical: bool = False


@dataclass(frozen=True)
class Source:
    """One query over the spine: ``join`` is the FROM clause (the spine is ``s``); the query groups by the spine's
    key and computes ``features`` (aggregates). A ``per_row`` source joins at most one row to each spine row (the
    running totals of ``features.rollups``): its features are plain expressions and the query does not group."""

    name: str
    join: str
    features: tuple[Feature, ...]
    per_row: bool = False


@dataclass(frozen=True)
class Family:
    name: str
    sources: tuple[Source, ...]
    derived: tuple[Feature, ...] = field(default=())  # expressions over the sources' columns and the spine's

    @property
    def features(self) -> tuple[Feature, ...]:
        return tuple(f for s in self.sources for f in s.features) + self.derived


def to_dialect(sql: str, dialect: str) -> str:
    """The same SQL in another engine's dialect (e.g. ``spark``)."""
    return ";\n".join(sqlglot.transpile(sql, read="duckdb", write=dialect))
