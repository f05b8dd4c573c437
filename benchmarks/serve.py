"""Serving speed: our live scoring against ``mlflow models serve`` on the same registered churn model, each
predicting from one row of features per request; the lookup of a score the batch job published, on its own, while
nothing changes and while three new score versions are published during the run; and the same lookup served from
the PostgreSQL store. Loaded by Debian's ``wrk`` over loopback, all in one run.

    uv run python benchmarks/serve.py [--repeats 3] [--seconds 10] [--warmup 2] [--workers 2]
    uv run python benchmarks/serve.py --uvicorn-args "--no-access-log"      # A/B a server option
    uv run python benchmarks/serve.py --no-postgres                         # without the PostgreSQL store
    uv run python benchmarks/serve.py --check                               # exit 2 when a floor is missed

Needs ``make demo`` first (a published scores version in ``CHURN_SCORES``, default ``data/scores``; feature
snapshots in the warehouse; ``churn`` and ``upsell`` at alias ``champion``), ``wrk`` (``apt-get install -y wrk``)
and, unless ``--no-postgres``, the PostgreSQL server at ``--postgres`` (a scratch database is created there and
dropped at the end).

Servers, started once and stopped at the end, each with ``--workers`` processes (default 2: every core of a
2-core machine): ours (``uvicorn --factory serving.app:factory``, ``churn serve``'s defaults plus
``--uvicorn-args``) on a copy of the demo's current scores version in a temporary folder; ours again on the same
version published to the scratch PostgreSQL database; and ``mlflow models serve -m models:/churn@champion
--env-manager local``. Both of ours check for a new scores version (and the registry alias) every
``--reload-interval`` seconds in every case, so the cases with and without reloads differ only by the reloads.

Cases, each measurement ``--seconds`` long after a ``--warmup`` run at the same concurrency, interleaved within each
repeat so that noise from other work on the machine spreads over all of them:

- live: ``POST /v1/scores/live`` with one row of real features (``features.snapshots`` at the latest as_of,
  rotating over ``--rows`` accounts): both models predict, exact TreeSHAP explains both, health, reasons and play;
- mlflow: ``POST /invocations`` with the same rows as ``dataframe_split``: the churn model's probability only;
- lookup: ``GET /v1/accounts/{id}/score`` rotating over every account of the published version, answered from
  memory (no model runs);
- lookup, 3 reloads: the same while three new versions of the scores are published, at a quarter, half and three
  quarters of the run; afterwards every worker must serve the last one. Each version is written beforehand by
  ``pipelines.publish.publish`` into another folder, then moved in and made current (``pipelines.publish.point``)
  during the run: the server's reloads are measured, not the batch job's CPU;
- lookup from PostgreSQL, without and with three versions published there during the run, by ``publish`` itself
  (its work, and PostgreSQL's, shares the cores with the server: reported, no floor).

Before loading, one request per case must answer 200 with the expected body; wrk counts socket errors and
non-2xx/3xx responses, and any of either makes the run exit 1. The table shows medians over ``--repeats`` of
requests/s and of wrk's p50 and p99 latency. On a 2-core machine wrk, the publisher and the servers share the CPU.
"""

import argparse
import json
import math
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import psycopg  # noqa: E402
import pyarrow as pa  # noqa: E402
import wrk  # noqa: E402

from models.published import SUFFIX  # noqa: E402
from pipelines.publish import point, publish  # noqa: E402
from serving.store import open_store  # noqa: E402
from tests.ports import free_port  # noqa: E402

KEY = {"Authorization": "Bearer demo-read-key"}
JSON = {"Content-Type": "application/json"}
THREADS = {1: 1, 32: 2}  # connections -> wrk threads
RELOADS = 3
# The floors (issue 21), on 2 cores in one run.
BEFORE_LIVE_RPS = 242.0  # live scoring at concurrency 32 with one worker, before (issue 21)
FLOOR_LIVE_P99_MS, FLOOR_LIVE_X_BEFORE, FLOOR_LOOKUP_P99_MS, FLOOR_RELOAD_X = 100.0, 2.0, 50.0, 2.0
FLOOR_LIVE_X_MLFLOW = 5.0


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log: Path


