"""The account page's "when": the churn curve over the next year and the renewal, as the warehouse's score row has
them (the numbers re-derived here from the row, not from the page's code), and the curve's monotone shape."""

import re
from typing import Any

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient

from models.scoring import CURVE_COLUMNS, CURVE_DAYS
from serving import charts
from tests.serving.conftest import READ
from tests.serving.signin import sign_in


def _latest(scores: pd.DataFrame) -> pd.DataFrame:
    return scores[scores["as_of"] == scores["as_of"].max()]


def _page(client: TestClient, account_id: str) -> str:
    c = TestClient(client.app)
    assert sign_in(c, "demo", "demo", follow_redirects=False).status_code == 303
    got = c.get(f"/accounts/{account_id}")
    assert got.status_code == 200, got.text
    return got.text


def _cells(html: str, table: str) -> list[str]:
    found = re.search(rf'<table id="{table}">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert found, f"no table {table}"
    return re.findall(r"<td[^>]*>(.*?)</td>", found.group(1))


def test_the_page_shows_the_rows_curve_and_renewal(client: TestClient, warehouse_scores: pd.DataFrame) -> None:
    latest = _latest(warehouse_scores)
    curves = latest[list(CURVE_COLUMNS)].to_numpy(float)
    assert np.isfinite(curves).all(), "the small world's champion has a hazard model: every row has a curve"
    assert (np.diff(curves, axis=1) >= -1e-12).all()  # never decreasing with the horizon
    row: dict[str, Any] = latest.loc[latest["churn_within_365"].idxmax()].to_dict()
    html = _page(client, row["account_id"])
    assert _cells(html, "curve-table") == [f"{row[c] * 100:.1f}%" for c in CURVE_COLUMNS]
    assert 'aria-labelledby="kt kd"' in html  # the chart itself
    renewal = pd.Timestamp(row["next_renewal_at"])
    days = (renewal - pd.Timestamp(row["as_of"])).days
    text = re.search(r'<p id="renewal">(.*?)</p>', html, re.S)
    assert text and text.group(1).startswith(f"Renews {renewal.date().isoformat()} (in {days} days)")
    assert f"{row['renewal_arr']:,.0f} ARR up for renewal" in text.group(1)
    if row["expected_churn_at"] is not None and not pd.isna(row["expected_churn_at"]):
        assert f"even odds by {pd.Timestamp(row['expected_churn_at']).date().isoformat()}" in html


def test_the_chart_places_each_horizon_and_marks_a_renewal_within_the_year() -> None:
    points = list(zip(CURVE_DAYS, [0.05, 0.1, 0.2, 0.3, 0.5], strict=True))
    svg = charts.curve(points, renewal_day=200, width=405, height=180)
    # x = 40 + (405 - 80) * d / 365: day 365 at 365.0, the renewal at 40 + 325 * 200 / 365 = 218.1
    assert 'cx="365.0"' in svg and 'x1="218.1"' in svg and ">renewal<" in svg
    assert "50%" in svg and "in 200 days" in svg
    assert ">renewal<" not in charts.curve(points, renewal_day=400)  # beyond the year: no marker
    assert "No churn curve" in charts.curve([])


def test_live_rows_without_features_still_get_a_curve(client: TestClient) -> None:
    got = client.post("/v1/scores/live", json={"rows": [{}, {"as_of": "2025-06-01T00:00:00+00:00"}]}, headers=READ)
    assert got.status_code == 200, got.text
    scores = got.json()["scores"]
    assert len(scores) == 2
    for s in scores:
        curve = [s[c] for c in CURVE_COLUMNS]
        assert all(isinstance(p, float) for p in curve) and curve == sorted(curve)
