"""Firmographics: who the customer is."""

from features.config import FeatureConfig
from features.registry import Family, Feature


def family(cfg: FeatureConfig) -> Family:
    cols = (("segment", "market segment"), ("industry", "industry"), ("region", "region"),
            ("touch_model", "customer success touch model (high, low, tech)"))  # fmt: skip
    derived = tuple(
        Feature(name=c, family="firmographics", description=d, unit="category", sql=c, categorical=True)
        for c, d in cols
    )
    return Family("firmographics", (), derived)
