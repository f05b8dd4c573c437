"""Ingestion checks on Spark against the embedded ingest (the peer reference) on the same broken source: the same
counts per table, the same reasons for the same rows (compared by the rows' values, since Spark numbers rows its
own way), and the same accepted rows."""

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pipelines.ingest import ingest
from pipelines.spark.ingest import ingest as spark_ingest
from tests.corpus import _append, _set, as_text, write_text
from tests.factories import valid_tables
from tests.serving.conftest import read_table

pytestmark = pytest.mark.spark

DEFECTS = [
    _set("subscriptions", 2, "mrr", "abc"),
    _set("subscriptions", 3, "seats", "2.5"),
    _set("support_tickets", 2, "created_at", "yesterday"),
    _set("usage_events", 4, "user_id", None),
    _set("support_tickets", 1, "priority", "P1"),
    _append("subscriptions", 2),  # an exact duplicate
    _append("invoices", 2, amount="999.0"),  # a conflicting key
    _set("nps_responses", 2, "score", "11"),
    _append("usage_events", 1, account_id="A9"),  # an unknown account
    _append("email_events", 3, account_id="A9"),
    _set("accounts", 3, "segment", "startup"),  # and so every row of that account is quarantined too
]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("broken")
    frames = as_text(valid_tables())
    for change in DEFECTS:
        change(frames)
    write_text(frames, folder)
    return folder


def test_spark_checks_equal_the_embedded_ingest(source: Path, spark_session: Any, tmp_path: Path) -> None:
    expected = ingest(source, tmp_path / "warehouse.duckdb")
    got = spark_ingest(spark_session, source, str(tmp_path / "lake"))
    assert got.tables == expected.tables
    assert sum(c.quarantined for c in got.tables.values()) >= len(DEFECTS)
    for table, codes in expected.reasons.items():
        assert got.reasons.get(table, {}) == codes, table

    ours = pd.read_parquet(tmp_path / "lake" / "quarantine")
    theirs = read_table(tmp_path / "warehouse.duckdb", "SELECT * FROM raw.quarantine")
    assert list(ours.columns) == list(theirs.columns)

    def rows(frame: pd.DataFrame) -> Counter[tuple[str, str, str]]:
        return Counter(
            (t, r, json.dumps(json.loads(v), sort_keys=True))
            for t, r, v in zip(frame["table_name"], frame["reasons"], frame["row_json"], strict=True)
        )

    assert rows(ours) == rows(theirs)

    for table in ("accounts", "usage_events", "subscriptions"):
        a = pd.read_parquet(tmp_path / "lake" / "raw" / table)
        b = read_table(tmp_path / "warehouse.duckdb", f"SELECT * FROM raw.{table}")
        for c in a.columns:
            if pd.api.types.is_datetime64_any_dtype(a[c]):
                a[c] = a[c].dt.tz_localize("UTC") if a[c].dt.tz is None else a[c].dt.tz_convert("UTC")
                b[c] = b[c].dt.tz_convert("UTC")
        cols = list(b.columns)
        assert list(a.columns) == cols
        a = a[cols].sort_values(cols).reset_index(drop=True).astype(b.dtypes.to_dict())
        b = b.sort_values(cols).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, check_dtype=False)
