"""The JSON API under /v1. Routes stay thin: they read the current bundle and shape responses."""

import json
import math
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from features.registry import Feature
from models.ranking import Filters, Order, RankedList, rank
from serving import schemas
from serving.auth import Admin, Reader
from serving.schemas import (
    MAX_ID,
    AccountOut,
    Effects,
    Forecast,
    IdsIn,
    LiveOut,
    ModelInfo,
    Monitoring,
    Problem,
    Ranking,
    RowsIn,
    Score,
    ScoresOut,
)
from serving.state import Bundle

# The errors each route can answer, in the Problem shape: 401 (no or an unknown key) and 503 (nothing loaded) on
# every route, the rest where they can happen. FastAPI documents 422 itself where a route reads parameters or a
# body; serving.openapi gives it the Problem shape too.
router = APIRouter(prefix="/v1", responses={401: {"model": Problem}, 503: {"model": Problem}})
Documented = dict[int | str, dict[str, Any]]
BODY: Documented = {
    400: {"model": Problem, "description": "Not JSON (or not UTF-8, or nested too deep)"},
    413: {"model": Problem, "description": "Body over CHURN_MAX_BODY_BYTES, or too many ids or rows"},
}
NOT_FOUND: Documented = {404: {"model": Problem, "description": "No score for this account"}}
AccountId = Annotated[str, Path(min_length=1, max_length=MAX_ID, description="the account's id")]


def model_features(b: Bundle) -> dict[str, Feature]:
    """The features the loaded models read (the registry's that the data fed, or a feature table's own columns),
    with their definitions, churn model's first."""
    upsell = b.scorer.upsell.feature_info_ if b.scorer.upsell is not None else {}
    return {**b.scorer.churn.feature_info_, **upsell}


def bundle(request: Request) -> Bundle:
    b = request.app.state.holder.bundle
    if b is None:
        # Not the load error itself: it may name files or a tracking URI; /readyz gives it to an admin key.
        why = "they could not be loaded (see /readyz)" if request.app.state.holder.error else "starting"
        raise HTTPException(503, f"models are not loaded: {why}")
    return b


def scored(request: Request) -> Bundle:
    """The current bundle, or 503 when nothing has been scored yet."""
    b = bundle(request)
    if not b.scores.payloads:
        raise HTTPException(
            503, "no scores yet: run `churn score` (the server picks them up within its reload interval)"
        )
    return b


def latest(request: Request, account_id: str) -> tuple[Bundle, bytes]:
    """The current bundle and the JSON of the account's latest score; 503 before any scoring, 404 if unknown."""
    b = scored(request)
    payload = b.scores.payloads.get(account_id)
    if payload is None:
        raise HTTPException(404, f"no score for account {account_id!r}: unknown, or not active at the latest as_of")
    return b, payload


@router.get("/accounts/{account_id}/score", response_model=Score, responses=NOT_FOUND)
async def score_one(account_id: AccountId, request: Request, _: Reader) -> Response:
    """The latest score of one account, with its reasons, health components and play."""
    payload = latest(request, account_id)[1]
    return Response(payload, media_type="application/json")


@router.post("/scores", response_model=ScoresOut, responses=BODY)
async def score_many(body: IdsIn, request: Request, _: Reader) -> Response:
    """Latest scores of many accounts by id; unknown ids are listed in not_found."""
    b = scored(request)
    limit = request.app.state.settings.max_ids
    if len(body.account_ids) > limit:
        raise HTTPException(413, f"{len(body.account_ids)} account ids in one request; the limit is {limit}")
    found = [b.scores.payloads[a] for a in body.account_ids if a in b.scores.payloads]
    missing = json.dumps([a for a in body.account_ids if a not in b.scores.payloads]).encode()
    return Response(b'{"scores":[' + b",".join(found) + b'],"not_found":' + missing + b"}",
                    media_type="application/json")  # fmt: skip


PROBLEMS: dict[schemas.Kind, str] = {
    "id": f"an account id: a string of 1 to {MAX_ID} characters (or null)",
    "date": "a date: RFC 3339, e.g. 2025-06-01 or 2025-06-01T00:00:00Z (or null)",
    "money": "an amount of money: a number, 0 or more (or null)",
    "number": "a number (or null)",
    "category": "a category: a string (or null)",
}


def _number(v: object) -> float | None:
    """``v`` as a float when it is a JSON number that a float holds (not true or false, not past 1.8e308)."""
    if isinstance(v, bool) or not isinstance(v, float | int):
        return None
    try:
        x = float(v)
    except OverflowError:
        return None
    return x if math.isfinite(x) else None


