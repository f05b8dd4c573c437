"""The slices refuse a training set that leaves the trees nothing to grow on, naming the fix."""

import pandas as pd
import pytest

from models.slices import inner_slices


def test_no_date_before_the_gap_is_refused_with_the_fix() -> None:
    dates = pd.date_range("2025-01-01", periods=5, freq="MS", tz="UTC")  # the latest 2 start on 2025-04-01
    rows = pd.DataFrame([(f"A{i}", d) for i in range(50) for d in dates], columns=["account_id", "as_of"])
    kw = {"inner_dates": 2, "stop_share": 0.2, "calibrate_share": 0.2}
    # 2025-01-01 + 60 days is before 2025-04-01, 2025-02-01 + 60 days after it
    ok = inner_slices(rows["account_id"], rows["as_of"], gap_days=60, **kw)
    assert set(rows.loc[ok.fit, "as_of"]) == {dates[0]}
    with pytest.raises(ValueError, match=r"no training date lies 120 days .* lower --inner-dates"):
        inner_slices(rows["account_id"], rows["as_of"], gap_days=120, **kw)
    with pytest.raises(ValueError, match="has 2 snapshot dates"):
        inner_slices(rows["account_id"], rows["as_of"].where(rows["as_of"] < dates[2], dates[0]), gap_days=0, **kw)
