"""All feature families together, and the registry lookups that training, serving and explanations use."""

from dataclasses import dataclass, replace
from functools import cache

import sqlglot
from sqlglot import exp

from features.config import FeatureConfig
from features.contract import TABLES
from features.event_types import with_event_types
from features.families import (
    email,
    engagement,
    firmographics,
    growth,
    milestones,
    payments,
    relationship,
    sentiment,
    support,
)
from features.registry import FAMILIES, Family, Feature

MODULES = (engagement, milestones, support, email, payments, growth, sentiment, relationship, firmographics)


@cache
def families(cfg: FeatureConfig = FeatureConfig()) -> tuple[Family, ...]:
    out = with_event_types(tuple(m.family(cfg) for m in MODULES), cfg.event_types, cfg.ratios)
    assert tuple(f.name for f in out) == FAMILIES
    names = [f.name for fam in out for f in fam.features]
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated:
        raise ValueError(
            f"feature names defined twice: {sorted(duplicated)}. If an event type or a ratio of the features file "
            'makes them, give it another column ("[types.NAME] column = ...") or ratio name'
        )
    return out


def features(cfg: FeatureConfig = FeatureConfig()) -> tuple[Feature, ...]:
    """Every feature, in a stable order (family by family)."""
    return tuple(f for fam in families(cfg) for f in fam.features)


def feature(name: str, cfg: FeatureConfig = FeatureConfig()) -> Feature:
    for f in features(cfg):
        if f.name == name:
            return f
    raise KeyError(f"no feature named {name!r}; see features.catalog.features() for the list")


@dataclass(frozen=True)
class Coverage:
    """What the data hold: the contract tables with no rows (absent from the export, declared absent, or empty)
    and the optional columns (``table.column``) with no value in any row."""

    empty_tables: frozenset[str] = frozenset()
    empty_columns: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Available:
    """The families cut to what the data hold, and every feature switched off with the reason."""

    families: tuple[Family, ...]
    off: dict[str, str]  # feature name -> why it is off

    @property
    def features(self) -> tuple[Feature, ...]:
        return tuple(f for fam in self.families for f in fam.features)

    def families_off(self) -> dict[str, str]:
        """Each family with at least one feature off -> the reasons (whole families and parts of them)."""
        out: dict[str, list[str]] = {}
        for fam in families():
            reasons = dict.fromkeys(self.off[f.name] for f in fam.features if f.name in self.off)
            if reasons:
                whole = all(f.name in self.off for f in fam.features)
                out[fam.name] = [("all off: " if whole else "partly off: ") + "; ".join(reasons)]
        return {k: v[0] for k, v in out.items()}


def needed_columns(cfg: FeatureConfig = FeatureConfig()) -> tuple[str, ...]:
    """The optional columns (``table.column``) some source cannot do without (``Source.needs``)."""
    return tuple(dict.fromkeys(c for fam in families(cfg) for src in fam.sources for c in src.needs))


def coverage_checks(cfg: FeatureConfig = FeatureConfig()) -> dict[str, str]:
    """What an engine asks of its raw tables to know the ``Coverage``: per contract table (``table``) and per
    column some source cannot do without (``table.column``, ``Source.needs``), a query that returns a row when the
    table has rows / the column has a value (DuckDB dialect)."""
    checks = {t: f"SELECT 1 FROM raw.{t} LIMIT 1" for t in TABLES}
    for need in needed_columns(cfg):
        table, column = need.split(".")
        checks[need] = f"SELECT 1 FROM raw.{table} WHERE {column} IS NOT NULL LIMIT 1"
    return checks


def coverage_of(found: dict[str, bool]) -> Coverage:
    """The ``Coverage`` from the answers to ``coverage_checks`` (a table that is not there is not found)."""
    empty = frozenset(k for k, ok in found.items() if "." not in k and not ok)
    columns = frozenset(k for k, ok in found.items() if "." in k and not ok and k.split(".")[0] not in empty)
    return Coverage(empty, columns)


def _reads(f: Feature) -> set[str]:
    return {c.name for c in sqlglot.parse_one(f"SELECT {f.sql}", read="duckdb").find_all(exp.Column)}


def available(coverage: Coverage, cfg: FeatureConfig = FeatureConfig()) -> Available:
    """The families whose tables have rows, without the sources whose needed columns are empty and the derived
    features that read a feature switched off; never a feature computed over data that is not there."""
    kept: list[Family] = []
    off: dict[str, str] = {}
    for fam in families(cfg):
        empty = [t for t in fam.tables if t in coverage.empty_tables]
        if empty:
            why = f"{', '.join(empty)} has no rows (absent from the export, declared absent, or empty)"
            off.update({f.name: why for f in fam.features})
            continue
        sources = []
        for src in fam.sources:
            lacking = [c for c in src.needs if c in coverage.empty_columns]
            if lacking:
                off.update({f.name: f"{', '.join(lacking)} has no values" for f in src.features})
            else:
                sources.append(src)
        derived = []
        for f in fam.derived:
            # Parsed only when an off feature's name is in the text: sqlglot's import and 86 parses cost 0.13 s of
            # a one-date build, and a name a feature reads is in its text.
            named = {n for n in off if n in f.sql}
            gone = sorted(_reads(f) & named) if named else []
            if gone:
                off[f.name] = off[gone[0]]  # the root cause: "usage_events.user_id has no values"
            else:
                derived.append(f)
        kept.append(replace(fam, sources=tuple(sources), derived=tuple(derived)))
    return Available(tuple(kept), off)
