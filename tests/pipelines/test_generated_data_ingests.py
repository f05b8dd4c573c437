"""The contract accepts the generator's output whole, whether written as Parquet or as CSV."""

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipelines.generate.run import TABLES, generate
from pipelines.generate.simulate import Oracle
from pipelines.ingest import ingest
from pipelines.summary import rates


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


def _reference_rates(subs: pd.DataFrame, events: pd.DataFrame, horizon: int = 90) -> tuple[int, float, float]:
    """Snapshots, churn rate and expansion rate by brute force: one as_of, one account at a time."""
    ends = subs.groupby("account_id").apply(
        lambda g: g.end_at.max() if g.end_at.notna().all() and (g.status == "cancelled").any() else pd.NaT
    )
    start, end = events.ts.min().tz_convert(None), events.ts.max().tz_convert(None)
    first = start.to_period("M").to_timestamp().tz_localize("UTC") + pd.DateOffset(months=1)
    last = end.tz_localize("UTC") - pd.Timedelta(days=horizon)
    n = churn = expand = 0
    for as_of in pd.date_range(first, last, freq="MS"):
        until = as_of + pd.Timedelta(days=horizon)
        for row in subs[(subs.start_at <= as_of) & (subs.end_at.isna() | (subs.end_at > as_of))].itertuples():
            n += 1
            end = ends[row.account_id]
            churn += bool(pd.notna(end) and as_of < end <= until)
            later = subs[(subs.account_id == row.account_id) & (subs.start_at > as_of) & (subs.start_at <= until)]
            expand += bool(((later.mrr > row.mrr * 1.1) | (later.seats > row.seats * 1.1)).any())
    return n, churn / n, expand / n


def test_summary_rates_equal_a_brute_force_reference(tmp_path: Path) -> None:
    generate(tmp_path / "src", accounts=150, months=10, seed=9, oracle=Oracle(paths=0))
    ingest(tmp_path / "src", tmp_path / "w.duckdb")
    subs = _raw(tmp_path / "w.duckdb", "subscriptions")
    events = _raw(tmp_path / "w.duckdb", "usage_events")
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        overall = next(r for r in rates(con) if r.segment == "all")
    n, churn, expand = _reference_rates(subs, events)
    assert overall.snapshots == n
    assert overall.churn_rate == pytest.approx(churn)
    assert overall.expansion_rate == pytest.approx(expand)
    assert churn > 0 and expand > 0
