"""The FastAPI app, built by ``create_app(settings)``: models and scores loaded in the lifespan, kept in a holder
that a reload swaps atomically, JSON errors everywhere, Prometheus metrics, and a periodic check of the registry
alias and of the published scores (``serving.reloading``). Run it with ``churn serve`` (uvicorn)."""

import asyncio
import contextlib
import gc
import logging
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving import actions, export, renewals
from serving.action_log import open_actions
from serving.auth import key_of, scope_of
from serving.batching import Batcher
from serving.guard import Guard
from serving.openapi import exact_document
from serving.pages import SignIn, pages
from serving.reloading import Reloader
from serving.routes import router
from serving.schemas import Health, Readiness
from serving.security import SecurityHeaders
from serving.sessions import Revoked
from serving.settings import ServingSettings, get_serving_settings, refusal
from serving.state import Holder
from serving.throttle import Throttle

logger = logging.getLogger("churn.serving")
SESSION_SECONDS = 12 * 3600  # a CSM page session's longest life
# The framework's own error texts, said in words that name the fix.
WORDS = {
    (400, "There was an error parsing the body"): "the body could not be read as JSON: send UTF-8 JSON, nested at "
    "most a few hundred levels",
}


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("churn_http_requests", "HTTP requests", ["route", "status"], registry=self.registry)
        self.latency = Histogram("churn_http_seconds", "Request latency", ["route"], registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))  # fmt: skip
        self.version = Gauge("churn_model_version", "Loaded model version", ["model"], registry=self.registry)
        self.reloads = Counter("churn_reloads", "Model reloads", ["outcome"], registry=self.registry)
        self.score_loads = Counter("churn_score_loads", "Loads of a published scores version", ["outcome"],
                                   registry=self.registry)  # fmt: skip
        self.batches = Histogram("churn_live_batch_requests", "Live scoring requests scored together in one batch",
                                 registry=self.registry, buckets=(1, 2, 4, 8, 16, 32, 64))  # fmt: skip
        # From the monitoring document `churn monitor` published (serving.reloading), for alerting rules.
        self.monitoring_alerts = Gauge("churn_monitoring_alerts", "Alerts of the last churn monitor run", ["level"],
                                       registry=self.registry)  # fmt: skip
        self.monitoring_roc_auc = Gauge("churn_monitoring_roc_auc", "Churn ROC AUC at the latest date measured: "
                                        "estimated before labels mature, realised after", ["kind"],
                                        registry=self.registry)  # fmt: skip


