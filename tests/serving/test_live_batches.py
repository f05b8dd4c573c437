"""Live scoring in batches (``serving.batching``): requests that arrive together are scored as one batch, and each
gets the scores of its own rows, those of the row scored alone; a batch holds one set of models and at most
``max_rows`` rows; a failure answers the requests of its batch and the next batch is scored."""

import asyncio
import json
from typing import Any

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Histogram

from models.registered import load_pair
from models.scoring import Scorer
from serving.app import create_app
from serving.batching import Batcher
from tests.serving.conftest import CHAMPION, READ, Served, body, feature_rows, settings_for


@pytest.fixture(scope="module")
def scorer(served: Served) -> Scorer:
    return load_pair(served.tracking_uri, CHAMPION)[1]


@pytest.fixture(scope="module")
def rows(latest_snapshots: pd.DataFrame) -> list[dict[str, Any]]:
    return feature_rows(latest_snapshots.head(12))


def sizes() -> Histogram:
    return Histogram("batch", "requests per batch", registry=CollectorRegistry(), buckets=(1, 2, 4, 8, 16))


def batches(h: Histogram) -> tuple[int, float]:
    """(batches scored, requests in them) from the histogram's samples."""
    got = {s.name: s.value for s in h.collect()[0].samples}
    return int(got["batch_count"]), got["batch_sum"]


def ids(b: bytes) -> list[str]:
    return [s["account_id"] for s in json.loads(b)]


async def gather(batcher: Batcher, requests: list[tuple[Scorer, list[dict[str, Any]]]]) -> list[Any]:
    """The requests sent at once: all queued before the first batch starts."""
    return await asyncio.gather(
        *(batcher.score(s, r, lambda got: json.dumps(got).encode()) for s, r in requests), return_exceptions=True
    )


def test_requests_sent_together_are_one_batch_and_each_gets_its_rows_scores_as_alone(
    scorer: Scorer, served: Served, rows: list[dict[str, Any]]
) -> None:
    h = sizes()
    got = asyncio.run(gather(Batcher(100, 1, h), [(scorer, [r]) for r in rows]))
    assert batches(h) == (1, len(rows))
    model = served.models["churn"]
    for r, answer in zip(rows, got, strict=True):
        (mine,) = json.loads(answer)
        alone = scorer.score_dicts([r], threads=1)[0]
        assert mine["account_id"] == r["account_id"]
        # The probability from the model object the tests fitted, through the frame path (not score_dicts).
        frame = pd.DataFrame([{f: r.get(f) for f in model.features_}])
        assert mine["p_churn"] == pytest.approx(model.predict_proba(model.prepare(frame))[0, 1], abs=1e-12)
        for key in ("p_churn", "p_upsell", "health", "tier", "play", "revenue_at_risk"):
            assert mine[key] == pytest.approx(alone[key], abs=1e-12), key
        assert [x["feature"] for x in mine["reasons"]] == [x["feature"] for x in alone["reasons"]]
        for a, b in zip(mine["reasons"], alone["reasons"], strict=True):
            assert a["contribution"] == pytest.approx(b["contribution"], abs=1e-9)


def test_a_batch_holds_one_set_of_models_and_at_most_max_rows(scorer: Scorer, served: Served,
                                                               rows: list[dict[str, Any]]) -> None:  # fmt: skip
    other = load_pair(served.tracking_uri, CHAMPION)[1]  # the same versions loaded again, as a reload does
    h = sizes()
    requests = [(scorer, rows[0:3]), (scorer, rows[3:5]), (other, rows[5:6]), (scorer, rows[6:12])]
    got = asyncio.run(gather(Batcher(5, 1, h), requests))
    # [0:3]+[3:5] fill 5 rows; the next models start a batch; [6:12] is over the limit alone and is scored alone.
    assert batches(h) == (3, 4)
    assert [ids(g) for g in got] == [[r["account_id"] for r in rs] for _, rs in requests]


def test_a_failing_batch_answers_its_requests_with_the_error_and_the_next_batch_is_scored(
    scorer: Scorer, rows: list[dict[str, Any]]
) -> None:
    h = sizes()
    batcher = Batcher(100, 1, h)

    def broken(got: list[dict[str, Any]]) -> bytes:
        raise ValueError("planted: shaping this answer fails")

    async def run() -> tuple[list[Any], list[Any]]:
        first = await asyncio.gather(batcher.score(scorer, [rows[0]], broken),
                                     batcher.score(scorer, [rows[1]], lambda got: json.dumps(got).encode()),
                                     return_exceptions=True)  # fmt: skip
        return first, await gather(batcher, [(scorer, [rows[2]])])

    first, then = asyncio.run(run())
    assert [str(e) for e in first] == ["planted: shaping this answer fails"] * 2
    assert ids(then[0]) == [rows[2]["account_id"]]
    assert batches(h) == (1, 1)  # the failed batch is not counted


def test_concurrent_requests_through_the_api_are_batched(served: Served, rows: list[dict[str, Any]]) -> None:
    alone = {}
    with TestClient(create_app(settings_for(served))) as c:
        for r in rows:
            alone[r["account_id"]] = body(c.post("/v1/scores/live", json={"rows": [r]}, headers=READ))["scores"][0]

        async def together() -> list[Any]:
            transport = httpx.ASGITransport(app=c.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as h:
                sent = [h.post("/v1/scores/live", json={"rows": [r]}, headers=READ) for r in rows]
                return [x.json() for x in await asyncio.gather(*sent)]

        got = c.portal.call(together) if c.portal else None
        metrics = c.get("/metrics").text
    assert got is not None
    for r, answer in zip(rows, got, strict=True):
        (mine,) = answer["scores"]
        assert mine["account_id"] == r["account_id"]
        assert mine["p_churn"] == pytest.approx(alone[r["account_id"]]["p_churn"], abs=1e-12)
    count = [line for line in metrics.splitlines() if line.startswith("churn_live_batch_requests_count")]
    total = [line for line in metrics.splitlines() if line.startswith("churn_live_batch_requests_sum")]
    # 12 alone, then 12 sent at once in fewer batches than requests.
    assert float(total[0].split()[-1]) == 2 * len(rows) and float(count[0].split()[-1]) < 2 * len(rows)
