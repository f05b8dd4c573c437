"""Reading a generated world (``pipelines.generate.run.generate``'s Parquet output) and writing its tables as
another system would export them."""

import json
import shutil
from pathlib import Path
from zlib import crc32

import numpy as np
import pandas as pd
import pyarrow.parquet as pq


def check(world: Path, tables: tuple[str, ...]) -> None:
    """Raise when the world lacks one of ``tables`` as Parquet."""
    for table in tables:
        path = world / f"{table}.parquet"
        if not path.exists():
            raise FileNotFoundError(
                f"{path} does not exist: shapes read a world written by `churn generate --format parquet`; "
                f"generate one into {world} first"
            )


def read(world: Path, table: str) -> pd.DataFrame:
    """One contract table of the world, as written (Parquet)."""
    check(world, (table,))
    return pd.read_parquet(world / f"{table}.parquet")


def rng(world: Path, shape: str) -> np.random.Generator:
    """A random stream per (world seed, shape): a shape's own draws (durations, errors) are reproducible and
    leave the world as it was."""
    manifest = world / "manifest.json"
    seed = json.loads(manifest.read_text())["seed"] if manifest.exists() else 0
    return np.random.default_rng([seed, crc32(shape.encode())])


def as_text(times: pd.Series) -> pd.Series:
    """UTC times as an export writes them: ``2024-07-16`` when every time is a midnight (a column of days),
    ``2024-07-16T11:26:21.715854Z`` otherwise; missing times stay missing (an empty CSV cell)."""
    days = times.dropna()
    fmt = "%Y-%m-%d" if (days == days.dt.floor("D")).all() else "%Y-%m-%dT%H:%M:%S.%fZ"
    return times.dt.tz_convert("UTC").dt.strftime(fmt)


def rename_values(values: pd.Series, names: dict[str, str]) -> pd.Series:
    """``values`` renamed by ``names``; values it does not name are kept."""
    return values.map(lambda v: names.get(v, v), na_action="ignore")


def write_csv(frame: pd.DataFrame, path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return len(frame)


def copy(world: Path, table: str, folder: Path) -> int:
    """Copy a contract table of the world as it is into ``folder`` (a copy, not a link: regenerating the world
    in place rewrites its files); returns its rows."""
    folder.mkdir(parents=True, exist_ok=True)
    source = world / f"{table}.parquet"
    shutil.copyfile(source, folder / source.name)
    return pq.ParquetFile(source).metadata.num_rows
