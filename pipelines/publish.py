"""Publishing scores for the server: each ``churn score`` run turns the scores table it wrote (the warehouse's
``scores.accounts``, or PostgreSQL's ``churn_scores``) into an immutable version, makes it the one to serve, and
prunes old versions. The layout (columns, file and table names) is ``models.published``'s; the server reads it
with ``serving.store`` and never opens the warehouse, so a batch run and a running server never block each other.

``notice_given`` (the customer had given notice to cancel at as_of) is the stored column where it is set. Scores
written before that column existed have none: for them it is read from the stored snapshot's
``cancellation_pending`` at the same (account_id, as_of) when ``features.snapshots`` holds it, and is otherwise
unknown (None); the rankings count unknown as not given (see ``models.ranking``).
"""

import json
import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import adbc_driver_postgresql.dbapi as adbc
import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.renewals import renewals_sql
from models.published import (
    DOCUMENTS,
    FRAME_SCHEMA,
    LATER,
    LATEST_SQL,
    PG_DDL,
    POINTER,
    ROWS_TABLE,
    SCHEMA,
    SUFFIX,
    VERSIONS_TABLE,
    document_ddl,
    is_postgres,
    is_version,
    libpq_url,
    shown,
    version_name,
)  # fmt: skip
from models.scoring import NOTICE
from pipelines.warehouse import arrow_table

KEEP = 5  # versions kept by default (CHURN_SCORES_KEEP)
STALE_SECONDS = 3600  # a temporary file this old was left by a run that died: removed when pruning
JSON_COLUMNS = ("components", "reasons", "upsell_reasons")
HISTORY = ("as_of", "health", "tier", "p_churn", "p_upsell")


@dataclass(frozen=True)
class Published:
    version: str
    rows: int  # accounts in the version
    store: str  # where, as it may be shown (a URL without its password)
    pruned: list[str]  # versions removed


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> set[str]:
    try:
        return {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}
    except duckdb.CatalogException:
        return set()


def version_rows(con: duckdb.DuckDBPyConnection, source: str) -> pd.DataFrame:
    """Every row of the scores table ``source`` (a table or view ``con`` can read, with ``pipelines.score``'s
    columns), notice_given as the module docstring says, ordered by account and as_of."""
    have = _columns(con, source)
    if not have:
        raise ValueError(f"there is no scores table {source} to publish: run `churn score` first")
    keep, stored = ("s.* EXCLUDE (notice_given)", "s.notice_given") if "notice_given" in have else ("s.*", "NULL")
    if NOTICE in _columns(con, "features.snapshots"):
        notice = f"coalesce({stored}, f.{NOTICE} > 0)"
        joined = f"{source} s LEFT JOIN features.snapshots f ON f.account_id = s.account_id AND f.as_of = s.as_of"
    else:
        notice, joined = stored, f"{source} s"
    sql = f"SELECT {keep}, CAST({notice} AS BOOLEAN) AS notice_given FROM {joined} ORDER BY s.account_id, s.as_of"
    # Through Arrow: duckdb's .df() warns under pandas 3.1 on time-zone-aware columns (see pipelines.score).
    rows = con.sql(sql).to_arrow_table().to_pandas()
    rows["notice_given"] = rows["notice_given"].astype("boolean")
    return rows if "next_renewal_at" in have else with_renewals(con, rows)


def with_renewals(con: duckdb.DuckDBPyConnection, rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (account_id, as_of, ...) with each account's next renewal and ARR up for renewal at its as_of
    (``features.renewals``), from the warehouse's subscriptions; NULL where there are none (a feature table's
    warehouse). ``churn score`` stores them with the scores; a scores table written before it did gets them here."""
    rows = rows.assign(next_renewal_at=pd.Series(pd.NaT, index=rows.index, dtype="datetime64[us, UTC]"),
                       renewal_arr=np.nan)  # fmt: skip
    if rows.empty or not _columns(con, "raw.subscriptions"):
        return rows
    empty = frozenset(
        t
        for t in ("churn_events", "invoices")
        if not _columns(con, f"raw.{t}") or not con.execute(f"SELECT 1 FROM raw.{t} LIMIT 1").fetchall()
    )
    dates = [d.to_pydatetime() for d in pd.to_datetime(rows["as_of"].unique(), utc=True)]
    con.execute("CREATE OR REPLACE TEMP TABLE snapshot_dates AS SELECT UNNEST(CAST(? AS TIMESTAMPTZ[])) AS as_of",
                [dates])  # fmt: skip
    got = con.sql(f"SELECT account_id, as_of, next_renewal_at, renewal_arr FROM ({renewals_sql(empty)})")
    found = got.to_arrow_table().to_pandas()
    con.execute("DROP TABLE snapshot_dates")
    joined = rows.drop(columns=["next_renewal_at", "renewal_arr"]).merge(found, on=["account_id", "as_of"],
                                                                         how="left")  # fmt: skip
    joined["next_renewal_at"] = pd.to_datetime(joined["next_renewal_at"], utc=True)
    return joined


def _record(row: dict[str, Any]) -> dict[str, Any]:
    """The API's answer for one score row (``serving.schemas.Score``)."""
    out: dict[str, Any] = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
    for k in JSON_COLUMNS:
        out[k] = json.loads(out[k]) if isinstance(out[k], str) else out[k]
    for k in ("as_of", "scored_at", "next_renewal_at", "expected_churn_at"):
        if out.get(k) is pd.NaT:
            out[k] = None
        elif isinstance(out.get(k), pd.Timestamp | datetime):
            out[k] = out[k].isoformat()
    given = out.get("notice_given")
    out["notice_given"] = None if given is None or given is pd.NA else bool(given)
    out["held_out"] = bool(out.get("held_out", False))
    out["model_versions"] = {"churn": out.pop("churn_version"), "upsell": out.pop("upsell_version")}
    return out


