import numpy as np
import pandas as pd

from models.hazard import expand_person_period, survival_curve


def test_expand_person_period_matches_hand_computed_frame() -> None:
    survival = pd.DataFrame(
        {"account_id": ["a", "b", "c"], "as_of": ["t", "t", "t"],
         "duration": [45.0, 30.0, 400.0], "event": [1, 0, 0]}
    )  # fmt: skip
    got = expand_person_period(survival)
    expected = pd.DataFrame(
        {"account_id": ["a", "a", "b"] + ["c"] * 12, "as_of": ["t"] * 15,
         "interval": [0, 1, 0, *range(12)], "event": [0, 1, 0] + [0] * 12}
    )  # fmt: skip
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_survival_curve_never_increases() -> None:
    h = np.random.default_rng(0).uniform(size=(50, 12))
    s = survival_curve(h)
    assert np.all(np.diff(s, axis=1) <= 0)
    np.testing.assert_allclose(s[:, 0], 1 - h[:, 0])


def test_constant_hazard_gives_geometric_survival() -> None:
    from models.hazard import churn_within

    h = np.full((1, 12), 0.1)
    p = churn_within(h, horizons=(30, 60, 90, 180))
    np.testing.assert_allclose(p[0], 1 - 0.9 ** np.array([1, 2, 3, 6]))


def test_churn_within_never_decreases_with_horizon() -> None:
    from hypothesis import given
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays

    from models.hazard import churn_within

    @given(arrays(float, (3, 12), elements=st.floats(0.0, 1.0)))
    def check(h: np.ndarray) -> None:
        p = churn_within(h, horizons=(10, 30, 45, 60, 90, 180, 200, 365))
        assert np.all(np.diff(p, axis=1) >= -1e-12)

    check()


def test_median_churn_day() -> None:
    from models.hazard import median_churn_day

    h = np.vstack([np.full(12, 0.5), np.full(12, 0.01)])
    got = median_churn_day(h)
    assert got[0] is not None and abs(got[0] - 30.0) < 1e-9
    assert got[1] is None