@dataclass(frozen=True)
class Case:
    key: str
    label: str
    server: str
    script: Path
    concurrency: tuple[int, ...]
    probe: tuple[str, str, bytes | None, dict[str, str]]  # method, path, body, headers
    publish: Callable[[], str] | None = None  # publishes a new scores version during the run; its name


def start(name: str, cmd: list[str], env: dict[str, str], port: int, logs: Path) -> Server:
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        # A session of its own: uvicorn's and mlflow's worker processes stop with the group.
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return Server(name, proc, f"http://127.0.0.1:{port}", log)


def get_json(url: str, headers: dict[str, str] | None = None, timeout: float = 5) -> tuple[int, object]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, None


def wait_ready(server: Server, path: str, timeout_s: float) -> float:
    """Seconds until ``path`` answers 200; SystemExit with the server's log tail if it exits or times out."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if server.proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(server.url + path, timeout=5) as r:
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
        server.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=5)


def published(store: str) -> pa.Table:
    """The current version of the demo's published scores."""
    got = open_store(store).current()
    if got is None:
        raise SystemExit(f"no published scores in {store}: run `make demo` (or `churn score`) first")
    return open_store(store).load(got)


def model_features(tracking_uri: str) -> dict[str, list[str]]:
    """The features each model at ``champion`` reads (its signature): the registry's and the customer's own event
    types' (from the features file), so not ``features.catalog``'s list alone."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    return {t: mlflow.pyfunc.load_model(f"models:/{t}@champion").metadata.get_input_schema().input_names()
            for t in ("churn", "upsell")}  # fmt: skip


def feature_rows(warehouse: Path, rows: int, names: list[str]) -> list[dict[str, object]]:
    """``rows`` rows of the features ``names`` of accounts at the latest snapshot, as live scoring takes them."""
    if not warehouse.exists():
        raise SystemExit(f"no warehouse at {warehouse}: run `make demo` first")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        try:
            frame = con.sql("SELECT * FROM features.snapshots WHERE as_of = (SELECT max(as_of) FROM "
                            f"features.snapshots) ORDER BY hash(account_id) LIMIT {int(rows)}").df()  # fmt: skip
        except duckdb.CatalogException as e:
            raise SystemExit(f"the warehouse lacks feature snapshots ({e}): run `make demo` first") from e
    records = []
    for r in frame.to_dict(orient="records"):
        row: dict[str, object] = {n: None if isinstance(r[n], float) and math.isnan(r[n]) else r[n] for n in names}
        row["account_id"], row["as_of"] = r["account_id"], r["as_of"].isoformat()
        records.append(row)
    return records


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
        "live": lambda g: len(g["scores"]) == 1 and g["scores"][0]["reasons"],
        "mlflow": lambda g: len(g["predictions"]) == 1 and 0.0 <= g["predictions"][0]["probability"] <= 1.0,
    }.get(case.key, lambda g: "p_churn" in g and "reasons" in g)
    if not ok(got):
        raise SystemExit(f"{case.label}: unexpected answer to {method} {path}: {str(got)[:500]}")


def serves(server: Server, version: str, timeout_s: float) -> None:
    """Every worker serves ``version`` (20 answers in a row over new connections say so), else SystemExit."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        got = [get_json(f"{server.url}/v1/models", KEY)[1] for _ in range(20)]
        if all(isinstance(g, dict) and g.get("scores_version") == version for g in got):
            return
        time.sleep(0.2)
    raise SystemExit(f"{server.name}: not every worker serves {version} {timeout_s:g} s after it was published")


def measure(url: str, case: Case, conns: int, seconds: float) -> tuple[wrk.Result, str | None]:
    """One wrk run; with ``case.publish``, a new scores version published at each of ``RELOADS`` even points of
    it. The run's result and the last version published."""
    if case.publish is None:
        return wrk.run(url, case.script, THREADS[conns], conns, seconds), None
    last = None
    with ThreadPoolExecutor(1) as pool:
        t0 = time.monotonic()
        running = pool.submit(wrk.run, url, case.script, THREADS[conns], conns, seconds)
        for k in range(1, RELOADS + 1):
            time.sleep(max(0.0, t0 + seconds * k / (RELOADS + 1) - time.monotonic()))
            last = case.publish()
        return running.result(), last


