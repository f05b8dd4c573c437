"""A feature configuration that counts event types one by one, for the tests of the per type features: named
types (one whose name needs quoting and a slug), a type in another family, the rest as "other", and a ratio."""

from features.config import FeatureConfig
from features.event_types import EventType, Ratio, rest_type

TYPED = FeatureConfig(
    event_types=(
        EventType("login", "login"),
        EventType("report_run", "report_run", label="report"),
        EventType("it's Odd.type", "it_s_odd_type", family="relationship"),
        rest_type(),
    ),
    ratios=(Ratio("reports_per_login", "report_run", "login"),),
)
