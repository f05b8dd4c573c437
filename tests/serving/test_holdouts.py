"""Holdouts of plays at scoring time: the share held out is the configured one within binomial noise (checked
against BLAKE2b recomputed here with hashlib, independently of ``features.holdout``), the assignments are stored
for the effects, and a held-out account shows no play in the API, the rankings and the pages."""

import hashlib
import json
import math
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from features.holdout import HOLDOUT_SHARE
from pipelines.effects import ACTION_COLUMNS, play_tables
from pipelines.score import ASSIGNMENT_COLUMNS, HOLDOUT_SEED, Holdout, holdouts
from serving.app import create_app
from tests.serving.conftest import READ, Served, body, read_table, settings_for
from tests.serving.signin import sign_in


def reference(account_id: str, play: str, seed: int, share: float) -> bool:
    digest = hashlib.blake2b(f"{seed}|{play}|{account_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share


@pytest.mark.parametrize(("seed", "share"), [(HOLDOUT_SEED, HOLDOUT_SHARE), (3, 0.5), (11, 0.05)])
def test_the_share_held_out_is_the_configured_one(seed: int, share: float) -> None:
    ids = [f"A{i:07d}" for i in range(5000)]
    plays = ["Call the champion" if i % 2 else "Review billing" for i in range(5000)]
    got = holdouts(ids, plays, Holdout(seed, share))
    assert got.tolist() == [reference(a, p, seed, share) for a, p in zip(ids, plays, strict=True)]
    sd = math.sqrt(5000 * share * (1 - share))
    assert abs(int(got.sum()) - 5000 * share) < 4 * sd  # within binomial noise (4 standard deviations)


def test_an_account_without_a_play_is_never_held_out() -> None:
    got = holdouts(["A1", "A2", "A3"], ["", "", ""], Holdout(1, 0.99))
    assert not got.any()


def test_a_share_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="holdout share must be in"):
        Holdout(1, 1.0)


@pytest.fixture(scope="module")
def scores(served: Served) -> pd.DataFrame:
    return read_table(served.warehouse, "SELECT * FROM scores.accounts ORDER BY account_id, as_of")


@pytest.fixture(scope="module")
def held(scores: pd.DataFrame, served: Served) -> pd.DataFrame:
    """The accounts held out of their play at the latest scored as_of."""
    latest = scores[scores["as_of"] == pd.Timestamp(served.dates[-1])]
    out = latest[latest["held_out"].astype(bool)]
    assert len(out) > 10
    return out


def test_the_stored_scores_and_assignments_hold_the_reference_holdout(scores: pd.DataFrame, served: Served) -> None:
    expected = [
        bool(p) and reference(a, p, HOLDOUT_SEED, HOLDOUT_SHARE)
        for a, p in zip(scores["account_id"], scores["play"], strict=True)
    ]
    assert scores["held_out"].astype(bool).tolist() == expected
    stored = read_table(served.warehouse, "SELECT * FROM scores.play_assignments ORDER BY account_id, as_of")
    assert tuple(stored.columns) == ASSIGNMENT_COLUMNS
    with_play = scores[scores["play"].fillna("") != ""].reset_index(drop=True)
    assert stored[["account_id", "play"]].values.tolist() == with_play[["account_id", "play"]].values.tolist()
    assert stored["held_out"].tolist() == with_play["held_out"].astype(bool).tolist()
    assert stored["eligible"].all() and set(stored["seed"]) == {HOLDOUT_SEED}
    assert set(stored["share"]) == {HOLDOUT_SHARE}


@pytest.fixture(scope="module")
def signed_in(served: Served) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(served))) as c:
        assert sign_in(c, "demo", "demo", follow_redirects=False).status_code == 303
        yield c


def test_a_held_out_account_shows_no_play_in_the_api(signed_in: TestClient, held: pd.DataFrame) -> None:
    for account_id in held["account_id"].head(5):
        got = body(signed_in.get(f"/v1/accounts/{account_id}/score", headers=READ))
        assert (got["play"], got["held_out"]) == (None, True), account_id
        assert body(signed_in.get(f"/v1/accounts/{account_id}", headers=READ))["score"]["play"] is None
    shown = {}
    for ranking in ("at-risk", "save-desk", "upsell"):
        got = body(signed_in.get(f"/v1/rankings/{ranking}", params={"limit": 500}, headers=READ))
        shown |= {i["account_id"]: i["play"] for i in got["items"]}
    seen = [a for a in held["account_id"] if a in shown]
    assert seen and all(shown[a] is None for a in seen)
    assert any(p for p in shown.values())  # the other accounts keep theirs


def test_an_account_not_held_out_keeps_its_play(signed_in: TestClient, scores: pd.DataFrame, served: Served) -> None:
    latest = scores[(scores["as_of"] == pd.Timestamp(served.dates[-1])) & ~scores["held_out"].astype(bool)]
    row = latest[latest["play"].fillna("") != ""].iloc[0]
    got = body(signed_in.get(f"/v1/accounts/{row['account_id']}/score", headers=READ))
    assert (got["play"], got["held_out"]) == (row["play"], False)


def test_a_held_out_account_shows_no_play_on_the_pages(signed_in: TestClient, held: pd.DataFrame) -> None:
    account_id, play, name = held.loc[~held["notice_given"].astype(bool), ["account_id", "play", "name"]].iloc[0]
    page = signed_in.get(f"/accounts/{account_id}")
    assert page.status_code == 200
    assert '<p id="play">No action needed now.</p>' in page.text
    assert f"selected>{play}<" not in page.text  # the action form lists every play, none chosen for this account
    listing = signed_in.get("/accounts", params={"q": name})
    row = listing.text.split(f'data-account="{account_id}"')[1].split("</tr>")[0]
    assert play not in row


def test_the_payload_is_valid_json_with_held_out_for_every_account(signed_in: TestClient, held: pd.DataFrame) -> None:
    ids = held["account_id"].head(20).tolist()
    got = signed_in.post("/v1/scores", headers=READ, json={"account_ids": ids})
    assert [s["held_out"] for s in json.loads(got.content)["scores"]] == [True] * len(ids)


def test_the_effects_read_the_scored_assignments_and_recorded_actions(served: Served, tmp_path: Path) -> None:
    stored = read_table(served.warehouse, "SELECT * FROM scores.play_assignments")
    assignments, actions = play_tables(tmp_path, served.warehouse, str(tmp_path))
    assert len(assignments) == len(stored) and set(assignments["held_out"]) == {True, False}
    assert list(assignments.columns) == ["account_id", "play", "as_of", "eligible", "held_out"]
    assert str(assignments["as_of"].dtype).startswith("datetime64") and tuple(actions.columns) == ACTION_COLUMNS
    assert actions.empty  # none recorded in this store yet