def _fits(kind: schemas.Kind, v: object) -> bool:
    """Whether the JSON value ``v`` is a value of ``kind`` (null, unknown, always is)."""
    if v is None:
        return True
    match kind:
        case "id":
            return isinstance(v, str) and 0 < len(v) <= MAX_ID
        case "date":
            return schemas.is_date(v)
        case "category":
            return isinstance(v, str)
        case "number":
            return _number(v) is not None
        case "money":
            x = _number(v)
            return x is not None and x >= 0


def _check(rows: list[dict[str, Any]], known: dict[str, Feature]) -> list[str]:
    """422 naming every bad field (row index and key) and what it must be; else the features absent from every row
    (scored as unknown). The same ``kinds`` make the row's schema in the OpenAPI document."""
    allowed = schemas.kinds(known)
    problems: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        for k, v in row.items():
            kind = allowed.get(k)
            if kind is None:
                problems.append({"field": f"rows.{i}.{k[:100]}", "problem": "unknown feature (see GET /v1/models)"})
            elif not _fits(kind, v):
                problems.append({"field": f"rows.{i}.{k}", "problem": f"must be {PROBLEMS[kind]}"})
    if problems:
        raise HTTPException(422, problems)
    present = set().union(*rows)
    return [n for n in known if n not in present]


@router.post("/scores/live", response_model=LiveOut, responses=BODY)
async def score_live(body: RowsIn, request: Request, _: Reader) -> Response:
    """Score raw feature rows sent in the body, with explanations computed now."""
    b = bundle(request)
    s = request.app.state.settings
    if len(body.rows) > s.max_rows:
        raise HTTPException(413, f"{len(body.rows)} rows in one request; the limit is {s.max_rows}")
    missing = _check(body.rows, model_features(b))

    def shape(scores: list[dict[str, Any]]) -> bytes:
        for r in scores:
            r["model_versions"] = {"churn": r.pop("churn_version"), "upsell": r.pop("upsell_version")}
            if r.get("as_of") is not None:
                r["as_of"] = str(r["as_of"])
        # Built as plain dicts and encoded once: validating the response model again cost more than the trees.
        return json.dumps({"scores": scores, "missing_features": missing}).encode()

    # Scored with the rows of the requests that arrive meanwhile (serving.batching), off the event loop.
    return Response(await request.app.state.batcher.score(b.scorer, body.rows, shape), media_type="application/json")


def ranking_page(b: Bundle, ranking: RankedList, by: Order, filters: Filters, limit: int, offset: int) -> Ranking:
    """One page of ``models.ranking.rank`` over the bundle's scores, as the ranking routes answer it and the
    pages show it."""
    r = rank(b.scores.frame, ranking, by, filters, limit=limit, offset=offset)
    return Ranking(ranking=ranking, by=by, as_of=b.scores.as_of, total=r.total, limit=limit, offset=offset,
                   items=r.rows)  # fmt: skip


Segment = Annotated[str | None, Query(description="smb, mid_market or enterprise")]
Touch = Annotated[str | None, Query(description="high, low or tech")]
Owner = Annotated[str | None, Query(description="CSM owner")]
Tier = Annotated[Literal["red", "yellow", "green"] | None, Query()]
Search = Annotated[str | None, Query(max_length=100, description="part of the account name")]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0)]


@router.get("/rankings/at-risk", response_model=Ranking)
async def at_risk(request: Request, _: Reader, by: Order = "probability", segment: Segment = None,
                  touch_model: Touch = None, owner: Owner = None, tier: Tier = None, q: Search = None,
                  limit: Limit = 50, offset: Offset = 0) -> Ranking:  # fmt: skip
    """Accounts at risk before notice (they had not given notice to cancel at as_of; unknown counts as not given),
    by churn risk: by probability, or by revenue at risk (probability x ARR). Accounts that gave notice are on
    the save desk."""
    return ranking_page(bundle(request), "at-risk", by, Filters(segment, touch_model, owner, tier, q), limit, offset)


@router.get("/rankings/save-desk", response_model=Ranking)
async def save_desk(request: Request, _: Reader, by: Order = "revenue", segment: Segment = None,
                    touch_model: Touch = None, owner: Owner = None, tier: Tier = None, q: Search = None,
                    limit: Limit = 50, offset: Offset = 0) -> Ranking:  # fmt: skip
    """The save desk: accounts that had given notice to cancel at as_of, by revenue at risk (probability x ARR,
    the default) or by probability."""
    return ranking_page(bundle(request), "save-desk", by, Filters(segment, touch_model, owner, tier, q), limit, offset)


