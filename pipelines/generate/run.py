"""``generate``: simulate accounts chunk by chunk (in parallel processes) and write the contract's tables."""

import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import pyarrow as pa

from pipelines.generate import activity, billing, people, plays, touchpoints, truth
from pipelines.generate.calendar import build_calendar
from pipelines.generate.changes import Change, apply_changes, changes_table, resolve_changes
from pipelines.generate.chunk import Chunk
from pipelines.generate.params import Params
from pipelines.generate.simulate import Oracle, simulate_chunk
from pipelines.generate.writer import Format, TableSink

CHUNK_ACCOUNTS = 2000  # fixed: the random streams are per chunk, so the output depends on it
DEFAULT_START = date(2024, 1, 1)
TABLES = ("accounts", "subscriptions", "usage_events", "support_tickets", "email_events", "invoices",
          "nps_responses", "contacts")  # fmt: skip
TRUTH = ("health", "oracle", "type_mix", "play_effects")


@dataclass
class GenerateReport:
    out: Path
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def build_chunk(
    index: int,
    n: int,
    months: int,
    seed: int,
    start: date,
    params: Params,
    oracle: Oracle,
    changes: tuple[Change, ...] = (),
) -> dict[str, pa.Table]:
    """All tables of one chunk of accounts (runs in a worker process), with ``changes`` (resolved) applied."""
    cal = build_calendar(start, months)
    first = index * CHUNK_ACCOUNTS
    ids = pa.array([f"A{first + i:07d}" for i in range(n)])
    runner = plays.PlayRunner(params, ids.to_pylist(), seed, index) if params.plays is not None else None
    hist = simulate_chunk(n, cal, params, oracle, seed, index, estimator=runner)
    c = Chunk(hist, cal, params, ids, seed, index)
    health, seats = activity.daily_health(c)
    serving = activity.service_days(c)
    tables = {
        "accounts": people.accounts(c),
        "subscriptions": billing.subscriptions(c),
        "usage_events": activity.usage_events(c, health, seats, serving),
        "support_tickets": touchpoints.support_tickets(c, health, seats, serving),
        "email_events": touchpoints.email_events(c, health, seats, serving),
        "invoices": billing.invoices(c),
        "nps_responses": touchpoints.nps_responses(c, health, serving),
        "contacts": people.contacts(c),
        "health": truth.health(c),
        "oracle": truth.oracle(c),
    }
    if params.type_mix is not None:
        tables["type_mix"] = truth.type_mix(c)
    if runner is not None:
        tables.update(runner.tables(c))
    return apply_changes(tables, changes, params, seed, index) if changes else tables


def generate(
    out: Path,
    *,
    accounts: int = 3000,
    months: int = 24,
    seed: int = 7,
    start: date = DEFAULT_START,
    fmt: Format = "parquet",
    oracle: Oracle | None = None,
    params: Params | None = None,
    workers: int | None = None,
    changes: Sequence[Change] = (),
    on_progress: Callable[[int], None] | None = None,
) -> GenerateReport:
    """Write ``accounts`` accounts' data over ``months`` months into ``out`` (the contract's tables) and
    ``out/ground_truth`` (latent health and the oracle), plus ``out/manifest.json``. ``changes`` are injected into
    the tables and written into ``ground_truth/changes.parquet`` and the manifest (``pipelines.generate.changes``);
    without them, neither is written. With ``params.plays``, the plays' tables ``play_assignments`` and
    ``play_actions`` and their ground truth ``play_effects`` and ``plays`` are written too
    (``pipelines.generate.plays``).

    The output depends only on the arguments, not on ``workers``.
    """
    if accounts < 1:
        raise ValueError(f"accounts must be at least 1, got {accounts}")
    build_calendar(start, months)  # validates start and months before any work
    oracle, params = oracle or Oracle(), params or Params()
    if params.plays is not None and oracle.paths < 1:
        raise ValueError("plays need the oracle (their eligibility and true effects): set oracle paths >= 1")
    resolved = resolve_changes(changes, start, months, params)
    workers = workers or min(2, os.cpu_count() or 1)
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    sizes = [min(CHUNK_ACCOUNTS, accounts - i) for i in range(0, accounts, CHUNK_ACCOUNTS)]
    args = [(i, n, months, seed, start, params, oracle, resolved) for i, n in enumerate(sizes)]
    with TableSink(out, fmt) as sink, TableSink(out / "ground_truth", "parquet") as gt:
        for (_, n, *_), tables in zip(args, _ordered(args, workers), strict=True):
            for name, table in tables.items():
                (gt if name in TRUTH else sink).write(name, table)
            if on_progress:
                on_progress(n)
        if resolved:
            gt.write("changes", changes_table(resolved))
    rows = {**sink.rows, **{f"ground_truth/{k}": v for k, v in gt.rows.items()}}
    if params.plays is not None:
        rows["ground_truth/plays"] = plays.write_truth(out, params)
    manifest = {
        "seed": seed, "accounts": accounts, "months": months, "start": start.isoformat(), "format": fmt,
        "chunk_accounts": CHUNK_ACCOUNTS, "oracle": asdict(oracle), "params": asdict(params), "rows": rows,
    }  # fmt: skip
    if resolved:
        manifest["changes"] = [ch.record() for ch in resolved]
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return GenerateReport(out, rows, time.perf_counter() - t0)


def _ordered(args: list[tuple], workers: int) -> Iterator[dict[str, pa.Table]]:
    """Chunks in order, at most ``2 * workers`` in flight so that memory stays bounded."""
    if workers <= 1:
        for a in args:
            yield build_chunk(*a)
        return
    with ProcessPoolExecutor(workers) as pool:
        queue: deque[Future[dict[str, pa.Table]]] = deque()
        todo = iter(args)
        for a in todo:
            queue.append(pool.submit(build_chunk, *a))
            if len(queue) >= 2 * workers:
                break
        while queue:
            result = queue.popleft().result()
            nxt = next(todo, None)
            if nxt is not None:
                queue.append(pool.submit(build_chunk, *nxt))
            yield result
