"""Plain-words sentences for a feature's value, rendered from the phrase that the feature registry declares with
each feature (``Feature.says``), so that explanations read the same names and meanings as training and serving
("logins fell 62% over the last 30 days against the 30 before"). Descriptions are documentation: rewording one
changes no sentence."""

import math

from features.registry import Feature, Phrase


def _number(v: float) -> str:
    if float(v).is_integer():
        return f"{v:,.0f}"
    return f"{v:,.2f}" if abs(v) < 10 else f"{v:,.0f}"


def _label(p: Phrase) -> str:
    return f"{p.subject} {p.window}" if p.window else p.subject


def _unknown(p: Phrase) -> str:
    if p.kind == "change":
        return f"{p.subject}: {p.no}" if p.no else f"change in {p.subject} {p.window}: unknown"
    if p.kind == "days_since":
        return f"days since {p.subject}: unknown"
    if p.kind == "flag":
        return f"whether {p.subject}: unknown"
    return f"{_label(p)}: unknown"


def _known(p: Phrase, v: float) -> str:
    if p.kind == "change":
        verb = "rose" if v > 0 else "fell" if v < 0 else "did not change"
        amount = f" {abs(v):.0%}" if v else ""
        return f"{p.subject} {verb}{amount} {p.window}"
    if p.kind == "flag":
        return p.subject if v >= 0.5 else p.no
    if p.kind == "days_since":
        days = f"none {p.window}" if p.cap is not None and v >= p.cap else _number(v)
        return f"days since {p.subject}: {days}"
    if p.kind == "share":
        return f"{_label(p)}: {v:.0%}"
    if p.kind == "score" and p.out_of is not None:
        return f"{_label(p)}: {_number(v)} of {p.out_of}"
    return f"{_label(p)}: {_number(v)}{f' {p.unit}' if p.unit else ''}"  # count, money, score without a top


def sentence(f: Feature, value: object) -> str:
    """One sentence (no final stop) saying what ``value`` of feature ``f`` means."""
    p = f.says
    if p is None:
        raise ValueError(f"feature {f.name!r} declares no phrase; give it says=... in features/families/{f.family}.py")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return _unknown(p)
    if p.kind == "category":
        return f"{p.subject}: {value}"
    return _known(p, float(value))  # type: ignore[arg-type]
