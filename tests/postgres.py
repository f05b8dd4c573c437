"""A scratch database on the local PostgreSQL server (127.0.0.1:5432, trust auth), dropped afterwards."""

import contextlib
import uuid
from collections.abc import Iterator

import psycopg

SERVER = "postgresql://postgres@127.0.0.1:5432"


@contextlib.contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """The URL of a new database named ``<prefix>_<random>``, dropped (connections forced out) when the block ends."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{SERVER}/{name}"
    finally:
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
