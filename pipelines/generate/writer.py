"""Write tables chunk by chunk, as Parquet or CSV, without holding a whole table in memory."""

from pathlib import Path
from types import TracebackType
from typing import Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

Format = Literal["parquet", "csv"]


class TableSink:
    """One open file per table; ``write`` appends a chunk. Use as a context manager."""

    def __init__(self, folder: Path, fmt: Format) -> None:
        self.folder, self.fmt = folder, fmt
        self.rows: dict[str, int] = {}
        self._writers: dict[str, pq.ParquetWriter | pacsv.CSVWriter] = {}

    def write(self, name: str, table: pa.Table) -> None:
        writer = self._writers.get(name)
        if writer is None:
            path = self.folder / f"{name}.{self.fmt}"
            path.parent.mkdir(parents=True, exist_ok=True)
            if self.fmt == "parquet":
                writer = pq.ParquetWriter(path, table.schema, compression="zstd")
            else:
                writer = pacsv.CSVWriter(path, table.schema)
            self._writers[name] = writer
        writer.write_table(table)
        self.rows[name] = self.rows.get(name, 0) + table.num_rows

    def __enter__(self) -> "TableSink":
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for writer in self._writers.values():
            writer.close()
