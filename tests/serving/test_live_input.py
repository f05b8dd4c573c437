"""Live scoring takes only sensible rows: dates are RFC 3339 dates, money is not negative, numbers are numbers (JSON's
true is not 1), categories are strings, ids are bounded; the error names the row and the field and says what the
value must be. The OpenAPI document lists the loaded models' features with the same rules, so a client can tell
before sending."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.serving.conftest import FEATURE_NAMES, READ, body

# By hand from features/families: the features whose unit is a currency.
MONEY = {"mrr", "arr", "mrr_90d_ago", "mrr_180d_ago", "price_per_seat", "overdue_amount", "unpaid_amount",
         "last_invoice_amount"}  # fmt: skip
NUMERIC, CATEGORY = "events_30d", "plan"


def live(client: TestClient, *rows: dict[str, Any]) -> Any:
    return client.post("/v1/scores/live", json={"rows": list(rows)}, headers=READ)


@pytest.mark.parametrize(
    ("field", "value", "must"),
    [
        ("as_of", "not-a-date", "a date: RFC 3339"),
        ("as_of", "2025-02-30", "a date: RFC 3339"),  # no such day
        ("as_of", "20250601", "a date: RFC 3339"),  # ISO 8601's basic form, which Python would take
        ("as_of", "2025-06-01T00:00:00", "a date: RFC 3339"),  # a time without its offset
        ("as_of", 20250601, "a date: RFC 3339"),
        ("arr", -1.0, "an amount of money"),
        ("mrr", -50, "an amount of money"),
        ("overdue_amount", -0.01, "an amount of money"),
        (NUMERIC, True, "a number"),
        (NUMERIC, "12", "a number"),
        (NUMERIC, [1], "a number"),
        (NUMERIC, 10**400, "a number"),  # past a float's range
        ("mrr", False, "an amount of money"),
        (CATEGORY, 3.0, "a category: a string"),
        (CATEGORY, True, "a category: a string"),
        ("account_id", 7, "an account id"),
        ("account_id", "", "an account id"),
        ("account_id", "A" * 300, "an account id"),
    ],
)
def test_a_bad_value_is_refused_naming_row_and_field(client: TestClient, field: str, value: Any, must: str) -> None:
    got = live(client, {"account_id": "X0"}, {"account_id": "X1", field: value})
    assert got.status_code == 422, got.text[:300]
    detail = body(got)["detail"]
    assert [d["field"] for d in detail] == [f"rows.1.{field}"] and detail[0]["problem"].startswith(f"must be {must}")
    assert "A" * 300 not in got.text


def test_every_bad_field_is_named_and_unknown_keys_are_cut_short(client: TestClient) -> None:
    got = live(client, {"as_of": "soon", "arr": -5, "x" * 5000: 1})
    assert got.status_code == 422
    assert [d["field"] for d in body(got)["detail"]] == ["rows.0.as_of", "rows.0.arr", "rows.0." + "x" * 100]
    assert len(got.content) < 1000


def test_sensible_rows_are_scored(client: TestClient) -> None:
    rows: list[dict[str, Any]] = [
        {"account_id": "X1", "as_of": "2025-06-01", "arr": 1200, NUMERIC: 5, CATEGORY: "pro", "mrr": 100.0},
        {"account_id": "X2", "as_of": "2025-06-01T08:30:00Z", "arr": 0, NUMERIC: -0.0, CATEGORY: None},
        {"account_id": None, "as_of": "2025-06-01t08:30:00.25+02:00", "arr": None, "overdue_amount": 0},
        {},
    ]
    got = live(client, *rows)
    assert got.status_code == 200, got.text[:500]
    scores = body(got)["scores"]
    assert [s.get("as_of") for s in scores][:2] == ["2025-06-01", "2025-06-01T08:30:00Z"]
    assert scores[0]["revenue_at_risk"] == pytest.approx(1200 * scores[0]["p_churn"])
    assert all(s["revenue_at_risk"] is None or s["revenue_at_risk"] >= 0 for s in scores)


def test_the_document_lists_the_features_with_the_same_rules(client: TestClient) -> None:
    features = {f["name"]: f for f in body(client.get("/v1/models", headers=READ))["features"]}
    assert set(features) == set(FEATURE_NAMES)
    row = body(client.get("/openapi.json"))["components"]["schemas"]["LiveRow"]
    assert row["additionalProperties"] is False
    props = row["properties"]
    assert set(props) == set(FEATURE_NAMES) | {"account_id", "as_of", "arr"}

    def allowed(name: str) -> list[dict[str, Any]]:
        return props[name]["anyOf"]  # type: ignore[no-any-return]

    for name in FEATURE_NAMES:
        options = allowed(name)
        if name in MONEY:
            assert options == [{"type": "number", "minimum": 0}, {"type": "null"}], name
        elif features[name]["unit"] == "category":
            assert options == [{"type": "string"}, {"type": "null"}], name
        else:
            assert options == [{"type": "number"}, {"type": "null"}], name
    assert allowed("as_of") == [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"},
                                {"type": "null"}]  # fmt: skip
    assert allowed("account_id") == [{"type": "string", "minLength": 1, "maxLength": 256}, {"type": "null"}]
    rows = body(client.get("/openapi.json"))["components"]["schemas"]["RowsIn"]["properties"]["rows"]
    assert rows["maxItems"] == 100 and rows["items"] == {"$ref": "#/components/schemas/LiveRow"}
