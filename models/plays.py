"""Suggested plays: configurable rules from the touch model, the family pulling health down the most, a few
features and the upsell propensity (``models/plays.toml``). Pure: frames in, one play per row out."""

import tomllib
from collections.abc import Callable
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


def choose(book: Playbook, touch: object, weakest: str, value: Callable[[str], float], at_risk: bool,
           p_upsell: float) -> str:  # fmt: skip
    """The play of one account: the first rule that matches (``value(feature)`` reads its features)."""
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
    weakest = components.idxmin(axis=1).to_numpy()
    needed = {f: pd.to_numeric(rows[f], errors="coerce").fillna(0.0).to_numpy() for r in book.rules for f in r.any_of}
    touch = rows["touch_model"].to_numpy(dtype=object)
    at_risk = np.isin(tier, ("red", "yellow"))
    out = []
    for i in range(len(rows)):

        def value(f: str, i: int = i) -> float:
            return float(needed[f][i])

        out.append(choose(book, touch[i], str(weakest[i]), value, bool(at_risk[i]), float(p_upsell[i])))
    return out
