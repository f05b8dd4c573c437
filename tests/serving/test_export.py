"""Ranked lists as CSV: the API's at-risk.csv equals the JSON ranking for the same filters, the accounts page's
"Download CSV" exports every row of the page's list with its filters, as text/csv with a filename, and a cell that
a spreadsheet would run as a formula is defused."""

import csv
import io
import re
from html import unescape

import pytest
from fastapi.testclient import TestClient

from serving.export import COLUMNS, csv_text
from tests.serving.conftest import READ, body
from tests.serving.signin import sign_in


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_formula_cells_are_defused_and_text_is_quoted() -> None:
    text = csv_text([{"account_id": "A1", "name": "=HYPERLINK(\"x\")", "segment": "+1", "csm_owner": "-2",
                      "touch_model": "@SUM(A1)", "top_reason": "fine, \"quoted\"", "p_churn": -0.5,
                      "notice_given": True, "play": None}])  # fmt: skip
    (got,) = rows(text)
    assert got["name"] == '\'=HYPERLINK("x")' and got["segment"] == "'+1" and got["csm_owner"] == "'-2"
    assert got["touch_model"] == "'@SUM(A1)" and got["top_reason"] == 'fine, "quoted"'
    assert (got["p_churn"], got["notice_given"], got["play"], got["rank"]) == ("-0.5", "true", "", "1")
    assert text.splitlines()[1].startswith('1,"A1",')  # text quoted, numbers not


def test_the_api_csv_is_the_ranking(client: TestClient) -> None:
    params = {"by": "revenue", "segment": "enterprise"}
    got = client.get("/v1/rankings/at-risk.csv", params=params, headers=READ)
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert re.fullmatch(r'attachment; filename="at-risk-\d{4}-\d{2}-\d{2}\.csv"', got.headers["content-disposition"])
    ranking = body(client.get("/v1/rankings/at-risk", params={**params, "limit": 500}, headers=READ))
    assert ranking["total"] <= 500
    table = rows(got.text)
    assert [r["account_id"] for r in table] == [i["account_id"] for i in ranking["items"]]
    assert list(table[0]) == list(COLUMNS)
    assert float(table[0]["revenue_at_risk"]) == pytest.approx(ranking["items"][0]["revenue_at_risk"])
    assert len(rows(client.get("/v1/rankings/at-risk.csv", params={"limit": 3}, headers=READ).text)) == 3


def test_the_api_csv_needs_a_key(client: TestClient) -> None:
    got = client.get("/v1/rankings/at-risk.csv")
    assert got.status_code == 401 and "API key" in body(got)["error"]


def test_the_accounts_page_downloads_its_list_with_its_filters(client: TestClient) -> None:
    c = TestClient(client.app)  # the app's state is loaded already; a client of its own for its own sign-in
    assert sign_in(c, "demo", "demo", follow_redirects=False).status_code == 303
    page = c.get("/accounts", params={"by": "upsell", "touch_model": "high", "tier": "green"})
    found = re.search(r'href="(/accounts\.csv\?[^"]+)" id="download-csv"', page.text)
    assert found, "the accounts page has no Download CSV link"
    got = c.get(unescape(found.group(1)))
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert 'filename="accounts-upsell-' in got.headers["content-disposition"]
    api = body(client.get("/v1/rankings/upsell", params={"by": "probability", "touch_model": "high", "tier": "green",
                                                         "limit": 500}, headers=READ))  # fmt: skip
    table = rows(got.text)
    assert len(table) == api["total"] > 25  # every page of the list, not only the first
    assert [r["account_id"] for r in table[:500]] == [i["account_id"] for i in api["items"]]
    assert {r["touch_model"] for r in table} == {"high"} and {r["tier"] for r in table} == {"green"}


def test_the_page_csv_needs_a_sign_in(client: TestClient) -> None:
    got = TestClient(client.app).get("/accounts.csv", follow_redirects=False)
    assert got.status_code == 303 and got.headers["location"] == "/login"
