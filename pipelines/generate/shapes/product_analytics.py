"""The ``product-analytics`` shape: the world as a product-analytics tool exports it (CSV, its own names).

Files (ingested with ``examples/product_analytics.toml``, no code):

- ``customers.csv``: CustomerId, Company, SignupDate, Plan tier (the plan at export time), Company size,
  Industry, Country/region, Account Manager, CS Tier;
- ``subscriptions.csv``: subscription_id, customer_id, plan_name, seat_count, mrr_usd, start_date, end_date,
  cancel_date, status (Active, Expired, Canceled);
- ``feature_usage.csv``: daily counts per subscription (not per account) and feature, without user ids:
  subscription_id, usage_date, feature_name, usage_count, usage_duration_secs, error_count;
- ``support_tickets.csv``: ticket_number, customer_id, opened_at, closed_at, severity (Sev 1 to 4), satisfaction,
  topic, escalated_at;
- ``nps_survey.csv`` (in-app surveys): customer_id, responded_at, nps_score;
- ``churn_events.csv``: customer_id, churn_date, reason_code, churn_type (Voluntary, Involuntary).

No email events, invoices or contacts: such a tool has none.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.generate.churn_events import churn_events
from pipelines.generate.shapes.world import as_text, read, rename_values, rng, write_csv

SEGMENTS = {"enterprise": "Enterprise", "mid_market": "Mid-Market", "smb": "SMB"}
REGIONS = {"NA": "North America", "EMEA": "EMEA", "APAC": "Asia Pacific"}
TOUCH_MODELS = {"high": "High touch", "low": "Low touch", "tech": "Tech touch"}
SUBSCRIPTION_STATUSES = {"active": "Active", "ended": "Expired", "cancelled": "Canceled"}
PRIORITIES = {"urgent": "Sev 1", "high": "Sev 2", "normal": "Sev 3", "low": "Sev 4"}
CATEGORIES = {"how_to": "How-to", "bug": "Bug", "billing": "Billing", "integration": "Integration",
              "access": "Access", "performance": "Performance"}  # fmt: skip
CHURN_KINDS = {"voluntary": "Voluntary", "involuntary": "Involuntary"}
# Contract event type -> the tool's feature name, and the mean seconds one use of it takes.
FEATURES = {
    "login": ("Sign In", 25.0), "dashboard_view": ("Dashboard Viewed", 90.0), "report_run": ("Report Run", 150.0),
    "search": ("Search", 20.0), "comment": ("Comment Added", 45.0), "export": ("Data Exported", 60.0),
    "task_created": ("Task Created", 40.0), "file_upload": ("File Uploaded", 35.0),
    "workflow_run": ("Workflow Run", 120.0), "api_call": ("API Call", 2.0),
    "integration_sync": ("Integration Sync", 8.0), "admin_settings": ("Settings Changed", 80.0),
    "mobile_session": ("Mobile Session", 200.0), "integration_connected": ("Integration Connected", 600.0),
    "first_report_created": ("First Report Created", 300.0),
    "first_teammate_invited": ("First Teammate Invited", 60.0),
    "first_workflow_automated": ("First Workflow Automated", 450.0),
}  # fmt: skip
ERROR_RATE = {"api_call": 0.03, "integration_sync": 0.04, "file_upload": 0.02, "export": 0.015}  # else 0.005


def write(world: Path, folder: Path) -> dict[str, int]:
    """Write the shape of ``world`` into ``folder``; returns rows per file written."""
    accounts, subscriptions = read(world, "accounts"), read(world, "subscriptions")
    usage = read(world, "usage_events")
    files = {
        "customers.csv": customers(accounts, subscriptions),
        "subscriptions.csv": subscriptions_export(subscriptions),
        "feature_usage.csv": feature_usage(usage, subscriptions, rng(world, "product-analytics")),
        "support_tickets.csv": tickets(read(world, "support_tickets")),
        "nps_survey.csv": nps(read(world, "nps_responses")),
        # The end of the data as the product reads it: the last usage event.
        "churn_events.csv": churn_export(subscriptions, pd.Timestamp(usage["ts"].max())),
    }
    return {name: write_csv(frame, folder / name) for name, frame in files.items()}


def customers(accounts: pd.DataFrame, subscriptions: pd.DataFrame) -> pd.DataFrame:
    latest = subscriptions.sort_values("start_at").drop_duplicates("account_id", keep="last")
    plan = accounts["account_id"].map(latest.set_index("account_id")["plan"])
    return pd.DataFrame({
        "CustomerId": accounts["account_id"],
        "Company": accounts["name"],
        "SignupDate": as_text(accounts["created_at"]),
        "Plan tier": plan.str.title(),
        "Company size": rename_values(accounts["segment"], SEGMENTS),
        "Industry": accounts["industry"].str.title(),
        "Country/region": rename_values(accounts["region"], REGIONS),
        "Account Manager": accounts["csm_owner"],
        "CS Tier": rename_values(accounts["touch_model"], TOUCH_MODELS),
    })  # fmt: skip


def subscriptions_export(subscriptions: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "subscription_id": subscriptions["subscription_id"],
        "customer_id": subscriptions["account_id"],
        "plan_name": subscriptions["plan"],
        "seat_count": subscriptions["seats"],
        "mrr_usd": subscriptions["mrr"],
        "start_date": as_text(subscriptions["start_at"]),
        "end_date": as_text(subscriptions["end_at"]),
        "cancel_date": as_text(subscriptions["cancelled_at"]),
        "status": rename_values(subscriptions["status"], SUBSCRIPTION_STATUSES),
    })  # fmt: skip


def feature_usage(usage: pd.DataFrame, subscriptions: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Events counted per subscription, UTC day and feature. Each event belongs to the latest subscription row of
    its account to start by its time (the one in force then, or the last one: the generator writes a few milestone
    events after service ended). Durations and errors are drawn: the seconds of ``n`` uses are Gamma(n, mean of the
    feature), the errors Binomial(n, rate of the feature)."""
    events = usage[["account_id", "ts", "event_type"]].sort_values("ts")
    terms = subscriptions[["subscription_id", "account_id", "start_at"]].sort_values("start_at")
    found = pd.merge_asof(events, terms, left_on="ts", right_on="start_at", by="account_id", direction="backward")
    if found["subscription_id"].isna().any():
        first = found.loc[found["subscription_id"].isna()].iloc[0]
        raise ValueError(
            f"usage event of account {first['account_id']} at {first['ts']} comes before the account's first "
            "subscription: the shape keys usage by subscription and has none to give it"
        )
    found["usage_date"] = found["ts"].dt.floor("D")
    daily = found.groupby(["subscription_id", "usage_date", "event_type"]).size().rename("usage_count").reset_index()
    n = daily["usage_count"].to_numpy()
    kind = daily["event_type"]
    mean = kind.map(lambda k: FEATURES.get(k, (k, 60.0))[1]).to_numpy(dtype=float)
    error_rate = kind.map(lambda k: ERROR_RATE.get(k, 0.005)).to_numpy(dtype=float)
    return pd.DataFrame({
        "subscription_id": daily["subscription_id"],
        "usage_date": as_text(daily["usage_date"]),
        "feature_name": kind.map(lambda k: FEATURES.get(k, (k, 0.0))[0]),
        "usage_count": n,
        "usage_duration_secs": np.round(rng.gamma(n, mean), 1),
        "error_count": rng.binomial(n, error_rate),
    })  # fmt: skip


