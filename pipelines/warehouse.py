"""Opening the warehouse: one DuckDB file, with the memory cap and spill folder from the settings."""

from pathlib import Path

import duckdb

from pipelines.settings import get_settings


def connect(path: Path | None = None, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the warehouse (default: the settings' file). Memory is capped (``CHURN_DUCKDB_MEMORY``);
    DuckDB spills to a folder beside the file beyond it, so big builds stay within the cap."""
    s = get_settings()
    target = Path(path or s.warehouse)
    con = duckdb.connect(str(target), read_only=read_only)
    con.execute(f"SET memory_limit = '{s.duckdb_memory}'")
    con.execute(f"SET temp_directory = '{target.parent / (target.name + '.tmp')}'")
    con.execute("SET TimeZone = 'UTC'")
    # Results are ordered explicitly where order matters; not keeping insertion order saves memory and time.
    con.execute("SET preserve_insertion_order = false")
    return con
