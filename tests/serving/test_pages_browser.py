"""The CSM pages in a real browser: sign in, the ranking (accounts at risk before notice) equals the API's for the
same filter, the segment filter, the riskiest account's reasons and play, the save desk lists the accounts that
gave notice and the accounts page does not rank them, sign out and be refused. Screenshots go to test-output/."""

from pathlib import Path

import pytest

from serving.app import create_app
from serving.pages import PASSWORDS
from tests.serving.browser import CHROMIUM, running, tour
from tests.serving.conftest import READ_KEY, Served, read_table, settings_for

OUT = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}: apt-get install chromium")
def test_a_csm_tour_in_a_real_browser(served: Served) -> None:
    users = {"ana": {"password": PASSWORDS.hash("s3cret-pass"), "owner": "nobody"}}
    app = create_app(settings_for(served, csm_users=users, session_secret="x" * 40))
    with running(app) as base:
        seen = tour(base, "ana", "s3cret-pass", READ_KEY, OUT)
    latest = read_table(served.warehouse, "SELECT * FROM scores.accounts WHERE as_of = (SELECT max(as_of) FROM "
                                          "scores.accounts) ORDER BY p_churn DESC, account_id")  # fmt: skip
    given, before = latest[latest["notice_given"]], latest[~latest["notice_given"]]
    assert len(given) > 0
    assert seen["ranking"] == before["account_id"].head(25).tolist() == seen["api_ranking"]
    mine = before[before["segment"] == seen["segment"]]
    assert seen["segment_ranking"] == mine["account_id"].head(25).tolist() == seen["segment_api_ranking"]
    assert set(seen["segments_shown"]) == {seen["segment"]}  # type: ignore[arg-type]
    riskiest = mine.iloc[0]
    assert str(seen["account_url"]).endswith(f"/accounts/{riskiest['account_id']}")
    assert len(seen["reasons"]) == 3 and all(seen["reasons"])  # type: ignore[arg-type]
    assert seen["play"] == (riskiest["play"] or "No action needed now.")
    assert seen["has_chart"] >= 2  # type: ignore[operator]
    desk = given.sort_values(["revenue_at_risk", "account_id"], ascending=[False, True])["account_id"]
    assert seen["save_desk"] == desk.head(25).tolist() == seen["save_desk_api"]
    assert seen["notice_account"] == desk.iloc[0]
    assert "given notice to cancel" in str(seen["notice"])
    assert seen["notice_account"] not in seen["name_search"]  # type: ignore[operator]
    assert str(seen["after_sign_out"]).endswith("/login")
    assert {p.name for p in OUT.glob("*.png")} >= {"login.png", "accounts.png", "account.png", "model.png"}
