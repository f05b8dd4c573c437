"""Every /v1 route against an independent computation: the warehouse's ``scores.accounts`` read with DuckDB and
sorted, filtered and paged in plain Python; live scores against the batch scores and the fitted model object."""

import itertools
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow.tracking import MlflowClient
from prometheus_client.parser import text_string_to_metric_families

from features.catalog import available
from tests.serving.conftest import (
    ADMIN,
    FEATURE_NAMES,
    GENERATED,
    GENERATED_TYPES,
    READ,
    Served,
    body,
    feature_rows,
)
from tests.serving.signin import sign_in

SCORE_FIELDS = ("account_id", "name", "segment", "touch_model", "csm_owner", "notice_given", "p_churn", "p_upsell",
                "health", "tier", "arr", "revenue_at_risk", "play")  # fmt: skip
FILTER_COLUMNS = {"segment": "segment", "touch_model": "touch_model", "owner": "csm_owner", "tier": "tier"}
OWNER, NAME_PART = "<a CSM with several accounts>", "<part of a name>"


def at_latest(scores: pd.DataFrame) -> pd.DataFrame:
    return scores[scores["as_of"] == scores["as_of"].max()]


def expected_score(row: dict[str, Any]) -> dict[str, Any]:
    """What the API must say about a warehouse row."""
    out = {k: (None if isinstance(row[k], float) and np.isnan(row[k]) else row[k]) for k in SCORE_FIELDS}
    out |= {k: json.loads(row[k]) for k in ("components", "reasons", "upsell_reasons")}
    out["model_versions"] = {"churn": row["churn_version"], "upsell": row["upsell_version"]}
    if row.get("held_out"):  # held out of its play: shown none (tests/serving/test_holdouts.py)
        out["play"] = None
    return out


def assert_score(got: dict[str, Any], row: dict[str, Any]) -> None:
    assert {k: got[k] for k in expected_score(row)} == expected_score(row)
    assert pd.Timestamp(got["as_of"]) == row["as_of"]


