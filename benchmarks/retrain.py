"""What adding one month of data costs `churn retrain` in feature time, against a full rebuild, in one run.

    uv run python benchmarks/retrain.py [--world data/generated] [--repeats 3]

The world (default: the demo's, from `make demo`) is observed twice a month apart (``pipelines.generate.observed``):
the export at the last month start, and the one a month before. Both sides start from the same warehouse, holding
the later export ingested (ingest is not feature time):

- incremental: the warehouse had the earlier export built (``pipelines.retrain.build_changed``, as the first
  retrain left it); now ``build_changed`` again: input fingerprints of every date, the new or changed dates built,
  the other dates whose labels may have changed relabeled (those unknown before: the label inputs before the
  earlier export's end are unchanged), fingerprints stored;
- full: ``pipelines.snapshots.refresh`` of every snapshot date with the same label rules (`churn features build`).

Each repeat copies the prepared warehouse files and times both sides, interleaved; medians are printed, with the
floor of issue 22 (incremental at most 20% of full). Both sides must store the same snapshots (checked each time).
"""

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

# Run as a file, this folder comes first on sys.path, and its features.py would hide the features package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.generate.observed import write_observed
from pipelines.ingest import ingest
from pipelines.retrain import build_changed
from pipelines.snapshots import default_dates, refresh
from pipelines.snapshots.labels import stored_label_config
from pipelines.warehouse import connect

FLOOR = 0.20


def snapshots(path: Path) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.sql("SELECT * FROM features.snapshots ORDER BY as_of, account_id").to_arrow_table().to_pandas()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--world", type=Path, default=Path("data/generated"), help="a world written by churn generate")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if not (args.world / "usage_events.parquet").exists():
        raise SystemExit(f"{args.world} holds no generated world: run `make demo` first, or pass --world")
    end = pd.read_parquet(args.world / "usage_events.parquet", columns=["ts"])["ts"].max()
    later = end.normalize().replace(day=1)
    earlier = later - pd.DateOffset(months=1)
    with tempfile.TemporaryDirectory(prefix="bench-retrain-") as tmp:
        root = Path(tmp)
        write_observed(args.world, root / "earlier", earlier)
        rows = write_observed(args.world, root / "later", later)
        prepared = root / "incremental.duckdb"
        ingest(root / "earlier", prepared)
        with connect(prepared) as con:
            first = build_changed(con)
            rules = stored_label_config(con)
        ingest(root / "later", prepared)  # raw tables replaced; the snapshots of the earlier export stay
        fresh = root / "full.duckdb"
        ingest(root / "later", fresh)
        print(f"World {args.world}: exports at {earlier:%Y-%m-%d} and {later:%Y-%m-%d} ({rows['usage_events']:,} "
              f"usage events in the later); the first build made {len(first.new)} dates")  # fmt: skip
        incremental, full, parts, built = [], [], [], None
        for i in range(args.repeats):
            a, b = root / f"a{i}.duckdb", root / f"b{i}.duckdb"
            shutil.copy(prepared, a)
            shutil.copy(fresh, b)
            with connect(a) as con:
                t0 = time.perf_counter()
                built = build_changed(con)
                incremental.append(time.perf_counter() - t0)
            parts.append(built.seconds)
            with connect(b) as con:
                t0 = time.perf_counter()
                refresh(con, default_dates(con), lcfg=rules)
                full.append(time.perf_counter() - t0)
            pd.testing.assert_frame_equal(snapshots(a), snapshots(b))
            a.unlink()
            b.unlink()
    assert built is not None
    inc, whole = statistics.median(incremental), statistics.median(full)
    split = ", ".join(f"{k} {statistics.median(p[k] for p in parts):.2f} s" for k in parts[0])
    print(f"incremental: {inc:.2f} s (median of {args.repeats}; {split}); built new "
          f"{[f'{d:%Y-%m-%d}' for d in built.new]}, changed {len(built.changed)}, kept {built.kept}, relabeled "
          f"{[f'{d:%Y-%m-%d}' for d in built.relabeled]}")  # fmt: skip
    print(f"full rebuild: {whole:.2f} s (median of {args.repeats}), {built.kept + len(built.new) + len(built.changed)} "
          "dates; both stored the same snapshots")  # fmt: skip
    ratio = inc / whole
    print(f"{'met   ' if ratio <= FLOOR else 'MISSED'} incremental / full = {ratio:.2f} (floor: at most {FLOOR:.2f})")


if __name__ == "__main__":
    main()