def version_table(rows: pd.DataFrame) -> pa.Table:
    """The version of ``rows`` (``version_rows``): one row per account scored at the latest as_of, with the JSON of
    its latest score and of its history (``models.published.SCHEMA``). Accounts not scored at the latest as_of
    have left; they are not served."""
    if rows.empty:
        return SCHEMA.empty_table()
    latest = rows[rows["as_of"] == rows["as_of"].max()].reset_index(drop=True)
    for name in LATER:  # a scores table written before the column was (PostgreSQL's, read as it is)
        if name not in latest:
            latest[name] = None
    active = set(latest["account_id"])
    history: dict[str, list[dict[str, Any]]] = {}
    points = rows.loc[rows["account_id"].isin(active), ["account_id", *HISTORY]]
    for acc, as_of, h, tier, p_churn, p_upsell in points.itertuples(index=False):
        history.setdefault(acc, []).append({"as_of": as_of.isoformat(), "health": float(h), "tier": tier,
                                            "p_churn": float(p_churn),
                                            "p_upsell": None if pd.isna(p_upsell) else float(p_upsell)})  # fmt: skip
    # Held out of its play (pipelines.score): the version shows no play, so nobody acts on it.
    held = latest["held_out"].astype("boolean").fillna(False).astype(bool) if "held_out" in latest else False
    latest = latest.assign(held_out=held)
    latest["play"] = latest["play"].where(~latest["held_out"], None)
    records = [_record(r) for r in latest.to_dict(orient="records")]
    frame = latest[[f.name for f in FRAME_SCHEMA if f.name != "top_reason"]].copy()
    frame["top_reason"] = [r["reasons"][0]["sentence"] if r["reasons"] else None for r in records]
    frame["payload"] = [json.dumps(r) for r in records]
    frame["history"] = [json.dumps(history[a]) for a in latest["account_id"]]
    return arrow_table(frame[SCHEMA.names]).cast(SCHEMA)


def publish_table(con: duckdb.DuckDBPyConnection, source: str, store: str, keep: int = KEEP) -> Published:
    """Publish the scores table ``source`` (read through ``con``: ``scores.accounts``, say) as a new version in
    ``store``; see ``publish``."""
    return publish(version_table(version_rows(con, source)), store, keep)


def publish(table: pa.Table, store: str, keep: int = KEEP) -> Published:
    """Publish ``table`` (``version_table``) as a new version in ``store`` (a folder, or a postgresql:// URL),
    make it the one served, and prune versions beyond the newest ``keep``."""
    if keep < 2:
        # A server may be loading the version just before the newest when a run publishes: it must stay.
        raise ValueError(f"keep must be at least 2 (the newest version and one a server may be loading), got {keep}")
    if table.schema != SCHEMA:
        raise ValueError("the table to publish does not have the published schema: build it with version_table")
    version = version_name(datetime.now(UTC), uuid.uuid4().hex)
    if is_postgres(store):
        pruned = _publish_postgres(table, libpq_url(store), version, keep)
    else:
        pruned = _publish_folder(table, Path(store), version, keep)
    return Published(version, table.num_rows, shown(store), pruned)