def reference_ranking(scores: pd.DataFrame, route: str, key: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The ranking by brute force: latest rows of the route's accounts (at-risk: not given notice; save-desk: given
    notice; upsell: all), filters, name search, sort by key (descending) then id."""
    rows = at_latest(scores).to_dict(orient="records")
    if route == "at-risk":
        rows = [r for r in rows if r["notice_given"] is not True]
    elif route == "save-desk":
        rows = [r for r in rows if r["notice_given"] is True]
    for param, column in FILTER_COLUMNS.items():
        if param in params:
            rows = [r for r in rows if r[column] == params[param]]
    if "q" in params:
        rows = [r for r in rows if params["q"].lower() in (r["name"] or "").lower()]
    value = {
        "probability": lambda r: r["p_churn"],
        "revenue": lambda r: r["p_churn"] * r["arr"],
        "upsell": lambda r: r["p_upsell"],
        "expansion": lambda r: r["expected_expansion_arr"],
    }[key]
    if key == "expansion" and all(np.isnan(value(r)) for r in rows):  # no expansion model: by probability
        value = lambda r: r["p_upsell"]  # noqa: E731
    return sorted(rows, key=lambda r: (bool(np.isnan(value(r))), -np.nan_to_num(value(r)), r["account_id"]))


CASES = [
    ("at-risk", {}),
    ("at-risk", {"by": "revenue"}),
    ("at-risk", {"by": "probability", "segment": "enterprise", "limit": 10, "offset": 5}),
    ("at-risk", {"by": "revenue", "touch_model": "low", "tier": "yellow", "limit": 7}),
    ("at-risk", {"owner": OWNER, "limit": 500}),
    ("at-risk", {"q": NAME_PART, "limit": 500}),
    ("at-risk", {"segment": "smb", "tier": "red", "offset": 3, "limit": 4}),
    ("at-risk", {"segment": "smb", "offset": 100_000}),  # past the end: no items, the true total
    ("at-risk", {"q": "no account is called this"}),
    ("save-desk", {}),
    ("save-desk", {"by": "probability"}),
    ("save-desk", {"by": "revenue", "limit": 3, "offset": 2}),
    ("save-desk", {"segment": "smb", "limit": 500}),
    ("upsell", {}),
    ("upsell", {"by": "probability", "limit": 100}),
    ("upsell", {"segment": "mid_market", "touch_model": "high", "tier": "green", "limit": 9, "offset": 2}),
]


@pytest.mark.parametrize(("route", "params"), CASES)
def test_rankings_equal_sorting_the_warehouse_rows(
    client: TestClient, warehouse_scores: pd.DataFrame, route: str, params: dict[str, Any]
) -> None:
    latest = at_latest(warehouse_scores)
    assert latest["arr"].notna().all() and latest["p_churn"].notna().all()  # no NaN ordering to second-guess
    owners = latest.loc[latest["csm_owner"] != "Digital CS", "csm_owner"].value_counts()
    params = {k: {OWNER: owners.index[0], NAME_PART: "PARTNERS"}.get(v, v) for k, v in params.items()}
    by = params.get("by", "revenue" if route in ("save-desk", "upsell") else "probability")
    key = {"probability": "upsell", "revenue": "expansion"}[by] if route == "upsell" else by
    want = reference_ranking(warehouse_scores, route, key, params)
    limit, offset = params.get("limit", 50), params.get("offset", 0)

    r = client.get(f"/v1/rankings/{route}", params=params, headers=READ)
    assert r.status_code == 200, r.text
    got = body(r)
    assert (got["ranking"], got["by"]) == (route, by)
    assert (got["total"], got["limit"], got["offset"]) == (len(want), limit, offset)
    assert pd.Timestamp(got["as_of"]) == latest["as_of"].max()
    page = want[offset : offset + limit]
    assert [i["account_id"] for i in got["items"]] == [w["account_id"] for w in page]
    for item, row in zip(got["items"], page, strict=True):
        assert {k: item[k] for k in SCORE_FIELDS} == {k: expected_score(row)[k] for k in SCORE_FIELDS}
        assert item["top_reason"] == json.loads(row["reasons"])[0]["sentence"]
    if params.get("q") == "PARTNERS" or "owner" in params or route == "save-desk":
        assert 0 < len(want) < len(latest)  # the filter did select something, and not everything


def test_at_risk_and_save_desk_split_the_latest_accounts_by_notice(
    client: TestClient, warehouse_scores: pd.DataFrame
) -> None:
    latest = at_latest(warehouse_scores)
    given = set(latest.loc[latest["notice_given"], "account_id"])
    assert 0 < len(given) < len(latest)
    at_risk = body(client.get("/v1/rankings/at-risk", params={"limit": 500}, headers=READ))
    desk = body(client.get("/v1/rankings/save-desk", params={"limit": 500}, headers=READ))
    assert desk["total"] == len(given) and {i["account_id"] for i in desk["items"]} == given
    assert at_risk["total"] == len(latest) - len(given)
    assert not given & {i["account_id"] for i in at_risk["items"]}


def test_revenue_ranking_differs_from_probability_ranking(client: TestClient) -> None:
    by_p = body(client.get("/v1/rankings/at-risk", params={"limit": 20}, headers=READ))["items"]
    by_r = body(client.get("/v1/rankings/at-risk", params={"by": "revenue", "limit": 20}, headers=READ))["items"]
    assert [i["account_id"] for i in by_p] != [i["account_id"] for i in by_r]
    assert all(a["revenue_at_risk"] >= b["revenue_at_risk"] for a, b in itertools.pairwise(by_r))


def test_score_by_id_equals_the_warehouse_row(client: TestClient, warehouse_scores: pd.DataFrame) -> None:
    latest = at_latest(warehouse_scores).reset_index(drop=True)
    picks = {latest["p_churn"].idxmax(), latest["p_churn"].idxmin(), latest["p_upsell"].idxmax()}
    picks |= set(np.random.default_rng(3).choice(len(latest), 12, replace=False).tolist())
    for i in sorted(picks):
        row = latest.iloc[i].to_dict()
        r = client.get(f"/v1/accounts/{row['account_id']}/score", headers=READ)
        assert r.status_code == 200, r.text
        got = body(r)
        assert_score(got, row)
        assert got["model_versions"] == {"churn": "1", "upsell": "1"}


def test_scores_by_ids_keep_order_and_list_unknown_ids(client: TestClient, warehouse_scores: pd.DataFrame) -> None:
    latest = at_latest(warehouse_scores).set_index("account_id", drop=False)
    a, b = latest.index[0], latest.index[-1]
    r = client.post("/v1/scores", json={"account_ids": [b, "no-such-account", a, b]}, headers=READ)
    assert r.status_code == 200, r.text
    got = body(r)
    assert [s["account_id"] for s in got["scores"]] == [b, a, b]
    for s in got["scores"]:
        assert_score(s, latest.loc[s["account_id"]].to_dict())
    assert got["not_found"] == ["no-such-account"]


def test_account_detail_has_one_history_point_per_scored_as_of(
    client: TestClient, warehouse_scores: pd.DataFrame, served: Served
) -> None:
    latest_ids = set(at_latest(warehouse_scores)["account_id"])
    points = warehouse_scores[warehouse_scores["account_id"].isin(latest_ids)].groupby("account_id").size()
    assert set(points) == {1, 2, 3}  # new accounts, newer ones, and accounts scored at every date
    chosen = [a for n in (1, 2, 3) for a in sorted(points[points == n].index)[:4]]
    for account in chosen:
        rows = warehouse_scores[warehouse_scores["account_id"] == account].sort_values("as_of")
        r = client.get(f"/v1/accounts/{account}", headers=READ)
        assert r.status_code == 200, r.text
        got = body(r)
        assert_score(got["score"], rows.iloc[-1].to_dict())
        history = got["history"]
        assert [pd.Timestamp(h["as_of"]) for h in history] == list(rows["as_of"])
        assert set(pd.Timestamp(h["as_of"]) for h in history) <= set(pd.to_datetime(served.dates, utc=True))
        for h, (_, row) in zip(history, rows.iterrows(), strict=True):
            assert (h["health"], h["tier"], h["p_churn"], h["p_upsell"]) == (
                row["health"], row["tier"], row["p_churn"], row["p_upsell"]
            )  # fmt: skip


def test_accounts_not_active_at_the_latest_as_of_are_404(client: TestClient, warehouse_scores: pd.DataFrame) -> None:
    last = warehouse_scores.groupby("account_id")["as_of"].max()
    gone = sorted(last[last < warehouse_scores["as_of"].max()].index)
    assert gone  # churned accounts were scored earlier and have no latest score
    for path in (f"/v1/accounts/{gone[0]}/score", f"/v1/accounts/{gone[0]}", "/v1/accounts/no-such-account/score"):
        r = client.get(path, headers=READ)
        assert r.status_code == 404
        assert path.split("/")[3] in body(r)["error"]


def test_live_scores_equal_batch_scores_and_components_add_up(
    client: TestClient, served: Served, warehouse_scores: pd.DataFrame, latest_snapshots: pd.DataFrame
) -> None:
    latest = at_latest(warehouse_scores).set_index("account_id")
    snaps = latest_snapshots.sample(20, random_state=4).reset_index(drop=True)
    r = client.post("/v1/scores/live", json={"rows": feature_rows(snaps)}, headers=READ)
    assert r.status_code == 200, r.text
    got = body(r)
    assert got["missing_features"] == []
    assert [s["account_id"] for s in got["scores"]] == list(snaps["account_id"])

    churn, upsell = served.models["churn"], served.models["upsell"]
    direct = churn.predict_proba(churn.prepare(snaps))[:, 1]  # the fitted object, never serialized or served
    direct_upsell = upsell.predict_proba(upsell.prepare(snaps))[:, 1]
    # The contributions' base value (TreeSHAP's expected value, or the logistic family's intercept + coefficients x
    # means): the same for every row; base health = 100 x (1 - calibrated base).
    base = churn.contributions(churn.prepare(snaps.head(1)))[1][0]
    base_health = 100.0 * (1.0 - churn.calibrate(np.array([base]))[0])
    for s, p, pu in zip(got["scores"], direct, direct_upsell, strict=True):
        row = latest.loc[s["account_id"]]
        assert s["p_churn"] == pytest.approx(row["p_churn"], abs=1e-9)
        assert s["p_churn"] == pytest.approx(p, abs=1e-9)
        assert s["p_upsell"] == pytest.approx(row["p_upsell"], abs=1e-9)
        assert s["p_upsell"] == pytest.approx(pu, abs=1e-9)
        assert s["health"] == pytest.approx(100.0 * (1.0 - s["p_churn"]), abs=1e-9)
        assert (s["tier"], s["play"], s["notice_given"]) == (row["tier"], row["play"], row["notice_given"])
        assert s["revenue_at_risk"] == pytest.approx(s["p_churn"] * row["arr"], rel=1e-12)
        # components are rounded to 4 decimals each: at most 9 x 0.00005 off in total
        assert base_health + sum(s["components"].values()) == pytest.approx(s["health"], abs=5e-4)
        assert s["model_versions"] == {"churn": "1", "upsell": "1"}
        for live, batch in zip(s["reasons"], json.loads(row["reasons"]), strict=True):
            assert live["feature"] == batch["feature"] and live["sentence"] == batch["sentence"]
            assert live["contribution"] == pytest.approx(batch["contribution"], abs=1e-9)


def test_live_scoring_with_few_features_lists_the_missing_ones(client: TestClient, served: Served) -> None:
    sent = {"account_id": "prospect-1", "arr": 12_000.0, "segment": "smb", "touch_model": "tech"}
    r = client.post("/v1/scores/live", json={"rows": [sent]}, headers=READ)
    assert r.status_code == 200, r.text
    got = body(r)
    assert got["missing_features"] == [n for n in FEATURE_NAMES if n not in sent]
    churn = served.models["churn"]
    frame = pd.DataFrame([{n: sent.get(n, np.nan) for n in FEATURE_NAMES}])
    (s,) = got["scores"]
    assert s["p_churn"] == pytest.approx(churn.predict_proba(churn.prepare(frame))[0, 1], abs=1e-9)
    assert s["revenue_at_risk"] == pytest.approx(12_000.0 * s["p_churn"], rel=1e-12)
    assert s["account_id"] == "prospect-1" and s.get("as_of") is None
    assert s["notice_given"] is None  # no cancellation_pending sent: unknown


def test_live_scores_say_notice_given_from_cancellation_pending(client: TestClient) -> None:
    rows = [{"account_id": a, "cancellation_pending": v} for a, v in (("gave", 1.0), ("kept", 0.0), ("unsure", None))]
    got = body(client.post("/v1/scores/live", json={"rows": rows}, headers=READ))
    assert {s["account_id"]: s["notice_given"] for s in got["scores"]} == {"gave": True, "kept": False, "unsure": None}


def test_models_route_reports_versions_metrics_features_and_freshness(client: TestClient, served: Served) -> None:
    got = body(client.get("/v1/models", headers=READ))
    assert got["versions"] == {"churn": "1", "upsell": "1"} and got["alias"] == "champion"
    mlflow = MlflowClient(served.tracking_uri, served.tracking_uri)
    for target in ("churn", "upsell"):
        run = mlflow.get_run(mlflow.get_model_version(target, "1").run_id)
        assert got["metrics"][target]["roc_auc"] == run.data.metrics["roc_auc"]
    assert pd.Timestamp(got["scores_as_of"]) == pd.Timestamp(served.dates[-1])
    assert pd.Timestamp(got["scored_at"]) <= pd.Timestamp(got["loaded_at"])
    assert [(f["name"], f["description"]) for f in got["features"]] == [
        (f.name, f.description) for f in available(GENERATED, GENERATED_TYPES).features
    ]


def test_the_model_page_shows_each_metric_with_its_interval(client: TestClient, served: Served) -> None:
    """The figures of the run that registered the champion: ROC AUC with its 95% interval, and churn beyond
    notice."""
    run = MlflowClient(served.tracking_uri, served.tracking_uri)
    m = run.get_run(run.get_model_version("churn", "1").run_id).data.metrics
    assert m["roc_auc_low"] < m["roc_auc"] < m["roc_auc_high"]
    sign_in(client, "demo", "demo")
    page = client.get("/model").text
    dash = "\N{EN DASH}"
    assert f'{m["roc_auc"]:.3f}<br><span class="muted">{m["roc_auc_low"]:.3f}{dash}{m["roc_auc_high"]:.3f}' in page
    assert f"ROC AUC {m['beyond_notice_roc_auc']:.3f} ({m['beyond_notice_roc_auc_low']:.3f}{dash}" in page


def test_probes_report_readiness_and_versions(client: TestClient, served: Served) -> None:
    assert body(client.get("/healthz")) == {"status": "ok"}
    r = client.get("/readyz", headers=ADMIN)
    assert r.status_code == 200
    ready = body(r)
    assert ready["ready"] is True and ready["versions"] == {"churn": "1", "upsell": "1"}
    assert ready["last_reload_error"] is None
    assert pd.Timestamp(ready["scores_as_of"]) == pd.Timestamp(served.dates[-1])


def _metric(client: TestClient, sample: str, labels: dict[str, str]) -> float:
    text = client.get("/metrics").text
    found = [s.value for fam in text_string_to_metric_families(text) for s in fam.samples
             if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())]  # fmt: skip
    return sum(found)


def test_metrics_count_requests_and_show_the_model_versions(client: TestClient, warehouse_scores: pd.DataFrame) -> None:
    account = at_latest(warehouse_scores)["account_id"].iloc[0]
    route = {"route": "/v1/accounts/{account_id}/score"}
    before = _metric(client, "churn_http_requests_total", {**route, "status": "200"})
    missing = _metric(client, "churn_http_requests_total", {**route, "status": "404"})
    for _ in range(3):
        assert client.get(f"/v1/accounts/{account}/score", headers=READ).status_code == 200
    assert client.get("/v1/accounts/nobody/score", headers=READ).status_code == 404
    assert _metric(client, "churn_http_requests_total", {**route, "status": "200"}) == before + 3
    assert _metric(client, "churn_http_requests_total", {**route, "status": "404"}) == missing + 1
    assert _metric(client, "churn_model_version", {"model": "churn"}) == 1.0
    # every request of the route is timed once, whatever its status
    assert _metric(client, "churn_http_seconds_count", route) == _metric(client, "churn_http_requests_total", route)


def test_docs_and_schema_describe_every_route(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    paths = body(client.get("/openapi.json"))["paths"]
    routes = {"/v1/accounts/{account_id}/score", "/v1/scores", "/v1/scores/live", "/v1/rankings/at-risk",
              "/v1/rankings/save-desk", "/v1/rankings/upsell", "/v1/accounts/{account_id}", "/v1/models",
              "/v1/admin/reload"}  # fmt: skip
    assert routes <= set(paths)
