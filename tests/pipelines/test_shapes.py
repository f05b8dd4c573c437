"""The generated world in foreign shapes: each export ingests with its example mapping and no code, to the world's
own tables where the information is the same; the feature tables read only the past and carry the product's churn
label."""

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.cli.app import app
from pipelines.generate.observed import observed_at
from pipelines.generate.run import generate
from pipelines.generate.shapes import SHAPES, feature_tables, write_shape
from pipelines.generate.simulate import Oracle
from pipelines.ingest import IngestReport, ingest
from tests.factories import as_contract, read_raw, sort_rows
from tests.features.reference_labels import reference_labels

EXAMPLES = Path(__file__).parents[2] / "examples"
DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("world")
    generate(out, accounts=300, months=10, seed=11, oracle=Oracle(paths=20), workers=1)
    yield out


def _world(world: Path, table: str) -> pd.DataFrame:
    return sort_rows(as_contract(table, pd.read_parquet(world / f"{table}.parquet")))


def _all_accepted(report: IngestReport) -> None:
    for table, counts in report.tables.items():
        assert counts.input_rows == counts.accepted + counts.quarantined, table
        assert counts.quarantined == 0, (table, report.reasons[table])


def test_product_analytics_ingests_with_its_mapping_to_the_same_customers(world: Path, tmp_path: Path) -> None:
    from pipelines.generate.churn_events import churn_events

    rows = write_shape(world, "product-analytics")
    report = ingest(world / "product-analytics", tmp_path / "w.duckdb", mapping=EXAMPLES / "product_analytics.toml")
    _all_accepted(report)
    counted = {"accounts": "customers.csv", "subscriptions": "subscriptions.csv", "nps_responses": "nps_survey.csv",
               "support_tickets": "support_tickets.csv", "churn_events": "churn_events.csv"}  # fmt: skip
    for table, file in counted.items():
        assert report.tables[table].input_rows == rows[file] > 0, table
    for table in ("accounts", "subscriptions", "support_tickets", "nps_responses"):
        pd.testing.assert_frame_equal(read_raw(tmp_path / "w.duckdb", table), _world(world, table), obj=table)
    data_end = pd.read_parquet(world / "usage_events.parquet")["ts"].max()
    derived = churn_events(pd.read_parquet(world / "subscriptions.parquet"), data_end, seed=7)
    expected_churn = sort_rows(as_contract("churn_events", derived))
    pd.testing.assert_frame_equal(read_raw(tmp_path / "w.duckdb", "churn_events"), expected_churn)

    # Usage: the daily counts per account, day and type add up to the world's events; errors are rows of their own.
    usage = read_raw(tmp_path / "w.duckdb", "usage_events")
    assert usage["user_id"].isna().all() and (usage["ts"] == usage["ts"].dt.floor("D")).all()
    events = pd.read_parquet(world / "usage_events.parquet")
    want = events.groupby([events["account_id"], events["ts"].dt.floor("D"), events["event_type"]]).size()
    got = usage[usage["event_type"] != "error"].groupby(["account_id", "ts", "event_type"])["event_count"].sum()
    pd.testing.assert_series_equal(got.astype("int64"), want.astype("int64"), check_names=False)
    feature_usage = pd.read_csv(world / "product-analytics" / "feature_usage.csv")
    errors = usage[usage["event_type"] == "error"]
    assert errors["event_count"].sum() == feature_usage["error_count"].sum() > 0
    assert usage["duration_secs"].notna().sum() == len(feature_usage) == rows["feature_usage.csv"]

    for table in ("email_events", "invoices", "contacts"):
        assert report.tables[table].input_rows == 0 and table in report.declared_absent
    assert {"email", "payments"} <= set(report.families_off)


def test_billing_ingests_with_its_mapping_to_the_same_invoices(world: Path, tmp_path: Path) -> None:
    rows = write_shape(world, "billing")
    assert not (world / "billing" / "invoices.parquet").exists()
    report = ingest(world / "billing", tmp_path / "w.duckdb", mapping=EXAMPLES / "billing.toml")
    _all_accepted(report)
    assert report.tables["invoices"].input_rows == rows["charges.csv"] > 0
    # The charges carry all of an invoice (the terms, and the times the status is derived from): equal whole.
    for table in ("invoices", "accounts", "usage_events", "contacts"):
        pd.testing.assert_frame_equal(read_raw(tmp_path / "w.duckdb", table), _world(world, table), obj=table)
    statuses = read_raw(tmp_path / "w.duckdb", "invoices")["status"]
    assert {"paid", "open", "failed"} <= set(statuses)


