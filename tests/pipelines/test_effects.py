"""``pipelines.effects`` on hand-dated rows: outcomes by the label rules, groups by assignment (not by action)."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from features.labels import LabelConfig
from pipelines.effects import (
    EffectsError,
    EffectsReport,
    effect_frame,
    effect_row,
    effects_document,
    outcomes,
    read_table,
)

AS_OF = pd.Timestamp("2024-04-01", tz="UTC")


def ts(day: str) -> pd.Timestamp:
    return pd.Timestamp(day, tz="UTC")


def test_outcomes_follow_the_label_rules() -> None:
    subs = pd.DataFrame({
        "subscription_id": ["s1", "s2", "s3", "s4"], "account_id": ["a", "b", "c", "c"],
        "start_at": [ts("2024-01-01")] * 3 + [ts("2024-05-20")],
        "end_at": [ts("2024-05-01"), pd.NaT, ts("2024-05-10"), pd.NaT],
        "mrr": [10.0, 20, 30, 30], "seats": [1, 2, 3, 3],
    })  # fmt: skip
    spine = pd.DataFrame({"account_id": ["a", "b", "c"], "as_of": [AS_OF] * 3})
    got = outcomes(subs, spine, LabelConfig(horizon_days=90, grace_days=30), ts("2025-01-01"))
    churn = got.set_index("account_id").churn.to_dict()
    assert churn == {"a": 1, "b": 0, "c": 0}  # c came back within the grace period
    unknown = outcomes(subs, spine, LabelConfig(horizon_days=90, grace_days=30), ts("2024-06-01"))
    assert unknown.churn.isna().all()  # the data end before the horizon and the grace period


def test_groups_are_by_assignment_and_only_actions_after_as_of_count() -> None:
    assignments = pd.DataFrame({
        "account_id": ["a", "b", "c", "d"], "play": "p", "as_of": AS_OF,
        "eligible": [True, True, True, False], "held_out": [False, True, False, False],
    })  # fmt: skip
    actions = pd.DataFrame({"account_id": ["a", "c"], "play": "p", "status": "started",
                            "at": [ts("2024-04-03"), ts("2024-03-01")]})  # fmt: skip
    labels = pd.DataFrame({"account_id": ["a", "b", "c"], "as_of": AS_OF, "churn": [0, 1, 1]})
    risk = pd.DataFrame({"account_id": ["a", "b", "c"], "as_of": AS_OF, "risk": [0.1, 0.2, 0.3]})
    got = effect_frame(assignments, actions, labels, risk, "churn").set_index("account_id")
    assert got.index.tolist() == ["a", "b", "c"]  # d is not eligible
    assert got.treated.tolist() == [True, False, True]  # c is treated though no CSM ran the play after as_of
    assert got.acted.tolist() == [True, False, False]
    assert got.y.tolist() == [0, 1, 1]


def test_a_missing_table_is_named_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(EffectsError, match=r"no play_actions table in .* \(play_actions.parquet or play_actions.csv\)"):
        read_table(tmp_path, "play_actions", "generate with --plays")


def effects_row(play: str, treated: int, held_out: int, effect: float, lo90: float, hi90: float,
                naive: float) -> dict[str, object]:  # fmt: skip
    """A row of ``models.effects.effects_table`` by hand (the 95% interval 0.01 wider on each side)."""
    return {"play": play, "treated": treated, "held_out": held_out, "effect": effect, "se": 0.0176, "lo90": lo90,
            "hi90": hi90, "lo95": lo90 - 0.01, "hi95": hi90 + 0.01, "unadjusted": effect + 0.002,
            "unadjusted_se": 0.018, "naive": naive, "naive_se": 0.011}  # fmt: skip


def test_the_effects_document_holds_each_play_and_the_pooled_row_with_verdicts() -> None:
    table = pd.DataFrame([
        effects_row("health_check_call", 812, 203, -0.041, -0.070, -0.012, 0.029),
        effects_row("automated_nudges", 400, 100, 0.034, 0.010, 0.058, 0.069),
        effects_row("training_webinar", 500, 125, -0.004, -0.020, 0.012, 0.020),
        effects_row("all", 1712, 428, -0.009, -0.020, 0.002, 0.035),
    ])  # fmt: skip
    measured = datetime(2025, 2, 3, 4, 5, 6, tzinfo=UTC)
    report = EffectsReport(table, "churn", ["intention-to-treat"], 90, ts("2025-01-01"),
                           (ts("2024-03-01"), ts("2024-08-01")), measured)  # fmt: skip
    doc = effects_document(report)
    assert json.loads(json.dumps(doc)) == doc  # plain JSON, as published
    assert {k: v for k, v in doc.items() if k not in ("plays", "overall")} == {
        "target": "churn", "horizon_days": 90, "measured_at": "2025-02-03T04:05:06+00:00",
        "matured_through": "2025-01-01T00:00:00+00:00", "assigned_from": "2024-03-01T00:00:00+00:00",
        "assigned_to": "2024-08-01T00:00:00+00:00", "notes": ["intention-to-treat"],
    }  # fmt: skip
    assert doc["plays"][0] == {
        "play": "health_check_call", "treated": 812, "held_out": 203, "effect": -0.041, "se": 0.0176, "lo90": -0.07,
        "hi90": -0.012, "lo95": -0.08, "hi95": -0.002, "unadjusted": -0.039, "naive": 0.029, "verdict": "helps",
    }  # fmt: skip
    # Fewer churners helps; more harms; an interval across 0 says nothing either way.
    assert [(p["play"], p["verdict"]) for p in doc["plays"]] == [
        ("health_check_call", "helps"), ("automated_nudges", "harms"), ("training_webinar", "unclear")
    ]  # fmt: skip
    assert doc["overall"]["play"] == "all" and doc["overall"]["treated"] == 1712
    assert doc["overall"]["verdict"] == "unclear"


def test_for_upsell_a_higher_rate_helps() -> None:
    row = pd.Series(effects_row("expansion", 300, 75, 0.03, 0.01, 0.05, 0.06))
    assert effect_row(row, "upsell")["verdict"] == "helps"
    assert effect_row(row, "churn")["verdict"] == "harms"
