"""Security headers on every response, pages and API alike: a Content-Security-Policy that lets the pages load
nothing but their own styles and images (they have no script), no framing, no type sniffing, no referrer.

Plain ASGI in the style of ``serving.app.Measure``: six constant headers appended to each response start. A
library (``secure``) would add a dependency for what is a table of constants; the policy itself is this app's.
The interactive docs (/docs, /redoc) are FastAPI's pages, which load Swagger UI / ReDoc from jsDelivr with an
inline script: they get a policy that allows exactly that.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Pages: their styles are a <style> block and style attributes (hashes cannot allow attributes), charts are inline
# SVG; forms post to this origin only.
PAGES = ("default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
         "frame-ancestors 'none'; base-uri 'none'")  # fmt: skip
CDN = "https://cdn.jsdelivr.net"
DOCS = (f"default-src 'self'; script-src 'self' 'unsafe-inline' {CDN}; style-src 'self' 'unsafe-inline' {CDN}; "
        f"img-src 'self' data: https://fastapi.tiangolo.com; worker-src blob:; frame-ancestors 'none'; "
        "base-uri 'none'")  # fmt: skip
DOC_PATHS = ("/docs", "/redoc")
COMMON = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = (DOCS if scope["path"].startswith(DOC_PATHS) else PAGES).encode()

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in (*COMMON, (b"content-security-policy", policy)) if k not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, sending)
