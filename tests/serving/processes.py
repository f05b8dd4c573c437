"""`churn` as a user runs it, in a process of its own: the environment without this machine's CHURN_ settings, the
CLI run to its end, and `churn serve --workers 2` started, waited for and stopped with its worker processes."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
START_S = 180  # a bound against hanging, not a timing assertion: two processes importing on two busy cores


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHURN_")}
    return env | {"PYTHONPATH": str(ROOT), "COLUMNS": "300"} | extra


def cli(args: list[str], cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pipelines.cli.app", *args]
    return subprocess.run(cmd, cwd=cwd, env=environment(**extra), capture_output=True, text=True, timeout=600)


def answers(url: str, path: str) -> bool:
    try:
        return httpx.get(f"{url}{path}", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


@contextlib.contextmanager
def serving(cwd: Path, port: int, up: str = "/readyz", **extra: str) -> Iterator[str]:
    """``churn serve --workers 2`` on ``port`` with the settings ``extra``, once ``up`` answers 200; its base URL.
    Its output goes to ``cwd/serve.log``, whose end a failed start shows."""
    cmd = [sys.executable, "-m", "pipelines.cli.app", "serve", "--port", str(port), "--workers", "2"]
    log = (cwd / "serve.log").open("wb")
    # A session of its own: stopping the group stops uvicorn's worker processes too.
    proc = subprocess.Popen(cmd, cwd=cwd, env=environment(**extra), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_S
        while not answers(url, up):
            assert proc.poll() is None and time.monotonic() < deadline, (cwd / "serve.log").read_text()[-3000:]
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
