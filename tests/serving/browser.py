"""A CSM's tour of the pages in a real browser (Playwright driving Debian's Chromium): sign in, see the ranking,
filter by segment, open the riskiest account, read its reasons and play, open the save desk and its first account,
look that account up on the accounts page, sign out and be refused. Screenshots of each page go to ``out``.

The tests run it on their small world; on the demo data it makes the README's screenshots:

    uv run python -m tests.serving.browser   # after `make demo`; writes docs/screenshots/*.png
"""

import json
import os
import re
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Page, expect, sync_playwright

from tests.ports import free_port

CHROMIUM = os.environ.get("CHURN_CHROMIUM", "/usr/bin/chromium")


@contextmanager
def running(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yield its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def api_ranking(base: str, key: str, query: str, ranking: str = "at-risk") -> list[str]:
    req = urllib.request.Request(f"{base}/v1/rankings/{ranking}?{query}", headers={"Authorization": f"Bearer {key}"})
    return [i["account_id"] for i in json.loads(urllib.request.urlopen(req).read())["items"]]


def page_ranking(page: Page) -> list[str]:
    return [str(r.get_attribute("data-account")) for r in page.locator("tr[data-account]").all()]


def tour(base: str, user: str, password: str, key: str, out: Path, width: int = 1280) -> dict[str, object]:
    """Walk the pages; return what was seen (for the tests' assertions)."""
    out.mkdir(parents=True, exist_ok=True)
    seen: dict[str, object] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.goto(f"{base}/accounts")
        expect(page).to_have_url(f"{base}/login")  # closed to strangers
        page.screenshot(path=out / "login.png")
        page.get_by_label("User name").fill(user)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{base}/accounts")
        seen["ranking"] = page_ranking(page)
        seen["api_ranking"] = api_ranking(base, key, "limit=25")
        page.screenshot(path=out / "accounts.png", full_page=True)
        segment = page.locator("#segment option").nth(1).get_attribute("value")
        page.select_option("#segment", str(segment))
        page.get_by_role("button", name="Apply").click()
        expect(page).to_have_url(f"{base}/accounts?by=risk&segment={segment}&touch_model=&owner=&tier=&q=")
        seen["segment"] = segment
        seen["segment_ranking"] = page_ranking(page)
        seen["segment_api_ranking"] = api_ranking(base, key, f"segment={segment}&limit=25")
        seen["segments_shown"] = page.locator("td[data-label=Segment]").all_inner_texts()
        page.locator("tr[data-account] a").first.click()  # the riskiest account of the segment
        expect(page.locator("h1")).to_be_visible()
        seen["account_url"] = page.url
        seen["reasons"] = page.locator("#reasons li").all_inner_texts()
        seen["play"] = page.locator("#play").inner_text()
        seen["has_chart"] = page.locator("svg[role=img]").count()
        page.screenshot(path=out / "account.png", full_page=True)
        page.get_by_role("link", name="Save desk", exact=True).click()
        expect(page).to_have_url(f"{base}/save-desk")
        seen["save_desk"] = page_ranking(page)
        seen["save_desk_api"] = api_ranking(base, key, "limit=25", "save-desk")
        page.screenshot(path=out / "save-desk.png", full_page=True)
        if seen["save_desk"]:
            first = page.locator("tr[data-account] a").first
            name = first.inner_text()
            first.click()
            seen["notice_account"] = page.url.rsplit("/", 1)[-1]
            seen["notice"] = page.locator("#notice").inner_text()
            page.screenshot(path=out / "account-notice.png", full_page=True)
            page.goto(f"{base}/accounts")
            page.fill("#q", name)
            page.get_by_role("button", name="Apply").click()
            expect(page).to_have_url(re.compile(r"/accounts\?by=risk&.*q="))
            seen["name_search"] = page_ranking(page)
        page.goto(f"{base}/model")
        page.screenshot(path=out / "model.png", full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})  # a phone
        page.goto(f"{base}/accounts")
        page.screenshot(path=out / "accounts-phone.png")
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(f"{base}/login")
        page.goto(f"{base}/accounts/{str(seen['account_url']).rsplit('/', 1)[-1]}")
        seen["after_sign_out"] = page.url
        browser.close()
    return seen


if __name__ == "__main__":
    from serving.app import create_app
    from serving.settings import ServingSettings

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")
    with running(create_app(ServingSettings(reload_interval=0))) as base:
        print(tour(base, "demo", "demo", "demo-read-key", target))
