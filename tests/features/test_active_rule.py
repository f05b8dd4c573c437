"""One rule for "active at as_of": half-open, start_at <= as_of < end_at (``features.rollups.active_at``).

Subscription rows that meet exactly at a snapshot time (monthly billing renewing at midnight on the 1st, a plan
change on the 1st) keep the account in that snapshot, with the new row's plan and MRR (an account signing up at
midnight on the 1st has its first snapshot a month later, and every one after); a row ending exactly at as_of no
longer serves it. The spine and the labels agree with the brute-force references and with values worked out by
hand; the fast build equals the portable one (Spark: ``tests/pipelines/spark/test_active_rule.py``); the old rule
(``start_at < as_of``), planted, fails the hand check.
"""

import pandas as pd
import pytest

import features.rollups
from features.labels import LabelConfig
from tests.features.checks import assert_labels_match, assert_matches_reference, engine_snapshots
from tests.features.worlds import AS_OF, DAY, at, day, midnight, world
from tests.pipelines.snapshots.test_fast_build import assert_same_rollups

FIRSTS = [day(f"2024-{m:02d}-01") for m in range(1, 8)]  # the 1sts of January to July, AS_OF = June 1
DATES = [midnight(t) for t in FIRSTS]
FAR = AS_OF + 1000 * DAY  # a data end that labels everything
OLD_RULE = "x.start_at < d.as_of AND (x.end_at IS NULL OR x.end_at > d.as_of)"  # before issue 26


def boundary_world() -> dict[str, pd.DataFrame]:
    """M1 signs up at midnight on January 1st and is billed monthly, its rows meeting at midnight on the 1sts (MRR
    100 + month number); P1 changes plan at AS_OF (pro 100 -> team 300); E1's only row ends at AS_OF."""
    months = [
        {"account_id": "M1", "start_at": start, "end_at": end, "mrr": 100.0 + start.month, "seats": 5,
         "plan": f"m{start.month}"}
        for start, end in zip(FIRSTS, [*FIRSTS[1:], None], strict=True)
    ]  # fmt: skip
    return world(
        (),
        accounts=[{"account_id": "M1", "created_at": FIRSTS[0]}, {"account_id": "P1"}, {"account_id": "E1"}],
        subscriptions=[
            *months,
            {"account_id": "P1", "end_at": AS_OF, "mrr": 100.0, "seats": 10, "plan": "pro"},
            {"account_id": "P1", "start_at": AS_OF, "mrr": 300.0, "seats": 20, "plan": "team"},
            {"account_id": "E1", "end_at": AS_OF},
        ],
    )


# Worked out by hand: (account, as_of) -> (mrr, seats, plan, days_on_current_terms, tenure_days); nothing else.
MAY = day("2024-05-01")
EXPECTED = {
    **{("M1", t): (100.0 + t.month, 5, f"m{t.month}", 0, (t - FIRSTS[0]).days) for t in FIRSTS[1:]},
    **{("P1", t): (100.0, 10, "pro", (t - day("2023-01-01")).days, (t - day("2023-01-01")).days) for t in FIRSTS[:5]},
    **{("P1", t): (300.0, 20, "team", (t - AS_OF).days, (t - day("2023-01-01")).days) for t in FIRSTS[5:]},
    **{("E1", t): (100.0, 10, "pro", (t - day("2023-01-01")).days, (t - day("2023-01-01")).days) for t in FIRSTS[:5]},
}  # fmt: skip
COLUMNS = ["mrr", "seats", "plan", "days_on_current_terms", "tenure_days"]


def assert_hand_values(snapshots: pd.DataFrame) -> None:
    """The snapshots hold exactly ``EXPECTED``'s (account, as_of) pairs, with its values."""
    keys = set(zip(snapshots["account_id"], snapshots["as_of"], strict=True))
    assert keys == set(EXPECTED), f"missing: {sorted(set(EXPECTED) - keys)}; extra: {sorted(keys - set(EXPECTED))}"
    for (account, as_of), want in EXPECTED.items():
        row = at(snapshots, account, as_of)
        got = (float(row["mrr"]), int(row["seats"]), row["plan"], int(row["days_on_current_terms"]),
               int(row["tenure_days"]))  # fmt: skip
        assert got == want, f"{account} at {as_of.date()}: {dict(zip(COLUMNS, got, strict=True))}, want {want}"


def test_rows_meeting_at_a_snapshot_time_keep_the_account_in_it_with_the_new_row() -> None:
    tables = boundary_world()
    assert_hand_values(assert_matches_reference(tables, DATES))
    assert_same_rollups(tables, DATES)  # the fast spine equals the portable one


def test_the_old_rule_planted_loses_the_accounts_at_their_boundaries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(features.rollups, "ACTIVE_ROW", OLD_RULE)
    planted = engine_snapshots(boundary_world(), DATES)
    assert not ((planted["account_id"] == "M1") & (planted["as_of"] == AS_OF)).any()  # the lost accounts
    with pytest.raises(AssertionError, match="missing: "):
        assert_hand_values(planted)


def test_labels_follow_the_same_rule() -> None:
    """Labels equal the reference's; by hand: a renewal or a plan change at a snapshot time is no churn, E1's end at
    AS_OF is churn at May 1, and P1's plan change at AS_OF is upsell at May 1 but the state (no upsell) at AS_OF."""
    got = assert_labels_match(boundary_world(), DATES, LabelConfig(), FAR)
    assert len(got) == len(EXPECTED)  # every snapshot of the spine has its label row
    churn = {(a, t): c for a, t, c in zip(got["account_id"], got["as_of"], got["churn"], strict=True)}
    upsell = {(a, t): u for a, t, u in zip(got["account_id"], got["as_of"], got["upsell"], strict=True)}
    assert [churn["M1", t] for t in FIRSTS[1:]] == [0.0] * 6
    assert (churn["P1", MAY], churn["P1", AS_OF], churn["E1", MAY]) == (0.0, 0.0, 1.0)
    assert (upsell["P1", MAY], upsell["P1", AS_OF], upsell["M1", MAY]) == (1.0, 0.0, 0.0)