def tickets(support_tickets: pd.DataFrame) -> pd.DataFrame:
    t = support_tickets
    return pd.DataFrame({
        "ticket_number": t["ticket_id"],
        "customer_id": t["account_id"],
        "opened_at": as_text(t["created_at"]),
        "closed_at": as_text(t["resolved_at"]),
        "severity": rename_values(t["priority"], PRIORITIES),
        "satisfaction": t["csat"].astype("Int64"),
        "topic": rename_values(t["category"], CATEGORIES),
        "escalated_at": as_text(t["escalated_at"]),
    })  # fmt: skip


def nps(nps_responses: pd.DataFrame) -> pd.DataFrame:
    r = nps_responses
    return pd.DataFrame({"customer_id": r["account_id"], "responded_at": as_text(r["ts"]), "nps_score": r["score"]})


def churn_export(subscriptions: pd.DataFrame, data_end: pd.Timestamp) -> pd.DataFrame:
    """The churn records, derived from the subscriptions by ``pipelines.generate.churn_events`` (a stretch of
    service ending before ``data_end``), with reasons and kinds drawn."""
    c = churn_events(subscriptions, data_end, seed=7)
    return pd.DataFrame({
        "customer_id": c["account_id"],
        "churn_date": as_text(c["churned_at"]),
        "reason_code": c["reason"],
        "churn_type": rename_values(c["kind"], CHURN_KINDS),
    })  # fmt: skip
