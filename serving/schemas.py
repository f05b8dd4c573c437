"""Request and response bodies, split by direction."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints

NOTICE = (
    "whether the customer had given notice to cancel at as_of (the snapshot's cancellation_pending); null when "
    "unknown (a live row without cancellation_pending, or a score stored before this field existed whose "
    "snapshot is gone). Rankings count unknown as not given."
)


class Reason(BaseModel):
    feature: str
    family: str
    value: float | str | None
    contribution: float = Field(description="log-odds; positive raises the probability")
    sentence: str


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
    play: str
    model_versions: dict[str, str]


MAX_ID = 256  # characters of an account id: longer ones are refused, never echoed back
AccountIds = list[Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID)]]


class IdsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_ids: AccountIds = Field(min_length=1, description="account ids (at most CHURN_MAX_IDS)")


class ScoresOut(BaseModel):
    scores: list[Score]
    not_found: list[str]


# A live row's value: a number (JSON's true and false are not numbers), a string, or null (unknown).
Value = Annotated[float, Strict()] | Annotated[str, Strict()] | None


class RowsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rows: list[dict[str, Value]] = Field(
        min_length=1, description="feature rows: {feature name: value}; account_id and arr are also read"
    )


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
    top_reason: str | None
    play: str


class Ranking(BaseModel):
    ranking: Literal["at-risk", "save-desk", "upsell"] = Field(
        description="which list: at-risk (accounts that had not given notice at as_of), save-desk (accounts that "
        "had given notice), upsell (every account)"
    )
    by: Literal["probability", "revenue"] = Field(
        description="the order, highest first: probability (of churn; of upsell for the upsell list) or revenue at risk"
    )
    as_of: str | None
    total: int
    limit: int
    offset: int
    items: list[RankItem]


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
    features: list[dict[str, Any]]


class Problem(BaseModel):
    error: str
    detail: Any = None