def cases(tmp: Path, ids: list[str], rows: list[dict[str, object]], names: list[str],
          publishers: dict[str, Callable[[], str]], postgres: bool) -> list[Case]:  # fmt: skip
    """The cases; ``names``: the churn model's features, which mlflow serve takes."""
    paths = [f"/v1/accounts/{i}/score" for i in ids]
    live = [json.dumps({"rows": [r]}) for r in rows]
    split = [json.dumps({"dataframe_split": {"columns": names, "data": [[r[n] for n in names]]}}) for r in rows]
    lookup = wrk.write_script(tmp / "lookup.lua", "GET", paths, None, KEY)
    scored = wrk.write_script(tmp / "live.lua", "POST", ["/v1/scores/live"] * len(live), live, KEY | JSON)
    mlflow = wrk.write_script(tmp / "mlflow.lua", "POST", ["/invocations"] * len(split), split, JSON)
    by_id = ("GET", paths[0], None, KEY)
    out = [
        Case("live", "live      POST /v1/scores/live", "ours", scored, (1, 32),
             ("POST", "/v1/scores/live", live[0].encode(), KEY | JSON)),
        Case("mlflow", "mlflow    POST /invocations", "mlflow", mlflow, (1, 32),
             ("POST", "/invocations", split[0].encode(), JSON)),
        Case("lookup", "lookup    GET /v1/accounts/{id}/score", "ours", lookup, (1, 32), by_id),
        Case("reload", f"  while {RELOADS} versions are published", "ours", lookup, (32,), by_id,
             publishers["ours"]),
    ]  # fmt: skip
    if postgres:
        out += [
            Case("pg", "lookup    from PostgreSQL", "pg", lookup, (32,), by_id),
            Case("pg-reload", f"  while {RELOADS} versions are published", "pg", lookup, (32,), by_id,
                 publishers["pg"]),
        ]  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3, help="measurements per case and concurrency (median)")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each measurement")
    ap.add_argument("--warmup", type=float, default=2.0, help="unmeasured load before each measurement")
    ap.add_argument("--rows", type=int, default=200, help="feature rows (accounts) rotated over by live scoring")
    ap.add_argument("--workers", type=int, default=2, help="worker processes of each server")
    ap.add_argument("--reload-interval", type=float, default=1.0, help="our servers' CHURN_RELOAD_INTERVAL")
    ap.add_argument("--uvicorn-args", default="", help="extra options for our uvicorn, e.g. '--no-access-log'")
    ap.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432", help="PostgreSQL server")
    ap.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL store")
    ap.add_argument("--startup-timeout", type=float, default=240.0, help="seconds a server may take to get ready")
    ap.add_argument("--check", action="store_true", help="exit 2 when a floor is missed")
    args = ap.parse_args()
    wrk.wrk_binary()

    def setting(name: str, default: str) -> Path:
        p = Path(os.environ.get(name, default))
        return p if p.is_absolute() else ROOT / p

    table = published(str(setting("CHURN_SCORES", "data/scores")))
    ids = table.column("account_id").to_pylist()
    bin_dir = Path(sys.executable).parent
    base_env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                    MLFLOW_TRACKING_URI=os.environ.get("CHURN_TRACKING_URI", "sqlite:///mlflow.db"),
                    CHURN_RELOAD_INTERVAL=f"{args.reload_interval:g}")  # fmt: skip
    names = model_features(base_env["MLFLOW_TRACKING_URI"])
    both = list(dict.fromkeys(names["churn"] + names["upsell"]))
    rows = feature_rows(setting("CHURN_WAREHOUSE", "data/warehouse.duckdb"), args.rows, both)
    database = f"churn_bench_{uuid.uuid4().hex[:8]}"
    pg_url = f"{args.postgres}/{database}"
    ports = {"ours": free_port(), "pg": free_port(), "mlflow": free_port()}

    def ours_cmd(port: int) -> list[str]:
        return [sys.executable, "-m", "uvicorn", "--factory", "serving.app:factory", "--host", "127.0.0.1",
                "--port", str(port), "--workers", str(args.workers), "--timeout-worker-healthcheck", "60",
                *shlex.split(args.uvicorn_args)]  # fmt: skip

    mlflow_cmd = [str(bin_dir / "mlflow"), "models", "serve", "-m", "models:/churn@champion", "--env-manager", "local",
                  "-h", "127.0.0.1", "-p", str(ports["mlflow"]), "-w", str(args.workers)]  # fmt: skip

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp_name:
        tmp = Path(tmp_name)
        store, staged = tmp / "scores", tmp / "staged"
        keep = RELOADS + 2  # the demo's version and every one published in a run stay: nothing is pruned mid-run

        def publish_staged() -> str:
            """A version written whole beforehand by ``publish`` (elsewhere), moved in and made current: the
            server's reload without the batch job's CPU."""
            version = sorted(p.name.removesuffix(SUFFIX) for p in staged.glob(f"v*{SUFFIX}"))[0]
            os.replace(staged / f"{version}{SUFFIX}", store / f"{version}{SUFFIX}")
            point(store, version)
            return version

        def stage() -> None:
            for _ in range(RELOADS):
                publish(table, str(staged), 10 * RELOADS)

        publishers = {"ours": publish_staged, "pg": lambda: publish(table, pg_url, keep).version}
        first = {"ours": publish(table, str(store), keep).version}
        servers: dict[str, Server] = {}
        try:
            if not args.no_postgres:
                with psycopg.connect(f"{args.postgres}/postgres", autocommit=True) as c:
                    c.execute(f'CREATE DATABASE "{database}"')
                first["pg"] = publishers["pg"]()
            all_cases = cases(tmp, ids, rows, names["churn"], publishers, not args.no_postgres)
            servers["ours"] = start("ours", ours_cmd(ports["ours"]), base_env | {"CHURN_SCORES": str(store)},
                                    ports["ours"], tmp)  # fmt: skip
            if not args.no_postgres:
                servers["pg"] = start(
                    "pg", ours_cmd(ports["pg"]), base_env | {"CHURN_SCORES": pg_url}, ports["pg"], tmp
                )
            servers["mlflow"] = start("mlflow", mlflow_cmd, base_env, ports["mlflow"], tmp)
            ready = {n: wait_ready(s, "/ping" if n == "mlflow" else "/readyz", args.startup_timeout)
                     for n, s in servers.items()}  # fmt: skip
            for name, version in first.items():
                serves(servers[name], version, 30)
            for case in all_cases:
                probe(servers[case.server], case)
            print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start; {len(ids):,} account ids, "
                  f"{len(rows)} feature rows; {args.repeats} x {args.seconds:g} s per cell after {args.warmup:g} s "
                  f"warm-up; ready after " + ", ".join(f"{v:.1f} s ({k})" for k, v in ready.items()))  # fmt: skip
            print(f"ours:   {shlex.join(ours_cmd(ports['ours'])[1:])}  (CHURN_RELOAD_INTERVAL="
                  f"{args.reload_interval:g})\nmlflow: {shlex.join(mlflow_cmd[1:])}\n", flush=True)  # fmt: skip
            results: dict[tuple[str, int], list[wrk.Result]] = {}
            for _ in range(args.repeats):
                for case in all_cases:
                    server = servers[case.server]
                    for conns in case.concurrency:
                        if args.warmup > 0:
                            wrk.run(server.url, case.script, THREADS[conns], conns, args.warmup)
                        if case.key == "reload":
                            stage()
                        result, last = measure(server.url, case, conns, args.seconds)
                        results.setdefault((case.key, conns), []).append(result)
                        if last is not None:
                            serves(server, last, 10 * args.reload_interval + 10)
        finally:
            for s in servers.values():
                stop(s)
            if not args.no_postgres:
                with psycopg.connect(f"{args.postgres}/postgres", autocommit=True) as c:
                    c.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            shutil.rmtree(store, ignore_errors=True)
    sys.exit(report(results, all_cases, args))