def _tables(world: Path) -> dict[str, pd.DataFrame]:
    return feature_tables.read_tables(world)


def test_feature_tables_read_nothing_from_as_of_on(world: Path) -> None:
    tables = _tables(world)
    dates = feature_tables.labeled_dates(tables)
    assert len(dates) >= 4
    for t in (dates[0], dates[-1]):
        full = feature_tables.features_at(tables, t)
        cut = feature_tables.features_at(observed_at(tables, t), t)
        assert len(full) > 50 and full["logins_30d"].sum() > 0 and full["late_invoices_180d"].sum() > 0
        pd.testing.assert_frame_equal(full, cut, obj=f"features at {t.date()}")


def test_a_feature_equals_a_brute_force_count_over_the_raw_tables(world: Path) -> None:
    tables = _tables(world)
    table = feature_tables.customer_month_table(tables)
    usage, invoices = tables["usage_events"], tables["invoices"]
    sample = table.sample(60, random_state=0)
    for row in sample.itertuples():
        t = row.as_of
        mine = usage[usage["account_id"] == row.customer_id]
        logins = [ts for ts, kind in zip(mine["ts"], mine["event_type"], strict=True)
                  if kind == "login" and t - 30 * DAY <= ts < t]  # fmt: skip
        assert row.logins_30d == len(logins), row
        late = 0
        for due, paid, voided in invoices.loc[invoices["account_id"] == row.customer_id,
                                              ["due_at", "paid_at", "voided_at"]].itertuples(index=False):  # fmt: skip
            settled = (pd.notna(paid) and paid <= due) or (pd.notna(voided) and voided <= due)
            late += int(t - 180 * DAY <= due < t and not settled)
        assert row.late_invoices_180d == late, row


def test_feature_tables_carry_the_products_churn_label_and_the_oracle(world: Path) -> None:
    tables = _tables(world)
    month = feature_tables.customer_month_table(tables)
    assert month["churned"].notna().all() and 0.01 < month["churned"].mean() < 0.3
    assert month[list(feature_tables.FEATURES)].isna().any().sum() >= 3  # some features are missing by nature
    dates = feature_tables.labeled_dates(tables)
    reference = reference_labels(tables["subscriptions"], tables["accounts"], dates,
                                 data_end=tables["usage_events"]["ts"].max())  # fmt: skip
    both = month.merge(reference.rename(columns={"account_id": "customer_id"}), on=["customer_id", "as_of"])
    assert len(both) > 0.95 * len(month)
    assert (both["churned"] == both["churn"]).all()

    one = feature_tables.customer_table(tables)
    assert (one["as_of"] == dates[-1]).all() and one["customer_id"].is_unique
    pd.testing.assert_frame_equal(one, month[month["as_of"] == dates[-1]].reset_index(drop=True))

    rows = write_shape(world, "customer-month-table")
    written = pd.read_csv(world / "customer-month-table" / "customer_month_table.csv", keep_default_na=False)
    assert rows["customer_month_table.csv"] == len(written) == len(month)
    assert list(written.columns) == ["customer_id", "as_of", *feature_tables.FEATURES, "churned"]
    assert "" not in set(written["region"])  # "NA" would read back as missing
    oracle = pd.read_csv(world / "customer-month-table" / "oracle.csv")
    assert rows["oracle.csv"] == len(oracle) > 0.95 * len(month)
    assert oracle["p_churn"].mean() == pytest.approx(month["churned"].mean(), abs=0.05)


def test_the_cli_writes_the_world_and_its_shapes(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    args = ["generate", "--out", str(out), "--accounts", "60", "--months", "8", "--oracle-paths", "0",
            "--workers", "1", "--shape", "billing", "--shape", "customer-table"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (out / "accounts.parquet").exists() and (out / "billing" / "charges.csv").exists()
    assert (out / "customer-table" / "customer_table.csv").exists()
    assert not (out / "customer-table" / "oracle.csv").exists()  # no oracle in this world
    assert "Wrote shape billing" in result.output

    bad = CliRunner().invoke(app, ["generate", "--out", str(tmp_path / "x"), "--shape", "crm"])
    assert bad.exit_code != 0 and "--shape must be one of" in bad.output and not (tmp_path / "x").exists()
    assert set(SHAPES) == {"product-analytics", "billing", "customer-table", "customer-month-table"}


def test_a_shape_needs_a_parquet_world(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="churn generate --format parquet"):
        write_shape(tmp_path, "billing")
    with pytest.raises(ValueError, match="shape must be one of"):
        write_shape(tmp_path, "crm")
