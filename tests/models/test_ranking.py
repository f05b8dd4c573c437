"""The ranked lists on six hand-made accounts: which accounts each list holds, the order (ties by account id), the
filters, the totals and the pages, all written out by hand."""

import pandas as pd
import pytest

from models.ranking import Filters, rank, renewals

NA = pd.NA


def scores() -> pd.DataFrame:
    """a2's notice is unknown (counts as not given); a5 has no name; a6 no owner."""
    return pd.DataFrame({
        "account_id": ["a1", "a2", "a3", "a4", "a5", "a6"],
        "as_of": pd.Timestamp("2025-06-01", tz="UTC"),
        "name": ["Acme Corp", "Beta Labs", "Core Acme", "Delta", None, "acme west"],
        "segment": ["smb", "mid_market", "enterprise", "smb", "smb", "mid_market"],
        "touch_model": ["low", "high", "tech", "low", "low", "high"],
        "csm_owner": ["Ana", "Bo", "Ana", "Bo", "Ana", None],
        "notice_given": pd.array([False, NA, True, False, True, False], dtype="boolean"),
        "p_churn": [0.8, 0.8, 0.6, 0.3, 0.9, 0.1],
        "p_upsell": [0.1, 0.5, 0.2, 0.9, 0.4, 0.5],
        "health": [20.0, 25.0, 45.0, 80.0, 15.0, 85.0],
        "tier": ["red", "red", "yellow", "green", "red", "green"],
        "arr": [1000.0, 5000.0, 10000.0, 1000.0, 1000.0, 20000.0],
        "revenue_at_risk": [800.0, 4000.0, 6000.0, 300.0, 900.0, 2000.0],
        "top_reason": ["few logins", "support backlog", None, "few logins", "late invoices", "seats unused"],
        "play": ["call", "escalate", "save", "nurture", "save", "nurture"],
        "churn_version": "3",
    })  # fmt: skip


def ids(ranking: str, by: str = "probability", filters: Filters | None = None, **page: int) -> list[str]:
    return [r["account_id"] for r in rank(scores(), ranking, by, filters, **page).rows]  # type: ignore[arg-type]


def total(ranking: str, filters: Filters | None = None) -> int:
    return rank(scores(), ranking, filters=filters).total  # type: ignore[arg-type]


def test_each_list_holds_its_accounts_highest_first_ties_by_account_id() -> None:
    assert ids("at-risk") == ["a1", "a2", "a4", "a6"]  # a1 and a2 tie at 0.8
    assert ids("at-risk", "revenue") == ["a2", "a6", "a1", "a4"]
    assert ids("save-desk") == ["a5", "a3"]
    assert ids("save-desk", "revenue") == ["a3", "a5"]
    assert ids("upsell") == ["a4", "a2", "a6", "a5", "a3", "a1"]  # a2 and a6 tie at 0.5
    assert ids("upsell", "revenue") == ids("upsell")  # no expansion model (no column): by probability
    assert (total("at-risk"), total("save-desk"), total("upsell")) == (4, 2, 6)


def test_the_upsell_list_by_revenue_ranks_by_expected_expansion_arr_missing_last() -> None:
    frame = scores().assign(expected_expansion_arr=[50.0, 400.0, None, 90.0, 400.0, 3000.0])
    got = rank(frame, "upsell", "revenue")
    # a2 and a5 tie at 400 (by id); a3 has none: last, still listed since it has an upsell probability
    assert [r["account_id"] for r in got.rows] == ["a6", "a2", "a5", "a4", "a1", "a3"]
    assert got.rows[0]["expected_expansion_arr"] == 3000.0 and got.rows[-1]["expected_expansion_arr"] is None
    assert [r["account_id"] for r in rank(frame, "upsell").rows] == ["a4", "a2", "a6", "a5", "a3", "a1"]
    # an expansion model without an upsell model (the tweedie kind) still lists the accounts
    alone = frame.assign(p_upsell=None)
    assert [r["account_id"] for r in rank(alone, "upsell", "revenue").rows] == ["a6", "a2", "a5", "a4", "a1"]


def test_filters_keep_equal_values_and_names_containing_the_search_case_ignored() -> None:
    assert ids("at-risk", filters=Filters(segment="smb")) == ["a1", "a4"]
    assert ids("at-risk", filters=Filters(owner="Ana")) == ["a1"]
    assert ids("at-risk", filters=Filters(tier="red")) == ["a1", "a2"]
    assert ids("upsell", filters=Filters(segment="mid_market", touch_model="high")) == ["a2", "a6"]
    assert ids("at-risk", filters=Filters(q="acme")) == ["a1", "a6"]
    assert ids("upsell", filters=Filters(q="ACME")) == ["a6", "a3", "a1"]  # a5 has no name: not found, no error
    assert ids("save-desk", filters=Filters(owner="Ana", segment="smb")) == ["a5"]
    assert ids("at-risk", filters=Filters(segment="enterprise")) == []
    assert total("at-risk", Filters(segment="smb")) == 2
    assert total("upsell", Filters(q="acme")) == 3
    assert total("at-risk", Filters(segment="", owner="", q="")) == 4  # empty: no filter


