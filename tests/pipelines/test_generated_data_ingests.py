"""The contract accepts the generator's output whole, whether written as Parquet or as CSV."""

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from features.labels import LabelConfig
from pipelines.generate.run import TABLES, generate
from pipelines.generate.simulate import Oracle
from pipelines.ingest import ingest
from pipelines.snapshots.summary import rates
from tests.features.reference_labels import reference_labels


def _raw(warehouse: Path, table: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(f"SELECT * FROM raw.{table}").to_arrow_table().to_pandas()


def test_generated_parquet_and_csv_are_accepted_whole_and_load_the_same(tmp_path: Path) -> None:
    for fmt in ("parquet", "csv"):
        generate(tmp_path / fmt, accounts=400, months=8, seed=5, fmt=fmt, oracle=Oracle(paths=0))  # type: ignore[arg-type]
    reports = {fmt: ingest(tmp_path / fmt, tmp_path / f"{fmt}.duckdb") for fmt in ("parquet", "csv")}
    manifest_rows = pd.read_json(tmp_path / "parquet" / "manifest.json", typ="series")["rows"]
    for fmt, report in reports.items():
        assert set(report.tables) == set(TABLES) | {"churn_events"}
        for table, counts in report.tables.items():
            assert counts.quarantined == 0, (fmt, table, report.reasons[table])
            # The contract-shaped world defines churn by its subscriptions: it writes no churn_events.
            assert counts.accepted == counts.input_rows == manifest_rows.get(table, 0), (fmt, table)
    for table in TABLES:
        a, b = _raw(tmp_path / "parquet.duckdb", table), _raw(tmp_path / "csv.duckdb", table)
        key = list(a.columns)
        pd.testing.assert_frame_equal(
            a.sort_values(key).reset_index(drop=True), b.sort_values(key).reset_index(drop=True), obj=table
        )


def _reference_rates(tables: dict[str, pd.DataFrame]) -> tuple[int, float, int, float]:
    """Labeled snapshots, churn rate, and the same for expansion, by the brute-force label reference
    (``tests.features.reference_labels``: one snapshot at a time, straight from the label's definition)."""
    first, last = tables["usage_events"].ts.min(), tables["usage_events"].ts.max()
    dates = pd.date_range(first.tz_convert(None).to_period("M").to_timestamp() + pd.DateOffset(months=1),
                          last.tz_convert(None), freq="MS", tz="UTC")  # fmt: skip
    labels = reference_labels(tables["subscriptions"], tables["accounts"], dates, data_end=last)
    return (int(labels.churn.notna().sum()), float(labels.churn.mean()), int(labels.upsell.notna().sum()),
            float(labels.upsell.mean()))  # fmt: skip


def test_summary_rates_equal_a_brute_force_reference(tmp_path: Path) -> None:
    generate(tmp_path / "src", accounts=150, months=10, seed=9, oracle=Oracle(paths=0))
    ingest(tmp_path / "src", tmp_path / "w.duckdb")
    tables = {t: _raw(tmp_path / "w.duckdb", t) for t in ("subscriptions", "accounts", "usage_events")}
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        # The reference's time rules (90-day horizon): given, since a 10-month world would derive a 30-day one.
        overall = next(r for r in rates(con, LabelConfig()) if r.segment == "all")
    n, churn, m, expand = _reference_rates(tables)
    assert (overall.snapshots, overall.expansion_snapshots) == (n, m)
    assert overall.churn_rate == pytest.approx(churn)
    assert overall.expansion_rate == pytest.approx(expand)
    assert churn > 0 and expand > 0 and m > n  # an upsell label is known 30 days (the grace) sooner
