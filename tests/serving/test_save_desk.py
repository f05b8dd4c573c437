"""The save desk and the ranking of accounts at risk before notice, on hand-made score rows: which accounts each
list returns and in which order (worked out here from the rows), notice_given in the score JSON, the OpenAPI
document, and scores tables written before notice_given existed (with and without the stored snapshots), each
published as ``churn score`` publishes it."""

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from fastapi.testclient import TestClient

from pipelines.publish import publish_table
from serving.app import create_app
from tests.serving.conftest import READ, Served, body, settings_for
from tests.serving.signin import sign_in

LATEST, EARLIER = datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 5, 1, tzinfo=UTC)
# (account_id, as_of, name, segment, notice_given, p_churn, arr)
ROWS: list[tuple[str, datetime, str, str, bool | None, float, float]] = [
    ("A01", LATEST, "Acme", "smb", True, 0.99, 12_000.0),
    ("A02", LATEST, "Birch", "smb", False, 0.80, 50_000.0),  # gave notice last month, saved since
    ("A03", LATEST, "Cobalt", "enterprise", True, 0.97, 240_000.0),
    ("A04", LATEST, "Delta", "enterprise", False, 0.80, 10_000.0),  # ties A02 on probability: id decides
    ("A05", LATEST, "Ember", "mid_market", None, 0.60, 30_000.0),  # unknown: counts as not given
    ("A06", LATEST, "Fjord", "mid_market", True, 0.95, 60_000.0),
    ("A07", LATEST, "Gale", "smb", False, 0.10, 900_000.0),  # low risk, the most revenue at risk before notice
    ("A08", LATEST, "Harbor", "enterprise", True, 0.99, 5_000.0),  # ties A01 on probability
    ("A02", EARLIER, "Birch", "smb", True, 0.98, 50_000.0),
    ("A09", EARLIER, "Iris", "smb", True, 0.99, 70_000.0),  # gone by the latest as_of: on no list
]
COLUMNS = """account_id VARCHAR, as_of TIMESTAMPTZ, name VARCHAR, segment VARCHAR, touch_model VARCHAR,
    csm_owner VARCHAR, industry VARCHAR, region VARCHAR, p_churn DOUBLE, p_upsell DOUBLE, health DOUBLE, tier VARCHAR,
    components VARCHAR, reasons VARCHAR, upsell_reasons VARCHAR, arr DOUBLE, revenue_at_risk DOUBLE, play VARCHAR,
    churn_version VARCHAR, upsell_version VARCHAR, scored_at TIMESTAMPTZ"""


def stored(row: tuple[str, datetime, str, str, bool | None, float, float]) -> tuple[Any, ...]:
    """A full scores.accounts row (notice_given last) for one of ROWS."""
    account, as_of, name, segment, _, p, arr = row
    reason = {"feature": "logins_30d", "family": "engagement", "value": 3.0, "contribution": 0.5,
              "sentence": f"few logins at {name}"}  # fmt: skip
    health = 100 * (1 - p)
    tier = "red" if health < 40 else "yellow" if health < 70 else "green"
    return (account, as_of, name, segment, "high", "Ana Ruiz", "retail", "emea", p, 0.05, health, tier,
            json.dumps({"engagement": -10.0}), json.dumps([reason]), json.dumps([]), arr, p * arr,
            f"play for {name}", "1", "1", datetime(2025, 6, 2, tzinfo=UTC), row[4])  # fmt: skip


def write_scores(path: Path, with_notice: bool, snapshots: dict[tuple[str, datetime], float] | None = None) -> None:
    """scores.accounts from ROWS, with the notice_given column or as written before it existed; optionally a
    features.snapshots table holding cancellation_pending for the given (account_id, as_of)."""
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA scores")
        con.execute(f"CREATE TABLE scores.accounts ({COLUMNS}{', notice_given BOOLEAN' if with_notice else ''})")
        width = 22 if with_notice else 21
        con.executemany(f"INSERT INTO scores.accounts VALUES ({', '.join(['?'] * width)})",
                        [list(stored(r))[:width] for r in ROWS])  # fmt: skip
        if snapshots is not None:
            con.execute("CREATE SCHEMA features")
            con.execute("CREATE TABLE features.snapshots (account_id VARCHAR, as_of TIMESTAMPTZ, "
                        "cancellation_pending DOUBLE)")  # fmt: skip
            con.executemany("INSERT INTO features.snapshots VALUES (?, ?, ?)",
                            [(a, t, v) for (a, t), v in snapshots.items()])  # fmt: skip


