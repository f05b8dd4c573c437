"""The features file (TOML): the customer's own event taxonomy, set beside the mapping file, never in code.

It sets the login event, the milestones, onboarding days, which usage event types are counted one by one (a list,
or discovery: every type that at least ``floor`` of the accounts used, at most ``top`` of them by that share, the
rest counted as one "other" type), each type's options (its family, its words in reasons, its column name) and
named ratios between types. ``read_features_file`` checks its shape; ``resolve`` checks it against the types the
data hold and gives the ``FeatureConfig`` a build uses. Every message names the key and the fix.

    login_event = "login"
    milestones = ["integration_connected", "first_report_created"]
    onboarding_days = 90

    [event_types]            # leave out "count" to discover the types from the data
    floor = 0.01             # share of accounts with at least one event of the type
    top = 20                 # 0: no per-type features

    [types.unfriend]
    family = "relationship"
    label = "unfriend"

    [ratios.replies_per_post]
    numerator = "reply_sent"
    denominator = "post_created"
"""

import difflib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from features.catalog import families
from features.config import DEFAULT_MILESTONES, FeatureConfig
from features.event_types import OTHER, WINDOWS, EventType, Ratio, rest_type, slug
from features.registry import FAMILIES

TOP_KEYS = ("login_event", "milestones", "onboarding_days", "event_types", "types", "ratios")
EVENT_TYPES_KEYS = ("count", "floor", "top")
TYPE_KEYS = ("family", "label", "column")
RATIO_KEYS = ("numerator", "denominator", "days", "label")
COLUMN = re.compile(r"^[a-z][a-z0-9_]*$")
# Discovery's defaults: a type one account in a hundred used is worth its columns; 20 types bound the columns
# (7 per type) and the build's cost, which grows with the running totals' columns.
FLOOR, TOP = 0.01, 20


class FeaturesFileError(ValueError):
    """A features file that cannot be used as it is; the message names the key and the fix."""


@dataclass(frozen=True)
class TypeOptions:
    family: str = "engagement"
    label: str = ""
    column: str = ""


@dataclass(frozen=True)
class FeaturesFile:
    """A features file as written (types not yet resolved against the data). ``count`` None: discover."""

    login_event: str = "login"
    milestones: tuple[str, ...] = DEFAULT_MILESTONES
    onboarding_days: int = 90
    count: tuple[str, ...] | None = None
    floor: float = FLOOR
    top: int = TOP
    types: Mapping[str, TypeOptions] = field(default_factory=dict)
    ratios: tuple[Ratio, ...] = ()
    source: str = "the default features"  # where it came from, for messages


def _unknown_keys(where: str, got: Mapping[str, Any], allowed: tuple[str, ...], source: str) -> None:
    for key in got:
        if key not in allowed:
            near = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {near[0]!r}? " if near else ""
            raise FeaturesFileError(
                f"{source}: unknown key {where}{key!r}; {hint}the keys there are {', '.join(allowed)}"
            )


def _typed(source: str, key: str, value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, kind):
        raise FeaturesFileError(f"{source}: {key} must be {what}, got {value!r}")
    return value


