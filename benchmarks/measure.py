"""Run a command in a fresh process and measure its wall time and peak memory (process tree, from /proc)."""

import subprocess
import tempfile
import time
from pathlib import Path


def tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants, in KiB (Linux /proc)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total


def run(cmd: list[str], until: Path | None = None) -> tuple[float, int, str]:
    """Seconds, peak memory (MiB) and standard output of ``cmd``; raises if it fails. With ``until``, the peak is
    of the time before that file appears (the command creates it when the work being measured is done)."""
    t0 = time.perf_counter()
    # Standard error goes to a file: a chatty child (Spark's JVM) would otherwise fill the pipe and block.
    with tempfile.TemporaryFile("w+") as errors:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors, text=True)
        peak = 0
        while proc.poll() is None:
            if until is None or not until.exists():
                peak = max(peak, tree_rss_kib(proc.pid))
            # Fine sampling for short runs; coarser after 5 s, since walking a JVM's hundreds of threads in /proc
            # every 20 ms took a fifth of a core from the run being measured.
            time.sleep(0.02 if time.perf_counter() - t0 < 5 else 0.2)
        seconds = time.perf_counter() - t0
        out, _ = proc.communicate()
        if proc.returncode != 0:
            errors.seek(0)
            raise SystemExit(f"{' '.join(cmd)} failed:\n{errors.read()[-5000:]}")
    return seconds, peak // 1024, out
