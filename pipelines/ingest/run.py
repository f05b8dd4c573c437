"""The ingest run: check the whole source against the contract first, then load every table in one transaction."""

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from features.catalog import Coverage, available, needed_columns
from features.contract import TABLES, TableSpec
from pipelines.ingest.load import WarehouseLoad, warehouse_load
from pipelines.ingest.mapping import Mapping, load_mapping
from pipelines.ingest.parse import parse_chunk
from pipelines.ingest.report import IngestError, IngestReport, TableCounts
from pipelines.ingest.sources import Located, Source, open_source
from pipelines.ingest.validate import check_chunk

logger = logging.getLogger(__name__)

# Rows per chunk of an event table: bounds memory (a few hundred MB at most) while keeping per-chunk costs small.
CHUNK_ROWS = 500_000

ProgressCallback = Callable[[str, int], None]


@dataclass(frozen=True)
class _Plan:
    """A table as found in the source: ``columns`` maps contract column -> source column (present ones only)."""

    spec: TableSpec
    located: Located | None
    columns: dict[str, str]
    ignored: list[str]


@dataclass(frozen=True)
class _Loaded:
    counts: TableCounts
    reasons: dict[str, int]
    accepted_ids: pd.Index


def _plan(source: Source, spec: TableSpec, mapping: Mapping) -> _Plan:
    if mapping.table(spec.name).absent:
        return _Plan(spec, None, {}, [])
    located = source.locate(spec.name)
    if located is None:
        if spec.optional_table:
            return _Plan(spec, None, {}, [])
        raise IngestError(
            f"required table {spec.name} is missing from {source.description}: expected "
            f"{source.expected(spec.name)}; export it, or name where it is in a mapping file "
            f"([tables.{spec.name}] file = ... or table = ...)"
        )
    tm = mapping.table(spec.name)
    found = set(located.columns)
    columns = {c: tm.source_column(c) for c in spec.columns if tm.source_column(c) in found}
    # A column the mapping names explicitly must exist, even an optional one: the mapping promised it.
    missing = [c for c in spec.columns if c not in columns and (c in spec.required or c in tm.columns)]
    if missing:
        named = ", ".join(c if c not in tm.columns else f"{c} (mapped to {tm.columns[c]!r})" for c in missing)
        raise IngestError(
            f"table {spec.name} in {located.where} has no column {named}; columns found: "
            f"{', '.join(located.columns) or 'none'}. Rename the column in the source, or map it in a mapping "
            f'file: [tables.{spec.name}.columns] {missing[0]} = "<your column name>"'
        )
    used = set(columns.values())
    return _Plan(spec, located, columns, [c for c in located.columns if c not in used])


def _load_table(
    source: Source,
    load: WarehouseLoad,
    plan: _Plan,
    mapping: Mapping,
    known_accounts: pd.Index | None,
    chunk_rows: int,
    on_progress: ProgressCallback | None,
) -> _Loaded:
    spec = plan.spec
    load.replace_table(spec)
    if plan.located is None:
        return _Loaded(TableCounts(0, 0, 0), {}, pd.Index([], dtype="string"))
    values = mapping.table(spec.name).values
    aware_seen: dict[str, bool] = {}
    done = accepted = 0
    codes: Counter[str] = Counter()
    ids: list[pd.Series] = []
    source_columns = list(dict.fromkeys(plan.columns.values()))
    # Keyed tables come in one piece: duplicate and conflicting keys can only be seen across the whole table.
    chunks = source.read(plan.located, source_columns, chunk_rows if spec.event_table else None)
    for chunk in chunks:
        rows = pd.RangeIndex(done + 1, done + 1 + len(chunk))  # source_row: 1 is the first data row
        raw = pd.DataFrame({c: chunk[s].array for c, s in plan.columns.items()}, index=rows)
        parsed, parse_reasons = parse_chunk(spec, raw, values, aware_seen)
        result = check_chunk(spec, raw, parsed, parse_reasons, known_accounts)
        load.append(spec, result.accepted)
        load.quarantine(spec.name, result.rejected, result.reasons)
        per_code = result.reasons.drop_duplicates(["row", "code"])["code"].value_counts()
        codes.update({str(code): int(n) for code, n in per_code.items()})
        if spec.name == "accounts":
            ids.append(result.accepted["account_id"])
        done += len(chunk)
        accepted += len(result.accepted)
        if on_progress is not None:
            on_progress(spec.name, done)
    counts = TableCounts(input_rows=done, accepted=accepted, quarantined=done - accepted)
    logger.info("%s: %d rows, %d accepted, %d quarantined", spec.name, done, accepted, counts.quarantined)
    accepted_ids = pd.Index(pd.concat(ids)) if ids else pd.Index([], dtype="string")
    return _Loaded(counts, {str(k): int(v) for k, v in codes.most_common()}, accepted_ids)


def ingest(
    source: str | Path,
    warehouse: Path,
    *,
    mapping: Path | None = None,
    on_progress: ProgressCallback | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> IngestReport:
    """Validate ``source`` against the data contract and load it into the DuckDB file ``warehouse``.

    ``source`` is a folder of ``<table>.parquet`` / ``<table>.csv`` files or a database URL; ``mapping`` a TOML
    mapping file (see ``examples/mapping.toml``). Rows that fail a check go to ``raw.quarantine`` with their
    reasons; the run fails as a whole (``IngestError``, warehouse untouched) only when the source cannot be read
    or lacks a required table or column. ``on_progress(table, rows_done)`` is called after every chunk.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    started = time.perf_counter()
    parsed_mapping = load_mapping(mapping)
    src = open_source(source, parsed_mapping)
    try:
        plans = [_plan(src, spec, parsed_mapping) for spec in TABLES.values()]
        plans_by = {p.spec.name: p for p in plans}
        loaded: dict[str, _Loaded] = {}
        with warehouse_load(Path(warehouse)) as load:
            known: pd.Index | None = None
            for plan in plans:
                loaded[plan.spec.name] = _load_table(src, load, plan, parsed_mapping, known, chunk_rows, on_progress)
                if plan.spec.name == "accounts":
                    known = loaded["accounts"].accepted_ids
            load.record_run(datetime.now(UTC), src.description, {t: r.counts for t, r in loaded.items()})
    finally:
        src.close()
    empty = frozenset(t for t, r in loaded.items() if r.counts.accepted == 0)
    unmapped = frozenset(
        need for need in needed_columns() if need.split(".")[1] not in plans_by[need.split(".")[0]].columns
    )
    return IngestReport(
        source=src.description,
        warehouse=str(warehouse),
        tables={t: r.counts for t, r in loaded.items()},
        reasons={t: r.reasons for t, r in loaded.items()},
        ignored_columns={p.spec.name: p.ignored for p in plans if p.ignored},
        absent_optional_tables=[p.spec.name for p in plans if p.located is None],
        declared_absent=[p.spec.name for p in plans if parsed_mapping.table(p.spec.name).absent],
        families_off=available(Coverage(empty, unmapped)).families_off(),
        seconds=time.perf_counter() - started,
    )
