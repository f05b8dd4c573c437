"""A limit on sign-in attempts, per user name and per client address, that every server process shares.

Each attempt takes a place in a sliding window (the last ``window`` seconds) for its user name and for its client;
a successful sign-in gives its places back, so what the window holds is failures (and attempts still being checked).
An attempt that would pass either limit is refused before the password is verified, and is not counted, so a client
that keeps trying is let in again once its oldest failure leaves the window.

Written here rather than taken from ``limits``: its storages are process memory (with ``--workers 2`` each process
would count alone, twice the attempts, and a 429 would depend on which process answered), Redis, Memcached,
MongoDB and etcd, all servers this app does not otherwise need. A SQLite table in WAL mode beside the revoked
sessions (``serving.sessions.Revoked``) is shared by the processes on the machine; taking a place and counting are
one ``BEGIN IMMEDIATE`` transaction, so concurrent attempts cannot all slip under the limit.
"""

import math
import time
from dataclasses import dataclass
from pathlib import Path

from serving.shared_file import SharedFile


@dataclass(frozen=True)
class Refused:
    """Too many failed sign-ins ``by`` ("for this user name", "from this address"): try again in ``retry_after``
    seconds."""

    by: str
    retry_after: int


class Throttle(SharedFile):
    """Failed sign-ins per user name (at most ``per_user`` in ``window`` seconds) and per client address (at most
    ``per_client``), in a SQLite file shared by the server's processes (``serving.shared_file``)."""

    def __init__(self, path: Path, per_user: int, per_client: int, window: float) -> None:
        super().__init__(path, "CREATE TABLE IF NOT EXISTS attempts (key TEXT NOT NULL, at REAL NOT NULL)",
                         "CREATE INDEX IF NOT EXISTS attempts_key ON attempts (key, at)")  # fmt: skip
        self.per_user, self.per_client, self.window = per_user, per_client, window

    def take(self, user: str, client: str) -> list[int] | Refused:
        """Take a place for an attempt by ``client`` as ``user``: the places' row ids (give them back with
        ``give_back`` when the sign-in succeeds), or ``Refused`` when either limit is reached."""
        now = time.time()
        since = now - self.window
        con = self.con()
        con.execute("BEGIN IMMEDIATE")
        try:
            con.execute("DELETE FROM attempts WHERE at <= ?", (since,))
            for by, key, limit in (("for this user name", f"u:{user}", self.per_user),
                                   ("from this address", f"c:{client}", self.per_client)):  # fmt: skip
                # The limit-th newest place: when it has left the window, fewer than ``limit`` are held.
                held = con.execute("SELECT at FROM attempts WHERE key = ? AND at > ? ORDER BY at DESC LIMIT 1 "
                                   "OFFSET ?", (key, since, limit - 1)).fetchone()  # fmt: skip
                if held is not None:
                    con.execute("COMMIT")
                    return Refused(by, max(1, math.ceil(held[0] + self.window - now)))
            ids = [con.execute("INSERT INTO attempts VALUES (?, ?)", (key, now)).lastrowid or 0
                   for key in (f"u:{user}", f"c:{client}")]  # fmt: skip
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return ids

    def give_back(self, ids: list[int]) -> None:
        """Free the places of a successful sign-in: only failures count against the limits."""
        self.con().executemany("DELETE FROM attempts WHERE rowid = ?", [(i,) for i in ids])
