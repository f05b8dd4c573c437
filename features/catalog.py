"""All feature families together, and the registry lookups that training, serving and explanations use."""

from functools import cache

from features.config import FeatureConfig
from features.families import (
    email,
    engagement,
    firmographics,
    growth,
    milestones,
    payments,
    relationship,
    sentiment,
    support,
)
from features.registry import FAMILIES, Family, Feature

MODULES = (engagement, milestones, support, email, payments, growth, sentiment, relationship, firmographics)


@cache
def families(cfg: FeatureConfig = FeatureConfig()) -> tuple[Family, ...]:
    out = tuple(m.family(cfg) for m in MODULES)
    assert tuple(f.name for f in out) == FAMILIES
    names = [f.name for fam in out for f in fam.features]
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated:
        raise ValueError(f"feature names defined twice: {sorted(duplicated)}")
    return out


def features(cfg: FeatureConfig = FeatureConfig()) -> tuple[Feature, ...]:
    """Every feature, in a stable order (family by family)."""
    return tuple(f for fam in families(cfg) for f in fam.features)


def feature(name: str, cfg: FeatureConfig = FeatureConfig()) -> Feature:
    for f in features(cfg):
        if f.name == name:
            return f
    raise KeyError(f"no feature named {name!r}; see features.catalog.features() for the list")
