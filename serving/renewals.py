"""``GET /v1/renewals?within=90``: the accounts renewing soon, by the ARR expected to be lost at the renewal
(``models.ranking.renewals``), with the reason and the play; the Renewals page shows the same."""

from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Query, Request

from models.ranking import Filters, renewals
from serving.auth import Reader
from serving.routes import Limit, Offset, Owner, Search, Segment, Tier, Touch, bundle
from serving.schemas import Problem, Renewals
from serving.state import Bundle

router = APIRouter(prefix="/v1", responses={401: {"model": Problem}, 503: {"model": Problem}})
Within = Annotated[int, Query(ge=1, le=730, description="renewals within this many days after as_of")]


def renewals_page(b: Bundle, within: int, filters: Filters, limit: int, offset: int) -> Renewals:
    as_of = pd.Timestamp(b.scores.as_of) if b.scores.as_of else pd.Timestamp.now(tz="UTC")
    r = renewals(b.scores.frame, as_of, within, filters, limit=limit, offset=offset)
    return Renewals(as_of=b.scores.as_of, within=within, total=r.total, limit=limit, offset=offset,
                    items=r.rows)  # type: ignore[arg-type]  # fmt: skip


@router.get("/renewals", response_model=Renewals)
async def renewals_route(request: Request, _: Reader, within: Within = 90, segment: Segment = None,
                         touch_model: Touch = None, owner: Owner = None, tier: Tier = None, q: Search = None,
                         limit: Limit = 50, offset: Offset = 0) -> Renewals:  # fmt: skip
    """Accounts whose next renewal falls within `within` days of the scores' as_of, by the ARR expected to be lost
    there (renewal ARR x churn probability; x 1 once notice was given), highest first."""
    return renewals_page(bundle(request), within, Filters(segment, touch_model, owner, tier, q), limit, offset)
