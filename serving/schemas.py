"""Request and response bodies, split by direction; and what a live-scoring row may hold (``Kind``), from which both
the check of ``serving.routes`` and the row's schema in the OpenAPI document (``serving.openapi``) are made."""

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from features.registry import Feature

NOTICE = (
    "whether the customer had given notice to cancel at as_of (the snapshot's cancellation_pending); null when "
    "unknown (a live row without cancellation_pending, or a score stored before this field existed whose "
    "snapshot is gone). Rankings count unknown as not given."
)

PLAY = "the suggested next step; empty when none is needed, null when the account is held out of its play"
HELD_OUT = (
    "the account is held out of its suggested play (a random share of each play's accounts, to measure the "
    "play's effect): its play is null, and nobody should run it on this account"
)


class Reason(BaseModel):
    feature: str
    family: str
    value: float | str | None
    contribution: float = Field(description="log-odds; positive raises the probability")
    sentence: str


CURVE = (
    "P(churn within {days} days) from the model of churn over time (models.hazard), never decreasing with the "
    "horizon; null without one"
)


class Score(BaseModel):
    account_id: str | None = None
    as_of: str | None = None
    name: str | None = None
    segment: str | None = None
    touch_model: str | None = None
    csm_owner: str | None = None
    notice_given: bool | None = Field(None, description=NOTICE)
    p_churn: float
    p_upsell: float | None = Field(description="upsell propensity; null without an upsell model")
    health: float = Field(description="100 x (1 - churn probability)")
    tier: Literal["red", "yellow", "green"]
    components: dict[str, float] = Field(description="health points by feature family; with the base they sum up")
    reasons: list[Reason]
    upsell_reasons: list[Reason]
    arr: float | None = None
    revenue_at_risk: float | None = None
    play: str | None = Field(description=PLAY)
    held_out: bool = Field(False, description=HELD_OUT)
    next_renewal_at: str | None = Field(
        None,
        description="the next renewal (features.renewals): the end a notice "
        "gave, else the next anniversary of the first start by the account's term",
    )
    renewal_arr: float | None = Field(None, description="the ARR up for renewal: what the account pays now")
    expected_expansion_arr: float | None = Field(
        None, description="ARR the account is expected to add within the horizon (models.expansion); null without it"
    )
    churn_within_30: float | None = Field(None, description=CURVE.format(days=30))
    churn_within_60: float | None = Field(None, description=CURVE.format(days=60))
    churn_within_90: float | None = Field(None, description=CURVE.format(days=90))
    churn_within_180: float | None = Field(None, description=CURVE.format(days=180))
    churn_within_365: float | None = Field(None, description=CURVE.format(days=365))
    expected_churn_at: str | None = Field(
        None, description="when churn becomes more likely than not (the curve's median); null if not within a year"
    )
    model_versions: dict[str, str]


MAX_ID = 256  # characters of an account id: longer ones are refused, never echoed back
AccountIds = list[Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID)]]


class IdsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_ids: AccountIds = Field(min_length=1, description="account ids (at most CHURN_MAX_IDS)")


class ScoresOut(BaseModel):
    scores: list[Score]
    not_found: list[str]


class RowsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Values of any JSON type here: serving.routes checks each against its key's kind, so that the error names the
    # row and the field and says what the value must be (pydantic's union errors name its member types instead).
    rows: list[dict[str, Any]] = Field(
        min_length=1,
        description="feature rows: {feature name: value}, the features of the loaded models (listed in this "
        "document once they are loaded, and by GET /v1/models); account_id, as_of and arr are also read; at most "
        "CHURN_MAX_ROWS rows",
    )


# What each key of a live row may hold. account_id, as_of and arr are read besides the models' features.
Kind = Literal["id", "date", "money", "number", "category"]
EXTRA: dict[str, Kind] = {"account_id": "id", "as_of": "date", "arr": "money"}
# RFC 3339: a full date, or a date and time with its offset (JSON Schema's formats "date" and "date-time"). Written
# out because Python's fromisoformat also takes 20250601, week dates or no offset, which the document does not
# allow; fromisoformat then checks the calendar (no 2025-02-30).
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}([Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2}))?")


