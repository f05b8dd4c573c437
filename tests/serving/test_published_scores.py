"""Scores published as versions in a folder: ``churn score`` (a real subprocess, five runs) never fails while a
server reloads over and over, the server never fails to reload while a run writes, and it ends on the last
published version by itself; a half-written version (a temporary file, a complete file the pointer does not name)
is never served, and a broken one is refused while the previous version keeps serving."""

import contextlib
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from models.published import POINTER, SUFFIX
from pipelines.publish import Published, publish, version_rows, version_table
from serving.app import create_app
from tests.serving.conftest import ADMIN, READ, Served, body, read_table, settings_for
from tests.serving.processes import cli

RUNS = 3  # churn score runs (~30 s each under load): enough for an explicit reload, the watch alone and pruning
KEEP = 2


def wait_for(done: Callable[[], bool], what: str) -> None:
    stop = threading.Event()
    for _ in range(3000):  # a bound against hanging, not a timing assertion
        if done():
            return
        stop.wait(0.02)
    raise AssertionError(f"never happened: {what}")


@contextlib.contextmanager
def versions_seen(c: TestClient) -> Iterator[set[str | None]]:
    """Every scores version ``c`` answered with, asked again and again on a thread until the block ends."""
    seen: set[str | None] = set()
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            seen.add(served_version(c))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield seen
    finally:
        stop.set()
        sampler.join(timeout=60)


def served_version(c: TestClient) -> str | None:
    return body(c.get("/v1/models", headers=READ))["scores_version"]  # type: ignore[no-any-return]


