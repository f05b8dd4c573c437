"""A SQLite file that every server process opens (``churn serve --workers N``): the revoked sessions
(``serving.sessions``) and the sign-in attempts (``serving.throttle``) live in one under ``CHURN_STATE_DIR``.

WAL mode, so a reader never waits for a writer; one connection per thread (sqlite3 connections are not shared
across threads), in autocommit mode, so a caller opens a transaction only where it needs one (``BEGIN IMMEDIATE``).
"""

import sqlite3
import threading
from pathlib import Path


class SharedFile:
    """The file at ``path`` with the tables ``ddl`` creates (if absent)."""

    def __init__(self, path: Path, *ddl: str) -> None:
        self.path = path
        self.local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        con = self.con()
        for statement in ddl:
            con.execute(statement)

    def con(self) -> sqlite3.Connection:
        """This thread's connection."""
        con: sqlite3.Connection | None = getattr(self.local, "con", None)
        if con is None:
            con = self.local.con = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
        return con
