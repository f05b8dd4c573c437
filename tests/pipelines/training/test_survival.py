"""Churn over time in the churn training run, on the small generated world of ``tests/models``: the survival times
keep the training rows' follow-up before validation, the hazard model is judged against the sBG baseline with
intervals, and its figures and model are logged in the churn run and come back with the registered version."""

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from models.config import TrainConfig
from models.hazard import HORIZONS, INTERVAL_ENDS
from models.hazard_model import HazardModel
from models.registered import load_registered
from pipelines.training.datasets import label_config
from pipelines.training.survival import (
    SurvivalReport,
    durations,
    fit_and_judge_survival,
    oracle_curves,
    service_ends,
)
from pipelines.training.train import Fitted, fit_and_select, log_and_register
from pipelines.warehouse import connect
from tests.features import worlds
from tests.features.reference import load_raw
from tests.models.conftest import World


@pytest.fixture(scope="module")
def judged(world: World) -> tuple[Fitted, SurvivalReport]:
    rows = world.datasets["churn"]
    fitted = fit_and_select(rows, "churn", TrainConfig.for_target("churn", family="lightgbm"), world.oracle)
    with connect(world.warehouse, read_only=True) as con:
        report = fit_and_judge_survival(con, rows, fitted.model, fitted.scores, fitted.config, label_config(con),
                                        world.oracle)  # fmt: skip
    assert report is not None
    return fitted, report


def test_training_rows_are_followed_only_until_grace_before_validation(world: World) -> None:
    rows = world.datasets["churn"]
    train = rows[rows["split"] == "train"].reset_index(drop=True)
    first_valid = rows.loc[rows["split"] == "valid", "as_of"].min()
    with connect(world.warehouse, read_only=True) as con:
        labels = label_config(con)
        found = service_ends(con, train, labels)
    assert found is not None
    ends, data_end = found
    d, e = durations(train, ends, data_end, labels, until=first_valid.to_pydatetime())
    stop = train["as_of"] + pd.to_timedelta(np.nan_to_num(d), unit="D")
    assert (stop[np.isfinite(d)] <= first_valid - pd.Timedelta(days=labels.grace_days) + pd.Timedelta(seconds=1)).all()
    # a churn inside the horizon is the churn label's: the two rules agree
    within = (e == 1) & (d <= labels.horizon_days)
    np.testing.assert_array_equal(within, train["label"].to_numpy() == 1)


def test_every_curve_is_judged_on_the_validation_rows_with_intervals(judged: tuple[Fitted, SurvivalReport]) -> None:
    _, x = judged
    m = x.table.metrics
    assert {"hazard", "hazard_uncalibrated", "sbg", "churn_model"} <= set(m)
    assert set(m["churn_model"]) == {"auc_90", "ece_90"}  # its own horizon only
    for h in (30, 60, 90):
        assert f"auc_{h}" in m["hazard"] and f"ece_{h}" in m["hazard"]
    assert m["hazard"]["auc_90"] > 0.7 and m["hazard"]["auc_90"] > m["sbg"]["auc_90"] + 0.1
    assert m["hazard"]["concordance"] > m["sbg"]["concordance"] and m["hazard"]["ibs"] < m["sbg"]["ibs"]
    assert m["hazard"]["ece_90"] < 0.03
    for k in m["hazard"]:
        lo, hi = x.table.intervals["hazard"][k]
        assert np.isfinite(lo) and lo < hi, k


def test_the_churn_run_logs_the_figures_and_registers_the_hazard_model(
    world: World, judged: tuple[Fitted, SurvivalReport], store: tuple[str, Path]
) -> None:
    f, x = judged
    rows = world.datasets["churn"]
    run_id, _ = log_and_register(rows, "churn", f.config, f.model, f.scores, None, *store, selection=f.selection,
                                 baselines=f.baselines, survival=x)  # fmt: skip
    metrics = MlflowClient(store[0]).get_run(run_id).data.metrics
    assert metrics["survival_auc_hazard_90"] == pytest.approx(x.table.metrics["hazard"]["auc_90"])
    assert "survival_concordance_sbg_low" in metrics and "survival_ibs_hazard_high" in metrics
    reg = load_registered("churn", "champion", store[0], version="1")
    assert isinstance(reg.hazard, HazardModel)
    valid = rows[rows["split"] == "valid"].reset_index(drop=True).head(200)
    p = reg.hazard.churn_within(valid)
    np.testing.assert_allclose(p, x.model.churn_within(valid), rtol=1e-12)
    assert p.shape == (200, len(HORIZONS)) and np.all(np.diff(p, axis=1) >= 0)
    assert len(reg.hazard.median_day(valid)) == 200


def test_the_oracle_curve_is_read_at_its_horizons_and_interpolated_between(tmp_path: Path) -> None:
    keys = pd.DataFrame({"account_id": ["A", "B"], "as_of": pd.Timestamp("2025-01-01", tz="UTC")})
    p = {30: [0.1, 0.01], 60: [0.2, 0.02], 90: [0.3, 0.03], 180: [0.5, 0.05], 365: [0.8, 0.1]}
    truth = keys.assign(**{f"p_churn_{d}": v for d, v in p.items()})
    truth.to_parquet(tmp_path / "oracle.parquet")
    got = oracle_curves(keys, tmp_path / "oracle.parquet")
    assert got is not None and got.shape == (2, len(INTERVAL_ENDS))
    for d, v in p.items():
        np.testing.assert_allclose(got[:, INTERVAL_ENDS.index(d)], v)
    assert np.all(np.diff(got, axis=1) >= 0)
    keys.assign(p_churn=0.3).to_parquet(tmp_path / "old.parquet")  # the single-horizon oracle: no curve
    assert oracle_curves(keys, tmp_path / "old.parquet") is None


def test_rows_that_are_no_snapshots_of_the_subscriptions_skip_the_churn_curve() -> None:
    rows = pd.DataFrame({"account_id": ["A1", "ghost"], "as_of": worlds.AS_OF, "label": [0, 1],
                         "split": ["train", "valid"]})  # fmt: skip
    with duckdb.connect() as con:
        load_raw(con, worlds.world(("A1",)))
        got = fit_and_judge_survival(con, rows, None, {}, TrainConfig(), label_config(con))  # type: ignore[arg-type]
    assert got is None
