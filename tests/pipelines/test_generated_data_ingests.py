"""The contract accepts the generator's output whole, whether written as Parquet or as CSV."""

from pathlib import Path

import duckdb
import pandas as pd

from pipelines.generate.run import TABLES, generate
from pipelines.generate.simulate import Oracle
from pipelines.ingest import ingest


def _raw(warehouse: Path, table: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(f"SELECT * FROM raw.{table}").to_arrow_table().to_pandas()


def test_generated_parquet_and_csv_are_accepted_whole_and_load_the_same(tmp_path: Path) -> None:
    for fmt in ("parquet", "csv"):
        generate(tmp_path / fmt, accounts=400, months=8, seed=5, fmt=fmt, oracle=Oracle(paths=0))  # type: ignore[arg-type]
    reports = {fmt: ingest(tmp_path / fmt, tmp_path / f"{fmt}.duckdb") for fmt in ("parquet", "csv")}
    manifest_rows = pd.read_json(tmp_path / "parquet" / "manifest.json", typ="series")["rows"]
    for fmt, report in reports.items():
        assert set(report.tables) == set(TABLES)
        for table, counts in report.tables.items():
            assert counts.quarantined == 0, (fmt, table, report.reasons[table])
            assert counts.accepted == counts.input_rows == manifest_rows[table], (fmt, table)
    for table in TABLES:
        a, b = _raw(tmp_path / "parquet.duckdb", table), _raw(tmp_path / "csv.duckdb", table)
        key = list(a.columns)
        pd.testing.assert_frame_equal(
            a.sort_values(key).reset_index(drop=True), b.sort_values(key).reset_index(drop=True), obj=table
        )
