"""Renewals served: every account's renewal in its score equals ``features.renewals`` run on the warehouse for the
latest as_of; ``GET /v1/renewals`` holds exactly the accounts renewing within the window, by the ARR expected to be
lost; the page lists them; a bad window is a 422 in JSON."""

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from features.renewals import renewals_sql
from models import published
from models.scoring import CURVE_COLUMNS, CURVE_DAYS
from serving.app import create_app
from tests.serving.conftest import READ, Served, body, settings_for
from tests.serving.signin import sign_in


def reference(served: Served) -> pd.DataFrame:
    with duckdb.connect(str(served.warehouse), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("CREATE TEMP TABLE snapshot_dates AS SELECT CAST(? AS TIMESTAMPTZ) AS as_of", [served.dates[-1]])
        return con.sql(renewals_sql()).to_arrow_table().to_pandas().set_index("account_id")


def test_scores_carry_the_renewal_and_the_list_holds_the_window_by_expected_loss(served: Served) -> None:
    ref = reference(served)
    with TestClient(create_app(settings_for(served))) as c:
        page = body(c.get("/v1/renewals", params={"within": 60, "limit": 500}, headers=READ))
        everyone = body(c.get("/v1/rankings/at-risk", params={"limit": 500}, headers=READ))["items"]
        some = everyone[0]["account_id"]
        score = body(c.get(f"/v1/accounts/{some}/score", headers=READ))
        assert pd.Timestamp(score["next_renewal_at"]) == ref.loc[some, "next_renewal_at"]
        assert score["renewal_arr"] == ref.loc[some, "renewal_arr"]
        as_of = pd.Timestamp(served.dates[-1])
        scored = set(served_accounts(served))
        inside = ref[(ref["next_renewal_at"] <= as_of + pd.Timedelta(days=60)) & ref.index.isin(scored)]
        assert page["total"] == len(inside) > 0
        assert {i["account_id"] for i in page["items"]} <= set(inside.index)  # the first 500 of them
        lost = [i["expected_arr_lost"] for i in page["items"]]
        assert lost == sorted(lost, reverse=True)
        rows = published_scores(served).set_index("account_id")
        for i in page["items"][:20]:
            curve = rows.loc[i["account_id"], list(CURVE_COLUMNS)].to_numpy(float)
            by_hand = np.interp(max(i["days_to_renewal"], 30), CURVE_DAYS, curve)  # linear between horizons
            assert i["p_churn_by_renewal"] == pytest.approx(by_hand, abs=1e-12)
            p = 1.0 if i["notice_given"] else by_hand
            assert abs(i["expected_arr_lost"] - i["renewal_arr"] * p) < 1e-6 and 0 < i["days_to_renewal"] <= 60
        bad = c.get("/v1/renewals", params={"within": 0}, headers=READ)
        assert bad.status_code == 422 and "within" in bad.text
        sign_in(c, "demo", "demo")
        html = c.get("/renewals", params={"within": 60}).text
        assert f"{page['total']} account(s) renew within 60 days" in html


def published_scores(served: Served) -> pd.DataFrame:
    """The rows of the version served, read from its file."""
    version = (served.scores / published.POINTER).read_text().strip()
    return pq.read_table(served.scores / f"{version}{published.SUFFIX}").to_pandas()


def served_accounts(served: Served) -> list[str]:
    return published_scores(served)["account_id"].tolist()
