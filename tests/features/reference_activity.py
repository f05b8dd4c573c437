"""Reference families over the event tables: engagement, milestones, support, email (one frame per snapshot,
indexed by the spine's account_id, one column per feature)."""

import pandas as pd

from tests.features.reference_base import Cut, as_float, flag, ratio, trend


def _events(ev: pd.DataFrame) -> pd.Series:
    """The events each usage row stands for: its event_count (a row of counts per period), else one."""
    return as_float(ev["event_count"].fillna(1))


def engagement(cut: Cut) -> pd.DataFrame:
    ev = cut.before("usage_events", 90)
    ts, login = ev["ts"], ev["event_type"] == cut.cfg.login_event
    day = ts.dt.floor("D")
    events = _events(ev)
    # A row that stands for no event makes no day, user, feature or last event.
    some = events > 0
    last = {n: cut.in_last(ts, n) for n in (7, 30, 90)}
    prev = cut.in_last(ts, 30, skip=30)

    def total(values: pd.Series, where: pd.Series) -> pd.Series:
        return cut.agg(ev, values, "sum", where).fillna(0)

    out: dict[str, pd.Series] = {}
    for n in (7, 30, 90):
        out[f"events_{n}d"] = total(events, last[n])
    out["events_prev_30d"] = total(events, prev)
    for n in (7, 30, 90):
        out[f"logins_{n}d"] = total(events, last[n] & login)
    out["logins_prev_30d"] = total(events, prev & login)
    for n in (7, 30, 90):
        out[f"active_days_{n}d"] = cut.agg(ev, day, "nunique", last[n] & some).fillna(0)
    export = ev["event_type"] == "export"
    for n in (30, 90):
        out[f"exports_{n}d"] = total(events, last[n] & export)
    out["days_since_last_event"] = cut.days_since(ev, ts, 90, some)
    out["days_since_last_login"] = cut.days_since(ev, ts, 90, login & some)
    for n in (7, 30):
        out[f"active_users_{n}d"] = cut.agg(ev, ev["user_id"], "nunique", last[n] & some).fillna(0)
    out["active_users_prev_30d"] = cut.agg(ev, ev["user_id"], "nunique", prev & some).fillna(0)
    # Breadth counts product features, so logins and milestone events (not features themselves) are left out.
    feature_use = ~ev["event_type"].isin([cut.cfg.login_event, *cut.cfg.milestones])
    for n in (30, 90):
        out[f"features_used_{n}d"] = cut.agg(ev, ev["event_type"], "nunique", last[n] & feature_use & some).fillna(0)
    for n in (7, 30):
        out[f"usage_hours_{n}d"] = total(as_float(ev["duration_secs"]), last[n]) / 3600
    seats = as_float(cut.spine["seats"])
    out |= {
        "events_trend_30d": trend(out["events_30d"], out["events_prev_30d"]),
        "logins_trend_30d": trend(out["logins_30d"], out["logins_prev_30d"]),
        "active_users_trend_30d": trend(out["active_users_30d"], out["active_users_prev_30d"]),
        "active_users_per_seat_7d": ratio(out["active_users_7d"], seats),
        "active_users_per_seat_30d": ratio(out["active_users_30d"], seats),
        "events_per_seat_30d": ratio(out["events_30d"], seats),
        "events_per_active_user_30d": ratio(out["events_30d"], out["active_users_30d"]),
        "login_share_30d": ratio(out["logins_30d"], out["events_30d"]),
    }
    return pd.DataFrame(out)


def milestones(cut: Cut) -> pd.DataFrame:
    cfg = cut.cfg
    ev = cut.before("usage_events")
    ev = ev[ev["event_type"].isin(cfg.milestones) & (_events(ev) > 0)]
    first = ev.groupby(["account_id", "event_type"], as_index=False)["ts"].min()
    # The first time of each milestone, next to the sign-up time of its account (spine accounts only).
    first = first.merge(cut.spine[["created_at"]], left_on="account_id", right_index=True)
    onboarding = pd.Timedelta(days=cfg.onboarding_days)
    created = cut.spine["created_at"]
    out: dict[str, pd.Series] = {
        "milestones_reached": cut.count(first),
        "milestones_in_onboarding": cut.count(first, first["ts"] < first["created_at"] + onboarding),
        "days_to_first_value": as_float(
            (cut.agg(first, first["ts"], "min").dt.floor("D") - created.dt.floor("D")) // pd.Timedelta(days=1)
        ),
    }
    for name in cfg.milestones:
        out[f"milestone_{name}"] = flag(cut.count(first, first["event_type"] == name) > 0)
    n = len(cfg.milestones)
    out["onboarding_complete"] = flag(out["milestones_reached"] == n)
    # Missed milestones are only known once the onboarding period is over (its end is at or before as_of).
    over = created + onboarding <= cut.as_of
    out["milestones_missed_in_onboarding"] = (n - out["milestones_in_onboarding"]).where(over, 0.0)
    return pd.DataFrame(out)


