"""The features file: read, checked against the data's event types, resolved into a ``FeatureConfig``; every bad
input gives an error naming the key and the fix."""

from pathlib import Path

import pytest

from features.config_file import FeaturesFile, FeaturesFileError, parse_features, read_features_file, resolve

ROOT = Path(__file__).resolve().parents[2]
PRESENT = {"login": 90, "post_created": 60, "reply_sent": 40, "Page Viewed": 30, "rare": 1}


def test_discovery_counts_types_above_the_floor_up_to_top_and_the_rest_as_other() -> None:
    cfg = resolve(parse_features({"event_types": {"floor": 0.05, "top": 3}}), PRESENT, accounts=100)
    assert [(t.name, t.column) for t in cfg.event_types] == [
        ("login", "login"), ("post_created", "post_created"), ("reply_sent", "reply_sent"), ("", "other_types"),
    ]  # fmt: skip
    assert resolve(FeaturesFile(top=0), PRESENT, 100).event_types == ()


def test_a_listed_type_is_slugged_and_takes_its_options() -> None:
    spec = parse_features({
        "event_types": {"count": ["Page Viewed", "reply_sent", "post_created"]},
        "types": {"reply_sent": {"family": "relationship", "label": "reply"}},
        "ratios": {"replies_per_post": {"numerator": "reply_sent", "denominator": "post_created"}},
    })  # fmt: skip
    cfg = resolve(spec, PRESENT, 100)
    assert [t.column for t in cfg.event_types] == ["page_viewed", "reply_sent", "post_created", "other_types"]
    assert cfg.event_types[1].family == "relationship" and cfg.event_types[1].says == "reply"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"login": "x"}, r"unknown key 'login'; did you mean 'login_event'"),
        ({"event_types": {"flor": 0.1}}, r"unknown key event_types\.'flor'; did you mean 'floor'"),
        ({"types": {"login": {"family": "fun"}}}, r"family = 'fun' is not a feature family; choose one of engagement"),
        ({"event_types": {"top": -1}}, r"event_types\.top must be 0"),
        ({"ratios": {"r": {"numerator": "login"}}}, r"ratios\.r needs denominator"),
        ({"ratios": {"r": {"numerator": "login", "denominator": "x", "days": 7}}}, r"days = 7.*30 and 90"),
        ({"milestones": ["Setup Done"]}, r"milestones: 'Setup Done' must be lower case"),
    ],
)
def test_a_bad_shape_names_the_key_and_the_fix(data: dict, message: str) -> None:
    with pytest.raises(FeaturesFileError, match=message):
        parse_features(data)


def test_an_unknown_type_names_the_types_present() -> None:
    spec = parse_features({"event_types": {"count": ["login", "post_creatd"]}})
    with pytest.raises(FeaturesFileError, match=r"'post_creatd' \(did you mean 'post_created'\?\).*present are: "
                       r"Page Viewed, login, post_created, rare, reply_sent"):  # fmt: skip
        resolve(spec, PRESENT, 100)


def test_a_ratio_of_a_type_not_counted_says_how_to_count_it() -> None:
    spec = parse_features({"event_types": {"top": 2}, "ratios": {"r": {"numerator": "rare", "denominator": "login"}}})
    with pytest.raises(FeaturesFileError, match=r"ratios\.r reads event type 'rare', which is not counted.*"
                       r"add it to event_types\.count"):  # fmt: skip
        resolve(spec, PRESENT, 100)


def test_colliding_names_are_refused() -> None:
    spec = parse_features({"event_types": {"count": ["Page Viewed", "page.viewed"]}})
    with pytest.raises(FeaturesFileError, match=r"both name their features page_viewed_.*column"):
        resolve(spec, PRESENT | {"page.viewed": 5}, 100)
    other = parse_features({"event_types": {"count": ["Other Types"]}})
    with pytest.raises(FeaturesFileError, match=r"other_types"):
        resolve(other, PRESENT | {"Other Types": 5}, 100)


def test_the_examples_read_and_resolve(tmp_path: Path) -> None:
    demo = read_features_file(ROOT / "examples" / "features.toml")
    assert demo.login_event == "login"
    mix = read_features_file(ROOT / "examples" / "features_type_mix.toml")
    names = ("login", "post_created", "comment_added", "reply_sent", "file_shared", "invite_sent", "error_shown",
             "unfriend")  # fmt: skip
    cfg = resolve(mix, dict.fromkeys(names, 50), 100)
    assert {t.name for t in cfg.event_types} == set(names) and cfg.ratios
    bad = tmp_path / "bad.toml"
    bad.write_text("[event_types\n")
    with pytest.raises(FeaturesFileError, match="not valid TOML"):
        read_features_file(bad)
