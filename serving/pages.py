"""Server-rendered pages for CSMs on the same app as the API: sign-in, the ranked accounts (at risk before notice,
or by expected expansion ARR or upsell propensity), the save desk (accounts that have given notice), one account
(with its churn curve and renewal), the models, and what the batch commands published (monitoring, the forecast,
what works). The rankings come from the same function as the
API's, so a page and the API agree for a filter."""

import json
import logging
import math
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import pandas as pd
from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pwdlib import PasswordHash
from pwdlib.exceptions import PwdlibError

from models.ranking import Filters, Order, RankedList, rank
from models.scoring import CURVE_COLUMNS, CURVE_DAYS
from serving import charts
from serving.action_log import ActionRefused, new_action
from serving.actions import refused
from serving.export import csv_response
from serving.renewals import renewals_page
from serving.routes import bundle, ranking_page
from serving.schemas import MAX_NOTE
from serving.sessions import PRINT, SID, check_form, csrf_token, fingerprint, start
from serving.state import Bundle
from serving.throttle import Refused
from serving.what_works import views

templates = Jinja2Templates(directory=Path(__file__).with_name("templates"))
pages = APIRouter(include_in_schema=False)
logger = logging.getLogger("churn.serving")
PAGE = 25
# The page's "rank by" choice -> (the API's list, its order), for the accounts page and for the save desk
ORDERS: dict[str, tuple[RankedList, Order]] = {
    "risk": ("at-risk", "probability"), "revenue": ("at-risk", "revenue"), "expansion": ("upsell", "revenue"),
    "upsell": ("upsell", "probability"),
}  # fmt: skip
SAVE_DESK_ORDERS: dict[str, tuple[RankedList, Order]] = {
    "revenue": ("save-desk", "revenue"), "risk": ("save-desk", "probability"),
}  # fmt: skip
PASSWORDS = PasswordHash.recommended()  # Argon2id, as `churn password` hashes
# Verified in place of an unknown user's hash: the hash of a random string, with the recommended parameters.
NO_USER = "$argon2id$v=19$m=65536,t=3,p=4$SajCuhejaAIRAVt9G4LjfQ$+h51RT+gdD3Dhx9oEpEFP1oEp6UyISUurP3np+Z5XrI"


def check_password(stored: str | None, given: str) -> bool:
    """Whether ``given`` is the password of ``stored``, a hash as ``churn password`` prints it. Without a stored hash
    (an unknown user) a dummy hash is verified all the same, so that an unknown name takes as long to refuse as a
    wrong password; a malformed hash is refused."""
    try:
        matches = PASSWORDS.verify(given, stored or NO_USER)
    except PwdlibError:
        logger.warning("a CSM's stored password is not a hash `churn password` makes: that user cannot sign in")
        return False
    return matches and bool(stored)


class SignIn(Exception):
    """Raised by ``user`` when nobody is signed in; the app turns it into a redirect to /login."""


def user(request: Request) -> dict[str, Any]:
    """The signed-in CSM; ``SignIn`` (to /login) when nobody is, or the session was ended by logout or by a change
    of the user's password (``serving.sessions``)."""
    name = request.session.get("user")
    users = request.app.state.users
    if not name or name not in users:
        raise SignIn
    sid = request.session.get(SID)
    if (
        not sid
        or sid in request.app.state.revoked
        or request.session.get(PRINT) != fingerprint(users[name].get("password", ""))
    ):
        request.session.clear()
        raise SignIn
    owner = users[name].get("owner")
    if not owner:  # the demo user: the owner with the most accounts, so that "my accounts" shows something
        owners = bundle(request).scores.frame.get("csm_owner")
        owner = owners.mode().iat[0] if owners is not None and owners.notna().any() else None
    return {"name": name, "owner": owner}


def _page(request: Request, name: str, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"user": request.session.get("user"),
                                                      "csrf": csrf_token(request), **context})  # fmt: skip


@pages.get("/login")
def login_form(request: Request, error: str | None = None) -> HTMLResponse:
    return _page(request, "login.html", error=error, demo=request.app.state.settings.env == "development")


@pages.post("/login")
def login(request: Request, username: Annotated[str, Form(max_length=200)],
          password: Annotated[str, Form(max_length=1000)], csrf: Annotated[str, Form()] = "") -> Response:  # fmt: skip
    """Sign in: refused with 429 (and Retry-After) once the user name or the client address has too many recent
    failures (``serving.throttle``), before any password is verified; known and unknown names cost the same."""
    check_form(request, csrf)
    taken = request.app.state.throttle.take(username, request.client.host if request.client else "")
    if isinstance(taken, Refused):
        raise HTTPException(429, f"too many failed sign-ins {taken.by}: try again in {taken.retry_after} s",
                            headers={"Retry-After": str(taken.retry_after)})  # fmt: skip
    stored = request.app.state.users.get(username, {}).get("password")
    if not check_password(stored, password):
        return _page(request, "login.html", error="Wrong user name or password.", demo=False)
    assert stored is not None  # check_password refuses a user without a hash
    request.app.state.throttle.give_back(taken)
    start(request, username, stored)
    return RedirectResponse("/accounts", status_code=303)


