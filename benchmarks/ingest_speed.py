"""Time ``ingest`` on a large usage_events table (Parquet or CSV) beside the tiny factory tables.

uv run python benchmarks/ingest_speed.py --rows 3000000 [--csv]
"""

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from pipelines.ingest import ingest
from pipelines.warehouse import arrow_table

# Run as a file, the repository root is not on sys.path, and the dataset factories live in tests/.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.factories import T0, valid_tables, write_source


def write_events(path: Path, rows: int, accounts: list[str], seed: int = 0) -> None:
    """``rows`` usage events in row groups of 1M, written without holding them all in memory at once."""
    rng = np.random.default_rng(seed)
    types = np.array(["login", "report_run", "export", "dashboard_view", "integration_connected"])
    writer: pq.ParquetWriter | None = None
    csv_header = True
    for start in range(0, rows, 1_000_000):
        n = min(1_000_000, rows - start)
        frame = pd.DataFrame(
            {
                "account_id": pd.array(np.asarray(accounts)[rng.integers(0, len(accounts), n)], dtype="string"),
                "user_id": pd.array(np.char.add("U", rng.integers(0, 50_000, n).astype(str)), dtype="string"),
                "ts": T0 + pd.to_timedelta(rng.integers(0, 700 * 86_400_000_000, n), unit="us"),
                "event_type": pd.array(types[rng.integers(0, len(types), n)], dtype="string"),
            }
        )
        if path.suffix == ".csv":
            frame.to_csv(path, mode="w" if csv_header else "a", header=csv_header, index=False)
            csv_header = False
            continue
        table = arrow_table(frame)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    if writer is not None:
        writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--csv", action="store_true", help="write usage_events as CSV instead of Parquet")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="ingest_speed_"))
    try:
        tables = valid_tables()
        del tables["usage_events"]
        write_source(tables, folder / "src")
        accounts = list(tables["accounts"]["account_id"])
        started = time.perf_counter()
        write_events(folder / "src" / f"usage_events.{'csv' if args.csv else 'parquet'}", args.rows, accounts)
        print(f"wrote {args.rows:,} usage events in {time.perf_counter() - started:.1f} s")
        report = ingest(folder / "src", folder / "warehouse.duckdb")
        counts = report.tables["usage_events"]
        print(
            f"ingest: {report.seconds:.1f} s for {report.input_rows:,} rows "
            f"(usage_events: {counts.accepted:,} accepted, {counts.quarantined:,} quarantined; "
            f"{counts.input_rows / report.seconds:,.0f} rows/s)"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
