"""``churn effects --rank``: the accounts of the latest scores ranked per play by the uplift model, checked against
the true uplift of a simulated play (computed by hand from its log-odds shift), and on files as a user gives them."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit
from scipy.stats import spearmanr

from pipelines.effects import EffectsError
from pipelines.play_ranking import COLUMNS, current_accounts, rank_accounts
from tests.pipelines.test_effects import play_rows

AS_OF = pd.Timestamp("2024-06-01", tz="UTC")
SHIFT = {"smb": -1.5, "enterprise": 0.0}  # play_rows' true shift of the churn log-odds by segment


def now(n: int, seed: int) -> pd.DataFrame:
    """Accounts to rank: a segment, seats, MRR and a risk each (``current_accounts``' columns), drawn as
    ``play_rows``' accounts are."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"account_id": [f"n{i}" for i in range(n)], "as_of": AS_OF,
                         "risk": expit(rng.normal(-1.6, 0.5, n)), "segment": rng.choice(list(SHIFT), n),
                         "seats": rng.integers(1, 50, n), "mrr": rng.uniform(10, 1000, n)})  # fmt: skip


def test_the_ranking_follows_the_true_uplift() -> None:
    current = now(400, 7)
    ranking, skipped = rank_accounts(play_rows(8000, 6), current, "churn")
    assert skipped == {} and list(ranking.columns) == list(COLUMNS)
    assert ranking["rank"].tolist() == list(range(1, 401)) and ranking.uplift.is_monotonic_decreasing
    # The true reduction in churn from assigning the play: P(churn) minus P(churn) with the shift.
    truth = current.risk - expit(logit(current.risk) + current.segment.map(SHIFT))
    got = ranking.set_index("account_id").uplift.reindex(current.account_id).to_numpy()
    # Within the sampling noise of about 2,400 held-out accounts (a churn rate's standard error there is about
    # 0.01), against an uplift of about 0.13 in smb.
    assert np.mean(np.abs(got - truth)) < 0.03 and truth[current.segment == "smb"].mean() > 0.1
    assert spearmanr(got, truth).statistic > 0.9
    # The ranking by risk alone mixes in enterprise accounts the play does not help.
    top = ranking.head(100).merge(current, on="account_id")
    riskiest = current.nlargest(100, "risk")
    assert (top.segment == "smb").mean() > 0.95 > (riskiest.segment == "smb").mean()


def test_a_play_with_too_few_outcomes_is_not_ranked_and_says_why() -> None:
    rows = pd.concat([play_rows(6000, 8, "call"), play_rows(150, 9, "webinar")])
    ranking, skipped = rank_accounts(rows, now(50, 10), "churn")
    assert set(ranking.play) == {"call"} and len(ranking) == 50
    assert list(skipped) == ["webinar"] and "the uplift model needs at least 30" in skipped["webinar"]


def test_for_upsell_the_uplift_is_the_upsell_gained() -> None:
    rows, current = play_rows(8000, 11), now(200, 12)
    churn, _ = rank_accounts(rows, current, "churn")
    # The same world read as upsell: y the upsell (no churn), the risk its probability.
    upsell, _ = rank_accounts(rows.assign(y=1 - rows.y, risk=1 - rows.risk), current.assign(risk=1 - current.risk),
                              "upsell")  # fmt: skip
    pd.testing.assert_series_equal(churn.set_index("account_id").uplift,
                                   upsell.set_index("account_id").uplift.reindex(churn.account_id))  # fmt: skip


def test_the_scores_file_gives_the_latest_accounts_with_their_size_and_segment(tmp_path: Path) -> None:
    # d was scored only before the latest date (it churned): it is not ranked.
    may, june = "2024-05-01", "2024-06-01"
    scores = pd.DataFrame({"account_id": ["a", "a", "b", "c", "d"], "p_churn": [0.1, 0.3, 0.2, None, 0.9],
                           "as_of": [may, june, june, june, may]})  # fmt: skip
    scores.to_csv(tmp_path / "scores.csv", index=False)
    subs = pd.DataFrame({"account_id": ["a", "b", "b"], "seats": [5, 2, 3], "mrr": [50.0, 20, 30],
                         "start_at": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-07-01"], utc=True),
                         "end_at": pd.to_datetime([None, None, None], utc=True)})  # fmt: skip
    subs.to_parquet(tmp_path / "subscriptions.parquet")  # b's second row starts after as_of
    pd.DataFrame({"account_id": ["a", "b"], "segment": ["smb", "enterprise"]}).to_csv(tmp_path / "accounts.csv")
    got = current_accounts(tmp_path, tmp_path / "scores.csv", "churn").set_index("account_id")
    assert sorted(got.index) == ["a", "b"]  # c has no probability
    assert got.risk.to_dict() == {"a": 0.3, "b": 0.2}
    assert got.seats.to_dict() == {"a": 5, "b": 2} and got.segment.to_dict() == {"a": "smb", "b": "enterprise"}
    with pytest.raises(EffectsError, match="has no column p_upsell: --rank needs account_id, as_of and p_upsell"):
        current_accounts(tmp_path, tmp_path / "scores.csv", "upsell")
