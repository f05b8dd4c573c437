"""Per event type features: the customer's own event taxonomy counted type by type.

Which types are counted is the data's and the features file's (``features.config_file``); this module holds what
a counted type is (``EventType``), the named ratios between types (``Ratio``), the safe names and SQL literals of
types ("Page Viewed", "app.open", "it's" become plain column names and escaped literals), and the feature
definitions of each type, added to the family the type belongs to (``with_event_types``).

Each type is a daily count in the rollups (``features.rollups.type_counts``), so its windows are differences of
running totals, columns of ``usage_totals`` like every other usage count: [as_of - n days, as_of), point in time.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial

from features.registry import Family, Feature, Source, change, count, share, since
from features.sql import days_since_day, ratio, total, totals_join, trend

WINDOWS = (30, 90)  # the count windows of every type; each window edge is a lag of the usage running totals
RATE_WINDOW = 30  # the window of the rate per active day, the share and the change against the window before
LAGS = (0, 30, 60, 90)  # the running-total edges those read: some of the usage totals' edges
RECENCY_DAYS = 90  # days since the last event of a type, up to this (91: none in 90 days)
OTHER = "other_types"  # the column name of the types beyond the counted ones, counted as one
CHANGE_WINDOW = f"over the last {RATE_WINDOW} days against the {RATE_WINDOW} before"


def slug(name: str) -> str:
    """A plain column name for an event type: lower case letters, digits and single underscores ("Page Viewed"
    -> ``page_viewed``, "app.open" -> ``app_open``); one that would start with a digit gets ``t_`` before it."""
    out = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if not out:
        raise ValueError(
            f"event type {name!r} has no letter or digit to name its features by; give it a name in the features "
            'file ([types.NAME] column = "...") or leave it out of the counted types'
        )
    return f"t_{out}" if out[0].isdigit() else out


def words(name: str) -> str:
    """An event type in plain words ("post_created" -> "post created")."""
    return re.sub(r"[_.\-:/]+", " ", name).strip() or name


@dataclass(frozen=True)
class EventType:
    """A counted usage event type: ``name`` as in the data, ``column`` the safe name its features start with,
    ``family`` the feature family they belong to, ``label`` the plain words reasons use ("unfriend"). The one
    ``rest`` type counts every type not counted by name (its ``name`` is empty, its column ``OTHER``)."""

    name: str
    column: str
    family: str = "engagement"
    label: str = ""
    rest: bool = False

    @property
    def says(self) -> str:
        return self.label or words(self.name)


@dataclass(frozen=True)
class Ratio:
    """A named ratio between two counted types over ``days``: ``numerator`` events per ``denominator`` event
    (types by their data names); its feature is ``<name>_<days>d``, read in words as ``label``."""

    name: str
    numerator: str
    denominator: str
    days: int = RATE_WINDOW
    label: str = ""


def counted_value(column: str) -> str:
    """The name of a type's daily count in the usage rollups (``n_<column>``)."""
    return f"n_{column}"


def last_day(column: str) -> str:
    """The name of a type's last-seen day in the usage running totals."""
    return f"last_{column}_day"


def type_features(t: EventType, family: str) -> tuple[list[Feature], list[Feature]]:
    """A type's features: (read from the usage running totals, derived from those and engagement's columns)."""
    F = partial(Feature, family=family)
    c, v, what = t.column, counted_value(t.column), t.says
    events = f"{what} events"
    source = [
        F(name=f"{c}_events_{n}d", description=f"{events} in the last {n} days", unit="events",
          sql=total(v, n), says=count(events, f"in the last {n} days"))
        for n in WINDOWS
    ] + [
        F(name=f"{c}_events_prev_{RATE_WINDOW}d", description=f"{events} {RATE_WINDOW + 1} to {2 * RATE_WINDOW} "
          "days ago", unit="events", sql=total(v, RATE_WINDOW, skip=RATE_WINDOW),
          says=count(events, f"in the {RATE_WINDOW} days before")),
        F(name=f"days_since_last_{c}_event", description=f"days since the last {what} event ({RECENCY_DAYS + 1}: "
          f"none in {RECENCY_DAYS} days)", unit="days", sql=days_since_day(f"d.{last_day(c)}", RECENCY_DAYS),
          says=since(f"the last {what} event", RECENCY_DAYS)),
    ]  # fmt: skip
    n = RATE_WINDOW
    derived = [
        F(name=f"{c}_events_per_active_day_{n}d", description=f"{events} per active day in the last {n} days",
          unit="events per day", sql=ratio(f"{c}_events_{n}d", f"active_days_{n}d"),
          says=count(f"{events} per active day", f"in the last {n} days")),
        F(name=f"{c}_events_trend_{n}d", description=f"change in {events}, last {n} days against the {n} before",
          unit="ratio", sql=trend(f"{c}_events_{n}d", f"{c}_events_prev_{n}d"),
          says=change(events, CHANGE_WINDOW, none=f"none in the {n} days before")),
        F(name=f"{c}_events_share_{n}d", description=f"share of the last {n} days' product events that were "
          f"{what} events", unit="share", sql=ratio(f"{c}_events_{n}d", f"events_{n}d"),
          says=share(f"share of product events that were {what} events", f"in the last {n} days")),
    ]  # fmt: skip
    return source, derived


def ratio_feature(r: Ratio, num: EventType, den: EventType) -> Feature:
    label = r.label or f"{num.says} events per {den.says} event"
    return Feature(
        name=f"{r.name}_{r.days}d", family=num.family, description=f"{label} in the last {r.days} days",
        unit="ratio", sql=ratio(f"{num.column}_events_{r.days}d", f"{den.column}_events_{r.days}d"),
        says=count(label, f"in the last {r.days} days"),
    )  # fmt: skip


def rest_type(family: str = "engagement") -> EventType:
    """The type that counts every usage event type not counted by name."""
    return EventType("", OTHER, family, "other", rest=True)


def with_event_types(
    families: Sequence[Family], types: Sequence[EventType], ratios: Sequence[Ratio]
) -> tuple[Family, ...]:
    """``families`` with each counted type's features added to its family (a source ``event_types`` read from the
    usage running totals, and derived features), and each ratio's feature to its numerator's family."""
    by_name = {t.name: t for t in types}
    extra: dict[str, tuple[list[Feature], list[Feature]]] = {}
    for t in types:
        source, derived = type_features(t, t.family)
        got = extra.setdefault(t.family, ([], []))
        got[0].extend(source)
        got[1].extend(derived)
    for r in ratios:
        num, den = by_name[r.numerator], by_name[r.denominator]
        extra.setdefault(num.family, ([], []))[1].append(ratio_feature(r, num, den))
    out = []
    for fam in families:
        if fam.name in extra:
            source, derived = extra[fam.name]
            src = Source("event_types", totals_join("usage_totals"), tuple(source), per_row=True) if source else None
            fam = replace(
                fam,
                sources=(*fam.sources, src) if src else fam.sources,
                derived=(*fam.derived, *derived),
                tables=tuple(dict.fromkeys((*fam.tables, "usage_events"))),
            )
        out.append(fam)
    return tuple(out)
