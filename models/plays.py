"""Suggested plays: configurable rules from the touch model, the family pulling health down the most, a few
features and the upsell propensity (``models/plays.toml``). Pure: frames in, one play per row out."""

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.catalog import features
from features.registry import FAMILIES

PLAYS = Path(__file__).with_name("plays.toml")


@dataclass(frozen=True)
class Rule:
    name: str
    play: str
    touch: str | None = None
    family: str | None = None
    any_of: tuple[str, ...] = ()  # features of which at least one must be above ``above``
    above: float = 0.0
    upsell: bool = False


@dataclass(frozen=True)
class Playbook:
    rules: tuple[Rule, ...]
    expansion_threshold: float


def load_playbook(path: Path = PLAYS) -> Playbook:
    try:
        spec = tomllib.loads(path.read_text())
        rules = tuple(Rule(**{**r, "any_of": tuple(r.get("any_of", ()))}) for r in spec["rules"])
        threshold = float(spec.get("expansion_threshold", 0.15))
    except (KeyError, TypeError, ValueError) as e:  # ValueError: bad TOML, or a threshold that is not a number
        raise ValueError(f"playbook {path} is malformed ({e}); see models/plays.toml for the format") from e
    known = {f.name for f in features()}
    for r in rules:
        if r.family is not None and r.family not in FAMILIES:
            raise ValueError(f"playbook {path}: rule {r.name!r} names unknown family {r.family!r}; use {FAMILIES}")
        unknown = [f for f in r.any_of if f not in known]
        if unknown:
            raise ValueError(f"playbook {path}: rule {r.name!r} names unknown features {unknown}")
    return Playbook(rules, threshold)


AT_RISK = ("red", "yellow")  # tiers that get the at-risk rules; the others only the expansion play


def choose(book: Playbook, touch: object, components: Mapping[str, float], tier: str, p_upsell: float,
           value: Callable[[str], float]) -> str:  # fmt: skip
    """The play of one account: the first rule that matches. ``components``: health points by family (the most
    negative is the weakest family); ``value(feature)`` reads the features the rules name."""
    weakest = min(components, key=components.__getitem__)
    at_risk = tier in AT_RISK
    for r in book.rules:
        if r.upsell:
            if p_upsell >= book.expansion_threshold and not at_risk:
                return r.play
            continue
        if not at_risk:
            continue
        if r.touch is not None and touch != r.touch:
            continue
        if r.family is not None and weakest != r.family:
            continue
        if r.any_of and not any(value(f) > r.above for f in r.any_of):
            continue
        return r.play
    return ""


def suggest(rows: pd.DataFrame, components: pd.DataFrame, tier: np.ndarray, p_upsell: np.ndarray,
            book: Playbook) -> list[str]:  # fmt: skip
    """One play per row. ``rows``: touch_model and the features the rules name; ``components``: health components
    by family (negative = pulls health down); ``tier``: red/yellow/green."""
    needed = {f: pd.to_numeric(rows[f], errors="coerce").fillna(0.0).to_numpy() for r in book.rules for f in r.any_of}
    touch = rows["touch_model"].to_numpy(dtype=object)
    parts = [dict(zip(components.columns, row, strict=True)) for row in components.to_numpy().tolist()]
    out = []
    for i in range(len(rows)):

        def value(f: str, i: int = i) -> float:
            return float(needed[f][i])

        out.append(choose(book, touch[i], parts[i], str(tier[i]), float(p_upsell[i]), value))
    return out
