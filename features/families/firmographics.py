"""Firmographics: who the customer is."""

from features.config import FeatureConfig
from features.registry import Family, Feature, category


def family(cfg: FeatureConfig) -> Family:
    # The account's current values, as they stand in the export (the spine's): they have no time, so they are
    # assumed constant over the account's life (rule: README, "What the features assume about your data"). A value
    # set because of the outcome (a segment "churned", a touch model changed at cancellation) leaks it.
    cols = (
        ("segment", "market segment", "market segment"),
        ("industry", "industry", "industry"),
        ("region", "region", "region"),
        ("touch_model", "customer success touch model (high, low, tech)", "customer success touch model"),
    )
    derived = tuple(
        Feature(name=name, family="firmographics", description=description, unit="category", sql=name,
                categorical=True, says=category(subject))
        for name, description, subject in cols
    )  # fmt: skip
    return Family("firmographics", (), derived)
