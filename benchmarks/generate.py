"""Generator speed and memory at two sizes: cost per event should stay flat and peak memory bounded.

    uv run python benchmarks/generate.py [--small 5000] [--large 20000] [--months 24] [--repeats 3]

Each run is a fresh `churn generate` process (2 workers); peak memory is the largest sum of resident memory of
that process and its workers, sampled every 20 ms from /proc. The small size is the baseline: the ratios show how
time per usage event and peak memory grow with the data. Medians over the repeats.
"""

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from measure import run


def run_once(accounts: int, months: int) -> tuple[float, int, int]:
    """Seconds, usage events and peak memory (MiB) of one generate run."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pipelines.cli.app", "generate", "--accounts", str(accounts),
               "--months", str(months), "--out", tmp]  # fmt: skip
        seconds, mib, _ = run(cmd)
        events = json.loads((Path(tmp) / "manifest.json").read_text())["rows"]["usage_events"]
    return seconds, events, mib


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=int, default=5000)
    ap.add_argument("--large", type=int, default=20000)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    results = {}
    for accounts in (args.small, args.large):
        runs = [run_once(accounts, args.months) for _ in range(args.repeats)]
        seconds = statistics.median(r[0] for r in runs)
        events = runs[0][1]
        mib = statistics.median(r[2] for r in runs)
        results[accounts] = (seconds, events, mib)
        print(f"{accounts:>7,} accounts x {args.months} months: {events:>12,} usage events  "
              f"median {seconds:6.1f} s  {events / seconds:>10,.0f} events/s  peak memory {mib:,} MiB")  # fmt: skip
    (s_sec, s_ev, s_mib), (l_sec, l_ev, l_mib) = results[args.small], results[args.large]
    per_event = (l_sec / l_ev) / (s_sec / s_ev)
    print(f"large / small: {l_ev / s_ev:.2f}x the events, {l_sec / s_sec:.2f}x the time, "
          f"{per_event:.2f}x the time per event, {l_mib / s_mib:.2f}x the peak memory")  # fmt: skip


if __name__ == "__main__":
    main()
