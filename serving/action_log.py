"""The actions taken on accounts (a play started, done or abandoned), kept as an audit trail: append-only, never
updated or deleted, every row saying who recorded it and when. Stored beside the published scores (layout:
``models.published``): ``actions.jsonl`` in the scores folder, or the table ``churn_actions`` in PostgreSQL.

Writers never block the batch jobs or each other for long: the file is appended under an exclusive ``fcntl`` lock
held only for one write (then flushed and fsynced), and PostgreSQL takes a plain INSERT. A line torn by a crash
mid-write (no newline at its end, or not JSON) is skipped when read; the next append starts on a fresh line.
No FastAPI here: ``serving.actions`` is the HTTP edge.
"""

import fcntl
import json
import os
import uuid
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import adbc_driver_postgresql.dbapi as adbc

from models import published

Action = dict[str, Any]  # models.published.ACTION_FIELDS; at and recorded_at as ISO 8601 UTC text


class ActionLog(Protocol):
    def append(self, action: Mapping[str, Any]) -> None:
        """Record ``action`` (every field of ``ACTION_FIELDS``)."""
        ...

    def of(self, account_id: str) -> list[Action]:
        """The account's actions, newest first (by ``at``, then by when they were recorded)."""
        ...


def newest_first(actions: list[Action]) -> list[Action]:
    def key(a: Action) -> tuple[datetime, datetime, str]:
        return datetime.fromisoformat(a["at"]), datetime.fromisoformat(a["recorded_at"]), str(a["id"])

    return sorted(actions, key=key, reverse=True)


class FolderActions:
    """``actions.jsonl`` in the scores folder."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / published.ACTIONS

    def append(self, action: Mapping[str, Any]) -> None:
        line = json.dumps({k: action[k] for k in published.ACTION_FIELDS}, ensure_ascii=False).encode() + b"\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                # A line torn by a writer that died leaves no newline at the end: start this one on a line of its own.
                if f.seek(0, os.SEEK_END) > 0:
                    with self.path.open("rb") as r:
                        r.seek(-1, os.SEEK_END)
                        if r.read(1) != b"\n":
                            line = b"\n" + line
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def all(self) -> list[Action]:
        """Every whole action in the file, in the order written."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        out = []
        for raw in data.split(b"\n"):
            try:
                row = json.loads(raw)
            except ValueError:  # a torn line (or an empty one): not an action
                continue
            if isinstance(row, dict) and all(k in row for k in published.ACTION_FIELDS):
                out.append(row)
        return out

    def of(self, account_id: str) -> list[Action]:
        return newest_first([a for a in self.all() if a["account_id"] == account_id])


class PostgresActions:
    """The table ``churn_actions`` (created if absent)."""

    def __init__(self, url: str) -> None:
        self.url = published.libpq_url(url)
        self.ready = False

    def _ensure(self, cur: Any) -> None:
        if not self.ready:
            # Two processes creating the table at once would race: the lock (until commit) makes the second wait.
            cur.execute(f"SELECT pg_advisory_xact_lock(hashtext('{published.ACTIONS_TABLE}'))")
            cur.execute(published.ACTIONS_DDL)
            self.ready = True

    def append(self, action: Mapping[str, Any]) -> None:
        cols = ", ".join(f'"{c}"' for c in published.ACTION_FIELDS)
        marks = ", ".join(f"${i}" for i in range(1, len(published.ACTION_FIELDS) + 1))
        values = [datetime.fromisoformat(action[c]) if c in ("at", "recorded_at") else action[c]
                  for c in published.ACTION_FIELDS]  # fmt: skip
        with adbc.connect(self.url) as c:
            with c.cursor() as cur:
                self._ensure(cur)
                cur.execute(f"INSERT INTO {published.ACTIONS_TABLE} ({cols}) VALUES ({marks})", values)
            c.commit()

    def all(self, account_id: str | None = None) -> list[Action]:
        cols = ", ".join(f'"{c}"' for c in published.ACTION_FIELDS)
        sql = f"SELECT {cols} FROM {published.ACTIONS_TABLE}"
        with adbc.connect(self.url) as c:
            with c.cursor() as cur:
                self._ensure(cur)
                if account_id is None:
                    cur.execute(sql)
                else:
                    cur.execute(f"{sql} WHERE account_id = $1", (account_id,))
                rows = cur.fetchall()
            c.commit()
        fields = published.ACTION_FIELDS
        return [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in zip(fields, r, strict=True)}
                for r in rows]  # fmt: skip

    def of(self, account_id: str) -> list[Action]:
        return newest_first(self.all(account_id))


def open_actions(spec: str) -> FolderActions | PostgresActions:
    """The action log beside the published scores ``spec`` (a folder or a postgresql:// URL)."""
    return PostgresActions(spec) if published.is_postgres(spec) else FolderActions(Path(spec))


class ActionRefused(ValueError):
    """An action that cannot be recorded: ``field`` and what it must be (``problem``)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


SKEW = timedelta(seconds=60)  # clocks of the callers may run this much ahead of the server's


def new_action(
    *, account_id: str, play: str, status: str, note: str | None, by: str | None, at: datetime | None,
    recorded_by: str, source: str, plays: Collection[str], now: datetime | None = None,
) -> Action:  # fmt: skip
    """The action to record: ``by`` defaults to who records it, ``at`` to now (naive: UTC; not in the future).
    ``ActionRefused`` names the field when the play is not one of ``plays`` or a value is out of bounds."""
    now = now or datetime.now(UTC)
    if play not in plays:
        raise ActionRefused("play", f"must be one of the playbook's plays: {', '.join(sorted(plays))}")
    if status not in published.ACTION_STATUSES:
        raise ActionRefused("status", f"must be one of {', '.join(published.ACTION_STATUSES)}")
    at = now if at is None else at if at.tzinfo else at.replace(tzinfo=UTC)
    if at > now + SKEW:
        raise ActionRefused("at", f"must not be in the future (the server's time is {now.isoformat()})")
    return {"id": uuid.uuid4().hex, "account_id": account_id, "play": play, "status": status, "note": note or None,
            "by": by or recorded_by, "at": at.astimezone(UTC).isoformat(), "recorded_at": now.isoformat(),
            "recorded_by": recorded_by, "source": source}  # fmt: skip
