"""The What works page's words: each play's measured effect, as ``churn effects --publish`` published it
(``pipelines.effects.effects_document``), in sentences a CSM lead reads: "Executive sponsor call: churn 4.1 points
lower (90% interval 1.2 to 7.0 lower), 812 treated, 203 held out". The sentences are built from the document's
numbers and its verdict (whether the 90% interval excludes 0), never from other prose."""

from dataclasses import dataclass
from typing import Any

from serving import charts


@dataclass(frozen=True)
class PlayView:
    name: str  # the play as people read it
    verdict: str  # helps, harms or unclear (the document's)
    sentence: str  # "<name>: <headline> (<interval>), <counts>"
    naive: str  # the naive comparison in words
    chart: str  # the interval chart (inline SVG)
    uplift: str = ""  # the uplift ranking in words (``uplift_words``); empty when not measured


def play_name(play: str) -> str:
    """A generated play's code name as words ("health_check_call" -> "Health check call"); a playbook's play, which
    is already words, as it is."""
    if "_" in play and " " not in play:
        words = play.replace("_", " ")
        return words[:1].upper() + words[1:]
    return play


def _side(v: float) -> str:
    return "lower" if v < 0 else "higher"


def _points(v: float) -> str:
    return f"{abs(100 * v):.1f}"


def interval_words(lo: float, hi: float) -> str:
    """A 90% interval of an effect (probabilities) in points: "1.2 to 7.0 lower", "1.0 to 5.8 higher", or across 0
    "2.0 lower to 0.4 higher"."""
    if lo < 0 < hi:
        return f"{_points(lo)} lower to {_points(hi)} higher"
    near, far = (hi, lo) if hi <= 0 else (lo, hi)
    return f"{_points(near)} to {_points(far)} {_side(far)}"


def effect_words(row: dict[str, Any], target: str) -> str:
    """The estimate and its 90% interval: "churn 4.1 points lower (90% interval 1.2 to 7.0 lower)", or "no
    measurable effect on churn (90% interval 2.0 lower to 0.4 higher)" when the interval spans 0."""
    interval = f"90% interval {interval_words(float(row['lo90']), float(row['hi90']))}"
    if row["verdict"] == "unclear":
        return f"no measurable effect on {target} ({interval})"
    effect = float(row["effect"])
    return f"{target} {_points(effect)} points {_side(effect)} ({interval})"


def sentence(name: str, row: dict[str, Any], target: str) -> str:
    """The play's line: its ``name``, its effect in words, how many accounts were treated and held out."""
    return f"{name}: {effect_words(row, target)}, {int(row['treated']):,} treated, {int(row['held_out']):,} held out"


def naive_words(row: dict[str, Any], target: str) -> str:
    """The naive comparison: "churn 2.9 points higher where the play was run"."""
    naive = float(row["naive"])
    return f"{target} {_points(naive)} points {_side(naive)} where the play was run"


def uplift_words(entry: dict[str, Any] | None, target: str) -> str:
    """The uplift ranking of a play's accounts: "ranking by uplift: Qini 5.2 x 1e-3 (90% interval 3.1 to 7.4),
    by risk 5.1; difference +0.1 (-1.0 to +1.2); the top 30% by uplift: churn 6.8 points lower where assigned", or
    why it was not fitted; empty when the document has none."""
    if not entry:
        return ""
    if not entry.get("fitted"):
        return f"ranking by uplift {entry.get('reason') or 'not fitted'}"

    def q(key: str) -> str:
        v = entry.get(key)
        return "n/a" if v is None else f"{1000 * float(v):.1f}"

    def signed(key: str) -> str:
        v = entry.get(key)
        return "n/a" if v is None else f"{1000 * float(v):+.1f}"

    words = (f"ranking by uplift: Qini {q('qini')} x 1e-3 (90% interval {q('qini_lo90')} to {q('qini_hi90')}), by "
             f"risk {q('qini_risk')}; difference {signed('qini_vs_risk')} ({signed('qini_vs_risk_lo90')} to "
             f"{signed('qini_vs_risk_hi90')})")  # fmt: skip
    top = entry.get("uplift_top30")
    if top is not None:
        # The uplift is the outcome avoided (held out minus treated): for churn, lower where assigned.
        change = -float(top) if target == "churn" else float(top)
        words += f"; the top 30% by uplift: {target} {_points(change)} points {_side(change)} where assigned"
    return words


def views(doc: dict[str, Any]) -> tuple[list[PlayView], PlayView]:
    """The plays (as published: by play, in the document's order) and the plays pooled, each with its words and
    its interval chart on one axis shared by all of them."""
    target = str(doc["target"])
    rows = [*doc["plays"], doc["overall"]]
    names = [*(play_name(str(r["play"])) for r in doc["plays"]), "All plays"]
    drawn = charts.effects(rows, names, target)
    out = [PlayView(name, str(row["verdict"]), sentence(name, row, target), naive_words(row, target), chart,
                    uplift_words(row.get("uplift"), target))
           for name, row, chart in zip(names, rows, drawn, strict=True)]  # fmt: skip
    return out[:-1], out[-1]