def support(cut: Cut) -> pd.DataFrame:
    tk = cut.before("support_tickets")
    created, resolved = tk["created_at"], tk["resolved_at"]
    # The priority is as of the export: it counts from escalated_at on (before, the ticket counts as normal).
    raised = tk["escalated_at"].isna() | (tk["escalated_at"] < cut.as_of)
    high = tk["priority"].isin(["high", "urgent"]).fillna(False).astype(bool) & raised
    urgent = tk["priority"].eq("urgent").fillna(False).astype(bool) & raised
    # Resolution time and the rating are known only once the ticket is resolved.
    rated = resolved < cut.as_of
    csat = as_float(tk["csat"])
    last90 = cut.in_last(created, 90)
    hours = (resolved - created).dt.total_seconds() / 3600
    out: dict[str, pd.Series] = {
        "tickets_30d": cut.count(tk, cut.in_last(created, 30)),
        "tickets_90d": cut.count(tk, last90),
        "tickets_prev_30d": cut.count(tk, cut.in_last(created, 30, skip=30)),
        "high_priority_tickets_90d": cut.count(tk, last90 & high),
        "urgent_tickets_30d": cut.count(tk, cut.in_last(created, 30) & urgent),
        "billing_tickets_90d": cut.count(tk, last90 & (tk["category"] == "billing")),
        "bug_tickets_90d": cut.count(tk, last90 & (tk["category"] == "bug")),
        "resolution_hours_90d": cut.agg(tk, hours, "mean", last90 & rated),
        "csat_mean_90d": cut.agg(tk, csat, "mean", last90 & rated),
        "csat_min_90d": cut.agg(tk, csat, "min", last90 & rated),
        "low_csat_tickets_90d": cut.count(tk, last90 & rated & (csat <= 2)),
        "days_since_last_ticket": cut.days_since(tk, created, 90),
    }
    is_open = resolved.isna() | (resolved >= cut.as_of)
    age_days = (cut.as_of - created).dt.total_seconds() / 86400
    out |= {
        "open_tickets": cut.count(tk, is_open),
        "open_high_priority_tickets": cut.count(tk, is_open & high),
        "oldest_open_ticket_days": cut.agg(tk, age_days, "max", is_open),
        "tickets_trend_30d": trend(out["tickets_30d"], out["tickets_prev_30d"]),
    }
    return pd.DataFrame(out)


def email(cut: Cut) -> pd.DataFrame:
    em = cut.before("email_events", 90)
    ts, kind = em["ts"], em["event"]
    out: dict[str, pd.Series] = {}
    for event, col in (("sent", "sent"), ("open", "opens")):
        for n in (30, 90):
            out[f"{col}_{n}d"] = cut.count(em, cut.in_last(ts, n) & (kind == event))
    out["sent_prev_30d"] = cut.count(em, cut.in_last(ts, 30, skip=30) & (kind == "sent"))
    out["opens_prev_30d"] = cut.count(em, cut.in_last(ts, 30, skip=30) & (kind == "open"))
    out["clicks_90d"] = cut.count(em, kind == "click")
    out["bounces_90d"] = cut.count(em, kind == "bounce")
    out["unsubscribes_90d"] = cut.count(em, kind == "unsubscribe")
    out["days_since_last_open"] = cut.days_since(em, ts, 90, kind == "open")
    out |= {
        "open_rate_30d": ratio(out["opens_30d"], out["sent_30d"]),
        "open_rate_90d": ratio(out["opens_90d"], out["sent_90d"]),
        "click_rate_90d": ratio(out["clicks_90d"], out["opens_90d"]),
        "open_rate_trend_30d": ratio(out["opens_30d"], out["sent_30d"])
        - ratio(out["opens_prev_30d"], out["sent_prev_30d"]),
    }
    return pd.DataFrame(out)