def test_a_page_is_limit_rows_after_offset_and_the_total_counts_every_page() -> None:
    assert ids("at-risk", limit=2, offset=1) == ["a2", "a4"]
    assert ids("upsell", limit=2, offset=4) == ["a3", "a1"]
    got = rank(scores(), "at-risk", limit=2, offset=10)
    assert (got.total, got.rows) == (4, [])


def test_rows_carry_the_ranked_columns_with_missing_values_as_none() -> None:
    a2 = rank(scores(), "at-risk", "revenue", limit=1).rows
    assert a2 == [{
        "account_id": "a2", "name": "Beta Labs", "segment": "mid_market", "touch_model": "high", "csm_owner": "Bo",
        "notice_given": None, "p_churn": 0.8, "p_upsell": 0.5, "health": 25.0, "tier": "red", "arr": 5000.0,
        "revenue_at_risk": 4000.0, "expected_expansion_arr": None, "top_reason": "support backlog", "play": "escalate",
    }]  # fmt: skip
    a5 = rank(scores(), "save-desk", limit=1).rows[0]
    assert (a5["account_id"], a5["name"], a5["notice_given"]) == ("a5", None, True)
    a3 = rank(scores(), "save-desk", "revenue", limit=1).rows[0]
    assert (a3["account_id"], a3["top_reason"]) == ("a3", None)


def test_no_scores_rank_nothing_and_the_input_is_not_changed() -> None:
    assert rank(pd.DataFrame(), "at-risk").total == 0 and rank(pd.DataFrame(), "upsell").rows == []
    before = scores()
    given = before.copy()
    rank(given, "at-risk", "revenue", Filters(q="acme"), limit=2)
    pd.testing.assert_frame_equal(given, before)


def test_an_unknown_list_or_order_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="no ranking 'churn' by 'probability'"):
        rank(scores(), "churn")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="by 'arr'"):
        rank(scores(), "at-risk", "arr")  # type: ignore[arg-type]


def test_renewals_within_the_window_by_expected_arr_lost_a_notice_counting_whole() -> None:
    t = pd.Timestamp("2025-12-01", tz="UTC")
    scores = pd.DataFrame({
        "account_id": ["a", "b", "c", "d", "e"], "name": ["A", "B", "C", "D", "E"],
        "segment": ["smb", "smb", "enterprise", "smb", "smb"], "touch_model": "low", "csm_owner": "x", "tier": "red",
        "notice_given": pd.array([False, True, None, False, False], dtype="boolean"),
        "p_churn": [0.5, 0.1, 0.2, 0.9, 0.3], "renewal_arr": [1000.0, 600.0, 5000.0, 100.0, 2000.0],
        "next_renewal_at": [t + pd.Timedelta(days=d) for d in (10, 89, 90, 91, 30)],
        "top_reason": None, "play": "p",
    })  # fmt: skip
    got = renewals(scores, t, 90)
    # By hand: a 500, b 600 (notice: all of it), c 1000, e 600; d renews after 90 days. Ties by account id.
    assert [(r["account_id"], r["expected_arr_lost"]) for r in got.rows] == [
        ("c", 1000.0),
        ("b", 600.0),
        ("e", 600.0),
        ("a", 500.0),
    ]
    assert got.total == 4 and [r["days_to_renewal"] for r in got.rows] == [90, 89, 30, 10]
    assert renewals(scores, t, 90, Filters(segment="smb"), limit=1, offset=1).rows[0]["account_id"] == "e"
    assert renewals(scores.drop(columns=["next_renewal_at"]), t, 90).total == 0  # published before renewals


def test_a_renewal_reads_the_churn_curve_at_its_day_at_least_the_first_horizon() -> None:
    t = pd.Timestamp("2025-12-01", tz="UTC")
    curve = {"churn_within_30": [0.1, 0.1, 0.1, None], "churn_within_60": [0.2, 0.2, 0.2, None],
             "churn_within_90": [0.3, 0.3, 0.3, None], "churn_within_180": [0.6, 0.6, 0.6, None],
             "churn_within_365": [0.8, 0.8, 0.8, None]}  # fmt: skip
    scores = pd.DataFrame({
        "account_id": ["a", "b", "c", "d"], "name": "n", "segment": "smb", "touch_model": "low", "csm_owner": "x",
        "tier": "red", "notice_given": pd.array([False] * 4, dtype="boolean"), "p_churn": [0.3, 0.3, 0.3, 0.4],
        "renewal_arr": [1000.0] * 4, "top_reason": None, "play": "p", **curve,
        "next_renewal_at": [t + pd.Timedelta(days=d) for d in (10, 75, 135, 135)],
    })  # fmt: skip
    got = {r["account_id"]: r["p_churn_by_renewal"] for r in renewals(scores, t, 365).rows}
    # By hand: day 10 reads the 30-day value; 75 is halfway from 60 (0.2) to 90 (0.3); 135 halfway from 90 (0.3)
    # to 180 (0.6); d has no curve: its p_churn.
    assert got == pytest.approx({"a": 0.1, "b": 0.25, "c": 0.45, "d": 0.4})