def _replace(tmp: Path, final: Path) -> None:
    """Move the written ``tmp`` to ``final`` in one step, durably: a reader sees the old file or the whole new one."""
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)
    fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish_folder(table: pa.Table, folder: Path, version: str, keep: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{version}{SUFFIX}.tmp"
    pq.write_table(table, tmp, compression="zstd")
    _replace(tmp, folder / f"{version}{SUFFIX}")
    point(folder, version)
    return prune_folder(folder, keep)


def point(folder: Path, version: str) -> None:
    """Make ``version`` (its file already whole in ``folder``) the one served: ``CURRENT`` replaced in one step."""
    if not (folder / f"{version}{SUFFIX}").is_file():
        raise ValueError(f"there is no version {version} in {folder} to serve")
    pointer = folder / f".{POINTER}.{version}.tmp"
    pointer.write_text(version + "\n")
    _replace(pointer, folder / POINTER)


def prune_folder(folder: Path, keep: int) -> list[str]:
    """Remove the versions older than the newest ``keep`` (never the current one), and temporary files left by
    runs that died; the names of the versions removed."""
    versions = sorted(p.name.removesuffix(SUFFIX) for p in folder.glob(f"v*{SUFFIX}"))
    pointer = folder / POINTER
    current = pointer.read_text().strip() if pointer.exists() else None
    gone = [v for v in versions[:-keep] if is_version(v) and v != current]
    for v in gone:
        (folder / f"{v}{SUFFIX}").unlink(missing_ok=True)
    for tmp in folder.glob(".*.tmp"):
        if time.time() - tmp.stat().st_mtime > STALE_SECONDS:
            tmp.unlink(missing_ok=True)
    return gone


def _publish_postgres(table: pa.Table, url: str, version: str, keep: int) -> list[str]:
    latest = pc.max(table.column("as_of")).as_py()
    rows = table.add_column(0, "version", pa.array([version] * table.num_rows, pa.string()))
    with adbc.connect(url) as c:  # not autocommit: each commit() below ends one transaction
        with c.cursor() as cur:
            # Two first runs at once would race to create the tables: the lock makes the second wait.
            cur.execute(f"SELECT pg_advisory_xact_lock(hashtext('{VERSIONS_TABLE}'))")
            for ddl in PG_DDL:
                cur.execute(ddl)
        c.commit()
        with c.cursor() as cur:
            # The version's row and its rows in one transaction: a reader sees all of the version or none of it.
            cur.execute(f'INSERT INTO {VERSIONS_TABLE} (version, published_at, as_of, "rows") VALUES ($1, $2, $3, $4)',
                        (version, datetime.now(UTC), latest, table.num_rows))  # fmt: skip
            cur.adbc_ingest(ROWS_TABLE, rows, mode="append")
        c.commit()
        with c.cursor() as cur:
            cur.execute(f"DELETE FROM {VERSIONS_TABLE} WHERE version IN ({LATEST_SQL} OFFSET {int(keep)}) "
                        "RETURNING version")  # fmt: skip
            gone = sorted(r[0] for r in cur.fetchall())
            # Rows whose version row is gone, or never came (a run that died between the two): both unseen by
            # readers, who pick versions from the versions table.
            cur.execute(f"DELETE FROM {ROWS_TABLE} r WHERE NOT EXISTS "
                        f"(SELECT 1 FROM {VERSIONS_TABLE} v WHERE v.version = r.version)")  # fmt: skip
        c.commit()
    return gone


def publish_document(kind: str, document: dict[str, Any], store: str, keep: int = KEEP) -> str:
    """Make ``document`` the one of its ``kind`` (``models.published.DOCUMENTS``: the monitoring of ``churn monitor``,
    the forecast of ``churn forecast``, the plays' effects of ``churn effects``) the server shows: its file in the
    folder ``store`` replaced in one step, or a new row of its PostgreSQL table (the newest ``keep`` kept). Where, as
    it may be shown."""
    name, table = DOCUMENTS[kind]
    body = json.dumps(document, default=str)
    if is_postgres(store):
        with adbc.connect(libpq_url(store)) as c:
            with c.cursor() as cur:
                cur.execute(document_ddl(table))
                cur.execute(f"INSERT INTO {table} VALUES ($1, $2)", (datetime.now(UTC), body))
                cur.execute(f"DELETE FROM {table} WHERE published_at NOT IN (SELECT published_at FROM "
                            f"{table} ORDER BY published_at DESC LIMIT {int(keep)})")  # fmt: skip
            c.commit()
        return shown(store)
    folder = Path(store)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.write_text(body)
    _replace(tmp, folder / name)
    return str(folder / name)


def publish_monitoring(document: dict[str, Any], store: str, keep: int = KEEP) -> str:
    """``publish_document`` of the monitoring (``pipelines.monitor.document``)."""
    return publish_document("monitoring", document, store, keep)


def postgres_scores(url: str, table: str = "churn_scores") -> pa.Table:
    """The PostgreSQL scores table ``pipelines.score.write_postgres`` writes, read whole as Arrow."""
    with adbc.connect(libpq_url(url)) as c, c.cursor() as cur:
        cur.execute(f'SELECT * FROM "{table}"')
        return cur.fetch_arrow_table()