def _names(source: str, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise FeaturesFileError(f'{source}: {key} must be a list of event type names, like ["login", "export"]')
    return tuple(value)


def parse_features(data: Mapping[str, Any], source: str = "the features file") -> FeaturesFile:
    """A ``FeaturesFile`` from parsed TOML, its shape checked (not yet against the data: ``resolve``)."""
    _unknown_keys("", data, TOP_KEYS, source)
    kw: dict[str, Any] = {"source": source}
    if "login_event" in data:
        kw["login_event"] = _typed(source, "login_event", data["login_event"], str, "an event type name")
    if "milestones" in data:
        kw["milestones"] = _names(source, "milestones", data["milestones"])
        for m in kw["milestones"]:
            if not COLUMN.match(m):
                raise FeaturesFileError(
                    f"{source}: milestones: {m!r} must be lower case letters, digits and underscores (it names "
                    "the feature milestone_<name>); rename the type in the mapping file's value map"
                )
    if "onboarding_days" in data:
        days = _typed(source, "onboarding_days", data["onboarding_days"], int, "a whole number of days")
        if days < 1:
            raise FeaturesFileError(f"{source}: onboarding_days must be at least 1, got {days}")
        kw["onboarding_days"] = days
    ev = _typed(source, "[event_types]", data.get("event_types", {}), dict, "a table")
    _unknown_keys("event_types.", ev, EVENT_TYPES_KEYS, source)
    if "count" in ev:
        kw["count"] = _names(source, "event_types.count", ev["count"])
    if "floor" in ev:
        floor = _typed(source, "event_types.floor", ev["floor"], (int, float), "a share of accounts (0 to 1)")
        if not 0 <= floor <= 1:
            raise FeaturesFileError(f"{source}: event_types.floor must be a share of accounts from 0 to 1, got {floor}")
        kw["floor"] = float(floor)
    if "top" in ev:
        top = _typed(source, "event_types.top", ev["top"], int, "a whole number of types (0: none)")
        if top < 0:
            raise FeaturesFileError(f"{source}: event_types.top must be 0 (no per-type features) or more, got {top}")
        kw["top"] = top
    types = {}
    for name, opts in _typed(source, "[types]", data.get("types", {}), dict, "a table of types").items():
        where = f"types.{name!r}"
        _typed(source, where, opts, dict, 'a table (family = "...", label = "...", column = "...")')
        _unknown_keys(f"{where}.", opts, TYPE_KEYS, source)
        family = opts.get("family", "engagement")
        if family not in FAMILIES:
            raise FeaturesFileError(
                f"{source}: {where}.family = {family!r} is not a feature family; choose one of {', '.join(FAMILIES)}"
            )
        column = opts.get("column", "")
        if column and not COLUMN.match(str(column)):
            raise FeaturesFileError(
                f"{source}: {where}.column = {column!r} must be lower case letters, digits and underscores, "
                "starting with a letter"
            )
        types[name] = TypeOptions(family, str(opts.get("label", "")), str(column))
    kw["types"] = types
    ratios = []
    for name, opts in _typed(source, "[ratios]", data.get("ratios", {}), dict, "a table of ratios").items():
        where = f"ratios.{name}"
        if not COLUMN.match(name):
            raise FeaturesFileError(
                f"{source}: ratio name {name!r} must be lower case letters, digits and underscores, starting with "
                "a letter (it names the feature <name>_<days>d)"
            )
        _typed(source, where, opts, dict, 'a table (numerator = "...", denominator = "...")')
        _unknown_keys(f"{where}.", opts, RATIO_KEYS, source)
        for side in ("numerator", "denominator"):
            if side not in opts:
                raise FeaturesFileError(f'{source}: {where} needs {side} = "<event type>"')
        days = opts.get("days", WINDOWS[0])
        if days not in WINDOWS:
            raise FeaturesFileError(f"{source}: {where}.days = {days!r}: the types are counted over "
                                    f"{' and '.join(map(str, WINDOWS))} days; choose one of those")  # fmt: skip
        ratios.append(Ratio(name, str(opts["numerator"]), str(opts["denominator"]), days, str(opts.get("label", ""))))
    kw["ratios"] = tuple(ratios)
    return FeaturesFile(**kw)


def read_features_file(path: Path) -> FeaturesFile:
    """The features file at ``path``, its shape checked."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise FeaturesFileError(f"cannot read the features file {path}: {e.strerror or e}") from e
    except tomllib.TOMLDecodeError as e:
        raise FeaturesFileError(f"the features file {path} is not valid TOML: {e}") from e
    return parse_features(data, f"features file {path}")


def _present(spec: FeaturesFile, name: str, present: Mapping[str, int], key: str) -> None:
    if name not in present:
        shown = ", ".join(sorted(present)[:30]) + (" ..." if len(present) > 30 else "")
        near = difflib.get_close_matches(name, list(present), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise FeaturesFileError(
            f"{spec.source}: {key} names event type {name!r}{hint}, which the usage events do not have; the types "
            f"present are: {shown or 'none'}. Fix the name or leave it out"
        )


def resolve(spec: FeaturesFile, present: Mapping[str, int], accounts: int) -> FeatureConfig:
    """The ``FeatureConfig`` of ``spec`` for data whose usage event types are ``present`` (type -> accounts with at
    least one event of it, ``type_coverage_sql``) among ``accounts`` accounts."""
    if spec.count is not None:
        for name in spec.count:
            _present(spec, name, present, "event_types.count")
        counted = list(dict.fromkeys(spec.count)) if spec.top else []
    else:
        share = {n: k / accounts if accounts else 0.0 for n, k in present.items()}
        above = sorted((n for n in present if share[n] >= spec.floor), key=lambda n: (-share[n], n))
        counted = sorted(above[: spec.top])  # by name: the columns keep their order when shares shift
    for name in spec.types:
        _present(spec, name, present, f"types.{name!r}")
    types = []
    for name in counted:
        opts = spec.types.get(name, TypeOptions())
        try:
            column = opts.column or slug(name)
        except ValueError as e:
            raise FeaturesFileError(f"{spec.source}: {e}") from e
        types.append(EventType(name, column, opts.family, opts.label))
    if counted and set(present) - set(counted):
        types.append(rest_type())
    columns: dict[str, str] = {}
    for t in types:
        if t.column in columns:
            raise FeaturesFileError(
                f"{spec.source}: event types {columns[t.column]!r} and {t.name or 'the other types'!r} both name "
                f'their features {t.column}_...; set [types."NAME"] column = "..." for one of them'
                + (f" ({OTHER} is the column of the types not counted one by one)" if t.rest else "")
            )
        columns[t.column] = t.name or "the other types"
    names = {t.name for t in types if not t.rest}
    for r in spec.ratios:
        for side in (r.numerator, r.denominator):
            if side not in names:
                raise FeaturesFileError(
                    f"{spec.source}: ratios.{r.name} reads event type {side!r}, which is not counted one by one "
                    f"(counted: {', '.join(sorted(names)) or 'none'}); add it to event_types.count, lower "
                    "event_types.floor or raise event_types.top, or drop the ratio"
                )
    try:
        cfg = FeatureConfig(spec.milestones, spec.onboarding_days, spec.login_event, tuple(types), spec.ratios)
        families(cfg)  # names made twice (a type's column against another feature) fail here, not in a build
    except ValueError as e:
        raise FeaturesFileError(f"{spec.source}: {e}") from e
    return cfg


# Per usage event type, the accounts with at least one event of it (a row standing for no event is not one).
TYPE_COVERAGE_SQL = (
    "SELECT event_type, COUNT(DISTINCT account_id) AS accounts FROM raw.usage_events "
    "WHERE COALESCE(event_count, 1) > 0 AND event_type IS NOT NULL GROUP BY event_type"
)
ACCOUNTS_SQL = "SELECT COUNT(*) FROM raw.accounts"
