"""API keys with scopes, compared in constant time. Sent as ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``.

Scopes, each allowing what the ones before it do: ``read`` (scores, rankings, models), ``write`` (also records
actions taken on accounts: ``POST /v1/accounts/{id}/actions``; for a CRM or a health-score system that reports what
was done), ``admin`` (also reloads)."""

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

bearer = HTTPBearer(auto_error=False, description="API key as a bearer token")
header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")
RANK = {"read": 0, "write": 1, "admin": 2}


MISSING = "missing API key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'"
UNKNOWN = "unknown API key"


def key_of(authorization: str | None, api_key: str | None) -> str | None:
    """The key a request sends: a bearer token, else the X-API-Key header."""
    if authorization:
        kind, _, token = authorization.partition(" ")
        if kind.lower() == "bearer" and token.strip():
            return token.strip()
    return api_key or None


def scope_of(keys: dict[str, str], given: str) -> str | None:
    """The scope of key ``given`` among ``keys`` (key -> scope), or None when unknown."""
    found = None
    for key, scope in keys.items():  # every key compared, whatever matches, so timing says nothing
        if hmac.compare_digest(key.encode(), given.encode()):
            found = scope
    return found


def require(scope: str):  # type: ignore[no-untyped-def]
    # async although it never awaits: FastAPI runs a plain def dependency in the thread pool, a hop per request.
    # The two security dependencies document the schemes in OpenAPI; the key is read by ``key_of``, as the guard
    # (serving.guard) reads it before the body, so both checks agree on what a request sends.
    async def check(
        request: Request,
        _token: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        _key: Annotated[str | None, Depends(header)],
    ) -> str:
        given = key_of(request.headers.get("authorization"), request.headers.get("x-api-key"))
        if not given:
            raise HTTPException(401, MISSING, headers={"WWW-Authenticate": "Bearer"})
        has = scope_of(request.app.state.keys, given)
        if has is None:
            raise HTTPException(401, UNKNOWN, headers={"WWW-Authenticate": "Bearer"})
        if RANK[has] < RANK[scope]:
            raise HTTPException(403, f"this API key has the '{has}' scope; this route needs '{scope}'")
        return has

    return check


Reader = Annotated[str, Depends(require("read"))]
Writer = Annotated[str, Depends(require("write"))]
Admin = Annotated[str, Depends(require("admin"))]
