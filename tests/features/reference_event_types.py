"""Reference per event type features (``features.event_types``), computed from the raw usage rows of one cut.

Plain pandas, independent of the engine's SQL: per type, filter the rows before as_of by their type and window,
weigh each by its event_count (else one), group by account. The active days and all events of a window are counted
here again from the raw rows, not read from the engagement reference.
"""

import pandas as pd

from tests.features.reference_base import Cut, as_float, ratio, trend


def event_types(cut: Cut, family: str) -> pd.DataFrame:
    """The per type features of the types (and ratios) that ``family`` holds, one column per feature."""
    cfg = cut.cfg
    ev = cut.before("usage_events", 90)
    events = as_float(ev["event_count"].fillna(1))
    some = events > 0
    named = [t.name for t in cfg.event_types if not t.rest]
    out: dict[str, pd.Series] = {}

    def total(where: pd.Series) -> pd.Series:
        return cut.agg(ev, events, "sum", where).fillna(0)

    last30 = cut.in_last(ev["ts"], 30)
    active_days = cut.agg(ev, ev["ts"].dt.floor("D"), "nunique", last30 & some).fillna(0)
    all_events = total(last30)
    for t in cfg.event_types:
        if t.family != family:
            continue
        c = t.column
        of_type = ~ev["event_type"].isin(named) if t.rest else ev["event_type"] == t.name
        for n in (30, 90):
            out[f"{c}_events_{n}d"] = total(of_type & cut.in_last(ev["ts"], n))
        out[f"{c}_events_prev_30d"] = total(of_type & cut.in_last(ev["ts"], 30, skip=30))
        out[f"days_since_last_{c}_event"] = cut.days_since(ev, ev["ts"], 90, of_type & some)
        out[f"{c}_events_per_active_day_30d"] = ratio(out[f"{c}_events_30d"], active_days)
        out[f"{c}_events_trend_30d"] = trend(out[f"{c}_events_30d"], out[f"{c}_events_prev_30d"])
        out[f"{c}_events_share_30d"] = ratio(out[f"{c}_events_30d"], all_events)
    by_name = {t.name: t for t in cfg.event_types}
    for r in cfg.ratios:
        num, den = by_name[r.numerator], by_name[r.denominator]
        if num.family == family:
            window = cut.in_last(ev["ts"], r.days)
            out[f"{r.name}_{r.days}d"] = ratio(
                total(window & (ev["event_type"] == num.name)), total(window & (ev["event_type"] == den.name))
            )
    return pd.DataFrame(out, index=cut.ids)
