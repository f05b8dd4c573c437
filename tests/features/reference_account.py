"""Reference families over the account's own records: payments, growth, sentiment, relationship, firmographics
(one frame per snapshot, indexed by the spine's account_id, one column per feature)."""

import pandas as pd

from tests.features.reference_base import DAY, Cut, as_float, flag, ratio, round_half_away, trend


def _is(values: pd.Series, value: str) -> pd.Series:
    """``values == value``, with a missing value counting as different."""
    return values.eq(value).fillna(False).astype(bool)


def payments(cut: Cut) -> pd.DataFrame:
    inv = cut.before("invoices", 365)
    issued, due, paid = inv["issued_at"], inv["due_at"], inv["paid_at"]
    # The status is as of the export: only its dated changes count. A failed status without failed_at failed on
    # the due day; a void one without voided_at was void from its issue.
    failed = inv["failed_at"].where(inv["failed_at"].notna(), due.where(_is(inv["status"], "failed")))
    voided = inv["voided_at"].where(inv["voided_at"].notna(), issued.where(_is(inv["status"], "void")))
    owed = ~(voided < cut.as_of)
    paid_by_now = paid < cut.as_of
    unpaid = ~paid_by_now
    # Late: paid on a day after the due day, or still unpaid at the snapshot though due before it.
    late = owed & ((paid_by_now & (paid.dt.floor("D") > due.dt.floor("D"))) | (unpaid & (due < cut.as_of)))
    due_180 = cut.in_last(due, 180)
    days_late = ((paid.dt.floor("D") - due.dt.floor("D")) // DAY).clip(lower=0).astype("float64")
    overdue = owed & unpaid & (due < cut.as_of)
    amount = inv["amount"]
    out: dict[str, pd.Series] = {
        "invoices_180d": cut.count(inv, cut.in_last(issued, 180)),
        "late_invoices_180d": cut.count(inv, due_180 & late),
        "days_late_mean_180d": cut.agg(inv, days_late, "mean", due_180 & owed & paid_by_now),
        "failed_payments_180d": cut.count(inv, cut.in_last(failed, 180)),
        "overdue_invoices": cut.count(inv, overdue),
        "overdue_amount": cut.agg(inv, amount, "sum", overdue).fillna(0),
        "unpaid_amount": cut.agg(inv, amount, "sum", owed & unpaid).fillna(0),
        "last_invoice_amount": cut.agg(inv, amount, "last"),
    }
    out["billing_months"] = round_half_away(ratio(out["last_invoice_amount"], cut.spine["mrr"]))
    return pd.DataFrame(out)


def _total_at(subs: pd.DataFrame, when: pd.Timestamp, col: str, ids: pd.Index) -> pd.Series:
    """``col`` summed over the rows active at ``when`` (start_at <= when < end_at), trials left out (as for the
    spine)."""
    covers = (subs["start_at"] <= when) & (subs["end_at"].isna() | (subs["end_at"] > when))
    covers &= subs["status"].ne("trial").fillna(True).astype(bool)
    return as_float(subs[covers].groupby("account_id")[col].sum()).reindex(ids)


def growth(cut: Cut) -> pd.DataFrame:
    subs = cut.before("subscriptions").sort_values(["account_id", "start_at"], kind="stable")
    by_account = subs.groupby("account_id")
    prev_mrr, prev_end = by_account["mrr"].shift(), by_account["end_at"].shift()
    started = cut.in_last(subs["start_at"], 365)
    s = cut.spine
    mrr, seats = as_float(s["mrr"]), as_float(s["seats"])
    today = cut.as_of.normalize()
    tenure = as_float((today - s["created_at"].dt.floor("D")) // DAY)
    out: dict[str, pd.Series] = {
        "mrr_90d_ago": _total_at(subs, cut.ago(90), "mrr", cut.ids),
        "mrr_180d_ago": _total_at(subs, cut.ago(180), "mrr", cut.ids),
        "seats_90d_ago": _total_at(subs, cut.ago(90), "seats", cut.ids),
        "contract_changes_365d": cut.count(subs, started & prev_mrr.notna()),
        "downgrades_365d": cut.count(subs, started & (subs["mrr"] < prev_mrr)),
        "upgrades_365d": cut.count(subs, started & (subs["mrr"] > prev_mrr)),
        "service_gaps_365d": cut.count(subs, started & (prev_end < subs["start_at"])),
        "tenure_days": tenure,
        "mrr": mrr,
        "arr": mrr * 12,
        "seats": seats,
        "price_per_seat": ratio(mrr, seats),
        "plan": s["plan"],
        "days_on_current_terms": as_float((today - s["row_start"].dt.floor("D")) // DAY),
        "days_to_anniversary": 365 - tenure % 365,
        "cancellation_pending": flag(s["cancelled_at"].notna()),
    }
    out["mrr_change_90d"] = trend(mrr, out["mrr_90d_ago"])
    out["mrr_change_180d"] = trend(mrr, out["mrr_180d_ago"])
    out["seats_change_90d"] = trend(seats, out["seats_90d_ago"])
    return pd.DataFrame(out)


def sentiment(cut: Cut) -> pd.DataFrame:
    nps = cut.before("nps_responses", 730)
    score = as_float(nps["score"])
    year = cut.in_last(nps["ts"], 365)
    latest = cut.agg(nps, score, "last")
    days_since = cut.days_since(nps, nps["ts"], 730)
    # The year's earlier answers: every answer of the year but the latest one.
    is_latest = ~nps.duplicated("account_id", keep="last")
    earlier_mean = cut.agg(nps, score, "mean", year & ~is_latest)
    answers = cut.count(nps, year)
    return pd.DataFrame(
        {
            "nps_latest": latest,
            "nps_mean_365d": cut.agg(nps, score, "mean", year),
            "nps_responses_365d": answers,
            "days_since_nps": days_since,
            "nps_detractor": flag(latest <= 6).where(latest.notna()),
            "nps_change": (latest - earlier_mean).where((answers >= 2) & (days_since <= 365)),
        }
    )


def relationship(cut: Cut) -> pd.DataFrame:
    c = cut.tables["contacts"]
    c = c[c["created_at"].isna() | (c["created_at"] < cut.as_of)]
    left, since, role = c["left_at"], c["role_since"], c["role"]
    # Present: arrived at a known time before as_of (created_at, else role_since) and not yet left. A role counts
    # from role_since on (before it, a plain contact); without role_since, from the arrival.
    arrived = c["created_at"].where(c["created_at"].notna(), since)
    present = (arrived < cut.as_of) & (left.isna() | (left >= cut.as_of))
    role_now = role.where(since.isna() | (since < cut.as_of), "user")
    champion = _is(role_now, "champion") & present
    # A departure is a champion's when the contact held the role before leaving.
    champion_left = _is(role, "champion") & (since.isna() | (since < left))
    became = since.where(since.notna(), c["created_at"])
    newest = cut.agg(c, became, "max", champion)
    out = {
        "champions": cut.count(c, champion),
        "admins": cut.count(c, _is(role_now, "admin") & present),
        "contacts": cut.count(c, present),
        "champion_left_90d": cut.count(c, champion_left & cut.in_last(left, 90)),
        "days_since_champion_left": cut.days_since(c, left, 365, champion_left),
        "champion_tenure_days": as_float((cut.as_of.normalize() - newest.dt.floor("D")) // DAY),
    }
    out["has_champion"] = flag(out["champions"] > 0)
    return pd.DataFrame(out)


def firmographics(cut: Cut) -> pd.DataFrame:
    return cut.spine[["segment", "industry", "region", "touch_model"]]
