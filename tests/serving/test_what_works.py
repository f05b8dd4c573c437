"""What `churn effects --publish` publishes reaches the server by itself (``GET /v1/effects`` and the What works
page), from a folder or from PostgreSQL; before it, a 404 and a page naming the command; a broken document keeps
the last without holding back the other documents. The page's words, by hand."""

import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from models.published import EFFECTS
from pipelines.publish import publish_document
from serving.app import create_app
from serving.store import PostgresStore
from serving.what_works import effect_words, interval_words, naive_words, play_name, sentence, uplift_words
from tests.postgres import scratch_database
from tests.serving.conftest import READ, Served, body, settings_for
from tests.serving.signin import sign_in
from tests.serving.test_forecast import document as forecast_document
from tests.serving.test_published_scores import wait_for


def play(name: str, treated: int, held_out: int, effect: float, lo90: float, hi90: float, naive: float,
         verdict: str) -> dict[str, Any]:  # fmt: skip
    """A row as ``pipelines.effects.effect_row`` writes it, by hand."""
    return {"play": name, "treated": treated, "held_out": held_out, "effect": effect, "se": 0.0176, "lo90": lo90,
            "hi90": hi90, "lo95": lo90 - 0.01, "hi95": hi90 + 0.01, "unadjusted": effect + 0.002, "naive": naive,
            "verdict": verdict}  # fmt: skip


UPLIFT = {"fitted": True, "treated_events": 210, "held_out_events": 71, "qini": 0.0052, "qini_lo90": 0.0031,
          "qini_hi90": 0.0074, "qini_risk": 0.0051, "qini_vs_risk": 0.0001, "qini_vs_risk_lo90": -0.001,
          "qini_vs_risk_hi90": 0.0012, "uplift_top30": 0.068, "uplift_top30_lo90": 0.03,
          "uplift_top30_hi90": 0.1}  # fmt: skip
NOT_FITTED = {"fitted": False, "treated_events": 12, "held_out_events": 3,
              "reason": "not fitted: 12 churners among the treated and 3 among the held out"}  # fmt: skip


def document(first: str = "executive_sponsor_call") -> dict[str, Any]:
    """A document as ``pipelines.effects.effects_document`` writes it (keys and shapes), by hand."""
    return {
        "target": "churn", "horizon_days": 90, "measured_at": "2025-02-03T04:05:06+00:00",
        "matured_through": "2025-01-01T00:00:00+00:00", "assigned_from": "2024-03-01T00:00:00+00:00",
        "assigned_to": "2024-08-01T00:00:00+00:00",
        "plays": [play(first, 812, 203, -0.041, -0.070, -0.012, 0.029, "helps") | {"uplift": UPLIFT},
                  play("automated_nudges", 400, 100, 0.034, 0.010, 0.058, 0.069, "harms") | {"uplift": NOT_FITTED},
                  play("training_webinar", 500, 125, -0.004, -0.020, 0.012, 0.020, "unclear") | {"uplift": None}],
        "overall": play("all", 1712, 428, -0.009, -0.020, 0.002, 0.035, "unclear"),
        "notes": ["intention-to-treat: treated = eligible and not held out"],
    }  # fmt: skip


