"""``pipelines.effects`` on hand-dated rows: outcomes by the label rules, groups by assignment (not by action)."""

from pathlib import Path

import pandas as pd
import pytest

from features.labels import LabelConfig
from pipelines.effects import EffectsError, effect_frame, outcomes, read_table

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