@pages.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    """End the session: its id is revoked for every server process, so a copy of the cookie signs in no more."""
    check_form(request, csrf)
    sid = request.session.get(SID)
    if isinstance(sid, str):
        request.app.state.revoked.add(sid)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@pages.get("/")
def home() -> Response:
    return RedirectResponse("/accounts", status_code=303)


def _options(b: Bundle) -> dict[str, list[str]]:
    f = b.scores.frame
    return (
        {c: sorted(str(v) for v in f[c].dropna().unique()) for c in ("segment", "touch_model", "csm_owner")}
        if len(f)
        else {}
    )


def _chosen(orders: dict[str, tuple[RankedList, Order]], by: str, segment: str | None, touch_model: str | None,
            owner: str | None, tier: str | None, q: str | None, mine: bool,
            me: dict[str, Any]) -> tuple[str, str | None, str | None, Filters]:  # fmt: skip
    """The page's order (the first when ``by`` is not one of ``orders``), owner (with ``mine``, the CSM ``me``'s
    own), tier and filters, as the page and its CSV download read them."""
    by = by if by in orders else next(iter(orders))
    owner = me["owner"] if mine else owner
    tier = tier if tier in ("red", "yellow", "green") else None
    return by, owner, tier, Filters(segment or None, touch_model or None, owner or None, tier, q or None)


def _ranked(request: Request, template: str, orders: dict[str, tuple[RankedList, Order]], by: str,
            segment: str | None, touch_model: str | None, owner: str | None, tier: str | None, q: str | None,
            mine: bool, page: int) -> HTMLResponse:  # fmt: skip
    """A ranked page: one page of ``orders[by]`` (the first order when ``by`` is not one of them) with the filters,
    and how many accounts of the same filters are at risk before notice and on the save desk (the tabs)."""
    me = user(request)
    b = bundle(request)
    by, owner, tier, chosen = _chosen(orders, by, segment, touch_model, owner, tier, q, mine, me)
    page = max(page, 1)
    ranking, order = orders[by]
    offset = (page - 1) * PAGE
    r = ranking_page(b, ranking, order, chosen, PAGE, offset)
    counts = {name: rank(b.scores.frame, name, filters=chosen, limit=1).total for name in ("at-risk", "save-desk")}
    return _page(request, template, ranking=r, by=by, segment=segment or "", touch_model=touch_model or "",
                 owner=owner or "", tier=tier or "", q=q or "", mine=mine, page=page, me=me, counts=counts,
                 pages=max(1, math.ceil(r.total / PAGE)), options=_options(b))  # fmt: skip


@pages.get("/accounts")
def accounts(request: Request, by: str = "risk", segment: str | None = None, touch_model: str | None = None,
             owner: str | None = None, tier: str | None = None, q: str | None = None, mine: bool = False,
             page: int = 1) -> HTMLResponse:  # fmt: skip
    return _ranked(request, "accounts.html", ORDERS, by, segment, touch_model, owner, tier, q, mine, page)


@pages.get("/accounts.csv")
def accounts_csv(request: Request, by: str = "risk", segment: str | None = None, touch_model: str | None = None,
                 owner: str | None = None, tier: str | None = None, q: str | None = None,
                 mine: bool = False) -> Response:  # fmt: skip
    """The accounts page's list as CSV: every row of the page's list and filters, not only the page shown."""
    me = user(request)
    by, _, _, chosen = _chosen(ORDERS, by, segment, touch_model, owner, tier, q, mine, me)
    ranking, order = ORDERS[by]
    return csv_response(bundle(request), ranking, order, chosen, f"accounts-{by}")


@pages.get("/save-desk")
def save_desk(request: Request, by: str = "revenue", segment: str | None = None, touch_model: str | None = None,
              owner: str | None = None, tier: str | None = None, q: str | None = None, mine: bool = False,
              page: int = 1) -> HTMLResponse:  # fmt: skip
    return _ranked(request, "save_desk.html", SAVE_DESK_ORDERS, by, segment, touch_model, owner, tier, q, mine, page)


