"""PSI, Jensen-Shannon distance and missing rates (``models.drift``) against hand-computed values and a brute-force
reference written here, and the planted-shift property: a shifted sample is flagged, a fresh draw is not."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.special import rel_entr

from models.drift import (
    EPSILON,
    UNSEEN,
    categorical_counts,
    drift_table,
    family_drift,
    js_from_counts,
    missing_rate,
    numeric_counts,
    psi,
    quantile_edges,
)


def brute_force_psi(reference: list[float], current: list[float], edges: list[float], eps: float = EPSILON) -> float:
    """PSI by loops: each present value goes to the first bin whose upper edge it does not exceed (the last bin is
    open); shares floored at ``eps``; the sum written out term by term."""

    def histogram(values: list[float]) -> list[float]:
        counts = [0] * (len(edges) + 1)
        present = [v for v in values if v is not None and not math.isnan(v)]
        for v in present:
            i = 0
            while i < len(edges) and v > edges[i]:
                i += 1
            counts[i] += 1
        return [max(c / len(present), eps) for c in counts]

    r, c = histogram(reference), histogram(current)
    return sum((ci - ri) * math.log(ci / ri) for ri, ci in zip(r, c, strict=True))


def test_psi_of_a_hand_computed_example() -> None:
    # Two bins split at the reference's median 2.5: the reference has 2 and 2 rows, the current 3 and 1, so
    # PSI = (0.75 - 0.5) ln(0.75 / 0.5) + (0.25 - 0.5) ln(0.25 / 0.5) = 0.25 (ln 1.5 + ln 2) = 0.25 ln 3.
    assert list(quantile_edges(np.array([1.0, 2, 3, 4]), bins=2)) == [2.5]
    assert psi([1.0, 2, 3, 4], [1.0, 1, 1, 4], bins=2) == pytest.approx(0.25 * math.log(3), rel=1e-12)


def test_categorical_psi_puts_unseen_categories_in_their_own_bin() -> None:
    labels, r, c = categorical_counts(["a", "a", "b", "b", None], ["a", "b", "b", "c"])
    assert labels == ["a", "b", UNSEEN] and list(r) == [2, 2, 0] and list(c) == [1, 2, 1]
    # a: (0.25 - 0.5) ln(0.25/0.5); b: 0; unseen: the reference's 0 share floored at 1e-4.
    expected = -0.25 * math.log(0.5) + (0.25 - 1e-4) * math.log(0.25 / 1e-4)
    assert psi(["a", "a", "b", "b", None], ["a", "b", "b", "c"], categorical=True) == pytest.approx(expected)


def test_missing_rate_and_missing_values_are_left_out_of_psi() -> None:
    assert missing_rate(pd.Series([1.0, None, np.nan, 4.0])) == 0.5
    assert missing_rate(pd.Series(["a", None], dtype=object)) == 0.5
    assert math.isnan(missing_rate(pd.Series([], dtype=float)))
    # The values present are the same on both sides: no drift, whatever the missing rate.
    assert psi([1.0, 2, 3, 4], [1.0, 2, 3, 4, np.nan, np.nan]) == 0
    assert math.isnan(psi([1.0, 2], [np.nan, np.nan]))  # nothing to compare: unknown, not 0


@pytest.mark.parametrize("seed", range(5))
def test_psi_equals_the_brute_force_reference_and_the_two_kl_divergences(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref = np.round(rng.gamma(2, 3, 500), 1)  # rounded: ties at the edges
    cur = np.round(rng.gamma(2.5, 3, 300), 1)
    ref[rng.random(500) < 0.1] = np.nan
    edges = list(quantile_edges(ref))
    got = psi(ref, cur)
    assert got == pytest.approx(brute_force_psi(list(ref), list(cur), edges), rel=1e-12)
    r, c = numeric_counts(ref, cur)
    rf, cf = np.maximum(r / r.sum(), EPSILON), np.maximum(c / c.sum(), EPSILON)
    assert got == pytest.approx(float(np.sum(rel_entr(cf, rf) + rel_entr(rf, cf))), rel=1e-12)


def test_a_shifted_sample_is_flagged_and_a_fresh_draw_is_not() -> None:
    rng = np.random.default_rng(3)
    ref = rng.normal(10, 2, 5000)
    assert psi(ref, rng.normal(10, 2, 5000)) < 0.02  # the same distribution drawn again
    assert psi(ref, rng.normal(11, 2, 5000)) > 0.2  # shifted by half a standard deviation
    assert psi(ref, rng.normal(12, 2, 5000)) > 0.8  # by one


def test_jensen_shannon_distance_is_0_for_equal_and_1_for_disjoint_distributions() -> None:
    assert js_from_counts(np.array([3, 1]), np.array([6, 2])) == pytest.approx(0)
    _, r, c = categorical_counts(["a"] * 5, ["b"] * 5)
    assert js_from_counts(r, c) == pytest.approx(1)


def test_drift_table_and_family_aggregates_against_pandas() -> None:
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 400), "y": rng.normal(0, 1, 400), "s": rng.choice(["a", "b"], 400)})
    cur = pd.DataFrame({"x": rng.normal(1, 1, 300), "y": rng.normal(0, 1, 300), "s": rng.choice(["a", "b"], 300)})
    cur.loc[:59, "y"] = np.nan
    table = drift_table(ref, cur, {"x": "f1", "y": "f1", "s": "f2"}, categorical=["s"])
    by = table.set_index("feature")
    assert by.loc["x", "psi"] == pytest.approx(psi(ref["x"], cur["x"]))
    assert by.loc["s", "psi"] == pytest.approx(psi(ref["s"], cur["s"], categorical=True))
    assert by.loc["y", "missing_change"] == pytest.approx(0.2) and by.loc["y", "missing_reference"] == 0
    fam = family_drift(table).set_index("family")
    assert fam.loc["f1", "psi_max"] == pytest.approx(max(by.loc["x", "psi"], by.loc["y", "psi"]))
    assert fam.loc["f1", "psi_mean"] == pytest.approx((by.loc["x", "psi"] + by.loc["y", "psi"]) / 2)
    assert fam.loc["f1", "worst"] == "x" and fam.loc["f2", "features"] == 1


def test_a_feature_missing_from_a_sample_is_named() -> None:
    with pytest.raises(ValueError, match="features missing from the reference or current rows: z"):
        drift_table(pd.DataFrame({"x": [1.0]}), pd.DataFrame({"x": [1.0]}), {"x": "f", "z": "f"})
