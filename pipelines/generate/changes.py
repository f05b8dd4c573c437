"""Known changes injected into the generated data at known dates and written into the ground truth
(``ground_truth/changes.parquet``), so that monitoring can be checked against what really happened.

A change is data (``Change``): given to ``generate(..., changes=...)``, or on the command line as
``--change KIND:YYYY-MM-DD:key=value:...`` (``parse_change``). Four kinds:

- ``release``: a product release that shifts the usage mix. From the date on, a share ``share`` of the usage events
  of every other type are of type ``event_type`` instead, for every account: that type's share of the events rises
  from s to s + share x (1 - s), every other type's share falls by the factor 1 - share (shares among the usage
  events; milestone events are left as they are). Customers use the product differently, but the latent process
  does not feel it: health, churn, expansion and the oracle are those of the world without the release. In the
  type-mix world, whose mix drives churn, the relation between the mix and churn therefore changes at the release
  (the re-typed events say nothing about churn): concept drift a monitor must see.
- ``outage``: a tracking outage. Every usage event of ``event_type`` in [date, date + ``days``) is missing from
  usage_events; customers behave as before (a pure data problem).
- ``price``: a price change. Invoices issued and subscription rows starting on or after the date have their amount
  and MRR multiplied by ``factor`` (the written value times the factor, rounded to cents); customers behave as
  before. The world writes one subscription row per stretch of unchanged terms, so a monthly subscription that
  started before the date keeps its row's MRR while its invoices after the date carry the new price. A factor above
  1 + the labels' margin makes each repriced row an expansion by MRR in the labels, as a real price rise would; the
  oracle, which knows no price, does not count it. ``ground_truth/health.parquet`` keeps the latent list prices.
- ``segment``: a new segment. Accounts created on or after the date carry the segment value ``segment``, which no
  account had before; they behave as the segment they were drawn from.

Each change is applied to the tables a chunk's builders wrote, after they wrote them (``apply_changes``), the
release with a random stream of its own: every row a change does not touch is as in the world without it, and a
world given no changes is byte for byte the world as it was.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Literal, cast
from zlib import crc32

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.generate.params import FEATURES, MILESTONES, SEGMENTS, WORLDS, Params
from pipelines.generate.type_mix import EVENT_TYPES

Kind = Literal["release", "outage", "price", "segment"]
KINDS: tuple[Kind, ...] = ("release", "outage", "price", "segment")
FIELDS: dict[str, tuple[str, ...]] = {
    "release": ("event_type", "share"),
    "outage": ("event_type", "days"),
    "price": ("factor",),
    "segment": ("segment",),
}
"""The fields each kind takes besides its start date (``Change``)."""
OPTIONAL = ("event_type", "days", "factor", "share", "segment")
DEFAULTS: dict[str, object] = {"share": 0.10, "days": 14, "factor": 1.05, "segment": "startup"}
OUTAGE_TYPE = "login"  # the default outage: the login tracker, a type every world has
AFFECTED: dict[str, tuple[tuple[str, str], ...]] = {
    "release": (("usage_events", "event_type"),),
    "outage": (("usage_events", "event_type"),),
    "price": (("invoices", "amount"), ("subscriptions", "mrr")),
    "segment": (("accounts", "segment"),),
}
"""The (table, column) pairs each kind changes."""
EXAMPLE = "outage:2024-09-01:event_type=login:days=14"
TIME = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Change:
    """A change injected into the generated data from ``start`` on; fields a kind does not take stay None.

    ``event_type``: the usage event type a release favours or an outage drops (by default, the world's first usage
    type after login for a release, login for an outage). ``share``: the release's share of the other types' events
    re-typed (default 0.10). ``days``: the outage's length (default 14). ``factor``: the price change's multiplier
    (default 1.05). ``segment``: the new segment's value (default startup). ``resolve_changes`` fills the defaults
    in and checks the change against the world.
    """

    kind: Kind
    start: date
    event_type: str | None = None
    days: int | None = None
    factor: float | None = None
    share: float | None = None
    segment: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown change kind {self.kind!r}; use one of {', '.join(KINDS)}")
        if not isinstance(self.start, date) or isinstance(self.start, datetime):
            raise ValueError(f"the start of a {self.kind} change must be a date (a day), got {self.start!r}")
        allowed = FIELDS[self.kind]
        extra = [name for name in OPTIONAL if getattr(self, name) is not None and name not in allowed]
        if extra:
            raise ValueError(
                f"the {self.kind} change takes {' and '.join(allowed)}, not {', '.join(extra)}: leave "
                f"{', '.join(extra)} out"
            )
        if self.days is not None and (isinstance(self.days, bool) or not isinstance(self.days, int) or self.days < 1):
            raise ValueError(f"days must be a whole number of days of at least 1, got {self.days!r}")
        if self.factor is not None and not (math.isfinite(self.factor) and self.factor > 0):
            raise ValueError(f"factor must be a positive number (1.1: prices up 10%), got {self.factor!r}")
        if self.share is not None and not (0.0 < self.share < 1.0):
            raise ValueError(f"share must lie strictly between 0 and 1 (0.1: a tenth of the events), got {self.share}")
        for name in ("event_type", "segment"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value or value != value.strip()):
                raise ValueError(f"{name} must be a non-empty name without surrounding spaces, got {value!r}")

    @property
    def end(self) -> date | None:
        """The first day after the change (an outage's), or None for a change that lasts."""
        return self.start + timedelta(days=self.days) if self.kind == "outage" and self.days is not None else None

    def spec(self) -> str:
        """The change as ``--change`` reads it, e.g. ``outage:2024-09-01:event_type=login:days=14``."""
        given = [f"{name}={getattr(self, name)}" for name in FIELDS[self.kind] if getattr(self, name) is not None]
        return ":".join([self.kind, self.start.isoformat(), *given])

    def record(self) -> dict[str, object]:
        """The change as the manifest records it: kind, start, end, its fields and its spec."""
        given = {name: getattr(self, name) for name in FIELDS[self.kind]}
        end = self.end
        return {"kind": self.kind, "start": self.start.isoformat(), "end": end.isoformat() if end else None,
                **given, "spec": self.spec()}  # fmt: skip


def parse_change(text: str) -> Change:
    """A change from its command-line form ``KIND:YYYY-MM-DD:key=value:...`` (fields as ``FIELDS`` lists them)."""
    where = f"--change {text!r}"
    kind, _, rest = text.strip().partition(":")
    if kind not in KINDS:
        raise ValueError(f"{where}: unknown kind {kind!r}; use one of {', '.join(KINDS)}, e.g. {EXAMPLE}")
    day, *pairs = rest.split(":")
    if not day:
        raise ValueError(f"{where}: the start date is missing; write KIND:YYYY-MM-DD, e.g. {EXAMPLE}")
    try:
        start = date.fromisoformat(day)
    except ValueError as e:
        raise ValueError(f"{where}: {day!r} is not a date; write the start as YYYY-MM-DD, e.g. {EXAMPLE}") from e
    values: dict[str, object] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key or not value:
            raise ValueError(f"{where}: {pair!r} is not key=value; write the fields as e.g. {EXAMPLE}")
        if key not in FIELDS[kind]:
            raise ValueError(
                f"{where}: the {kind} change has no field {key!r}; its fields are {', '.join(FIELDS[kind])}"
            )
        if key in values:
            raise ValueError(f"{where}: {key} is given twice; give it once")
        values[key] = _value(key, value, where)
    try:
        return Change(cast(Kind, kind), start, **values)  # type: ignore[arg-type]
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from e


def _value(key: str, value: str, where: str) -> object:
    """A field's text as the field's type."""
    if key in ("event_type", "segment"):
        return value
    try:
        return int(value) if key == "days" else float(value)
    except ValueError as e:
        kind = "a whole number" if key == "days" else "a number"
        raise ValueError(f"{where}: {key} must be {kind}, got {value!r}") from e


def event_types(params: Params) -> tuple[str, ...]:
    """The event types the world writes into usage_events (as ``activity.usage_events`` names them)."""
    return EVENT_TYPES if params.type_mix is not None else ("login", *FEATURES, *MILESTONES)


def usage_types(params: Params) -> tuple[str, ...]:
    """The world's usage event types a release can shift: all but milestones, which mark a step reached once."""
    return EVENT_TYPES if params.type_mix is not None else ("login", *FEATURES)


def data_end(start: date, months: int) -> date:
    """The first day after ``months`` months of data from ``start``."""
    years, month = divmod(start.month - 1 + months, 12)
    return date(start.year + years, month + 1, 1)


def resolve_changes(changes: Sequence[Change], start: date, months: int, params: Params) -> tuple[Change, ...]:
    """``changes`` with their defaults filled in, each checked against the world: its dates inside the generated
    span, its event type one of the world's, its segment a new one."""
    end = data_end(start, months)
    span = f"the generated span {start} to {end - timedelta(days=1)}"
    world = next((f"the {name} world" for name, p in WORLDS.items() if p == params), "this world")
    out = []
    for given in changes:
        if not isinstance(given, Change):
            raise ValueError(f"changes must be Change objects (or --change texts), got {given!r}")
        defaults = {k: DEFAULTS[k] for k in FIELDS[given.kind] if k in DEFAULTS and getattr(given, k) is None}
        if given.kind in ("release", "outage") and given.event_type is None:
            defaults["event_type"] = usage_types(params)[1] if given.kind == "release" else OUTAGE_TYPE
        ch = replace(given, **defaults)  # type: ignore[arg-type]
        where = f"change {ch.spec()}"
        if not start <= ch.start < end:
            raise ValueError(
                f"{where}: {ch.start} lies outside {span}; pick a start in the span (or generate more months)"
            )
        if ch.end is not None and ch.end > end:
            raise ValueError(
                f"{where}: the outage runs to {ch.end - timedelta(days=1)}, past the end of {span}; start it by "
                f"{end - timedelta(days=ch.days or 0)} or make it at most {(end - ch.start).days} days"
            )
        if ch.kind == "outage" and ch.event_type not in event_types(params):
            raise ValueError(
                f"{where}: {ch.event_type!r} is not an event type of {world}; use one of "
                f"{', '.join(event_types(params))}"
            )
        if ch.kind == "release" and ch.event_type not in usage_types(params):
            raise ValueError(
                f"{where}: {ch.event_type!r} is not a usage event type of {world} (a release shifts the mix of "
                f"usage events; milestones are reached once); use one of {', '.join(usage_types(params))}"
            )
        if ch.kind == "segment" and ch.segment in SEGMENTS:
            raise ValueError(
                f"{where}: accounts already have segment {ch.segment!r}; name a new one (not {', '.join(SEGMENTS)}), "
                "e.g. startup"
            )
        out.append(ch)
    return tuple(out)


def apply_changes(
    tables: dict[str, pa.Table], changes: Sequence[Change], params: Params, seed: int, chunk: int
) -> dict[str, pa.Table]:
    """One chunk's tables with ``changes`` (resolved: ``resolve_changes``) applied in order; the input is left as
    it is. The release's draws come from a stream of its own per (seed, chunk, position of the change)."""
    out = dict(tables)
    for i, ch in enumerate(changes):
        start = _time(ch.start)
        if ch.kind == "outage":
            ev = out["usage_events"]
            end = _time(ch.end or ch.start)
            dropped = pc.and_(
                pc.equal(ev["event_type"], ch.event_type),
                pc.and_(pc.greater_equal(ev["ts"], start), pc.less(ev["ts"], end)),
            )
            out["usage_events"] = ev.filter(pc.invert(dropped))
        elif ch.kind == "release":
            out["usage_events"] = _release(out["usage_events"], ch, usage_types(params), seed, chunk, i)
        elif ch.kind == "price":
            for table, time, column in (("invoices", "issued_at", "amount"), ("subscriptions", "start_at", "mrr")):
                t = out[table]
                after = pc.greater_equal(t[time], start).to_numpy(zero_copy_only=False)
                value = t[column].to_numpy()
                priced = np.where(after, np.round(value * (ch.factor or 1.0), 2), value)
                out[table] = t.set_column(t.schema.get_field_index(column), column, pa.array(priced, t[column].type))
        else:
            acc = out["accounts"]
            new = pc.greater_equal(acc["created_at"], start)
            segment = pc.if_else(new, pa.scalar(ch.segment, pa.string()), acc["segment"])
            out["accounts"] = acc.set_column(acc.schema.get_field_index("segment"), "segment", segment)
    return out


def _release(ev: pa.Table, ch: Change, usage: tuple[str, ...], seed: int, chunk: int, position: int) -> pa.Table:
    """Usage events after the release, each of another usage type re-typed to ``ch.event_type`` with chance
    ``ch.share`` (one uniform per row of the chunk, so the draws do not depend on which rows qualify)."""
    rng = np.random.default_rng([seed, chunk, crc32(b"change"), position])
    u = rng.random(ev.num_rows)
    types = ev["event_type"]
    other = pc.and_(pc.is_in(types, pa.array(usage)), pc.not_equal(types, ch.event_type))
    after = pc.greater_equal(ev["ts"], _time(ch.start))
    move = pc.and_(pc.and_(other, after), pa.array(u < (ch.share or 0.0)))
    retyped = pc.if_else(move, pa.scalar(ch.event_type, pa.string()), types)
    return ev.set_column(ev.schema.get_field_index("event_type"), "event_type", retyped)


def _time(day: date) -> pa.Scalar:
    """Midnight UTC of ``day``, as the tables' timestamps."""
    return pa.scalar(datetime(day.year, day.month, day.day, tzinfo=UTC), TIME)


def changes_table(changes: Sequence[Change]) -> pa.Table:
    """``ground_truth/changes.parquet``: one row per change (resolved), in the order given.

    Columns: kind; start (midnight UTC of the first day); end (of the first day after, null when it lasts); table
    and column (lists, pairwise: the raw tables and columns it changes); event_type (release, outage); days
    (outage); factor (price); share (release: the share of other types' events re-typed); segment (segment: the
    new value); description (plain words).
    """
    ends = [ch.end for ch in changes]
    return pa.table({
        "kind": pa.array([ch.kind for ch in changes], pa.string()),
        "start": pa.array([_time(ch.start).as_py() for ch in changes], TIME),
        "end": pa.array([_time(e).as_py() if e else None for e in ends], TIME),
        "table": pa.array([[t for t, _ in AFFECTED[ch.kind]] for ch in changes], pa.list_(pa.string())),
        "column": pa.array([[c for _, c in AFFECTED[ch.kind]] for ch in changes], pa.list_(pa.string())),
        "event_type": pa.array([ch.event_type for ch in changes], pa.string()),
        "days": pa.array([ch.days for ch in changes], pa.int64()),
        "factor": pa.array([ch.factor for ch in changes], pa.float64()),
        "share": pa.array([ch.share for ch in changes], pa.float64()),
        "segment": pa.array([ch.segment for ch in changes], pa.string()),
        "description": pa.array([describe(ch) for ch in changes], pa.string()),
    })  # fmt: skip


def describe(ch: Change) -> str:
    """The change in plain words."""
    if ch.kind == "release":
        share = f"{(ch.share or 0.0) * 100:g}%"
        return (
            f"Product release on {ch.start}: from then on, {share} of the events of every other usage type (milestones "
            f"aside) are {ch.event_type} events instead, for every account: {ch.event_type}'s share s of those events "
            f"becomes s + {ch.share:g} x (1 - s). Customers' health, churn and expansion are as without the release."
        )
    if ch.kind == "outage":
        last = (ch.end or ch.start) - timedelta(days=1)
        return (
            f"Tracking outage: every {ch.event_type} event from {ch.start} to {last} ({ch.days} days) is missing from "
            "usage_events; customers' behaviour is unchanged."
        )
    if ch.kind == "price":
        change = f"{((ch.factor or 1.0) - 1.0) * 100:+g}%"
        return (
            f"Price change on {ch.start}: invoices issued and subscription rows starting from then on have their "
            f"amount and MRR multiplied by {ch.factor:g} ({change}); customers' behaviour is unchanged."
        )
    return (
        f"New segment: accounts created on or after {ch.start} have segment {ch.segment!r}, which no account had "
        "before; they behave as the segment they were drawn from."
    )
