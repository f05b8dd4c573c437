"""Serving speed, like for like first: our live scoring against ``mlflow models serve`` on the same registered churn
model, each predicting from one row of features per request; then, apart, the lookup of a score the batch job
precomputed. Same run, loaded by Debian's ``wrk`` over loopback.

    uv run python benchmarks/serve.py [--repeats 3] [--seconds 10] [--warmup 2] [--rows 200]
    uv run python benchmarks/serve.py --uvicorn-args "--no-access-log"      # A/B a server option
    uv run python benchmarks/serve.py --check                               # exit 2 when a floor is missed

Needs ``make demo`` first (scores in the warehouse, ``churn`` and ``upsell`` at alias ``champion``) and ``wrk``
(``apt-get install -y wrk``). Each server runs as one process with one worker on a free loopback port, started
once and stopped at the end; both are up during the run, idle while the other is measured.

Cases, each at concurrency 1 (wrk -t1 -c1) and 32 (wrk -t2 -c32), each measurement ``--seconds`` long after a
``--warmup`` run at the same concurrency, cases interleaved within each repeat so that noise from other work on
the machine spreads over all of them:

- live: ``POST /v1/scores/live`` with one row of real features (``features.snapshots`` at the latest as_of,
  rotating over ``--rows`` accounts): both models predict, exact TreeSHAP explanations of both, health, reasons
  and play, all computed now;
- mlflow: ``mlflow models serve -m models:/churn@champion --env-manager local``, ``POST /invocations`` with the
  same rows as ``dataframe_split``, one row per request: the churn model predicts (its probability only, no
  explanations);
- lookup: ``GET /v1/accounts/{id}/score``, rotating over every account scored at the latest as_of: the score,
  reasons, health and play that the batch job computed and stored, answered from memory. No model runs per
  request, so it is no rival to a server that runs one: it is reported on its own, against nothing but our
  live scoring of the same answer (what computing once per snapshot buys).

The printout states each server's worker processes, request threads and LightGBM threads per request, and what
it computes per request. Our server is ``uvicorn --factory serving.app:factory`` with ``churn serve``'s defaults
(access log on) plus ``--uvicorn-args``, with ``CHURN_RELOAD_INTERVAL=0`` (no registry polling during the run).
Before loading, one request per case must answer 200 with the expected body; during the load wrk counts socket
errors and non-2xx/3xx responses, and any of either makes the run exit 1. A server that does not start (or a
missing demo) exits 1.

The tables show medians over ``--repeats`` of requests/s, p50 and p99 latency (wrk's, milliseconds), and errors
summed over the repeats. The floors: live scoring at least 5x mlflow serve's throughput at concurrency 32 while
explaining; the lookup at least 5x live scoring's throughput at concurrency 32, with p99 under 50 ms. On a 2-core
machine wrk shares the CPU with the server: figures are lower than with a separate client machine, for both
servers alike.
"""

import argparse
import json
import math
import os
import shlex
import signal
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
from tests.ports import free_port  # noqa: E402

KEY = {"Authorization": "Bearer demo-read-key"}
JSON = {"Content-Type": "application/json"}
CONCURRENCY = {1: 1, 32: 2}  # connections -> wrk threads
FLOOR_LIVE, FLOOR_LOOKUP, FLOOR_LOOKUP_P99_MS = 5.0, 5.0, 50.0
ANYIO_THREADS = 40  # anyio's default limit, the pool Starlette runs our sync routes (live scoring) on


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log: Path


@dataclass(frozen=True)
class Case:
    key: str  # live, mlflow or lookup
    label: str
    server: str
    script: Path
    probe: tuple[str, str, bytes | None, dict[str, str]]  # method, path, body, headers


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
        "lookup": lambda g: "p_churn" in g and "reasons" in g,
        "live": lambda g: len(g["scores"]) == 1 and g["scores"][0]["reasons"],
        "mlflow": lambda g: len(g["predictions"]) == 1 and 0.0 <= g["predictions"][0]["probability"] <= 1.0,
    }[case.key]
    if not ok(got):
        raise SystemExit(f"{case.label}: unexpected answer to {method} {path}: {str(got)[:500]}")


def cases(tmp: Path, ids: list[str], rows: list[dict[str, object]]) -> list[Case]:
    names = [f.name for f in features()]
    paths = [f"/v1/accounts/{i}/score" for i in ids]
    live = [json.dumps({"rows": [r]}) for r in rows]
    split = [json.dumps({"dataframe_split": {"columns": names, "data": [[r[n] for n in names]]}}) for r in rows]
    lookup = wrk.write_script(tmp / "lookup.lua", "GET", paths, None, KEY)
    scored = wrk.write_script(tmp / "live.lua", "POST", ["/v1/scores/live"] * len(live), live, KEY | JSON)
    mlflow = wrk.write_script(tmp / "mlflow.lua", "POST", ["/invocations"] * len(split), split, JSON)
    return [
        Case("live", "live    POST /v1/scores/live", "ours", scored,
             ("POST", "/v1/scores/live", live[0].encode(), KEY | JSON)),
        Case("mlflow", "mlflow  POST /invocations", "mlflow", mlflow,
             ("POST", "/invocations", split[0].encode(), JSON)),
        Case("lookup", "lookup  GET /v1/accounts/{id}/score", "ours", lookup, ("GET", paths[0], None, KEY)),
    ]  # fmt: skip


