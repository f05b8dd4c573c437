"""``pipelines.effects`` on hand-dated rows: outcomes by the label rules, groups by assignment (not by action)."""

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from features.labels import LabelConfig
from models.uplift import qini_coefficient
from pipelines.effects import (
    MIN_OUTCOMES,
    EffectsError,
    EffectsReport,
    effect_frame,
    effect_row,
    effects_document,
    outcomes,
    read_table,
    uplift_row,
    uplift_table,
    with_covariates,
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
        "uplift": None,  # no uplift table in this report
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


def test_the_covariates_are_the_sizes_active_at_as_of_and_the_segment() -> None:
    frame = pd.DataFrame({"account_id": ["a", "b", "c"], "as_of": AS_OF, "play": "p"})
    subs = pd.DataFrame({
        "account_id": ["a", "a", "a", "b"], "seats": [2, 3, 50, 7], "mrr": [20.0, 30, 500, 70],
        "start_at": [ts("2024-01-01"), ts("2024-03-01"), ts("2024-04-02"), ts("2023-01-01")],
        "end_at": [pd.NaT, ts("2024-06-01"), pd.NaT, ts("2024-04-01")],  # a's third starts after as_of, b's ended
    })  # fmt: skip
    accounts = pd.DataFrame({"account_id": ["a", "b", "c"], "segment": ["smb", "enterprise", "smb"]})
    got = with_covariates(frame, subs, accounts).set_index("account_id")
    assert got.seats.to_dict() == {"a": 5, "b": 0, "c": 0}
    assert got.mrr.to_dict() == {"a": 50.0, "b": 0.0, "c": 0.0}
    assert got.segment.to_dict() == {"a": "smb", "b": "enterprise", "c": "smb"}
    assert "segment" not in with_covariates(frame, subs, None)
    assert len(frame.columns) == 3  # the input is not mutated


def play_rows(n: int, seed: int, play: str = "p") -> pd.DataFrame:
    """A play's effect frame: two segments of the same risk, the play lowering the churn log-odds by 1.5 in smb
    and not at all in enterprise; 70% treated."""
    rng = np.random.default_rng(seed)
    smb = rng.random(n) < 0.5
    risk = expit(rng.normal(-1.6, 0.5, n))
    treated = rng.random(n) < 0.7
    y = (rng.random(n) < expit(logit(risk) - 1.5 * (treated & smb))).astype(float)
    return pd.DataFrame({"play": play, "account_id": [f"a{i}" for i in range(n)], "y": y, "treated": treated,
                         "risk": risk, "segment": np.where(smb, "smb", "enterprise"),
                         "seats": rng.integers(1, 50, n), "mrr": rng.uniform(10, 1000, n)})  # fmt: skip


def test_a_play_with_too_few_churners_in_a_group_is_not_fitted_and_says_why() -> None:
    rows = play_rows(800, 1)
    held_out_churners = rows.index[~rows.treated & (rows.y == 1)]
    rows.loc[held_out_churners[MIN_OUTCOMES - 1 :], "y"] = 0.0  # leaves 29 churners held out
    got = uplift_row(rows, "churn")
    assert got["fitted"] is False and got["held_out_events"] == MIN_OUTCOMES - 1
    assert got["treated_events"] == int(rows.y[rows.treated].sum())
    assert "29 among the held out" in got["reason"] and f"at least {MIN_OUTCOMES} in each group" in got["reason"]
    rows.loc[held_out_churners[MIN_OUTCOMES - 1], "y"] = 1.0  # 30: enough
    assert uplift_row(rows, "churn")["fitted"] is True


def test_a_fitted_play_reports_its_ranking_beside_the_risk_ranking() -> None:
    rows = play_rows(6000, 2)
    got = uplift_row(rows, "churn")
    y, t = rows.y.to_numpy(), rows.treated.to_numpy()
    assert got["fitted"] is True
    assert got["qini_risk"] == pytest.approx(qini_coefficient(rows.risk.to_numpy(), y, t))
    assert got["qini_lo90"] < got["qini"] < got["qini_hi90"]
    assert got["qini_vs_risk"] == pytest.approx(got["qini"] - got["qini_risk"])
    assert got["qini_vs_risk_lo90"] > 0  # the segment the play helps is found, which risk alone cannot
    # The top 30% are mostly smb, where the play lowers churn by about 10 points, against about 5 for all.
    assert got["uplift_top30_lo90"] < got["uplift_top30"] < got["uplift_top30_hi90"]
    assert got["uplift_top30"] > 0.07


def test_for_upsell_the_ranking_is_of_upsells_gained() -> None:
    rows = play_rows(6000, 3)
    # The same world read as upsell: y the upsell, the play raising it where it lowered churn above.
    flipped = rows.assign(y=1 - rows.y, risk=1 - rows.risk)
    churn, upsell = uplift_row(rows, "churn"), uplift_row(flipped, "upsell")
    assert upsell["qini"] == pytest.approx(churn["qini"]) and upsell["qini_risk"] == pytest.approx(churn["qini_risk"])


def test_the_document_publishes_each_plays_uplift() -> None:
    rows = pd.concat([play_rows(3000, 4, "health_check_call"), play_rows(300, 5, "training_webinar")])
    uplift = uplift_table(rows, "churn")
    table = pd.DataFrame([
        effects_row("health_check_call", 2100, 900, -0.05, -0.07, -0.03, 0.0),
        effects_row("training_webinar", 210, 90, 0.0, -0.02, 0.02, 0.0),
        effects_row("all", 2310, 990, -0.04, -0.06, -0.02, 0.0),
    ])  # fmt: skip
    doc = effects_document(EffectsReport(table, "churn", uplift=uplift))
    assert json.loads(json.dumps(doc)) == doc
    fitted, small = doc["plays"][0]["uplift"], doc["plays"][1]["uplift"]
    assert fitted["fitted"] is True and fitted["qini"] == pytest.approx(uplift.qini[0], abs=1e-6)
    assert set(fitted) >= {"qini_lo90", "qini_hi90", "qini_risk", "qini_vs_risk", "uplift_top30"}
    assert small == {"fitted": False, "treated_events": int(uplift.treated_events[1]),
                     "held_out_events": int(uplift.held_out_events[1]), "reason": uplift.reason[1]}  # fmt: skip
    assert "uplift" not in doc["overall"]