def is_money(f: Feature) -> bool:
    """Whether the feature's definition says it is an amount of money (its unit is a currency)."""
    return f.unit.startswith("currency") or (f.says is not None and f.says.kind == "money")


def kinds(features: Mapping[str, Feature]) -> dict[str, Kind]:
    """Feature name (or account_id, as_of, arr) -> what its value may be, by the feature's definition."""
    out: dict[str, Kind] = {
        n: "category" if f.categorical else "money" if is_money(f) else "number" for n, f in features.items()
    }
    return out | EXTRA


def is_date(v: object) -> bool:
    """Whether ``v`` is an RFC 3339 date (2025-06-01) or date and time (2025-06-01T00:00:00Z)."""
    if not isinstance(v, str) or not RFC3339.fullmatch(v):
        return False
    try:
        datetime.fromisoformat(v.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _nullable(*options: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [*options, {"type": "null"}]}


def value_schema(kind: Kind) -> dict[str, Any]:
    """The JSON Schema of a value of ``kind`` (null: unknown, always allowed)."""
    match kind:
        case "id":
            return _nullable({"type": "string", "minLength": 1, "maxLength": MAX_ID})
        case "date":
            return _nullable({"type": "string", "format": "date"}, {"type": "string", "format": "date-time"})
        case "money":
            return _nullable({"type": "number", "minimum": 0})
        case "number":
            return _nullable({"type": "number"})
        case "category":
            return _nullable({"type": "string"})


def row_schema(features: Mapping[str, Feature] | None) -> dict[str, Any]:
    """The JSON Schema of one live row: exactly the keys ``kinds`` allows, each with its value's schema; without
    models (``None``), only account_id, as_of and arr are known and any other key holds a number, a string or null."""
    known = kinds(features or {})
    props = {k: value_schema(kind) | _described(k, (features or {}).get(k)) for k, kind in known.items()}
    rest: dict[str, Any] | bool = False
    if features is None:
        rest = _nullable({"type": "number"}, {"type": "string"})
    return {"title": "LiveRow", "type": "object", "properties": props, "additionalProperties": rest}


def _described(key: str, f: Feature | None) -> dict[str, str]:
    words = {"account_id": "the account's id (echoed back)", "as_of": "the snapshot date (echoed back)",
             "arr": "annual recurring revenue, for revenue at risk"}  # fmt: skip
    if key in words:
        return {"description": words[key]}
    return {"description": f"{f.description} ({f.unit})"} if f is not None else {}


class LiveOut(BaseModel):
    scores: list[Score]
    missing_features: list[str] = Field(description="features absent from every row (scored as unknown)")


class RankItem(BaseModel):
    account_id: str
    name: str | None
    segment: str | None
    touch_model: str | None
    csm_owner: str | None
    notice_given: bool | None = Field(description=NOTICE)
    p_churn: float
    p_upsell: float | None = Field(description="upsell propensity; null without an upsell model")
    health: float
    tier: str
    arr: float | None
    revenue_at_risk: float | None
    expected_expansion_arr: float | None = Field(
        None, description="expected expansion ARR within the horizon; null without an expansion model"
    )
    top_reason: str | None
    play: str | None = Field(description=PLAY)


class Ranking(BaseModel):
    ranking: Literal["at-risk", "save-desk", "upsell"] = Field(
        description="which list: at-risk (accounts that had not given notice at as_of), save-desk (accounts that "
        "had given notice), upsell (every account)"
    )
    by: Literal["probability", "revenue"] = Field(
        description="the order, highest first: probability (of churn; of upsell for the upsell list) or revenue "
        "(at risk; the expected expansion ARR for the upsell list)"
    )
    as_of: str | None
    total: int
    limit: int
    offset: int
    items: list[RankItem]


class RenewalItem(BaseModel):
    account_id: str
    name: str | None
    segment: str | None
    csm_owner: str | None
    next_renewal_at: str
    days_to_renewal: int
    renewal_arr: float | None = Field(description="the ARR up for renewal: what the account pays now")
    p_churn: float = Field(description="the churn model's probability within its horizon")
    p_churn_by_renewal: float = Field(
        description="the chance of churning by the renewal: the churn curve at the days to the renewal (at least 30, "
        "linear between the curve's horizons); p_churn without a curve"
    )
    notice_given: bool | None = Field(description=NOTICE)
    expected_arr_lost: float | None = Field(
        description="renewal ARR x the chance of churning by the renewal (x 1 when notice was given)"
    )
    top_reason: str | None
    play: str | None = Field(description=PLAY)


class Renewals(BaseModel):
    as_of: str | None
    within: int = Field(description="days after as_of the renewals fall within")
    total: int
    limit: int
    offset: int
    items: list[RenewalItem]


class HistoryPoint(BaseModel):
    as_of: str
    health: float
    tier: str
    p_churn: float
    p_upsell: float | None = Field(description="upsell propensity; null without an upsell model")


class AccountOut(BaseModel):
    score: Score
    history: list[HistoryPoint]


class ModelInfo(BaseModel):
    versions: dict[str, str]
    alias: str
    metrics: dict[str, dict[str, float]]
    loaded_at: str
    scores_as_of: str | None
    scored_at: str | None
    scores_version: str | None = Field(None, description="the published scores version served (`churn score`)")
    features: list[dict[str, Any]]


class Monitoring(BaseModel):
    """What `churn monitor` last published (``pipelines.monitor.document``)."""

    published_at: str
    dates: list[str] = Field(description="the scoring dates checked")
    reference: str = Field(description="what drift was measured against")
    performance: dict[str, list[dict[str, Any]]] = Field(
        description="realised: per matured date, ROC AUC with its 95% interval and the figure at training; "
        "estimated: per date, the estimated ROC AUC with its 90% interval (before labels mature)"
    )
    drift: list[dict[str, Any]] = Field(description="per date and feature family: the largest and the mean PSI")
    alerts: list[dict[str, Any]] = Field(description="as_of, kind, level (warn or alert), subject, value, threshold, "
                                         "message; latest dates first")  # fmt: skip
    counts: dict[str, int]
    notes: list[str]


class ForecastFigure(BaseModel):
    group: str = Field(description='"all" or a segment')
    measure: Literal["grr", "nrr"] = Field(description="gross or net revenue retention, as a share of the start's ARR")
    point: float = Field(description="the forecast: the mean of the simulated periods")
    lo80: float
    hi80: float
    lo90: float
    hi90: float
    lo95: float
    hi95: float


class Forecast(BaseModel):
    """What `churn forecast` last published (``pipelines.forecast.forecast_document``)."""

    as_of: str = Field(description="the snapshot date whose book is forecast")
    months: int = Field(description="the period's length: the retention over the months after as_of")
    accounts: int
    arr: float = Field(description="the book's ARR at as_of")
    model: str = Field(description="the churn model whose probabilities were used")
    draws: int = Field(description="simulated periods")
    past_periods: int = Field(description="ended past periods the shocks and ARR ratios came from")
    figures: list[ForecastFigure]


class UpliftRanking(BaseModel):
    """How well the uplift model ranks a play's accounts (``pipelines.effects.uplift_entry``): Qini coefficients
    (the churn the play prevented along the ranking, above random, per account) with 90% bootstrap intervals."""

    fitted: bool = Field(description="false when the play had too few outcomes; then only the counts and reason")
    treated_events: int = Field(description="outcomes (churners, or upsells) among the accounts assigned the play")
    held_out_events: int = Field(description="outcomes among the accounts held out")
    reason: str | None = Field(default=None, description="why the model was not fitted")
    qini: float | None = Field(default=None, description="the uplift ranking's Qini coefficient")
    qini_lo90: float | None = None
    qini_hi90: float | None = None
    qini_risk: float | None = Field(default=None, description="the Qini of ranking by predicted risk instead")
    qini_vs_risk: float | None = Field(default=None, description="the uplift ranking's Qini minus the risk ranking's")
    qini_vs_risk_lo90: float | None = None
    qini_vs_risk_hi90: float | None = None
    uplift_top30: float | None = Field(default=None, description="held-out minus treated outcome rate among the "
                                       "top 30% by uplift: the outcome the play avoided there")  # fmt: skip
    uplift_top30_lo90: float | None = None
    uplift_top30_hi90: float | None = None


class PlayEffect(BaseModel):
    """A play's effect on the target within the horizon (``pipelines.effects.effect_row``): probabilities, treated
    minus held out (for churn, negative means fewer churners)."""

    play: str = Field(description='the play, or "all" for the plays pooled')
    treated: int = Field(description="eligible accounts assigned the play (not held out), whether or not it was run")
    held_out: int = Field(description="eligible accounts held out of the play")
    effect: float = Field(description="the effect adjusted for the predicted risk (intention-to-treat)")
    se: float = Field(description="its standard error (HC2)")
    lo90: float
    hi90: float
    lo95: float
    hi95: float
    unadjusted: float = Field(description="the plain difference of the outcome's rate, treated minus held out")
    naive: float = Field(description="accounts the play was run on against every other eligible account, without "
                         "the holdout: biased, since CSMs choose whom to run it on")  # fmt: skip
    verdict: Literal["helps", "harms", "unclear"] = Field(
        description="helps or harms when the 90% interval excludes 0; unclear (no measurable effect) otherwise"
    )
    uplift: UpliftRanking | None = Field(default=None, description="the uplift ranking of the play's accounts; "
                                         "null for the plays pooled or when not measured")  # fmt: skip


class Effects(BaseModel):
    """What `churn effects --publish` last published (``pipelines.effects.effects_document``)."""

    target: Literal["churn", "upsell"] = Field(description="the outcome the effects are on")
    horizon_days: int = Field(description="the outcome counts within this many days of the play's as_of")
    measured_at: str | None = Field(description="when `churn effects` measured them")
    matured_through: str | None = Field(description="the end of the data the outcomes were labelled from: the "
                                        "plays' outcomes matured by then")  # fmt: skip
    assigned_from: str | None = Field(description="the earliest as_of of the plays measured")
    assigned_to: str | None = Field(description="the latest as_of of the plays measured")
    plays: list[PlayEffect]
    overall: PlayEffect = Field(description="the plays pooled (an account eligible for two plays counts twice)")
    notes: list[str]


class Problem(BaseModel):
    error: str
    detail: Any = None


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    ready: bool
    reason: str = Field(description="why (not) ready, in plain words")
    versions: dict[str, str] | None = Field(None, description="admin key only: the loaded model versions")
    scores_as_of: str | None = Field(None, description="admin key only: the date of the scores served")
    last_reload_error: str | None = Field(None, description="admin key only: why the last reload failed")


MAX_NOTE = 2000  # characters of an action's note
MAX_BY = 200  # characters of who took an action


class ActionIn(BaseModel):
    """An action taken on an account. ``by`` defaults to the caller ("api-key:<scope>"), ``at`` to now."""

    model_config = ConfigDict(extra="forbid")
    play: str = Field(min_length=1, max_length=200, description="one of the playbook's plays (models/plays.toml)")
    status: Literal["started", "done", "abandoned"]
    note: str | None = Field(None, max_length=MAX_NOTE)
    by: str | None = Field(None, min_length=1, max_length=MAX_BY, description="who took it; default: the caller")
    at: datetime | None = Field(None, description="when it happened (RFC 3339; naive is UTC); default: now; "
                                "never in the future")  # fmt: skip


class ActionOut(BaseModel):
    id: str
    account_id: str
    play: str
    status: Literal["started", "done", "abandoned"]
    note: str | None
    by: str
    at: str
    recorded_at: str = Field(description="when the server recorded it")
    recorded_by: str = Field(description="who recorded it: a CSM's user name, or api-key:<scope>")
    source: Literal["api", "page"]


class ActionsOut(BaseModel):
    account_id: str
    actions: list[ActionOut] = Field(description="newest first (by at)")