def lightgbm_threads(env: dict[str, str]) -> tuple[int, int]:
    """LightGBM threads per request: ours (``CHURN_THREADS``, read as the server reads it) and mlflow serve's
    (the served model's own setting: its pyfunc predicts with the training configuration's thread count)."""
    import mlflow

    from serving.settings import ServingSettings

    ours = ServingSettings().threads
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    served = mlflow.pyfunc.load_model("models:/churn@champion").unwrap_python_model()
    return ours, int(served.model.config_.threads)  # type: ignore[attr-defined]


def describe(ours_threads: int, mlflow_threads: int) -> dict[str, tuple[str, str]]:
    """Per case, in words for the printout: what the server is made of, and what it computes per request."""
    pool = min(32, (os.cpu_count() or 1) + 4)  # asyncio.to_thread's default executor, where mlflow predicts

    def lgbm(n: int) -> str:
        return f"LightGBM on {n} thread{'s' * (n != 1)} per request"

    return {
        "live": (f"ours: 1 worker process; requests on Starlette's thread pool (up to {ANYIO_THREADS} threads); "
                 f"{lgbm(ours_threads)}",
                 "per request: the churn and upsell models predict, exact TreeSHAP explains both, health, reasons "
                 "in words, play"),
        "mlflow": (f"mlflow models serve: 1 worker process; requests on asyncio's thread pool (up to {pool} "
                   f"threads); {lgbm(mlflow_threads)}",
                   "per request: the churn model predicts its probability; no upsell model, no explanations"),
        "lookup": ("ours: 1 worker process; requests on the event loop",
                   "per request: the score, reasons, health and play the batch job computed and stored, read from "
                   "memory; no model runs"),
    }  # fmt: skip


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

    lgbm = lightgbm_threads(env)
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
    sys.exit(report(results, all_cases, describe(*lgbm), args.check))


def report(
    results: dict[tuple[str, int], list[wrk.Result]],
    all_cases: list[Case],
    does: dict[str, tuple[str, str]],
    check: bool,
) -> int:
    """Print the like-for-like table and ratio, then the lookup apart, then the floors; the exit status (1 on
    errors, 2 on a missed floor with ``check``)."""
    by_key = {c.key: c.label for c in all_cases}
    med: dict[tuple[str, int], tuple[float, float, float]] = {}
    errors = 0

    def table(keys: tuple[str, ...]) -> None:
        nonlocal errors
        print(f"{'case':<38} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors/non-2xx':>15}")
        for key in keys:
            for conns in CONCURRENCY:
                rs = results[by_key[key], conns]
                med[key, conns] = (statistics.median(r.rps for r in rs), statistics.median(r.p50_ms for r in rs),
                                   statistics.median(r.p99_ms for r in rs))  # fmt: skip
                sock, bad = sum(r.socket_errors for r in rs), sum(r.bad_status for r in rs)
                errors += sock + bad
                rps, p50, p99 = med[key, conns]
                print(f"{by_key[key]:<38} {conns:>4} {rps:>9,.0f} {p50:>8.2f} {p99:>8.2f} {f'{sock}/{bad}':>15}")

    print("LIKE FOR LIKE: one row of features in, a model's prediction out, per request")
    for key in ("live", "mlflow"):
        print(f"  {key:<7} {does[key][0]}\n  {'':<7} {does[key][1]}")
    print()
    table(("live", "mlflow"))
    ratio = {c: med["live", c][0] / (med["mlflow", c][0] or math.nan) for c in CONCURRENCY}  # nan: no mlflow answer
    print(f"\nlive scoring answers {ratio[32]:.1f}x mlflow serve's requests/s at concurrency 32 ({ratio[1]:.1f}x at "
          "concurrency 1), while also predicting upsell and explaining both predictions\n")  # fmt: skip

    print("A LOOKUP, NOT A MODEL RUN: no rival to a server that runs a model per request, so no ratio against mlflow")
    print(f"  {'lookup':<7} {does['lookup'][0]}\n  {'':<7} {does['lookup'][1]}\n")
    table(("lookup",))
    own = med["lookup", 32][0] / (med["live", 32][0] or math.nan)
    print(f"\nthe lookup answers {own:.1f}x our live scoring's requests/s at concurrency 32: the same answer, "
          "computed once per snapshot by the batch job instead of per request")  # fmt: skip

    p99 = med["lookup", 32][2]
    floors = {
        f"live scoring >= {FLOOR_LIVE:g}x mlflow serve at concurrency 32, explaining: {ratio[32]:.1f}x":
            ratio[32] >= FLOOR_LIVE,
        f"lookup >= {FLOOR_LOOKUP:g}x live scoring at concurrency 32: {own:.1f}x": own >= FLOOR_LOOKUP,
        f"lookup p99 < {FLOOR_LOOKUP_P99_MS:g} ms at concurrency 32: {p99:.2f} ms": p99 < FLOOR_LOOKUP_P99_MS,
    }  # fmt: skip
    print()
    for text, met in floors.items():
        print(f"{'met   ' if met else 'MISSED'} {text}")
    if errors:
        print(f"\n{errors} requests failed (socket errors or non-2xx/3xx responses): the figures are not valid")
        return 1
    return 2 if check and not all(floors.values()) else 0


if __name__ == "__main__":
    main()
