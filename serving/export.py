"""Ranked lists as CSV, for spreadsheets: ``GET /v1/rankings/at-risk.csv`` (an API key, the filters of
``/v1/rankings/at-risk``) and the accounts page's "Download CSV" (``serving.pages``, the page's own filters).
Every text cell is quoted, and one that a spreadsheet would run as a formula (starting with = + - @, a tab or a
carriage return) is prefixed with a single quote (OWASP's CSV injection advice)."""

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from models.ranking import Filters, Order, RankedList, rank
from serving.auth import Reader
from serving.routes import Owner, Search, Segment, Tier, Touch, bundle
from serving.schemas import Problem
from serving.state import Bundle

router = APIRouter(prefix="/v1", responses={401: {"model": Problem}, 503: {"model": Problem}})
COLUMNS = ("rank", "account_id", "name", "segment", "touch_model", "csm_owner", "tier", "health", "p_churn",
           "p_upsell", "arr", "revenue_at_risk", "expected_expansion_arr", "notice_given", "top_reason",
           "play")  # fmt: skip
FORMULA = ("=", "+", "-", "@", "\t", "\r")
MAX_ROWS = 100_000


def cell(v: Any) -> Any:
    """``v`` as a CSV cell: text defused of formulas, booleans as true/false, missing as empty."""
    if v is None or (isinstance(v, float) and v != v):
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return "'" + v if v.startswith(FORMULA) else v
    return v


def csv_text(rows: Iterable[Mapping[str, Any]], offset: int = 0) -> str:
    """The ranked ``rows`` (``models.ranking`` rows, in order; the first ranked ``offset + 1``) as CSV, ``COLUMNS``."""
    out = io.StringIO()
    w = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
    w.writerow(COLUMNS)
    for i, r in enumerate(rows, start=offset + 1):
        w.writerow([cell(i if c == "rank" else r.get(c)) for c in COLUMNS])
    return out.getvalue()


def csv_response(b: Bundle, ranking: RankedList, by: Order, filters: Filters, name: str, limit: int | None = None,
                 offset: int = 0) -> Response:  # fmt: skip
    """The ranked list (every row after ``offset``, or ``limit`` of them) as a CSV download named after the list
    and the scores' date."""
    r = rank(b.scores.frame, ranking, by, filters, limit=limit or max(len(b.scores.frame), 1), offset=offset)
    filename = f"{name}-{(b.scores.as_of or 'unscored')[:10]}.csv"
    return Response(csv_text(r.rows, offset), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})  # fmt: skip


@router.get("/rankings/at-risk.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}, "description": "The ranking as CSV"}})  # fmt: skip
async def at_risk_csv(request: Request, _: Reader, by: Order = "probability", segment: Segment = None,
                      touch_model: Touch = None, owner: Owner = None, tier: Tier = None, q: Search = None,
                      limit: Annotated[int | None, Query(ge=1, le=MAX_ROWS, description="default: every row")] = None,
                      offset: Annotated[int, Query(ge=0)] = 0) -> Response:  # fmt: skip
    """The accounts at risk before notice as CSV (the filters and order of /v1/rankings/at-risk; every row unless
    limit is given), one column per field of a ranked item plus its rank."""
    return csv_response(bundle(request), "at-risk", by, Filters(segment, touch_model, owner, tier, q), "at-risk",
                        limit, offset)  # fmt: skip
