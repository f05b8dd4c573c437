"""The scorecard by hand on a three-row frame, and its configuration errors; the best single feature chosen on
the earlier training dates only."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from models.baselines import BestFeatureBaseline, Group, Rule, health_score, load_scorecard


def test_health_score_by_hand() -> None:
    groups = (
        Group("engagement", 3.0, (Rule("logins_30d", good=10, bad=0),)),
        Group("support", 1.0, (Rule("open_tickets", good=0, bad=4), Rule("tickets_30d", good=0, bad=2))),
    )
    rows = pd.DataFrame({"logins_30d": [10.0, 5.0, None], "open_tickets": [0.0, 8.0, 2.0],
                         "tickets_30d": [0.0, 1.0, 0.0]})  # fmt: skip
    # Row 0: 100 and (100+100)/2; row 1: 50 and (0+50)/2; row 2: missing -> 50, and (50+100)/2.
    expected = [0.75 * 100 + 0.25 * 100, 0.75 * 50 + 0.25 * 25, 0.75 * 50 + 0.25 * 75]
    assert np.allclose(health_score(rows, groups), expected)


def test_default_scorecard_loads_and_covers_five_groups() -> None:
    assert [g.name for g in load_scorecard()] == ["engagement", "support", "payments", "growth", "sentiment"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[groups.a]\nweight = 1\nrules = [{ feature = "no_such", good = 1, bad = 0 }]', "unknown features"),
        ('[groups.a]\nweight = 1\nrules = [{ feature = "logins_30d", good = 1, bad = 1 }]', "good != bad"),
        ("[groups.a]\nrules = []", "malformed"),
    ],
)
def test_bad_scorecards_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "card.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_scorecard(path)


def test_the_best_single_feature_is_chosen_and_signed_on_the_earlier_training_dates_only() -> None:
    rng = np.random.default_rng(2)
    dates = pd.date_range("2025-01-01", periods=4, freq="MS", tz="UTC")
    rows = pd.DataFrame([(f"A{i}", d) for i in range(400) for d in dates], columns=["account_id", "as_of"])
    rows["label"] = (rng.random(len(rows)) < 0.3).astype(int)
    latest = (rows["as_of"] == dates[-1]).to_numpy()
    rows["logins"] = rng.normal(size=len(rows)) - 1.0 * rows["label"]  # fewer logins, more churn: sign -1
    rows["weaker"] = rng.normal(size=len(rows)) + 0.5 * rows["label"]
    # Perfect on the latest date only (where the calibration reads), noise before: never chosen.
    rows["later_only"] = np.where(latest, rows["label"] * 10.0, rng.normal(size=len(rows)))
    b = BestFeatureBaseline(inner_dates=1).fit(rows)
    early = rows[~latest]
    aucs = {c: roc_auc_score(early["label"], early[c]) for c in ("logins", "weaker", "later_only")}
    assert max(aucs, key=lambda c: abs(aucs[c] - 0.5)) == "logins" == b.feature_
    assert b.sign_ == -1.0 and b.training_roc_auc_ == pytest.approx(1 - aucs["logins"])
    p = b.predict_proba(pd.DataFrame({"logins": [-2.0, 0.0, 2.0]}))[:, 1]
    assert p[0] > p[1] > p[2]