def report(results: dict[tuple[str, int], list[wrk.Result]], all_cases: list[Case], args: argparse.Namespace) -> int:
    """Print the table of medians, then the floors and their verdicts; the exit status (1 on errors, 2 on a
    missed floor with ``--check``)."""
    med: dict[tuple[str, int], tuple[float, float, float]] = {}
    errors = 0
    workers = f"{args.workers} worker process{'es' * (args.workers != 1)}"
    print(f"Each server: {workers}. Ours: requests by id on the event loop; live scoring in batches (the requests "
          "that arrive while one is scored, together: serving.batching), one batch at a time per process on a worker "
          "thread, LightGBM on CHURN_THREADS threads (default 1); mlflow: the churn model's probability only, no "
          "upsell, no explanations.\n")  # fmt: skip
    print(f"{'case':<42} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors/non-2xx':>15}")
    for case in all_cases:
        for conns in case.concurrency:
            rs = results[case.key, conns]
            med[case.key, conns] = (statistics.median(r.rps for r in rs), statistics.median(r.p50_ms for r in rs),
                                    statistics.median(r.p99_ms for r in rs))  # fmt: skip
            sock, bad = sum(r.socket_errors for r in rs), sum(r.bad_status for r in rs)
            errors += sock + bad
            rps, p50, p99 = med[case.key, conns]
            print(f"{case.label:<42} {conns:>4} {rps:>9,.0f} {p50:>8.2f} {p99:>8.2f} {f'{sock}/{bad}':>15}")

    live_rps, _, live_p99 = med["live", 32]
    vs_mlflow = live_rps / (med["mlflow", 32][0] or math.nan)
    lookup_p99, reload_p99 = med["lookup", 32][2], med["reload", 32][2]
    floors = {
        f"live scoring at concurrency 32, p99 < {FLOOR_LIVE_P99_MS:g} ms: {live_p99:.1f} ms":
            live_p99 < FLOOR_LIVE_P99_MS,
        f"live scoring at concurrency 32 >= {FLOOR_LIVE_X_BEFORE:g}x the {BEFORE_LIVE_RPS:g} requests/s of one worker "
        f"before, using every core: {live_rps:,.0f} requests/s ({live_rps / BEFORE_LIVE_RPS:.2f}x)":
            live_rps >= FLOOR_LIVE_X_BEFORE * BEFORE_LIVE_RPS,
        f"live scoring >= {FLOOR_LIVE_X_MLFLOW:g}x mlflow serve at concurrency 32, explaining: {vs_mlflow:.1f}x":
            vs_mlflow >= FLOOR_LIVE_X_MLFLOW,
        f"lookup at concurrency 32, p99 < {FLOOR_LOOKUP_P99_MS:g} ms: {lookup_p99:.1f} ms":
            lookup_p99 < FLOOR_LOOKUP_P99_MS,
        f"lookup at concurrency 32 during {RELOADS} reloads, p99 < {FLOOR_LOOKUP_P99_MS:g} ms: {reload_p99:.1f} ms":
            reload_p99 < FLOOR_LOOKUP_P99_MS,
        f"lookup p99 during reloads <= {FLOOR_RELOAD_X:g}x without: {reload_p99 / lookup_p99:.2f}x":
            reload_p99 <= FLOOR_RELOAD_X * lookup_p99,
    }  # fmt: skip
    print()
    for text, met in floors.items():
        print(f"{'met   ' if met else 'MISSED'} {text}")
    if ("pg", 32) in med:
        pg_p99, pg_reload_p99 = med["pg", 32][2], med["pg-reload", 32][2]
        print(f"(no floor) lookup from PostgreSQL at concurrency 32: p99 {pg_p99:.1f} ms; {pg_reload_p99:.1f} ms while "
              f"{RELOADS} versions are published there on the same cores ({pg_reload_p99 / pg_p99:.2f}x)")  # fmt: skip
    if errors:
        print(f"\n{errors} requests failed (socket errors or non-2xx/3xx responses): the figures are not valid")
        return 1
    return 2 if args.check and not all(floors.values()) else 0


if __name__ == "__main__":
    main()
