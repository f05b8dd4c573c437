"""Drive Debian's ``wrk`` from Python: a Lua script that rotates over a list of requests and prints wrk's summary
as one JSON line, and the parsed result (requests/s, latency percentiles, errors and non-2xx/3xx responses)."""

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_SCRIPT = """\
local requests = {}
%(items)s
local n = #requests
local i = 0

request = function()
  i = i %% n + 1
  return requests[i]
end

done = function(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    '\\nWRK_JSON {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, "max_us": %%d, '
    .. '"connect": %%d, "read": %%d, "write": %%d, "timeout": %%d, "status": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout, e.status))
end
"""


@dataclass(frozen=True)
class Result:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    socket_errors: int  # connect, read, write and timeout errors
    bad_status: int  # responses with a status outside 2xx/3xx (wrk's "Non-2xx or 3xx responses")

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.socket_errors + self.bad_status


def _long_string(text: str) -> str:
    """``text`` as a Lua long-bracket literal (no escaping), with a level its contents cannot close."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def write_script(path: Path, method: str, paths: list[str], bodies: list[str] | None, headers: dict[str, str]) -> Path:
    """A wrk Lua script sending ``method`` to each of ``paths`` in turn (with ``bodies[k]`` when given)."""
    if bodies is not None and len(bodies) != len(paths):
        raise ValueError(f"bodies must match paths one to one: {len(bodies)} bodies for {len(paths)} paths")
    # wrk.format adds no Host header, and HTTP/1.1 servers reject requests without one.
    lines = ["local head = {" + ", ".join(f"[ {_long_string(k)} ] = {_long_string(v)}" for k, v in headers.items())
             + "}", 'head["Host"] = wrk.host .. ":" .. wrk.port']  # fmt: skip
    for k, p in enumerate(paths):
        body = _long_string(bodies[k]) if bodies is not None else "nil"
        lines.append(f"requests[{k + 1}] = wrk.format({_long_string(method)}, {_long_string(p)}, head, {body})")
    path.write_text(_SCRIPT % {"items": "\n".join(lines)})
    return path


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is not installed: `apt-get install -y wrk` (Debian's package) and run again")
    return found


def run(url: str, script: Path, threads: int, connections: int, seconds: float, timeout_s: float = 10.0) -> Result:
    """One wrk run against ``url`` (scheme, host and port; the script gives the paths)."""
    cmd = [wrk_binary(), f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
           f"--timeout={timeout_s:g}s", "-s", str(script), url]  # fmt: skip
    # wrk stops by itself after -d; the margin only guards against a wedged run.
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + timeout_s + 30, check=False)
    line = next((s for s in done.stdout.splitlines() if s.startswith("WRK_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed (exit {done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    d = json.loads(line.removeprefix("WRK_JSON "))
    return Result(
        requests=d["requests"], seconds=d["duration_us"] / 1e6, p50_ms=d["p50_us"] / 1000, p99_ms=d["p99_us"] / 1000,
        socket_errors=d["connect"] + d["read"] + d["write"] + d["timeout"], bad_status=d["status"],
    )  # fmt: skip
