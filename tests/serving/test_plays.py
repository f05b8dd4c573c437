"""Suggested plays on hand-made two-line frames: each rule of models/plays.toml fires as its comments say (first
matching rule wins; red and yellow accounts get the at-risk rules; green ones the expansion play only at or above
the threshold, else none), and a malformed playbook is refused with a ValueError that names the problem."""

import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.registry import FAMILIES
from models.plays import PLAYS, load_playbook, suggest

SPEC = tomllib.loads(PLAYS.read_text())
PLAY = {r["name"]: r["play"] for r in SPEC["rules"]}
THRESHOLD = SPEC["expansion_threshold"]
NAMED = sorted({f for r in SPEC["rules"] for f in r.get("any_of", ())})
BOOK = load_playbook()


def case(tier: str, weakest: str, touch: str = "low", p_upsell: float = 0.0, **values: float) -> dict[str, Any]:
    return {"tier": tier, "weakest": weakest, "touch_model": touch, "p_upsell": p_upsell, **values}


def play(cases: list[dict[str, Any]], book: Any = BOOK) -> list[str]:
    rows = pd.DataFrame([{"touch_model": c["touch_model"], **{f: c.get(f, 0.0) for f in NAMED}} for c in cases])
    # components: the weakest family pulls health down the most; the others push it up a little
    components = pd.DataFrame([{f: (-6.0 if f == c["weakest"] else 0.5) for f in FAMILIES} for c in cases])
    tier = np.array([c["tier"] for c in cases])
    p_upsell = np.array([c["p_upsell"] for c in cases])
    return suggest(rows, components, tier, p_upsell, book)


CASES = {
    "green at the threshold: expansion": (case("green", "engagement", p_upsell=THRESHOLD), PLAY["expansion"]),
    "green just below the threshold: none": (case("green", "engagement", p_upsell=THRESHOLD - 1e-9), ""),
    "green with notice given and a high propensity: still expansion": (
        case("green", "payments", p_upsell=0.6, cancellation_pending=1.0, overdue_invoices=2.0),
        PLAY["expansion"],
    ),
    "green with a payment problem, no propensity: none": (case("green", "payments", overdue_invoices=3.0), ""),
    "red with a high propensity: no expansion, the at-risk rules": (
        case("red", "email", p_upsell=0.9),
        PLAY["default"],
    ),
    "notice given wins over everything below it": (
        case("red", "payments", touch="tech", cancellation_pending=1.0, champion_left_90d=1.0, overdue_invoices=1.0),
        PLAY["cancellation"],
    ),
    "champion left": (case("yellow", "relationship", champion_left_90d=1.0), PLAY["champion left"]),
    "missed onboarding milestones, milestones weakest": (
        case("red", "milestones", milestones_missed_in_onboarding=2.0),
        PLAY["onboarding"],
    ),
    "missed milestones but engagement weakest: not onboarding": (
        case("red", "engagement", touch="high", milestones_missed_in_onboarding=2.0),
        PLAY["high engagement"],
    ),
    "milestones weakest, none missed: default": (case("red", "milestones"), PLAY["default"]),
    "tech touch, payments weakest, overdue invoice": (
        case("yellow", "payments", touch="tech", overdue_invoices=1.0),
        PLAY["tech payments"],
    ),
    "high touch, payments weakest, failed payment": (
        case("red", "payments", touch="high", failed_payments_180d=1.0),
        PLAY["payments"],
    ),
    "low touch, payments weakest, late invoices": (
        case("red", "payments", touch="low", late_invoices_180d=2.0),
        PLAY["payments"],
    ),
    "payments weakest without a payment problem: billing terms": (
        case("yellow", "payments", touch="tech"),
        PLAY["billing terms"],
    ),
    "high touch, engagement weakest": (case("red", "engagement", touch="high"), PLAY["high engagement"]),
    "low touch, engagement weakest": (case("red", "engagement", touch="low"), PLAY["engagement"]),
    "tech touch, engagement weakest": (case("yellow", "engagement", touch="tech"), PLAY["engagement"]),
    "support weakest": (case("red", "support"), PLAY["support"]),
    "sentiment weakest": (case("yellow", "sentiment"), PLAY["sentiment"]),
    "growth weakest": (case("red", "growth"), PLAY["growth"]),
    "email weakest: default": (case("red", "email"), PLAY["default"]),
    "relationship weakest, champion still there: default": (case("yellow", "relationship"), PLAY["default"]),
    "unknown flag counts as not set": (case("red", "support", cancellation_pending=np.nan), PLAY["support"]),
}


@pytest.mark.parametrize(("given", "expected"), CASES.values(), ids=CASES.keys())
def test_each_rule_fires_as_described(given: dict[str, Any], expected: str) -> None:
    assert play([given]) == [expected]


def test_many_rows_at_once_get_their_own_plays() -> None:
    given, expected = zip(*CASES.values(), strict=True)
    assert play(list(given)) == list(expected)
    assert set(PLAY.values()) <= set(expected)  # the cases reach every rule of the playbook


def test_a_custom_playbook_and_its_threshold(tmp_path: Path) -> None:
    path = tmp_path / "plays.toml"
    path.write_text(
        'expansion_threshold = 0.5\n[[rules]]\nname = "up"\nupsell = true\nplay = "Upsell"\n'
        '[[rules]]\nname = "tickets"\nany_of = ["overdue_invoices"]\nabove = 2\nplay = "Chase"\n'
        '[[rules]]\nname = "rest"\ntouch = "high"\nplay = "Call"\n'
    )
    book = load_playbook(path)
    assert book.expansion_threshold == 0.5
    cases = [
        case("green", "engagement", p_upsell=0.49), case("green", "engagement", p_upsell=0.5),
        case("red", "payments", overdue_invoices=2.0), case("red", "payments", overdue_invoices=3.0),
        case("red", "payments", touch="high", overdue_invoices=2.0), case("yellow", "email", touch="tech"),
    ]  # fmt: skip
    rows = pd.DataFrame([{"touch_model": c["touch_model"], "overdue_invoices": c.get("overdue_invoices", 0.0)}
                         for c in cases])  # fmt: skip
    components = pd.DataFrame([{f: (-6.0 if f == c["weakest"] else 0.5) for f in FAMILIES} for c in cases])
    got = suggest(rows, components, np.array([c["tier"] for c in cases]), np.array([c["p_upsell"] for c in cases]),
                  book)  # fmt: skip
    assert got == ["", "Upsell", "", "Chase", "Call", ""]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules = [", "malformed"),  # not TOML
        ("expansion_threshold = 0.2\n", "malformed"),  # no rules
        ('[[rules]]\nname = "x"\n', "malformed"),  # a rule without a play
        ('[[rules]]\nname = "x"\nplay = "p"\nfamly = "support"\n', "malformed"),  # a misspelt key
        ("rules = 5\n", "malformed"),
        ('expansion_threshold = "high"\n[[rules]]\nname = "x"\nplay = "p"\n', "malformed"),
        ('[[rules]]\nname = "x"\nplay = "p"\nfamily = "vibes"\n', "unknown family 'vibes'"),
        ('[[rules]]\nname = "x"\nplay = "p"\nany_of = ["logins_per_fortnight"]\n', "logins_per_fortnight"),
        ('[[rules]]\nname = "x"\nplay = "p"\nany_of = "overdue_invoices"\n', "rule 'x'"),  # a string, not a list
    ],
)
def test_a_malformed_playbook_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "plays.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as e:
        load_playbook(path)
    assert str(path) in str(e.value)  # the error says which file
