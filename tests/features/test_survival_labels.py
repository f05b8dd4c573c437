from datetime import UTC, datetime

import pandas as pd

from features.labels import LabelConfig
from features.survival_labels import survival_times


def test_event_and_censoring_times_by_hand() -> None:
    t = pd.Timestamp
    labels = pd.DataFrame(
        {
            "account_id": ["a", "b", "c", "d"],
            "as_of": [t("2024-01-01", tz="UTC")] * 3 + [t("2024-12-01", tz="UTC")],
            "service_ends_at": [t("2024-03-01", tz="UTC"), pd.NaT, t("2024-12-15", tz="UTC"), pd.NaT],
        }
    )
    out = survival_times(labels, datetime(2025, 1, 1, tzinfo=UTC), LabelConfig(grace_days=30))
    # a: churn on day 60; b: censored at 2024-12-02 (data end - 30 days) = day 336;
    # c: its churn is not yet final at the data end, censored at day 336; d: censored on day 1.
    assert out["account_id"].tolist() == ["a", "b", "c", "d"]
    assert out["event"].tolist() == [1, 0, 0, 0]
    assert out["duration"].tolist() == [60.0, 336.0, 336.0, 1.0]


def test_until_censors_and_drops_rows_without_follow_up() -> None:
    t = pd.Timestamp
    labels = pd.DataFrame(
        {"account_id": ["a", "b"], "as_of": [t("2024-01-01", tz="UTC"), t("2024-06-01", tz="UTC")],
         "service_ends_at": [t("2024-05-20", tz="UTC"), pd.NaT]}
    )  # fmt: skip
    out = survival_times(labels, datetime(2025, 1, 1, tzinfo=UTC), LabelConfig(grace_days=30),
                         until=datetime(2024, 6, 1, tzinfo=UTC))  # fmt: skip
    # follow-up ends 2024-05-02: a's churn (05-20) is censored at day 122, b has none and is left out.
    assert out["account_id"].tolist() == ["a"]
    assert out["event"].tolist() == [0]
    assert out["duration"].tolist() == [122.0]
