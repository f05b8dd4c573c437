"""Sign-in sessions that end when they should: the CSRF token of the pages' forms, and sessions revoked by logout
and by a password change.

The session itself is Starlette's signed cookie (``SessionMiddleware``): nothing on the server, so a cookie copied
before logout would still sign in until it expires. Each sign-in therefore gets a random session id, and logout
writes it to a small SQLite table (``Revoked``) that every server process on the machine reads, so a replayed
cookie is refused by all of them; rows go once the cookie itself would have expired. A password change needs no
table: the session keeps a fingerprint of the password hash it was made with, and a different hash ends it.

The CSRF token is the synchronizer-token pattern (OWASP): a random token in the session, a hidden field in each form,
compared in constant time on every form post, and a post whose Origin header names another site is refused as well.
Written here rather than taken from a library: the maintained ones (starlette-csrf, fastapi-csrf-protect) check a
header or need a script on the page, and these pages post plain HTML forms without any script.
"""

import hashlib
import hmac
import secrets
import time
from pathlib import Path

from fastapi import HTTPException, Request

from serving.shared_file import SharedFile

CSRF, SID, PRINT = "csrf", "sid", "pw"
FORGED = "this form came from another page or site, or is out of date: reload the page and send it again"


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use."""
    token = request.session.get(CSRF)
    if not isinstance(token, str) or not token:
        token = request.session[CSRF] = secrets.token_urlsafe(32)
    return token


def check_form(request: Request, token: str) -> None:
    """403 unless the posted ``token`` is the session's and the post comes from this origin (when it says)."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and origin.rstrip("/") != f"{request.url.scheme}://{request.url.netloc}":
        raise HTTPException(403, FORGED)
    expected = request.session.get(CSRF)
    if not isinstance(expected, str) or not token or not hmac.compare_digest(expected.encode(), token.encode()):
        raise HTTPException(403, FORGED)


def fingerprint(stored_hash: str) -> str:
    """A short digest of a user's stored password hash: a session made with another hash is over."""
    return hashlib.sha256(stored_hash.encode()).hexdigest()[:16]


def start(request: Request, user: str, stored_hash: str) -> None:
    """Sign ``user`` in: a fresh session id, CSRF token and password fingerprint (nothing of the old session kept)."""
    request.session.clear()
    request.session.update({"user": user, SID: secrets.token_urlsafe(24), PRINT: fingerprint(stored_hash),
                            CSRF: secrets.token_urlsafe(32)})  # fmt: skip


class Revoked(SharedFile):
    """Session ids ended by logout, in a SQLite file shared by the server's processes (``serving.shared_file``)."""

    def __init__(self, path: Path, max_age: float) -> None:
        super().__init__(path, "CREATE TABLE IF NOT EXISTS revoked (sid TEXT PRIMARY KEY, until REAL NOT NULL)")
        self.max_age = max_age

    def add(self, sid: str) -> None:
        now = time.time()
        con = self.con()
        con.execute("INSERT OR REPLACE INTO revoked VALUES (?, ?)", (sid, now + self.max_age))
        con.execute("DELETE FROM revoked WHERE until < ?", (now,))

    def __contains__(self, sid: object) -> bool:
        got = self.con().execute("SELECT 1 FROM revoked WHERE sid = ?", (sid,)).fetchone()
        return got is not None
