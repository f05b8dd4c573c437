"""The feature registry: every feature defined once, with its family, plain-words description and unit.

Why SQL text (DuckDB dialect) and not Ibis or pandas: each definition is a small SQL expression that DuckDB runs
in the warehouse and that sqlglot carries to Spark SQL unchanged in meaning (``to_dialect``), so a second engine
reuses the very same text instead of a second implementation that could drift. SQL also lets every window be
computed from daily rollups in one pass, which is where the speed comes from (see ``features/rollups.py``).
"""

from dataclasses import dataclass, field
from typing import Literal

import sqlglot

FAMILIES = (
    "engagement", "milestones", "support", "email", "payments", "growth", "sentiment", "relationship",
    "firmographics",
)  # fmt: skip


PhraseKind = Literal["count", "share", "change", "days_since", "flag", "money", "score", "category"]


@dataclass(frozen=True)
class Phrase:
    """How a feature's value reads in words (``models.sentences`` renders it). ``subject`` is what is measured
    ("logins"; for ``days_since``, the event: "the last login"; for a flag, the wording when set); ``window`` says
    when ("in the last 30 days"; for a change, against what; for ``days_since``, the span that ``cap`` stands for);
    ``unit`` follows a count's number when the subject does not say it; ``cap`` is the ``days_since`` value that
    means none; ``no`` is a flag's wording when not set, and a change's when unknown because there was none before
    (its base was zero); ``out_of`` is a score's top. Build with the helpers below."""

    kind: PhraseKind
    subject: str
    window: str = ""
    unit: str = ""
    cap: int | None = None
    no: str = ""
    out_of: int | None = None


def count(subject: str, window: str = "", unit: str = "") -> Phrase:
    """A number of things, or a mean of them ("logins", "in the last 30 days")."""
    return Phrase("count", subject, window, unit=unit)


def share(subject: str, window: str = "") -> Phrase:
    """A fraction, read as a percentage."""
    return Phrase("share", subject, window)


def change(subject: str, window: str, none: str = "") -> Phrase:
    """A relative change (0.25 = up 25%) of ``subject`` over ``window`` ("over the last 90 days"); ``none`` is
    what an unknown value means when the change is unknown only for want of a base ("none in the 30 days
    before")."""
    return Phrase("change", subject, window, no=none)


def since(event: str, within: int | None = None, span: str = "") -> Phrase:
    """Days since ``event``; when the SQL looks back ``within`` days, ``within + 1`` means none in that ``span``
    (``within`` days unless said)."""
    if within is None:
        return Phrase("days_since", event)
    return Phrase("days_since", event, f"in {span or f'{within} days'}", cap=within + 1)


def flag(yes: str, no: str) -> Phrase:
    """A yes/no fact: ``yes`` is what holds when it is set, ``no`` when not."""
    return Phrase("flag", yes, no=no)


def money(subject: str, window: str = "") -> Phrase:
    return Phrase("money", subject, window)


def score(subject: str, window: str = "", out_of: int | None = None) -> Phrase:
    """A score or rating on a scale up to ``out_of``."""
    return Phrase("score", subject, window, out_of=out_of)


def category(subject: str) -> Phrase:
    return Phrase("category", subject)


@dataclass(frozen=True)
class Feature:
    """One feature: ``sql`` is an aggregate over its source's join (a plain expression for a ``per_row`` source;
    when derived, an expression over the family's other columns). ``categorical`` features are strings; the rest
    are numbers (NULL = unknown). ``says`` is how a value reads in reasons; the description is for people reading
    the registry and the API's feature list, and is never parsed."""

    name: str
    family: str
    description: str
    unit: str
    sql: str
    categorical: bool = False
    # Optional only so that a test can plant a throwaway feature; tests/models/test_sentences.py checks that every
    # registered feature has one.
    says: Phrase | None = None


@dataclass(frozen=True)
class Source:
    """One query over the spine: ``join`` is the FROM clause (the spine is ``s``); the query groups by the spine's
    key and computes ``features`` (aggregates). A ``per_row`` source joins at most one row to each spine row (the
    running totals of ``features.rollups``): its features are plain expressions and the query does not group."""

    name: str
    join: str
    features: tuple[Feature, ...]
    per_row: bool = False
    # Optional contract columns ("table.column") without which the features mean nothing: with no value in any row
    # the source is off (``features.catalog.available``), e.g. active users without user ids.
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Family:
    """``tables``: the contract tables the family reads besides accounts and subscriptions (the spine); when one
    has no rows, the family is off."""

    name: str
    sources: tuple[Source, ...]
    derived: tuple[Feature, ...] = field(default=())  # expressions over the sources' columns and the spine's
    tables: tuple[str, ...] = ()

    @property
    def features(self) -> tuple[Feature, ...]:
        return tuple(f for s in self.sources for f in s.features) + self.derived


def to_dialect(sql: str, dialect: str) -> str:
    """The same SQL in another engine's dialect (e.g. ``spark``)."""
    return ";\n".join(sqlglot.transpile(sql, read="duckdb", write=dialect))