@pages.get("/accounts/{account_id}")
def account(request: Request, account_id: str) -> HTMLResponse:
    user(request)
    b = bundle(request)
    payload = b.scores.payloads.get(account_id)
    if payload is None:
        raise HTTPException(404, f"no account {account_id!r} among the latest scores")
    s = json.loads(payload)
    cfg = b.scorer.health_config
    parts = s["components"]
    base = s["health"] - sum(parts.values())
    curve = [(d, s[c]) for d, c in zip(CURVE_DAYS, CURVE_COLUMNS, strict=True) if s.get(c) is not None]
    renewal = s.get("next_renewal_at")
    renewal_day = (pd.Timestamp(renewal) - pd.Timestamp(s["as_of"])).days if renewal else None
    return _page(request, "account.html", s=s, base=base, chart=charts.components(parts),
                 curve=charts.curve(curve, renewal_day), curve_points=curve, renewal_day=renewal_day,
                 trend=charts.trend(b.scores.history.get(account_id, []), cfg.red_below, cfg.yellow_below),
                 history=b.scores.history.get(account_id, []), actions=request.app.state.actions.of(account_id),
                 plays=sorted({r.play for r in b.scorer.playbook.rules}), max_note=MAX_NOTE)  # fmt: skip


@pages.post("/accounts/{account_id}/actions")
def record_action(request: Request, account_id: str, play: Annotated[str, Form(max_length=200)],
                  status: Annotated[str, Form(max_length=20)],
                  note: Annotated[str, Form(max_length=MAX_NOTE)] = "",
                  csrf: Annotated[str, Form()] = "") -> Response:  # fmt: skip
    """Record an action from the account page (by the signed-in CSM), then back to the page."""
    check_form(request, csrf)
    me = user(request)
    b = bundle(request)
    if account_id not in b.scores.payloads:
        raise HTTPException(404, f"no account {account_id!r} among the latest scores")
    try:
        action = new_action(account_id=account_id, play=play, status=status, note=note.strip() or None, by=None,
                            at=None, recorded_by=me["name"], source="page",
                            plays={r.play for r in b.scorer.playbook.rules})  # fmt: skip
    except ActionRefused as e:
        raise refused(e, "form") from e
    request.app.state.actions.append(action)
    return RedirectResponse(f"/accounts/{quote(account_id, safe='')}#actions", status_code=303)


@pages.get("/model")
def model(request: Request) -> HTMLResponse:
    user(request)
    b = bundle(request)
    shown = ("roc_auc", "pr_auc", "brier", "ece", "lift_top_decile", "revenue_captured_top_decile",
             "roc_auc_vs_oracle", "scorecard_roc_auc", "logistic_roc_auc")  # fmt: skip
    return _page(request, "model.html", models=b.models, shown=shown, loaded_at=b.loaded_at,
                 as_of=b.scores.as_of, scored_at=b.scores.scored_at,
                 calibration=charts.calibration(b.models["churn"].calibration))  # fmt: skip


@pages.get("/monitoring")
def monitoring(request: Request) -> HTMLResponse:
    """What `churn monitor` last published: performance over time, drift by family, alerts."""
    user(request)
    doc = request.app.state.holder.monitoring
    perf = doc["performance"] if doc else {"estimated": [], "realised": []}
    latest = doc["dates"][-1] if doc and doc["dates"] else None
    drift = [d for d in doc["drift"] if d["as_of"] == latest] if doc else []
    return _page(request, "monitoring.html", doc=doc, estimated=perf["estimated"], realised=perf["realised"],
                 chart=charts.performance(perf["estimated"], perf["realised"]), latest=latest,
                 drift=sorted(drift, key=lambda d: -d["psi_mean"]))  # fmt: skip


@pages.get("/forecast")
def forecast(request: Request) -> HTMLResponse:
    """What `churn forecast` last published: the book's GRR and NRR over the next period, per segment."""
    user(request)
    doc = request.app.state.holder.forecast
    figures = doc["figures"] if doc else []
    return _page(request, "forecast.html", doc=doc, figures=figures,
                 charts={m: charts.retention(figures, m) for m in ("nrr", "grr")})  # fmt: skip


@pages.get("/what-works")
def what_works(request: Request) -> HTMLResponse:
    """What `churn effects --publish` last published: each play's measured effect in words, with its interval."""
    user(request)
    doc = request.app.state.holder.effects
    plays, overall = views(doc) if doc else ([], None)
    return _page(request, "what_works.html", doc=doc, plays=plays, overall=overall)


@pages.get("/renewals")
def renewals_list(request: Request, within: int = 90, segment: str | None = None) -> HTMLResponse:
    """Accounts renewing within ``within`` days, by the ARR expected to be lost at the renewal."""
    user(request)
    within = within if within in (30, 60, 90, 180, 365) else 90
    page = renewals_page(bundle(request), within, Filters(segment=segment or None), 200, 0)
    return _page(request, "renewals.html", page=page, within=within, segment=segment or "")