def warehouse_table(path: Path) -> pa.Table:
    """The version ``churn score`` would publish from the warehouse at ``path``."""
    with duckdb.connect(str(path), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        return version_table(version_rows(con, "scores.accounts"))


def churn_score(warehouse: Path, store: Path, cwd: Path, tracking_uri: str) -> subprocess.CompletedProcess[str]:
    return cli(["score", "--warehouse", str(warehouse), "--to", str(store)], cwd, CHURN_TRACKING_URI=tracking_uri,
               CHURN_SCORES_KEEP=str(KEEP))  # fmt: skip


class Hammer:
    """Threads that read scores by id, and optionally reload, until stopped; every answer kept."""

    def __init__(self, c: TestClient, accounts: list[str], reload: bool) -> None:
        self.c, self.accounts, self.answers = c, accounts, []  # type: ignore[var-annotated]
        self.stop = threading.Event()
        self.reloads: list[int] = []
        self.threads = [threading.Thread(target=self.read, daemon=True)]
        if reload:
            self.threads.append(threading.Thread(target=self.reload, daemon=True))
        for t in self.threads:
            t.start()

    def read(self) -> None:
        n = 0
        while not self.stop.is_set():
            r = self.c.get(f"/v1/accounts/{self.accounts[n % len(self.accounts)]}/score", headers=READ)
            self.answers.append((r.status_code, r.json()))
            n += 1

    def reload(self) -> None:
        while not self.stop.is_set():
            self.reloads.append(self.c.post("/v1/admin/reload", headers=ADMIN).status_code)

    def end(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in self.threads)


@pytest.mark.slow
def test_churn_score_and_the_server_never_block_each_other(served: Served, tmp_path: Path) -> None:
    warehouse, store = tmp_path / "warehouse.duckdb", tmp_path / "scores"
    shutil.copyfile(served.warehouse, warehouse)
    first = publish(warehouse_table(warehouse), str(store), KEEP)
    accounts = [a.as_py() for a in warehouse_table(warehouse).column("account_id")[:20]]
    with TestClient(create_app(settings_for(served, scores=str(store), reload_interval=0.05))) as c:
        assert served_version(c) == first.version
        hammer = Hammer(c, accounts, reload=True)
        try:
            runs = [churn_score(warehouse, store, tmp_path, served.tracking_uri) for _ in range(RUNS - 1)]
            wait_for(lambda: len(hammer.reloads) > 0, "an explicit reload")
        finally:
            hammer.end()
        # The last run with no explicit reload at all: the watch alone must pick it up.
        reads = Hammer(c, accounts, reload=False)
        try:
            runs.append(churn_score(warehouse, store, tmp_path, served.tracking_uri))
            published = [re.search(r"Published version (v\S+)", r.stdout) for r in runs]
            assert [r.returncode for r in runs] == [0] * RUNS, [r.stderr[-2000:] for r in runs]
            assert all(published), [r.stdout for r in runs]
            last = published[-1].group(1)  # type: ignore[union-attr]
            wait_for(lambda: served_version(c) == last, f"the server serving {last}")
        finally:
            reads.end()
        assert set(hammer.reloads) == {200}
        assert {s for s, _ in hammer.answers + reads.answers} == {200}
        # What is served is the last run's scores, read from the warehouse it wrote.
        scored = read_table(warehouse, "SELECT account_id, scored_at, p_churn FROM scores.accounts "
                                       "WHERE as_of = (SELECT max(as_of) FROM scores.accounts)")  # fmt: skip
        assert scored["scored_at"].nunique() == 1
        one = body(c.get(f"/v1/accounts/{accounts[0]}/score", headers=READ))
        assert pd.Timestamp(one["scored_at"]) == scored["scored_at"].iloc[0]
        assert one["p_churn"] == scored.set_index("account_id").loc[accounts[0], "p_churn"]
        assert body(c.get("/readyz", headers=ADMIN))["last_reload_error"] is None
    # Old versions pruned: the newest KEEP stay, the pointer names the last.
    assert sorted(p.name for p in store.glob(f"v*{SUFFIX}"))[-1] == f"{last}{SUFFIX}"
    assert len(list(store.glob(f"v*{SUFFIX}"))) == KEEP
    assert (store / POINTER).read_text().strip() == last


def republished(table: pa.Table, store: Path) -> Published:
    """``table`` published again as a new version (so that a version can be told apart from the last)."""
    return publish(table, str(store), KEEP)


def test_a_half_written_version_is_never_served(served: Served, tmp_path: Path) -> None:
    store = tmp_path / "scores"
    table = warehouse_table(served.warehouse)
    first = publish(table, str(store), KEEP)
    with TestClient(create_app(settings_for(served, scores=str(store), reload_interval=0.02))) as c:
        with versions_seen(c) as seen:
            # A run that died mid-write leaves a temporary file; one that died before moving the pointer leaves a
            # whole version file the pointer does not name.
            (store / ".v20990101T000000000000Z-deadbeef.parquet.tmp").write_bytes(b"PAR1 half written")
            pq.write_table(table, store / f"v20990101T000000000000Z-0badc0de{SUFFIX}")
            second = republished(table, store)  # written after the plants: the watch has looked past them
            wait_for(lambda: served_version(c) == second.version, "the properly published version served")
        assert seen == {first.version, second.version}


def test_a_broken_version_is_refused_and_the_previous_one_keeps_serving(served: Served, tmp_path: Path) -> None:
    store = tmp_path / "scores"
    table = warehouse_table(served.warehouse)
    first = publish(table, str(store), KEEP)
    account = table.column("account_id")[0].as_py()
    with TestClient(create_app(settings_for(served, scores=str(store), reload_interval=0.02))) as c:
        expected = c.get(f"/v1/accounts/{account}/score", headers=READ).content
        # A pointer to a file cut short (written in place, not by `churn score`): refused, the old one serves on.
        broken = "v20990101T000000000000Z-0badc0de"
        whole = (store / f"{first.version}{SUFFIX}").read_bytes()
        (store / f"{broken}{SUFFIX}").write_bytes(whole[: len(whole) // 2])
        (store / POINTER).write_text(broken + "\n")
        wait_for(
            lambda: body(c.get("/readyz", headers=ADMIN))["last_reload_error"] is not None, "the broken version refused"
        )
        ready = body(c.get("/readyz", headers=ADMIN))
        assert "scores" in ready["last_reload_error"]
        assert served_version(c) == first.version
        assert c.get(f"/v1/accounts/{account}/score", headers=READ).content == expected
        assert c.post("/v1/admin/reload", headers=ADMIN).status_code == 503  # said, not hidden
        # The next proper run takes over and clears the error.
        second = republished(table, store)
        wait_for(lambda: served_version(c) == second.version, "the next version served")
        assert body(c.get("/readyz", headers=ADMIN))["last_reload_error"] is None
        assert c.get(f"/v1/accounts/{account}/score", headers=READ).content == expected  # same rows, same JSON


def test_the_server_answers_the_published_bytes(served: Served, tmp_path: Path) -> None:
    """By id, the bytes the batch job wrote; the history, the JSON it wrote (``test_routes`` checks both against
    the warehouse's rows)."""
    store = tmp_path / "scores"
    table = warehouse_table(served.warehouse)
    publish(table, str(store), KEEP)
    rows: list[dict[str, Any]] = table.to_pylist()
    with TestClient(create_app(settings_for(served, scores=str(store)))) as c:
        for row in rows[:25]:
            assert c.get(f"/v1/accounts/{row['account_id']}/score", headers=READ).content == row["payload"].encode()
            detail = body(c.get(f"/v1/accounts/{row['account_id']}", headers=READ))
            assert detail["history"] == json.loads(row["history"])
