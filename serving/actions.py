"""The actions taken on accounts over the API: ``POST /v1/accounts/{account_id}/actions`` records one (a key with
the write scope), ``GET`` lists them newest first (any key). Thin: ``serving.action_log`` checks and stores."""

from collections.abc import Collection

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool

from serving.action_log import ActionRefused, new_action
from serving.auth import Reader, Writer
from serving.routes import BODY, AccountId, Documented, scored
from serving.schemas import ActionIn, ActionOut, ActionsOut, Problem

router = APIRouter(prefix="/v1", responses={401: {"model": Problem}, 503: {"model": Problem}})
UNKNOWN: Documented = {404: {"model": Problem, "description": "No score for this account"}}


def known(request: Request, account_id: str) -> None:
    """404 unless the account is among the latest scores."""
    if account_id not in scored(request).scores.payloads:
        raise HTTPException(404, f"no account {account_id!r} among the latest scores: unknown, or not active at the "
                                 "latest as_of")  # fmt: skip


def plays(request: Request) -> Collection[str]:
    """The plays an action may name: the loaded playbook's."""
    return {r.play for r in scored(request).scorer.playbook.rules}


def refused(e: ActionRefused, prefix: str = "body") -> HTTPException:
    return HTTPException(422, [{"field": f"{prefix}.{e.field}", "problem": e.problem}])


WRITE: Documented = {403: {"model": Problem, "description": "A read key: recording needs the write scope"}}


@router.post("/accounts/{account_id}/actions", status_code=201, response_model=ActionOut,
             responses={**UNKNOWN, **BODY, **WRITE})  # fmt: skip
async def record(account_id: AccountId, body: ActionIn, request: Request, scope: Writer) -> ActionOut:
    """Record an action taken on an account (a play started, done or abandoned). Append-only: never changed or
    removed; the row keeps who recorded it (api-key:<scope>) and when."""
    known(request, account_id)
    try:
        action = new_action(account_id=account_id, play=body.play, status=body.status, note=body.note, by=body.by,
                            at=body.at, recorded_by=f"api-key:{scope}", source="api", plays=plays(request))  # fmt: skip
    except ActionRefused as e:
        raise refused(e) from e
    await run_in_threadpool(request.app.state.actions.append, action)
    return ActionOut(**action)


@router.get("/accounts/{account_id}/actions", response_model=ActionsOut, responses=UNKNOWN)
async def listed(account_id: AccountId, request: Request, _: Reader) -> Response:
    """The actions taken on an account, newest first."""
    known(request, account_id)
    got = await run_in_threadpool(request.app.state.actions.of, account_id)
    return Response(ActionsOut(account_id=account_id, actions=got).model_dump_json(), media_type="application/json")
