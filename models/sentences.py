"""Plain-words sentences for a feature's value, built from the feature registry's description and unit, so that
explanations read the same names and meanings as training and serving ("logins fell 62% over the last 30 days
against the 30 before")."""

import math
import re

from features.registry import Feature

_CHANGE = re.compile(r"^change in (?P<subject>.+?)(?:, (?P<window>.+)| (?P<over>over .+))$")
_CAP = re.compile(r"\s*\((?P<cap>\d+): none in (?P<span>[^)]+)\)")
_NOTE = re.compile(r"\s*\([^)]*:[^)]*\)")  # e.g. "(12: billed yearly)"; a range such as "(0-10)" stays


def _number(v: float) -> str:
    if float(v).is_integer():
        return f"{v:,.0f}"
    return f"{v:,.2f}" if abs(v) < 10 else f"{v:,.0f}"


def sentence(f: Feature, value: object) -> str:
    """One sentence (no final stop) saying what ``value`` of feature ``f`` means."""
    desc = f.description
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"{_CAP.sub('', desc)}: unknown"
    if f.categorical:
        return f"{desc}: {value}"
    v = float(value)  # type: ignore[arg-type]
    m = _CHANGE.match(desc)
    if m and f.unit == "ratio":
        verb = "rose" if v > 0 else "fell" if v < 0 else "did not change"
        amount = f" {abs(v):.0%}" if v else ""
        tail = f"over the {m['window']}" if m["window"] else m["over"]
        return f"{m['subject']} {verb}{amount} {tail}"
    if f.unit == "flag":
        fact = desc.removeprefix("whether ")
        return fact if v >= 0.5 else f"not so: {fact}"
    cap = _CAP.search(desc)
    if cap and v >= int(cap["cap"]):
        return f"{_CAP.sub('', desc)}: none in {cap['span']}"
    desc = _NOTE.sub("", _CAP.sub("", desc))  # notes in brackets help a reader of the registry, not of a reason
    if f.unit == "share" or desc.startswith("share of"):
        return f"{desc}: {v:.0%}"
    if f.unit in ("currency", "ratio", "score", "rating") or f.unit in desc:
        return f"{desc}: {_number(v)}"
    return f"{desc}: {_number(v)} {f.unit}"
