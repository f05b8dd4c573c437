"""A user's own feature table: import (planted bad rows quarantined, types detected, split said), then train,
register, score, serve and explain on its own columns, through the same code as the event path."""

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from models.config import TrainConfig
from models.registered import load_pair
from pipelines.generate.run import generate
from pipelines.generate.shapes import write_shape
from pipelines.generate.simulate import Oracle
from pipelines.score import champion_scorer, latest_dates, score
from pipelines.training.feature_table import TableColumns, import_table, read_table
from pipelines.training.train import train
from pipelines.warehouse import connect
from serving.app import create_app
from serving.settings import ServingSettings

NOW = datetime(2026, 1, 15, tzinfo=UTC)
KEY = "read-key-for-the-feature-table-tests"


def telco(n: int = 2400, seed: int = 3) -> pd.DataFrame:
    """A public-churn-data-like table: churn rises with short tenure, high charges and monthly contracts."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "customerID": [f"C{i}" for i in range(n)], "tenure": rng.integers(1, 72, n),
        "MonthlyCharges": rng.normal(70, 20, n).round(2),
        "Contract": rng.choice(["Month-to-month", "One year", "Two year"], n),
        "Tickets": rng.poisson(1.0, n), "Notes": [None] * n,
    })  # fmt: skip
    logit = -1 - 0.05 * df.tenure + 0.03 * (df.MonthlyCharges - 70) + 1.5 * (df.Contract == "Month-to-month")
    df["Churn"] = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "Yes", "No")
    return df


def test_import_quarantines_what_it_cannot_read_and_types_the_rest(tmp_path: Path) -> None:
    table = telco(400)
    table.loc[3, "Churn"] = "maybe"
    table.loc[5, "customerID"] = None
    table.loc[7, "customerID"] = "C8"  # C8 twice: both rows
    table.loc[9, "Churn"] = None  # unlabeled: kept (scored, not trained on)
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        r = import_table(con, table, TableColumns("customerID", "Churn"), now=NOW)
        stored = con.sql("SELECT * FROM features.table_quarantine").to_arrow_table().to_pandas()
        labels = con.sql("SELECT * FROM features.labels WHERE account_id = 'C9'").to_arrow_table().to_pandas()
        snap = con.sql("DESCRIBE features.snapshots").fetchall()
    assert r.rows == 400 and r.accepted == 400 - 4
    assert r.quarantined == {"Churn: not 0/1, true/false or yes/no": 1, "customerID: missing": 1,
                             "the same id (and as_of) twice": 2}  # fmt: skip
    assert stored["reason"].value_counts().to_dict() == r.quarantined  # each bad row kept with its reason
    assert r.features == ["tenure", "MonthlyCharges", "Contract", "Tickets"]  # Notes has no value: left out
    assert r.categorical == ["Contract"] and r.empty_columns == ["Notes"]
    assert dict((c, t) for c, t, *_ in snap)["Contract"] == "VARCHAR"
    assert labels["churn"].isna().all() and labels["upsell"].isna().all()
    assert "stratified by the label" in r.split and "too few for an out-of-time validation" in r.split


def test_a_missing_column_is_named_with_its_option_and_the_columns_there(tmp_path: Path) -> None:
    with duckdb.connect() as con, pytest.raises(ValueError, match=r"no column --label 'churned'.*customerID, tenure"):
        import_table(con, telco(50), TableColumns("customerID", "churned"), now=NOW)


def test_the_holdout_is_stratified_and_keeps_customers_apart(tmp_path: Path) -> None:
    with duckdb.connect() as con:
        r = import_table(con, telco(), TableColumns("customerID", "Churn"), now=NOW)
        data = con.sql("SELECT account_id, split, label FROM features.dataset_churn").to_arrow_table().to_pandas()
    rates = data.groupby("split")["label"].mean()
    assert abs(rates["train"] - rates["valid"]) < 0.01  # stratified: the same churn rate in both
    assert abs(r.dataset.rows["valid"] / len(data) - 0.3) < 0.01
    assert not set(data.loc[data.split == "train", "account_id"]) & set(data.loc[data.split == "valid", "account_id"])


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    world = tmp_path_factory.mktemp("world")
    generate(world, accounts=4000, months=24, seed=9, oracle=Oracle(paths=20), workers=1)
    for name in ("customer-table", "customer-month-table"):
        write_shape(world, name)
    return world


@pytest.mark.parametrize(
    ("shape", "as_of", "out_of_time"),
    [("customer-table", None, False), ("customer-month-table", "as_of", True)],
)
def test_a_feature_table_trains_registers_scores_serves_and_explains(
    shapes: Path, tmp_path: Path, shape: str, as_of: str | None, out_of_time: bool
) -> None:
    csv = next((shapes / shape).glob("customer*.csv"))
    warehouse, uri = tmp_path / "wh.duckdb", f"sqlite:///{tmp_path / 'mlflow.db'}"
    families = {"logins_30d": "engagement", "events_30d": "engagement"}
    with connect(warehouse) as con:
        r = import_table(con, read_table(str(csv)), TableColumns("customer_id", "churned", as_of), now=NOW,
                         families=families)  # fmt: skip
        assert sum(r.quarantined.values()) == 0 and "plan" in r.categorical
        report = train(con, "churn", TrainConfig.for_target("churn", max_trees=60), tracking_uri=uri,
                       artifacts=tmp_path / "mlruns", force=True)  # fmt: skip
        assert report.out_of_time == out_of_time
        assert report.evaluation.everyone.metrics["model"]["roc_auc"] > 0.6  # the label is learnable from them
        dates = latest_dates(con)
        score(con, champion_scorer(uri), dates, to=str(tmp_path / "scores"))  # published for the server
        stored = con.sql("SELECT * FROM scores.accounts").to_arrow_table().to_pandas()
    models, scorer = load_pair(uri, "champion")
    assert set(models) == {"churn"} and scorer.upsell is None  # a churn label only: no upsell model
    model = scorer.churn
    assert model.features_ == r.features and model.feature_info_["logins_30d"].family == "engagement"
    assert stored["p_upsell"].isna().all() and len(stored) == len(set(stored["account_id"]))
    settings = ServingSettings(env="development", scores=str(tmp_path / "scores"), state_dir=tmp_path,
                               tracking_uri=uri, alias="champion", api_keys={KEY: "read"}, reload_interval=0,
                               max_ids=100, max_rows=100, threads=1)  # fmt: skip
    first = read_table(str(csv)).iloc[0]
    row = {c: None if pd.isna(v) else v.item() if hasattr(v, "item") else v
           for c, v in first.items() if c in model.features_}  # fmt: skip
    with TestClient(create_app(settings)) as client:
        auth = {"Authorization": f"Bearer {KEY}"}
        one = client.get(f"/v1/accounts/{stored['account_id'].iloc[0]}/score", headers=auth).json()
        live = client.post("/v1/scores/live", json={"rows": [row]}, headers=auth).json()["scores"][0]
        bad = client.post("/v1/scores/live", json={"rows": [{"logins_31d": 1}]}, headers=auth)
        upsell = client.get("/v1/rankings/upsell", headers=auth).json()
        features = {f["name"]: f["family"] for f in client.get("/v1/models", headers=auth).json()["features"]}
    assert {x["feature"] for x in one["reasons"]} <= set(model.features_) and one["p_upsell"] is None
    assert set(one["components"]) == {model.feature_info_[n].family for n in model.features_}
    # The live score equals the model on the same row, computed here from the frame path.
    want = model.predict_proba(model.prepare(pd.DataFrame([row])))[0, 1]
    assert live["p_churn"] == pytest.approx(want, abs=1e-9)
    assert all(x["sentence"] for x in live["reasons"])
    assert bad.status_code == 422 and "unknown feature" in bad.text
    assert upsell["total"] == 0 and features == {n: model.feature_info_[n].family for n in model.features_}
