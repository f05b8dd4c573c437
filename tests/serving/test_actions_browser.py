"""Recording an action on the account page in a real browser (Chromium via Playwright): the form posts (with its
CSRF token), the page comes back listing the action, and the API lists the same action, recorded by the CSM."""

import json
import shutil
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from serving.app import create_app
from serving.pages import PASSWORDS
from tests.serving.browser import CHROMIUM, running
from tests.serving.conftest import READ_KEY, Served, read_table, settings_for


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}: apt-get install chromium")
def test_a_csm_records_an_action_and_the_api_sees_it(served: Served, tmp_path: Path) -> None:
    scores = tmp_path / "scores"
    # The actions are written beside these versions; none recorded yet.
    shutil.copytree(served.scores, scores, ignore=shutil.ignore_patterns("actions.jsonl"))
    account = str(read_table(served.warehouse, "SELECT min(account_id) AS a FROM scores.accounts")["a"].iloc[0])
    users = {"ana": {"password": PASSWORDS.hash("s3cret-pass"), "owner": "nobody"}}
    app = create_app(settings_for(served, scores=str(scores), csm_users=users, session_secret="x" * 40))
    with running(app) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(f"{base}/login")
        page.get_by_label("User name").fill("ana")
        page.get_by_label("Password").fill("s3cret-pass")
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{base}/accounts")
        page.goto(f"{base}/accounts/{account}")
        expect(page.locator("#no-actions")).to_be_visible()
        play = page.locator("#record-action select[name=play]").input_value()
        page.select_option("#record-action select[name=status]", "done")
        page.get_by_label("Note").fill("walked through the dashboard")
        page.get_by_role("button", name="Record").click()
        expect(page).to_have_url(f"{base}/accounts/{account}#actions")
        row = page.locator("#action-list tbody tr").first
        expect(row).to_contain_text("walked through the dashboard")
        expect(row).to_contain_text("done")
        browser.close()
        req = urllib.request.Request(f"{base}/v1/accounts/{account}/actions",
                                     headers={"Authorization": f"Bearer {READ_KEY}"})  # fmt: skip
        listed = json.loads(urllib.request.urlopen(req).read())["actions"]
    assert [(a["play"], a["status"], a["note"], a["by"], a["recorded_by"], a["source"]) for a in listed] == [
        (play, "done", "walked through the dashboard", "ana", "ana", "page")
    ]
