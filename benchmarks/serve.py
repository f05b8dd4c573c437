"""Serving speed: our API against ``mlflow models serve`` on the same registered churn model, in the same run,
loaded by Debian's ``wrk`` over loopback.

    uv run python benchmarks/serve.py [--repeats 3] [--seconds 10] [--warmup 2] [--rows 200]
    uv run python benchmarks/serve.py --uvicorn-args "--no-access-log"      # A/B a server option
    uv run python benchmarks/serve.py --check                               # exit 2 when a floor is missed

Needs ``make demo`` first (scores in the warehouse, ``churn`` and ``upsell`` at alias ``champion``) and ``wrk``
(``apt-get install -y wrk``). Each server runs as one process with one worker on a free loopback port, started
once and stopped at the end; both are up during the run, idle while the other is measured.

Cases, each at concurrency 1 (wrk -t1 -c1) and 32 (wrk -t2 -c32), each measurement ``--seconds`` long after a
``--warmup`` run at the same concurrency, cases interleaved within each repeat so that noise from other work on
the machine spreads over all of them:

- (a) ``GET /v1/accounts/{id}/score``, rotating over every account scored at the latest as_of: the precomputed
  score, reasons, health and play, answered from memory;
- (b) ``POST /v1/scores/live`` with one row of real features (``features.snapshots`` at the latest as_of,
  rotating over ``--rows`` accounts): both models, exact TreeSHAP explanations, health, reasons and play now;
- (m) ``mlflow models serve -m models:/churn@champion --env-manager local`` answering (a)'s question the only
  way it can, by predicting from the account's features: ``POST /invocations`` with the same rows as (b) as
  ``dataframe_split``, one row per request, the churn probability only, no explanations.

Our server is ``uvicorn --factory serving.app:factory`` with ``churn serve``'s defaults (access log on) plus
``--uvicorn-args``, with ``CHURN_RELOAD_INTERVAL=0`` (no registry polling during the run). Before loading, one
request per case must answer 200 with the expected body; during the load wrk counts socket errors and non-2xx/3xx
responses, and any of either makes the run exit 1. A server that does not start (or a missing demo) exits 1.

The table shows medians over ``--repeats`` of requests/s, p50 and p99 latency (wrk's, milliseconds), and errors
summed over the repeats. The floors: (a) at least 30x mlflow serve's throughput at concurrency 32, with p99 under
50 ms; (b) at least 5x mlflow serve's throughput at concurrency 32 while explaining. On a 2-core machine wrk
shares the CPU with the server: figures are lower than with a separate client machine, for both servers alike.
"""

import argparse
import json
import math
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import wrk  # noqa: E402

from features.catalog import features  # noqa: E402

KEY = {"Authorization": "Bearer demo-read-key"}
JSON = {"Content-Type": "application/json"}
CONCURRENCY = {1: 1, 32: 2}  # connections -> wrk threads
FLOOR_A, FLOOR_A_P99_MS, FLOOR_B = 30.0, 50.0, 5.0


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log: Path


@dataclass(frozen=True)
class Case:
    label: str
    server: str
    script: Path
    probe: tuple[str, str, bytes | None, dict[str, str]]  # method, path, body, headers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(name: str, cmd: list[str], env: dict[str, str], port: int, logs: Path) -> Server:
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        # A session of its own: mlflow's CLI runs uvicorn as a child, and stopping the group stops both.
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return Server(name, proc, f"http://127.0.0.1:{port}", log)


