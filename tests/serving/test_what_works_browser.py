"""The What works page in a real browser (Chromium via Playwright): reached from the nav once effects are
published, one row per play and one for all plays, each with its interval chart, the harmful play flagged."""

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from pipelines.publish import publish_document
from serving.app import create_app
from serving.pages import PASSWORDS
from tests.serving.browser import CHROMIUM, running
from tests.serving.conftest import Served, settings_for
from tests.serving.test_what_works import document

OUT = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}: apt-get install chromium")
def test_a_csm_lead_opens_what_works_from_the_nav(served: Served, tmp_path: Path) -> None:
    scores = tmp_path / "scores"
    shutil.copytree(served.scores, scores)
    publish_document("effects", document(), str(scores))
    users = {"lea": {"password": PASSWORDS.hash("s3cret-pass"), "owner": "nobody"}}
    app = create_app(settings_for(served, scores=str(scores), csm_users=users, session_secret="x" * 40))
    OUT.mkdir(parents=True, exist_ok=True)
    with running(app) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/login")
        page.get_by_label("User name").fill("lea")
        page.get_by_label("Password").fill("s3cret-pass")
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{base}/accounts")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="What works").click()
        expect(page).to_have_url(f"{base}/what-works")
        rows = page.locator("#effects tbody tr")
        expect(rows).to_have_count(4)
        expect(rows.first).to_contain_text("Executive sponsor call: churn 4.1 points lower")
        expect(page.locator('tr[data-verdict="harms"] .badge')).to_have_text("harmful")
        expect(page.locator("#effects svg")).to_have_count(4)
        page.screenshot(path=OUT / "what-works.png", full_page=True)
        browser.close()
