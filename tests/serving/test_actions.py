"""Actions on accounts: recorded with a write key (403 for a read key, 404 for an unknown account, 422 naming the
field and its allowed values), listed newest first, kept append-only in ``actions.jsonl`` (whole lines under
concurrent writers from several processes, a torn last line skipped) or in PostgreSQL's ``churn_actions``, and
recorded from the account page's form (CSRF checked) with the signed-in CSM as who recorded it."""

import json
import multiprocessing
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from models.plays import load_playbook
from pipelines.effects import ACTION_COLUMNS, merged_actions, recorded_actions
from serving.action_log import FolderActions, PostgresActions, new_action
from serving.app import create_app
from tests.postgres import scratch_database
from tests.serving.conftest import KEYS, READ, Served, body, settings_for
from tests.serving.signin import form_token, sign_in

WRITE_KEY = "write-key-for-the-serving-tests"
WRITE = {"Authorization": f"Bearer {WRITE_KEY}"}
PLAYS = sorted({r.play for r in load_playbook().rules})


@pytest.fixture(scope="module")
def scores(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the served world's published scores, so that the actions written beside it stay here."""
    copy = tmp_path_factory.mktemp("actions") / "scores"
    shutil.copytree(served.scores, copy, ignore=shutil.ignore_patterns("actions.jsonl"))
    return copy


@pytest.fixture(scope="module")
def client(served: Served, scores: Path) -> Iterator[TestClient]:
    settings = settings_for(served, scores=str(scores), api_keys={**KEYS, WRITE_KEY: "write"})
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def account(client: TestClient) -> str:
    return str(body(client.get("/v1/rankings/at-risk", params={"limit": 1}, headers=READ))["items"][0]["account_id"])


def url(account_id: str) -> str:
    return f"/v1/accounts/{account_id}/actions"


def test_record_and_list_newest_first(client: TestClient, scores: Path, account: str) -> None:
    earlier = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    first = client.post(url(account), headers=WRITE, json={"play": PLAYS[0], "status": "started", "at": earlier})
    assert first.status_code == 201, first.text
    second = client.post(url(account), headers=WRITE, json={"play": PLAYS[0], "status": "done", "note": "called",
                                                            "by": "Ana Ruiz"})  # fmt: skip
    assert second.status_code == 201
    a, b = body(first), body(second)
    assert (a["by"], a["recorded_by"], a["source"], a["note"]) == ("api-key:write", "api-key:write", "api", None)
    assert (b["by"], b["recorded_by"], b["note"]) == ("Ana Ruiz", "api-key:write", "called")
    assert datetime.fromisoformat(a["at"]) == datetime.fromisoformat(earlier)
    listed = body(client.get(url(account), headers=READ))
    ids = [x["id"] for x in listed["actions"]]
    assert listed["account_id"] == account and ids.index(b["id"]) < ids.index(a["id"])
    stored = [json.loads(line) for line in (scores / "actions.jsonl").read_text().splitlines()]
    assert {a["id"], b["id"]} <= {s["id"] for s in stored}


def test_a_read_key_may_list_but_not_record(client: TestClient, account: str) -> None:
    got = client.post(url(account), headers=READ, json={"play": PLAYS[0], "status": "started"})
    assert got.status_code == 403 and "write" in body(got)["error"]


def test_an_unknown_account_is_404_json(client: TestClient) -> None:
    sent = {"play": PLAYS[0], "status": "done"}
    for got in (client.get(url("nobody"), headers=READ), client.post(url("nobody"), headers=WRITE, json=sent)):
        assert got.status_code == 404 and "nobody" in body(got)["error"]


@pytest.mark.parametrize(
    ("sent", "field", "words"),
    [
        ({"play": PLAYS[0], "status": "finished"}, "body.status", ["started", "done", "abandoned"]),
        ({"play": "Send flowers", "status": "done"}, "body.play", PLAYS),
        ({"play": PLAYS[0], "status": "done", "at": "2999-01-01T00:00:00Z"}, "body.at", ["future"]),
        ({"play": PLAYS[0], "status": "done", "note": "x" * 2001}, "body.note", ["2000"]),
        ({"play": PLAYS[0], "status": "done", "colour": "red"}, "body.colour", ["not permitted"]),
    ],
)
def test_a_bad_action_is_422_naming_the_field(client: TestClient, account: str, sent: dict[str, Any], field: str,
                                              words: list[str]) -> None:  # fmt: skip
    got = client.post(url(account), headers=WRITE, json=sent)
    assert got.status_code == 422
    (problem,) = [p for p in body(got)["detail"] if p["field"] == field]
    assert all(w in problem["problem"] for w in words), problem


def _append_many(folder: str, worker: int) -> None:
    log = FolderActions(Path(folder))
    for i in range(40):
        log.append(new_action(account_id=f"A{worker}", play="p", status="done", note="n" * (i * 50), by=None,
                              at=None, recorded_by=f"w{worker}", source="api", plays={"p"}))  # fmt: skip


def test_concurrent_writers_leave_whole_lines_and_a_torn_line_is_skipped(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_append_many, args=(str(tmp_path), w)) for w in range(3)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(60)
        assert p.exitcode == 0
    log = FolderActions(tmp_path)
    assert len(log.all()) == 120
    assert all(len(log.of(f"A{w}")) == 40 for w in range(3))
    before = log.path.read_bytes()
    with log.path.open("ab") as f:
        f.write(b'{"id": "torn", "account_id": "A0", "pl')  # a writer died mid-line
    assert len(log.all()) == 120
    _append_many(str(tmp_path), 0)
    assert len(log.of("A0")) == 80 and log.path.read_bytes().startswith(before)  # appended, nothing rewritten


@pytest.mark.postgres
def test_postgres_keeps_the_actions_in_churn_actions() -> None:
    with scratch_database("churn_actions") as db:
        log = PostgresActions(db)
        assert log.of("A1") == []  # the table is created on first use
        old = new_action(account_id="A1", play="p", status="started", note=None, by="Ana", at=datetime(2025, 1, 2),
                         recorded_by="api-key:write", source="api", plays={"p"})  # fmt: skip
        new = new_action(account_id="A1", play="p", status="done", note="ok", by=None, at=None, recorded_by="ana",
                         source="page", plays={"p"})  # fmt: skip
        log.append(old)
        log.append(new)
        got = log.of("A1")
        assert [g["id"] for g in got] == [new["id"], old["id"]]
        assert datetime.fromisoformat(got[1]["at"]) == datetime(2025, 1, 2, tzinfo=UTC)
        fields = ("play", "status", "note", "by", "recorded_by", "source")
        assert [got[0][k] for k in fields] == ["p", "done", "ok", "ana", "ana", "page"]
        imported = recorded_actions(db)
        assert sorted(imported["id"]) == sorted([old["id"], new["id"]])
        assert set(imported["actor"]) == {"Ana", "ana"}
        with psycopg.connect(db) as c, pytest.raises(psycopg.errors.CheckViolation):
            c.execute("INSERT INTO churn_actions VALUES ('x', 'A1', 'p', 'finished', NULL, 'b', now(), now(), 'r', "
                      "'api')")  # fmt: skip


def test_the_account_page_records_an_action(client: TestClient, account: str) -> None:
    assert sign_in(client, "demo", "demo", follow_redirects=False).status_code == 303
    page = client.get(f"/accounts/{account}")
    assert 'id="record-action"' in page.text
    token = form_token(page.text)
    form = {"play": PLAYS[-1], "status": "started", "note": "booked a call", "csrf": token}
    assert client.post(f"/accounts/{account}/actions", data={**form, "csrf": "forged"}).status_code == 403
    got = client.post(f"/accounts/{account}/actions", data=form, follow_redirects=False)
    assert got.status_code == 303 and got.headers["location"] == f"/accounts/{account}#actions"
    assert "booked a call" in client.get(f"/accounts/{account}").text
    newest = body(client.get(url(account), headers=READ))["actions"][0]
    assert (newest["note"], newest["by"], newest["recorded_by"], newest["source"]) == (
        "booked a call", "demo", "demo", "page")  # fmt: skip


def test_effects_read_the_recorded_actions_once_each(client: TestClient, scores: Path, account: str) -> None:
    sent = client.post(url(account), headers=WRITE, json={"play": PLAYS[0], "status": "abandoned", "note": "=1+1"})
    assert sent.status_code == 201
    got = recorded_actions(str(scores))
    assert tuple(got.columns) == ACTION_COLUMNS and body(sent)["id"] in set(got["id"])
    mine = got[got["id"] == body(sent)["id"]].iloc[0]
    assert (mine["account_id"], mine["status"], mine["actor"]) == (account, "abandoned", "api-key:write")
    folder = got.drop(columns="id").head(0).astype({"at": got["at"].dtype})  # a world's play_actions: no ids
    once = merged_actions(folder, got)
    assert len(merged_actions(once, got)) == len(once) == len(got)  # imported again: nothing added
