"""The CSM pages in a real browser: sign in, the ranking equals the API's for the same filter, the segment
filter, the riskiest account's reasons and play, sign out and be refused. Screenshots go to test-output/."""

from pathlib import Path

import pytest

from serving.app import create_app
from serving.pages import hash_password
from tests.serving.browser import CHROMIUM, running, tour
from tests.serving.conftest import READ_KEY, Served, read_table, settings_for

OUT = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}: apt-get install chromium")
def test_a_csm_tour_in_a_real_browser(served: Served) -> None:
    users = {"ana": {"password": hash_password("s3cret-pass"), "owner": "nobody"}}
    app = create_app(settings_for(served, csm_users=users, session_secret="x" * 40))
    with running(app) as base:
        seen = tour(base, "ana", "s3cret-pass", READ_KEY, OUT)
    latest = read_table(served.warehouse, "SELECT * FROM scores.accounts WHERE as_of = (SELECT max(as_of) FROM "
                                          "scores.accounts) ORDER BY p_churn DESC, account_id")  # fmt: skip
    assert seen["ranking"] == latest["account_id"].head(25).tolist() == seen["api_ranking"]
    mine = latest[latest["segment"] == seen["segment"]]
    assert seen["segment_ranking"] == mine["account_id"].head(25).tolist() == seen["segment_api_ranking"]
    assert set(seen["segments_shown"]) == {seen["segment"]}  # type: ignore[arg-type]
    riskiest = mine.iloc[0]
    assert str(seen["account_url"]).endswith(f"/accounts/{riskiest['account_id']}")
    assert len(seen["reasons"]) == 3 and all(seen["reasons"])  # type: ignore[arg-type]
    assert seen["play"] == (riskiest["play"] or "No action needed now.")
    assert seen["has_chart"] >= 2  # type: ignore[operator]
    assert str(seen["after_sign_out"]).endswith("/login")
    assert {p.name for p in OUT.glob("*.png")} >= {"login.png", "accounts.png", "account.png", "model.png"}
