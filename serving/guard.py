"""Requests refused before they are read: the API key of the /v1 routes checked from the headers alone, and bodies
over the size limit refused from their Content-Length, or as soon as the bytes streamed in pass it.

Plain ASGI, outside the app (as ``Measure``): FastAPI reads and parses a route's body before it runs the route's
dependencies, so a key checked by the ``Reader`` dependency alone let a client without one make the server parse
50 MB (and answer 422 to ``{``, not 401). The dependencies stay: they document the security scheme and tell a read
key from an admin one (403).
"""

import json

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.auth import MISSING, UNKNOWN, key_of, scope_of

API = "/v1/"


class BodyTooLarge(HTTPException):
    """Raised while a body streams in past the limit; the app's error handler answers it as 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large(limit))


def too_large(limit: int) -> str:
    return f"request body over {limit:,} bytes; send less per request (CHURN_MAX_BODY_BYTES sets the limit)"


async def _answer(send: Send, status: int, error: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"error": error}).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    head += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """401 for a /v1 request without a known key and 413 for a body over ``max_body`` bytes, before the app reads
    it; ``keys`` are the app's API keys (key -> scope)."""

    def __init__(self, app: ASGIApp, keys: dict[str, str], max_body: int) -> None:
        self.app, self.keys, self.max_body = app, keys, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if scope["path"].startswith(API):
            given = key_of(headers.get("authorization"), headers.get("x-api-key"))
            if not given or scope_of(self.keys, given) is None:
                await _answer(send, 401, UNKNOWN if given else MISSING, {"WWW-Authenticate": "Bearer"})
                return
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _answer(
                send,
                413 if length.isdigit() else 400,
                too_large(self.max_body) if length.isdigit() else "Content-Length is not a number",
            )
            return  # fmt: skip
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise BodyTooLarge(self.max_body)
            return message

        await self.app(scope, counted, send)
