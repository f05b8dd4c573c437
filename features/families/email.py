"""Email: how the account's contacts respond to campaigns."""

from functools import partial

from features.config import FeatureConfig
from features.registry import Family, Feature, Source, count, share, since
from features.sql import days_since_day, ratio, total, totals_join

F = partial(Feature, family="email")


def family(cfg: FeatureConfig) -> Family:
    sums = [
        F(name=f"{col}_{n}d", description=f"{what} in the last {n} days", unit="emails", sql=total(col, n),
          says=count(what, f"in the last {n} days"))
        for col, what in (("sent", "campaign emails sent"), ("opens", "campaign emails opened"))
        for n in (30, 90)
    ] + [
        F(name=f"{col}_prev_30d", description=f"{what} 31 to 60 days ago", unit="emails",
          sql=total(col, 30, skip=30), says=count(what, "31 to 60 days ago"))
        for col, what in (("sent", "campaign emails sent"), ("opens", "campaign emails opened"))
    ] + [
        F(name="clicks_90d", description="campaign email clicks in the last 90 days", unit="clicks",
          sql=total("clicks", 90), says=count("campaign email clicks", "in the last 90 days")),
        F(name="bounces_90d", description="campaign emails bounced in the last 90 days", unit="emails",
          sql=total("bounces", 90), says=count("campaign emails bounced", "in the last 90 days")),
        F(name="unsubscribes_90d", description="unsubscribes from campaigns in the last 90 days", unit="contacts",
          sql=total("unsubscribes", 90), says=count("contacts who unsubscribed from campaigns", "in the last 90 days")),
        F(name="days_since_last_open", description="days since a campaign email was last opened (91: none in 90)",
          unit="days", sql=days_since_day("d.last_open_day", 90), says=since("a campaign email was last opened", 90)),
    ]  # fmt: skip
    derived = (
        F(name="open_rate_30d", description="share of emails sent in the last 30 days that were opened",
          unit="share", sql=ratio("opens_30d", "sent_30d"),
          says=share("share of emails sent in the last 30 days that were opened")),
        F(name="open_rate_90d", description="share of emails sent in the last 90 days that were opened",
          unit="share", sql=ratio("opens_90d", "sent_90d"),
          says=share("share of emails sent in the last 90 days that were opened")),
        F(name="click_rate_90d", description="clicks per opened email in the last 90 days", unit="share",
          sql=ratio("clicks_90d", "opens_90d"), says=share("clicks per opened email", "in the last 90 days")),
        F(name="open_rate_trend_30d", description="open rate of the last 30 days minus that of the 30 before",
          unit="share", sql=f"{ratio('opens_30d', 'sent_30d')} - {ratio('opens_prev_30d', 'sent_prev_30d')}",
          says=share("open rate of the last 30 days minus that of the 30 before")),
    )  # fmt: skip
    return Family(
        "email",
        (Source("email", totals_join("email_totals"), tuple(sums), per_row=True),),
        derived,
        tables=("email_events",),
    )