def test_the_effects_in_words() -> None:
    helps, harms, unclear = document()["plays"]
    assert play_name("executive_sponsor_call") == "Executive sponsor call"
    assert play_name("Find a new champion and reach the executive sponsor") == (
        "Find a new champion and reach the executive sponsor"  # a playbook's play is words already
    )
    assert sentence("Executive sponsor call", helps, "churn") == (
        "Executive sponsor call: churn 4.1 points lower (90% interval 1.2 to 7.0 lower), 812 treated, 203 held out"
    )
    assert effect_words(harms, "churn") == "churn 3.4 points higher (90% interval 1.0 to 5.8 higher)"
    assert effect_words(unclear, "churn") == "no measurable effect on churn (90% interval 2.0 lower to 1.2 higher)"
    assert interval_words(-0.07, -0.012) == "1.2 to 7.0 lower"
    assert naive_words(helps, "churn") == "churn 2.9 points higher where the play was run"
    assert uplift_words(helps["uplift"], "churn") == (
        "ranking by uplift: Qini 5.2 x 1e-3 (90% interval 3.1 to 7.4), by risk 5.1; difference +0.1 (-1.0 to +1.2); "
        "the top 30% by uplift: churn 6.8 points lower where assigned"
    )
    assert uplift_words(harms["uplift"], "churn") == (
        "ranking by uplift not fitted: 12 churners among the treated and 3 among the held out"
    )
    assert uplift_words(None, "churn") == "" and uplift_words(UPLIFT, "upsell").endswith(
        "upsell 6.8 points higher where assigned"
    )


def test_nothing_published_is_a_404_and_the_page_names_the_command(served: Served, store: Path) -> None:
    with TestClient(create_app(settings_for(served, scores=str(store), state_dir=store.parent))) as c:
        got = c.get("/v1/effects", headers=READ)
        assert got.status_code == 404 and "run `churn effects --publish" in body(got)["error"]
        sign_in(c, "demo", "demo")
        page = c.get("/what-works").text
        assert "Nothing published yet" in page and "churn effects SOURCE --publish STORE" in page
        assert '<a href="/what-works">What works</a>' in c.get("/forecast").text  # in the nav


def test_published_effects_are_served_and_shown_and_a_broken_one_keeps_the_last(served: Served, store: Path) -> None:
    settings = settings_for(served, scores=str(store), state_dir=store.parent, reload_interval=0.02)
    with TestClient(create_app(settings)) as c:
        first = document()
        publish_document("effects", first, str(store))
        wait_for(lambda: c.get("/v1/effects", headers=READ).status_code == 200, "the effects picked up")
        assert body(c.get("/v1/effects", headers=READ)) == first
        sign_in(c, "demo", "demo")
        page = c.get("/what-works").text
        assert ("Executive sponsor call: churn 4.1 points lower (90% interval 1.2 to 7.0 lower), 812 treated, "
                "203 held out") in page  # fmt: skip
        assert '<span class="badge">harmful</span> Automated nudges: churn 3.4 points higher' in page
        assert "Training webinar: no measurable effect on churn" in page
        assert "All plays: no measurable effect on churn (90% interval 2.0 lower to 0.2 higher), 1,712 treated" in page
        assert page.count("<svg") == 4 and page.count('data-verdict="harms"') == 1
        assert "ranking by uplift: Qini 5.2 x 1e-3" in page and "ranking by uplift not fitted: 12 churners" in page
        assert page.count('class="muted uplift"') == 2
        assert "churn 2.9 points higher where the play was run" in page and "biased by who CSMs choose" in page
        assert "2024-03-01 to 2024-08-01" in page and "matured\nthrough 2025-01-01" in page
        # Planted: a half-written document. The watch refuses it: the last good one stays, and a forecast published
        # meanwhile is shown all the same.
        (store / EFFECTS).write_text('{"target": ')
        publish_document("forecast", forecast_document(0.99), str(store))
        wait_for(lambda: c.get("/v1/forecast", headers=READ).status_code == 200, "the forecast picked up")
        threading.Event().wait(0.1)
        assert body(c.get("/v1/effects", headers=READ)) == first


@pytest.mark.postgres
def test_postgresql_serves_the_newest_effects() -> None:
    with scratch_database("churn_effects") as url:
        assert PostgresStore(url).document("effects") is None
        for name in ("first_play", "second_play", "third_play"):
            publish_document("effects", document(name), url, keep=2)
        assert PostgresStore(url).document("effects") == document("third_play")
        assert PostgresStore(url).document("forecast") is None  # another kind, another table