def wait_ready(server: Server, path: str, timeout_s: float) -> float:
    """Seconds until ``path`` answers 200; SystemExit with the server's log tail if it exits or times out."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if server.proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(server.url + path, timeout=2) as r:
                if r.status == 200:
                    return time.monotonic() - t0
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    tail = "\n".join(server.log.read_text(errors="replace").splitlines()[-25:])
    why = f"exited with {server.proc.returncode}" if server.proc.poll() is not None else f"not ready in {timeout_s:g} s"
    raise SystemExit(f"{server.name} server {why} ({server.url}{path}); last lines of {server.log}:\n{tail}")


def stop(server: Server) -> None:
    if server.proc.poll() is not None:
        return
    os.killpg(server.proc.pid, signal.SIGTERM)
    try:
        server.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=5)


def inputs(warehouse: Path, rows: int) -> tuple[list[str], list[dict[str, object]]]:
    """Account ids scored at the latest as_of, and ``rows`` feature rows of accounts at the latest snapshot."""
    if not warehouse.exists():
        raise SystemExit(f"no warehouse at {warehouse}: run `make demo` first")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        try:
            latest = "as_of = (SELECT max(as_of) FROM {})"
            ids = [
                r[0]
                for r in con.sql(
                    f"SELECT account_id FROM scores.accounts "
                    f"WHERE {latest.format('scores.accounts')} ORDER BY account_id"
                ).fetchall()
            ]
            frame = con.sql(f"SELECT * FROM features.snapshots WHERE {latest.format('features.snapshots')} "
                            f"ORDER BY hash(account_id) LIMIT {int(rows)}").df()  # fmt: skip
        except duckdb.CatalogException as e:
            raise SystemExit(f"the warehouse lacks scores or snapshots ({e}): run `make demo` first") from e
    if not ids or frame.empty:
        raise SystemExit("no scored accounts or feature snapshots in the warehouse: run `make demo` first")
    names = [f.name for f in features()]
    records = []
    for r in frame.to_dict(orient="records"):
        row: dict[str, object] = {n: None if isinstance(r[n], float) and math.isnan(r[n]) else r[n] for n in names}
        row["account_id"], row["as_of"] = r["account_id"], r["as_of"].isoformat()
        records.append(row)
    return ids, records


def probe(server: Server, case: Case) -> None:
    """One request of the case must answer 200 with the expected body, else SystemExit."""
    method, path, body, headers = case.probe
    req = urllib.request.Request(server.url + path, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            got = json.loads(r.read())
    except urllib.error.HTTPError as e:
        raise SystemExit(f"{case.label}: {method} {path} answered {e.code}: {e.read()[:500]!r}") from e
    ok = {
        "a": lambda g: "p_churn" in g and "reasons" in g,
        "b": lambda g: len(g["scores"]) == 1 and g["scores"][0]["reasons"],
        "m": lambda g: len(g["predictions"]) == 1 and 0.0 <= g["predictions"][0]["probability"] <= 1.0,
    }[case.label[0]]
    if not ok(got):
        raise SystemExit(f"{case.label}: unexpected answer to {method} {path}: {str(got)[:500]}")


def cases(tmp: Path, ids: list[str], rows: list[dict[str, object]]) -> list[Case]:
    names = [f.name for f in features()]
    paths = [f"/v1/accounts/{i}/score" for i in ids]
    live = [json.dumps({"rows": [r]}) for r in rows]
    split = [json.dumps({"dataframe_split": {"columns": names, "data": [[r[n] for n in names]]}}) for r in rows]
    a = wrk.write_script(tmp / "a.lua", "GET", paths, None, KEY)
    b = wrk.write_script(tmp / "b.lua", "POST", ["/v1/scores/live"] * len(live), live, KEY | JSON)
    m = wrk.write_script(tmp / "m.lua", "POST", ["/invocations"] * len(split), split, JSON)
    return [
        Case("a  GET /v1/accounts/{id}/score", "ours", a, ("GET", paths[0], None, KEY)),
        Case("b  POST /v1/scores/live (explained)", "ours", b,
             ("POST", "/v1/scores/live", live[0].encode(), KEY | JSON)),
        Case("m  mlflow POST /invocations", "mlflow", m, ("POST", "/invocations", split[0].encode(), JSON)),
    ]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3, help="measurements per case and concurrency (median)")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each measurement")
    ap.add_argument("--warmup", type=float, default=2.0, help="unmeasured load before each measurement")
    ap.add_argument("--rows", type=int, default=200, help="feature rows (accounts) rotated over in (b) and (m)")
    ap.add_argument("--uvicorn-args", default="", help="extra options for our uvicorn, e.g. '--no-access-log'")
    ap.add_argument("--startup-timeout", type=float, default=240.0, help="seconds a server may take to get ready")
    ap.add_argument("--check", action="store_true", help="exit 2 when a floor is missed")
    args = ap.parse_args()
    wrk.wrk_binary()

    warehouse = Path(os.environ.get("CHURN_WAREHOUSE", "data/warehouse.duckdb"))
    ids, rows = inputs(warehouse if warehouse.is_absolute() else ROOT / warehouse, args.rows)
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", CHURN_RELOAD_INTERVAL="0",
               MLFLOW_TRACKING_URI=os.environ.get("CHURN_TRACKING_URI", "sqlite:///mlflow.db"))  # fmt: skip
    ours_port, mlflow_port = free_port(), free_port()
    ours_cmd = [sys.executable, "-m", "uvicorn", "--factory", "serving.app:factory", "--host", "127.0.0.1",
                "--port", str(ours_port), "--workers", "1", *shlex.split(args.uvicorn_args)]  # fmt: skip
    mlflow_cmd = [str(bin_dir / "mlflow"), "models", "serve", "-m", "models:/churn@champion", "--env-manager", "local",
                  "-h", "127.0.0.1", "-p", str(mlflow_port), "-w", "1"]  # fmt: skip

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp_name:
        tmp = Path(tmp_name)
        all_cases = cases(tmp, ids, rows)
        servers: dict[str, Server] = {}
        try:
            servers["ours"] = start("ours", ours_cmd, env, ours_port, tmp)
            servers["mlflow"] = start("mlflow", mlflow_cmd, env, mlflow_port, tmp)
            ready = {"ours": wait_ready(servers["ours"], "/readyz", args.startup_timeout),
                     "mlflow": wait_ready(servers["mlflow"], "/ping", args.startup_timeout)}  # fmt: skip
            for case in all_cases:
                probe(servers[case.server], case)
            print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start; {len(ids):,} account ids, "
                  f"{len(rows)} feature rows; {args.repeats} x {args.seconds:g} s per cell after {args.warmup:g} s "
                  f"warm-up; ready after {ready['ours']:.1f} s (ours), {ready['mlflow']:.1f} s (mlflow)")  # fmt: skip
            print(f"ours:   {shlex.join(ours_cmd[1:])}\nmlflow: {shlex.join(mlflow_cmd[1:])}\n", flush=True)
            results: dict[tuple[str, int], list[wrk.Result]] = {}
            for _ in range(args.repeats):
                for case in all_cases:
                    url = servers[case.server].url
                    for conns, threads in CONCURRENCY.items():
                        if args.warmup > 0:
                            wrk.run(url, case.script, threads, conns, args.warmup)
                        results.setdefault((case.label, conns), []).append(
                            wrk.run(url, case.script, threads, conns, args.seconds)
                        )
        finally:
            for s in servers.values():
                stop(s)
    sys.exit(report(results, all_cases, args.check))


def report(results: dict[tuple[str, int], list[wrk.Result]], all_cases: list[Case], check: bool) -> int:
    """Print the table, ratios and floors; the exit status (1 on errors, 2 on a missed floor with ``check``)."""
    med: dict[tuple[str, int], tuple[float, float, float]] = {}
    print(f"{'case':<38} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors/non-2xx':>15}")
    errors = 0
    for (label, conns), rs in results.items():
        med[label, conns] = (statistics.median(r.rps for r in rs), statistics.median(r.p50_ms for r in rs),
                             statistics.median(r.p99_ms for r in rs))  # fmt: skip
        sock, bad = sum(r.socket_errors for r in rs), sum(r.bad_status for r in rs)
        errors += sock + bad
        rps, p50, p99 = med[label, conns]
        print(f"{label:<38} {conns:>4} {rps:>9,.0f} {p50:>8.2f} {p99:>8.2f} {f'{sock}/{bad}':>15}")
    a, b, m = (c.label for c in all_cases)
    base = med[m, 32][0] or math.nan  # no mlflow answer within the run: no ratio, and the floors read as missed
    ratio_a, ratio_b = med[a, 32][0] / base, med[b, 32][0] / base
    floors = {
        f"(a) >= {FLOOR_A:g}x mlflow serve at concurrency 32: {ratio_a:.1f}x": ratio_a >= FLOOR_A,
        f"(a) p99 < {FLOOR_A_P99_MS:g} ms at concurrency 32: {med[a, 32][2]:.2f} ms": med[a, 32][2] < FLOOR_A_P99_MS,
        f"(b) >= {FLOOR_B:g}x mlflow serve at concurrency 32, explaining: {ratio_b:.1f}x": ratio_b >= FLOOR_B,
    }
    print()
    for text, met in floors.items():
        print(f"{'met   ' if met else 'MISSED'} {text}")
    if errors:
        print(f"\n{errors} requests failed (socket errors or non-2xx/3xx responses): the figures are not valid")
        return 1
    return 2 if check and not all(floors.values()) else 0


if __name__ == "__main__":
    main()
