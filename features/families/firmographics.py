"""Firmographics: who the customer is."""

from features.config import FeatureConfig
from features.registry import Family, Feature


def family(cfg: FeatureConfig) -> Family:
    # The account's current values, as they stand in the export (the spine's): they have no time, so they are
    # assumed constant over the account's life (rule: README, "What the features assume about your data"). A value
    # set because of the outcome (a segment "churned", a touch model changed at cancellation) leaks it.
    cols = (("segment", "market segment"), ("industry", "industry"), ("region", "region"),
            ("touch_model", "customer success touch model (high, low, tech)"))  # fmt: skip
    derived = tuple(
        Feature(name=c, family="firmographics", description=d, unit="category", sql=c, categorical=True)
        for c, d in cols
    )
    return Family("firmographics", (), derived)
