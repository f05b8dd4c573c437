"""The feature registry: what DESIGN.md asks of it, and SQL that a second engine (Spark) can take as it is."""

from string import Template

import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

from features.catalog import families, feature, features
from features.config import FeatureConfig
from features.labels import LabelConfig, labels_sql
from features.query import snapshot_sql, source_sql
from features.registry import FAMILIES, to_dialect
from features.rollups import rollups, spine_sql

# DESIGN.md, "Feature families", in its order.
DESIGN_FAMILIES = ("engagement", "milestones", "support", "email", "payments", "growth", "sentiment",
                   "relationship", "firmographics")  # fmt: skip
CUSTOM = FeatureConfig(milestones=("connected", "shared"), onboarding_days=30, login_event="sign_in")


def test_every_design_family_is_there_with_enough_features() -> None:
    assert FAMILIES == DESIGN_FAMILIES
    assert tuple(f.name for f in families()) == DESIGN_FAMILIES
    feats = features()
    assert len(feats) >= 60
    assert all(fam.features for fam in families()), "a family without features"
    names = [f.name for f in feats]
    assert len(set(names)) == len(names)
    assert all(f.family in FAMILIES for f in feats)
    for fam in families():
        assert {f.family for f in fam.features} == {fam.name}


def test_every_feature_has_a_description_a_unit_and_sql() -> None:
    for f in features():
        assert f.description.strip() and f.unit.strip() and f.sql.strip(), f.name
        assert f.name.isidentifier() and f.name == f.name.lower(), f.name
    assert {f.name for f in features() if f.categorical} == {"plan", "segment", "industry", "region", "touch_model"}
    assert feature("events_30d").family == "engagement"
    with pytest.raises(KeyError, match="no feature named"):
        feature("not_a_feature")


def test_milestone_features_follow_the_config() -> None:
    names = {f.name for f in features(CUSTOM)}
    assert {"milestone_connected", "milestone_shared"} <= names
    assert not any(n.startswith("milestone_integration") for n in names)
    assert "within 30 days" in next(f for f in features(CUSTOM) if f.name == "milestones_in_onboarding").description


@pytest.mark.parametrize("cfg", [FeatureConfig(), CUSTOM], ids=["default", "custom"])
def test_every_definition_transpiles_to_spark(cfg: FeatureConfig) -> None:
    fams = families(cfg)
    statements = {f"{fam.name}.{src.name}": source_sql(src) for fam in fams for src in fam.sources}
    statements["snapshot"] = snapshot_sql(fams)
    none = frozenset({"churn_events"})  # the spine and labels of data without churn events, and with
    statements |= {"spine": spine_sql(), "spine without churn events": spine_sql(none)}
    statements |= {"labels": labels_sql(LabelConfig()), "labels without churn events": labels_sql(LabelConfig(), none)}
    for name, sql in rollups(cfg).items():
        statements[f"rollup {name}"] = Template(sql).substitute(first="2024-01-01", last="2024-06-01")
    for name, sql in statements.items():
        spark = to_dialect(sql, "spark")
        assert spark.strip().upper().startswith(("SELECT", "WITH")), name
        # Strict: sqlglot only logs a construct that Spark lacks, unless told to raise.
        sqlglot.transpile(sql, read="duckdb", write="spark", unsupported_level=ErrorLevel.RAISE)
