"""``churn retrain``: the one command a scheduler runs. Ingest the source again (a full reload: running it twice on the
same export changes nothing), build only the snapshot dates that are new or whose inputs changed
(``pipelines.snapshots.fingerprint``), label again the dates whose labels may have changed (labels mature as data
arrives), rebuild the training sets, train a challenger per target and let the champion rules decide
(``pipelines.training.champion``), then score and publish, which a running server picks up by itself (and the new
models, when the alias moved).

Two runs never overlap: a run holds an exclusive lock on a file beside the warehouse for its whole length, and a
second run is refused at once, naming the first (a scheduler's next tick tries again), rather than queueing.

The feature definitions and the labels' time rules are the stored ones (``features.config``,
``features.label_config``), so that new data does not change the columns or the label rules under the stored
dates; ``full=True`` builds every date again with definitions resolved from the data (new event types counted).
"""

import fcntl
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from models.config import TrainConfig
from models.registered import ModelNotFound
from pipelines.ingest import IngestReport, ingest
from pipelines.score import ScoreReport, champion_scorer, latest_dates, score
from pipelines.snapshots import default_dates, refresh
from pipelines.snapshots.dates import data_bounds
from pipelines.snapshots.fingerprint import (
    as_label_inputs,
    changed_dates,
    fingerprints,
    label_inputs,
    store_fingerprints,
    store_label_inputs,
    stored_fingerprints,
    stored_label_inputs,
)
from pipelines.snapshots.labels import resolve_labels, store_labels, stored_label_config, update_service_ends
from pipelines.snapshots.summary import table_rows
from pipelines.training.datasets import TARGETS, build_dataset, feature_config, split_config
from pipelines.training.train import TrainReport, train
from pipelines.warehouse import connect, has_table


class Busy(RuntimeError):
    """Another ``churn retrain`` holds the warehouse's lock."""


@dataclass(frozen=True)
class RetrainReport:
    ingest: IngestReport
    rows_added: dict[str, int]  # raw table -> rows now minus rows before (negative: the export dropped rows)
    new_dates: list[datetime]  # snapshot dates built for the first time
    changed_dates: list[datetime]  # stored dates built again: their inputs changed
    kept_dates: int  # stored dates left as they were
    labels_matured: int  # labels unknown before this run and known now (churn and upsell)
    trained: dict[str, TrainReport]
    scored: ScoreReport | None  # None: no champion yet (no first version passed the rules), nothing scored
    seconds: dict[str, float] = field(default_factory=dict)  # stage -> seconds


def lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".retrain.lock")


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold ``path`` locked (flock, released by the system if the process dies) until the block ends; ``Busy`` at
    once when another process holds it. The file keeps the holder's pid and start time, for the message."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            f.seek(0)
            holder = f.read().strip() or "a process"
            raise Busy(f"another churn retrain is running on this warehouse ({holder}, lock {path}); this run did "
                       "nothing: let the scheduler try again later") from e  # fmt: skip
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} since {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC\n")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _stored_dates(con: duckdb.DuckDBPyConnection) -> list[datetime]:
    if not has_table(con, "features", "snapshots"):
        return []
    return [d for (d,) in con.execute("SELECT DISTINCT as_of FROM features.snapshots ORDER BY 1").fetchall()]


def _known_labels(con: duckdb.DuckDBPyConnection) -> int:
    if not has_table(con, "features", "labels"):
        return 0
    ((n,),) = con.execute("SELECT count(churn) + count(upsell) FROM features.labels").fetchall()
    return int(n)


def label_ends(con: duckdb.DuckDBPyConnection) -> list[datetime]:
    """The data ends whose label inputs ``relabel`` compares: the data's end now, and the one of the last labeling
    when it is no later (a data end that moved back relabels every date, whatever the inputs)."""
    return _ends(data_bounds(con)[1], _labeled_end(stored_label_inputs(con)))


def _ends(end: datetime, then: datetime | None) -> list[datetime]:
    return [end] if then is None or then > end else sorted({end, then})


def _labeled_end(before: pd.DataFrame | None) -> datetime | None:
    return pd.Timestamp(before["data_end"].iloc[0]).to_pydatetime() if before is not None and len(before) else None


def relabel(
    con: duckdb.DuckDBPyConnection, skip: Sequence[datetime] = (), inputs: pd.DataFrame | None = None
) -> list[datetime]:
    """Label again, with the stored time rules, the stored snapshot dates whose labels may have changed since the
    last labeling, and return them: those with a label unknown then (its horizon reached past the data's end), or
    every date when what the labels read changed before that end (a subscription corrected) or the data's end moved
    back (``fingerprint.label_inputs``). ``skip``: dates just built, whose labels are new. The label inputs are
    recorded for the next run; ``inputs``: those at ``label_ends``, when the caller fingerprinted them with the
    snapshot dates (one statement instead of two). Relabeling every date cost 0.28 s of the demo's 1.6 s
    incremental build."""
    cfg = stored_label_config(con)
    dates = _stored_dates(con)
    if cfg is None or not dates:
        return []
    end = data_bounds(con)[1]
    before = stored_label_inputs(con)
    then = _labeled_end(before)
    inputs = label_inputs(con, _ends(end, then)) if inputs is None else inputs
    todo = dates
    if then is not None and then <= end:
        at = pd.to_datetime(inputs["data_end"], utc=True) == pd.Timestamp(then)
        if _same(inputs[at], before):  # type: ignore[arg-type]
            unknown = {d.timestamp() for (d,) in con.execute(
                "SELECT DISTINCT as_of FROM features.labels WHERE churn IS NULL OR upsell IS NULL"
            ).fetchall()}  # fmt: skip
            todo = [d for d in dates if d.timestamp() in unknown]
    built = {d.timestamp() for d in skip}
    todo = [d for d in todo if d.timestamp() not in built]
    update_service_ends(con, cfg, exclude=[*todo, *skip])
    if todo:
        store_labels(con, todo, cfg)
    store_label_inputs(con, inputs[pd.to_datetime(inputs["data_end"], utc=True) == pd.Timestamp(end)])
    return todo


def _same(now: pd.DataFrame, before: pd.DataFrame) -> bool:
    def keyed(f: pd.DataFrame) -> set[tuple[str, int, str]]:
        return {(str(t), int(n), str(d)) for t, n, d in f[["table_name", "rows", "digest"]].itertuples(index=False)}

    return keyed(now) == keyed(before)


@dataclass(frozen=True)
class Built:
    new: list[datetime]  # snapshot dates built for the first time
    changed: list[datetime]  # stored dates built again: their inputs changed
    kept: int  # stored dates left as they were
    relabeled: list[datetime]  # dates not built whose labels were computed again (``relabel``)
    seconds: dict[str, float]  # build (the new dates), checks (fingerprints and relabel), changed (their rebuild)


def build_changed(con: duckdb.DuckDBPyConnection, full: bool = False) -> Built:
    """Build the snapshot dates of the data that are new or whose inputs changed (every date when ``full`` or on a
    first build), relabel the other dates whose labels may have changed (``relabel``), and store the dates' input
    fingerprints.

    On a warehouse that was built before, the new dates are built at once, while a second connection computes the
    fingerprints, finds the stored dates whose inputs changed and relabels the others (``_checks``): other rows and
    tables than the build's, and a one-month build's statements are mostly too small for DuckDB to spread over the
    cores (the demo's one-month retrain: 1.10 s to 1.02 s, ``benchmarks/retrain.py``). The changed dates, usually
    none, are built after."""
    t0 = time.perf_counter()
    dates = default_dates(con)
    stored = _stored_dates(con)
    have = {d.timestamp() for d in stored}
    if full or not stored:
        current = fingerprints(con, dates)
        t1 = time.perf_counter()
        refresh(con, dates, lcfg=resolve_labels(con))
        t2 = time.perf_counter()
        relabeled = relabel(con, skip=dates)
        store_fingerprints(con, current)
        return Built([d for d in dates if d.timestamp() not in have], [d for d in dates if d.timestamp() in have], 0,
                     relabeled, {"checks": t1 - t0, "build": t2 - t1, "changed": 0.0})  # fmt: skip
    new = [d for d in dates if d.timestamp() not in have]
    lcfg, fcfg = stored_label_config(con) or resolve_labels(con), feature_config(con)
    # The pool is left first: it waits for the checks, which must end before their cursor closes.
    with con.cursor() as other, ThreadPoolExecutor(1) as pool:
        other.execute("SET TimeZone = 'UTC'")
        checking = pool.submit(_checks, other, dates, stored, new)
        if new:
            refresh(con, new, fcfg=fcfg, lcfg=lcfg)
        t1 = time.perf_counter()
        current, changed, relabeled, checked = checking.result()
    if changed:
        refresh(con, changed, fcfg=fcfg, lcfg=lcfg)
    store_fingerprints(con, current)
    return Built(new, changed, len(dates) - len(new) - len(changed), relabeled,
                 {"build": t1 - t0, "checks": checked, "changed": time.perf_counter() - t1})  # fmt: skip


def _checks(
    con: duckdb.DuckDBPyConnection, dates: Sequence[datetime], stored: Sequence[datetime], new: Sequence[datetime]
) -> tuple[pd.DataFrame, list[datetime], list[datetime], float]:
    """The fingerprints of ``dates``, the ``stored`` dates whose inputs changed, the dates relabeled (neither
    those nor ``new``: both are built whole), and the seconds it took."""
    t0 = time.perf_counter()
    ends = label_ends(con)
    both = fingerprints(con, sorted({*dates, *ends}))
    at = pd.to_datetime(both["as_of"], utc=True)
    current = both[at.isin(pd.to_datetime(pd.Series(list(dates), dtype=object), utc=True))].reset_index(drop=True)
    inputs = as_label_inputs(both[at.isin(pd.to_datetime(pd.Series(ends, dtype=object), utc=True))])
    have = {d.timestamp() for d in stored}
    changed = [d for d in changed_dates(current, stored_fingerprints(con), stored) if d.timestamp() in have]
    return current, changed, relabel(con, skip=[*new, *changed], inputs=inputs), time.perf_counter() - t0


def retrain(
    source: str | Path,
    warehouse: Path,
    *,
    tracking_uri: str,
    artifacts: Path,
    scores: str,
    keep: int,
    mapping: Path | None = None,
    full: bool = False,
    score_dates: int = 1,
    configs: Mapping[str, TrainConfig] | None = None,
) -> RetrainReport:
    """Run every stage (see the module's docstring) under the warehouse's lock; ``Busy`` if another run holds it.
    ``configs``: a target's training settings (default: ``TrainConfig.for_target``)."""
    seconds: dict[str, float] = {}

    def timed(stage: str, t0: float) -> None:
        seconds[stage] = time.perf_counter() - t0

    with exclusive(lock_path(warehouse)):
        t0 = time.perf_counter()
        before: dict[str, int] = {}
        if warehouse.exists():
            with connect(warehouse, read_only=True) as con:
                before = table_rows(con)
        ingested = ingest(source, warehouse, mapping=mapping)
        timed("ingest", t0)
        t0 = time.perf_counter()
        with connect(warehouse) as con:
            after = table_rows(con)
            known = _known_labels(con)
            built = build_changed(con, full)
            matured = _known_labels(con) - known
            timed("features", t0)
            t0 = time.perf_counter()
            for target in TARGETS:
                build_dataset(con, target, cfg=split_config(con, target))
            timed("datasets", t0)
        t0 = time.perf_counter()
        with connect(warehouse, read_only=True) as con:
            trained = {t: train(con, t, (configs or {}).get(t), tracking_uri=tracking_uri, artifacts=artifacts)
                       for t in TARGETS}  # fmt: skip
        timed("train", t0)
        t0 = time.perf_counter()
        try:
            scorer = champion_scorer(tracking_uri)
        except ModelNotFound:
            scorer = None  # the rules kept every first version out: nothing to score with
        scored = None
        if scorer is not None:
            with connect(warehouse) as con:
                scored = score(con, scorer, latest_dates(con, score_dates), scores, keep)
        timed("score", t0)
    added = {t: n - before.get(t, 0) for t, n in after.items()}
    return RetrainReport(ingested, added, built.new, built.changed, built.kept, matured, trained, scored, seconds)