@router.get("/rankings/upsell", response_model=Ranking)
async def upsell(request: Request, _: Reader, by: Order = "revenue", segment: Segment = None,
                 touch_model: Touch = None, owner: Owner = None, tier: Tier = None, q: Search = None,
                 limit: Limit = 50, offset: Offset = 0) -> Ranking:  # fmt: skip
    """Expansion candidates (every account, whether or not it has given notice): by the expected expansion ARR
    within the horizon (revenue, the default: what an upsell is expected to add, propensity and size together) or
    by upsell probability. Without an expansion model, revenue orders by probability."""
    filters = Filters(segment, touch_model, owner, tier, q)
    return ranking_page(bundle(request), "upsell", by, filters, limit, offset)


@router.get("/accounts/{account_id}", response_model=AccountOut, responses=NOT_FOUND)
async def account(account_id: AccountId, request: Request, _: Reader) -> Response:
    """One account's latest score and its score history (one point per scored as_of)."""
    b, payload = latest(request, account_id)
    history = json.dumps(b.scores.history.get(account_id, [])).encode()
    return Response(b'{"score":' + payload + b',"history":' + history + b"}", media_type="application/json")


@router.get(
    "/monitoring",
    response_model=Monitoring,
    responses={404: {"model": Problem, "description": "Nothing published yet by `churn monitor`"}},
)
async def monitoring(request: Request, _: Reader) -> Response:
    """Performance (realised and estimated), drift by family and alerts, as `churn monitor` last published them."""
    document = request.app.state.holder.monitoring
    if document is None:
        raise HTTPException(404, "no monitoring published yet: run `churn monitor` (the server picks it up within "
                                 "its reload interval)")  # fmt: skip
    return Response(json.dumps(document), media_type="application/json")


@router.get(
    "/forecast",
    response_model=Forecast,
    responses={404: {"model": Problem, "description": "Nothing published yet by `churn forecast`"}},
)
async def forecast(request: Request, _: Reader) -> Response:
    """The book's gross and net revenue retention over the next period, overall and per segment, with 80%, 90% and
    95% intervals, as `churn forecast` last published it."""
    document = request.app.state.holder.forecast
    if document is None:
        raise HTTPException(404, "no forecast published yet: run `churn forecast` (the server picks it up within "
                                 "its reload interval)")  # fmt: skip
    return Response(json.dumps(document), media_type="application/json")


@router.get(
    "/effects",
    response_model=Effects,
    responses={404: {"model": Problem, "description": "Nothing published yet by `churn effects --publish`"}},
)
async def effects(request: Request, _: Reader) -> Response:
    """Per play and overall, the effect of assigning the play on churn (or upsell) within the horizon, treated against
    held out, adjusted for the predicted risk, with 90% and 95% intervals and the naive comparison beside it, as
    `churn effects --publish` last published it."""
    document = request.app.state.holder.effects
    if document is None:
        raise HTTPException(404, "no effects published yet: run `churn effects --publish STORE` with the store the "
                                 "server reads (it picks them up within its reload interval)")  # fmt: skip
    return Response(json.dumps(document), media_type="application/json")


@router.get("/models", response_model=ModelInfo)
async def models(request: Request, _: Reader) -> ModelInfo:
    """Model versions and aliases, out-of-time metrics, the features with descriptions, and data freshness."""
    b = bundle(request)
    return ModelInfo(
        versions=b.versions, alias=request.app.state.settings.alias,
        metrics={t: m.metrics for t, m in b.models.items()}, loaded_at=b.loaded_at,
        scores_as_of=b.scores.as_of, scored_at=b.scores.scored_at, scores_version=b.scores.version,
        features=[{"name": f.name, "family": f.family, "description": f.description, "unit": f.unit}
                  for f in model_features(b).values()],
    )  # fmt: skip


@router.post("/admin/reload", responses={403: {"model": Problem, "description": "A read key: reloading needs admin"}})
async def reload(request: Request, _: Admin) -> dict[str, object]:
    """Load the models at the alias and the latest scores again; on failure the old ones keep serving."""
    ok = await run_in_threadpool(request.app.state.reload)
    holder = request.app.state.holder
    if not ok:
        raise HTTPException(503, f"reload refused, still serving {holder.bundle.versions if holder.bundle else None}: "
                                 f"{holder.error}")  # fmt: skip
    return {"reloaded": True, "versions": holder.bundle.versions, "scores_as_of": holder.bundle.scores.as_of}
