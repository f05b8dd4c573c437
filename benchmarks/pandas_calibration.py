"""The issue's calibration of its pandas baseline, reproduced: 6 engagement features over 12 monthly snapshots of
about 10 M usage events, written the plain notebook way (the issue measured 9.3 s and 1.2 GB).

    uv run python benchmarks/pandas_calibration.py      # needs the data of benchmarks/features.py (made there once)

It shows what the issue means by its baseline, and so why ``benchmarks/features.py`` races DuckDB against the
tests' reference run that plain way (``notebook_snapshots``) rather than against its tuned form only.
"""

import resource
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.features import dates_for  # noqa: E402
from pipelines.warehouse import connect  # noqa: E402

WAREHOUSE = ROOT / "data" / "bench" / "features-28000" / "warehouse.duckdb"


def six_features(events: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """One snapshot: cut the history at as_of, filter each window, group by account."""
    history = events[events["ts"] < as_of]
    out = {}
    for n in (7, 30, 90):
        window = history[history["ts"] >= as_of - pd.Timedelta(days=n)]
        out[f"events_{n}d"] = window.groupby("account_id").size()
    last30 = history[history["ts"] >= as_of - pd.Timedelta(days=30)]
    out["logins_30d"] = last30[last30["event_type"] == "login"].groupby("account_id").size()
    out["active_users_30d"] = last30.groupby("account_id")["user_id"].nunique()
    out["active_days_30d"] = last30["ts"].dt.floor("D").groupby(last30["account_id"]).nunique()
    return pd.DataFrame(out).assign(as_of=as_of)


def main() -> None:
    if not WAREHOUSE.exists():
        sys.exit(f"{WAREHOUSE} is missing: run `uv run python benchmarks/features.py --engines duckdb` once first")
    con = connect(WAREHOUSE, read_only=True)
    dates = dates_for("month", con)
    events = con.sql("SELECT account_id, user_id, ts, event_type FROM raw.usage_events").df()
    t0 = time.perf_counter()
    rows = sum(len(six_features(events, pd.Timestamp(d))) for d in dates)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"{len(events):,} usage events, {len(dates)} monthly snapshots, 6 features: {rows:,} rows in {seconds:.1f} s "
          f"(the issue: 9.3 s); peak memory {peak:,} MiB (the issue: 1.2 GB, on its own loading path)")  # fmt: skip


if __name__ == "__main__":
    main()