class Measure:
    """Latency and count of HTTP requests by route and status (500 when the app raises), as plain ASGI: the
    ``@app.middleware("http")`` form streams every response through a task group, a large share of the time
    of a score answered from memory."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            name = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.latency.labels(name).observe(time.perf_counter() - t0)
            self.metrics.requests.labels(name, str(status)).inc()


def allowed(app: FastAPI, path: str) -> list[str]:
    """Every method of every route at ``path``. Starlette's 405 names the methods of the first route whose path
    matches only, and two routes share a path when GET and POST take different bodies (an account's actions)."""
    methods: set[str] = set()

    def walk(entries: Any) -> None:
        for r in entries:
            if hasattr(r, "effective_route_contexts"):  # an included router (FastAPI 0.165)
                walk(r.effective_route_contexts())
            elif getattr(r, "path", None) is not None and compile_path(r.path)[0].match(path):
                methods.update(getattr(r, "methods", None) or ())

    walk(app.routes)
    return sorted(methods)


def create_app(settings: ServingSettings | None = None) -> FastAPI:
    settings = settings or get_serving_settings()
    holder = Holder()
    metrics = Metrics()

    reloader = Reloader(settings, holder, metrics)
    reload = reloader.reload

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(reload)
        # What start-up loaded (the libraries, the models, the scores) lives as long as the process: kept out of
        # the cyclic collector's full passes, which otherwise walk it all and stall every request in flight.
        gc.collect()
        gc.freeze()
        task = asyncio.create_task(reloader.watch()) if settings.reload_interval > 0 else None
        yield
        if task:
            task.cancel()

    app = FastAPI(title="churn", version="1", lifespan=lifespan,
                  description="Churn and upsell scores with explanations, health scores and ranked accounts. "
                              "Send an API key as 'Authorization: Bearer KEY'.")  # fmt: skip
    app.state.settings, app.state.holder, app.state.reload, app.state.keys = settings, holder, reload, settings.keys()
    app.include_router(router)
    app.include_router(actions.router)
    app.include_router(export.router)
    app.include_router(renewals.router)
    app.include_router(pages)
    exact_document(app)
    app.state.users = settings.users()
    app.state.actions = open_actions(settings.scores)
    app.state.batcher = Batcher(settings.max_rows, settings.threads, metrics.batches)
    app.state.revoked = Revoked(settings.state_dir / "sessions.sqlite", max_age=SESSION_SECONDS)
    app.state.throttle = Throttle(settings.state_dir / "sessions.sqlite", settings.login_limit_user,
                                  settings.login_limit_client, settings.login_window)  # fmt: skip
    app.add_middleware(SessionMiddleware, secret_key=settings.session_secret, same_site="lax",
                       https_only=settings.env == "production", max_age=SESSION_SECONDS)  # fmt: skip

    @app.exception_handler(SignIn)
    async def sign_in(request: Request, e: SignIn) -> RedirectResponse:
        return RedirectResponse("/login", status_code=303)

    app.add_middleware(Guard, keys=app.state.keys, max_body=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(Measure, metrics=metrics)

    # Starlette's HTTPException, FastAPI's parent: the router's own 404 and 405 are answered in our shape too.
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException) -> JSONResponse:
        detail = WORDS.get((e.status_code, e.detail), e.detail) if isinstance(e.detail, str) else e.detail
        path = request.url.path[:200]
        if (e.status_code, e.detail) == (404, "Not Found"):
            detail = f"no route at {path}: the API's routes are listed at /docs"
        elif (e.status_code, e.detail) == (405, "Method Not Allowed"):
            detail = f"{request.method} is not allowed at {path}: the API's routes and methods are listed at /docs"
        headers = e.headers
        if e.status_code == 405 and (methods := allowed(app, request.url.path)):
            headers = {**(e.headers or {}), "Allow": ", ".join(methods)}
        body = {"error": detail} if isinstance(detail, str) else {"error": "invalid request", "detail": detail}
        return JSONResponse(body, status_code=e.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        detail = [{"field": ".".join(str(x) for x in err["loc"]), "problem": err["msg"]} for err in e.errors()]
        return JSONResponse({"error": "invalid request", "detail": detail}, status_code=422)

    @app.exception_handler(Exception)
    async def crash(request: Request, e: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": "internal error; the server log has the details"}, status_code=500)

    @app.get("/healthz", tags=["probes"])
    async def healthz() -> Health:
        """The process is alive."""
        return Health(status="ok")

    @app.get("/readyz", tags=["probes"], responses={200: {"model": Readiness, "description": "Ready"},
                                                    503: {"model": Readiness, "description": "Not ready"}})  # fmt: skip
    async def readyz(request: Request) -> JSONResponse:
        """Whether the server is ready (models and scores loaded), and why not in plain words. The details (versions,
        scores' date, the last reload error, which may name files) only to an admin key."""
        b = holder.bundle
        ready = b is not None and bool(b.scores.payloads)
        if ready:
            reason = "models and scores are loaded"
        elif b is not None:
            reason = "no scores yet: run `churn score`"
        elif holder.error:
            reason = "the models could not be loaded; the server log (or /readyz with an admin key) says why"
        else:
            reason = "the models are loading"
        body: dict[str, object] = {"ready": ready, "reason": reason}
        given = key_of(request.headers.get("authorization"), request.headers.get("x-api-key"))
        if given and scope_of(app.state.keys, given) == "admin":
            body |= {"versions": b.versions if b else None, "scores_as_of": b.scores.as_of if b else None,
                     "last_reload_error": holder.error}  # fmt: skip
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["probes"], response_class=PlainTextResponse)
    async def prometheus() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def factory() -> FastAPI:
    """For ``uvicorn --factory serving.app:factory`` (settings from the environment). Settings that cannot serve
    (production without keys, a weak secret) stop the process with one line naming the setting and the fix, and
    exit code 2: no traceback, and no part of the values given (a secret or a key may be among them)."""
    refused = refusal()
    if refused:
        print(f"churn serve refused: {refused}", file=sys.stderr)
        sys.exit(2)
    return create_app(get_serving_settings())