def published(path: Path) -> str:
    """Publish the scores table of the warehouse at ``path`` (as ``churn score`` does after writing it) to a folder
    beside it, for the server; the folder."""
    store = path.parent / f"{path.stem}-scores"
    with duckdb.connect(str(path)) as con:
        con.execute("SET TimeZone = 'UTC'")
        publish_table(con, "scores.accounts", str(store))
    return str(store)


def expected(list_name: str, by: str, notice: dict[str, bool | None], segment: str | None = None) -> list[str]:
    """The account ids of a list, worked out from ROWS: the latest as_of, the list's accounts, highest first."""
    latest = [r for r in ROWS if r[1] == LATEST and (segment is None or r[3] == segment)]
    wanted = [r for r in latest if (notice[r[0]] is True) == (list_name == "save-desk")]
    value = (lambda r: r[5]) if by == "probability" else (lambda r: r[5] * r[6])
    return [r[0] for r in sorted(wanted, key=lambda r: (-value(r), r[0]))]


STORED = {r[0]: r[4] for r in ROWS if r[1] == LATEST}


@pytest.fixture(scope="module")
def handmade(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    path = tmp_path_factory.mktemp("handmade") / "warehouse.duckdb"
    write_scores(path, with_notice=True)
    with TestClient(create_app(settings_for(served, scores=published(path)))) as c:
        yield c


def test_the_lists_by_hand() -> None:
    """The expectations themselves, written out once, so that a slip in ``expected`` cannot pass unseen."""
    assert expected("at-risk", "probability", STORED) == ["A02", "A04", "A05", "A07"]
    assert expected("at-risk", "revenue", STORED) == ["A07", "A02", "A05", "A04"]
    assert expected("save-desk", "revenue", STORED) == ["A03", "A06", "A01", "A08"]
    assert expected("save-desk", "probability", STORED) == ["A01", "A08", "A03", "A06"]


@pytest.mark.parametrize(
    ("list_name", "params", "by"),
    [
        ("at-risk", {}, "probability"),
        ("at-risk", {"by": "revenue"}, "revenue"),
        ("at-risk", {"segment": "enterprise"}, "probability"),
        ("save-desk", {}, "revenue"),  # the save desk's default order
        ("save-desk", {"by": "probability"}, "probability"),
        ("save-desk", {"segment": "enterprise", "by": "probability"}, "probability"),
    ],
)
def test_each_list_holds_its_accounts_in_order(
    handmade: TestClient, list_name: str, params: dict[str, str], by: str
) -> None:
    r = handmade.get(f"/v1/rankings/{list_name}", params=params, headers=READ)
    assert r.status_code == 200, r.text
    got = body(r)
    want = expected(list_name, by, STORED, params.get("segment"))
    assert (got["ranking"], got["by"], got["total"]) == (list_name, by, len(want))
    assert got["as_of"] is not None and datetime.fromisoformat(got["as_of"]) == LATEST
    assert [i["account_id"] for i in got["items"]] == want
    assert [i["notice_given"] for i in got["items"]] == [STORED[a] for a in want]


def test_save_desk_pages_like_the_other_rankings(handmade: TestClient) -> None:
    r = handmade.get("/v1/rankings/save-desk", params={"limit": 2, "offset": 1}, headers=READ)
    got = body(r)
    assert (got["total"], got["limit"], got["offset"]) == (4, 2, 1)
    assert [i["account_id"] for i in got["items"]] == ["A06", "A01"]
    item = got["items"][1]
    assert (item["arr"], item["play"], item["top_reason"]) == (12_000.0, "play for Acme", "few logins at Acme")
    assert item["revenue_at_risk"] == pytest.approx(0.99 * 12_000.0)
    found = body(handmade.get("/v1/rankings/save-desk", params={"q": "harb"}, headers=READ))
    assert [i["account_id"] for i in found["items"]] == ["A08"]


def test_save_desk_errors_keep_the_documented_shape(handmade: TestClient) -> None:
    r = handmade.get("/v1/rankings/save-desk", params={"by": "upsell"}, headers=READ)
    assert r.status_code == 422
    got = body(r)
    assert got["error"] == "invalid request" and [d["field"] for d in got["detail"]] == ["query.by"]
    r = handmade.get("/v1/rankings/save-desk")
    assert r.status_code == 401 and "API key" in body(r)["error"]


def test_scores_say_whether_notice_was_given(handmade: TestClient) -> None:
    for account, given in STORED.items():
        one = body(handmade.get(f"/v1/accounts/{account}/score", headers=READ))
        detail = body(handmade.get(f"/v1/accounts/{account}", headers=READ))
        assert one["notice_given"] is given and detail["score"]["notice_given"] is given, account
    many = body(handmade.post("/v1/scores", json={"account_ids": ["A03", "A02", "A05"]}, headers=READ))
    assert [(s["account_id"], s["notice_given"]) for s in many["scores"]] == [
        ("A03", True), ("A02", False), ("A05", None)
    ]  # fmt: skip


def test_openapi_documents_notice_given_and_the_save_desk(handmade: TestClient) -> None:
    doc = body(handmade.get("/openapi.json"))
    schemas = doc["components"]["schemas"]
    for name in ("Score", "RankItem"):
        field = schemas[name]["properties"]["notice_given"]
        assert {t.get("type") for t in field["anyOf"]} == {"boolean", "null"}
        assert "given notice to cancel" in field["description"]
    assert set(schemas["Ranking"]["properties"]["ranking"]["enum"]) == {"at-risk", "save-desk", "upsell"}
    op = doc["paths"]["/v1/rankings/save-desk"]["get"]
    assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/Ranking")
    params = {p["name"]: p for p in op["parameters"]}
    assert {"by", "segment", "touch_model", "owner", "tier", "q", "limit", "offset"} <= set(params)
    assert params["by"]["schema"]["default"] == "revenue"
    assert "not given notice" in doc["paths"]["/v1/rankings/at-risk"]["get"]["description"]


def lists(client: TestClient) -> dict[str, list[str]]:
    return {
        name: [i["account_id"] for i in body(client.get(f"/v1/rankings/{name}", headers=READ))["items"]]
        for name in ("at-risk", "save-desk")
    }


def test_an_older_table_takes_notice_from_the_stored_snapshots(served: Served, tmp_path: Path) -> None:
    """Scores written before notice_given existed: the snapshot's cancellation_pending at the same as_of says it;
    an account without a stored snapshot is unknown (on the at-risk list, notice_given null)."""
    path = tmp_path / "older.duckdb"
    snaps = {(r[0], r[1]): float(r[4]) for r in ROWS if r[4] is not None}
    write_scores(path, with_notice=False, snapshots=snaps)
    with TestClient(create_app(settings_for(served, scores=published(path)))) as c:
        assert lists(c) == {"at-risk": expected("at-risk", "probability", STORED),
                            "save-desk": expected("save-desk", "revenue", STORED)}  # fmt: skip
        assert body(c.get("/v1/accounts/A03/score", headers=READ))["notice_given"] is True
        assert body(c.get("/v1/accounts/A02/score", headers=READ))["notice_given"] is False
        assert body(c.get("/v1/accounts/A05/score", headers=READ))["notice_given"] is None


def test_an_older_table_without_snapshots_is_unknown_and_ranked_at_risk(served: Served, tmp_path: Path) -> None:
    path = tmp_path / "older.duckdb"
    write_scores(path, with_notice=False)
    unknown = dict.fromkeys(STORED)
    with TestClient(create_app(settings_for(served, scores=published(path)))) as c:
        assert lists(c) == {"at-risk": expected("at-risk", "probability", unknown), "save-desk": []}
        assert len(lists(c)["at-risk"]) == 8
        assert body(c.get("/v1/accounts/A03/score", headers=READ))["notice_given"] is None


def rows_of(html: str) -> list[str]:
    return re.findall(r'<tr data-account="([^"]+)"', html)


def test_pages_show_the_save_desk_apart(handmade: TestClient) -> None:
    sign_in(handmade, "demo", "demo")
    accounts = handmade.get("/accounts")
    assert accounts.status_code == 200
    assert rows_of(accounts.text) == expected("at-risk", "probability", STORED)
    assert "4 accounts have given notice to cancel" in accounts.text
    desk = handmade.get("/save-desk")
    assert rows_of(desk.text) == expected("save-desk", "revenue", STORED)
    assert "240,000" in desk.text and "play for Cobalt" in desk.text  # ARR and play of the first row
    assert rows_of(handmade.get("/save-desk", params={"by": "risk", "segment": "enterprise"}).text) == ["A08", "A03"]
    assert 'id="notice"' in handmade.get("/accounts/A03").text
    assert 'id="notice"' not in handmade.get("/accounts/A02").text
