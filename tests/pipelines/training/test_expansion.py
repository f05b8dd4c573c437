"""Expected expansion revenue in the upsell training run, on the small generated world of ``tests/models``: the
expansion label agrees with the upsell label, the rankings are judged on the validation rows with intervals, the
figures and the model are logged in the upsell run and come back with the registered version."""

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from models.config import TrainConfig
from models.expansion import ExpansionModel, expected_expansion_arr
from models.registered import load_registered
from pipelines.training.datasets import label_config
from pipelines.training.expansion import EXPECTED, RANKINGS, ExpansionReport, fit_and_judge
from pipelines.training.expansion_labels import expansion_arr
from pipelines.training.train import Fitted, fit_and_select, log_and_register
from pipelines.warehouse import connect
from tests.features import worlds
from tests.features.reference import load_raw
from tests.models.conftest import World


@pytest.fixture(scope="module")
def judged(world: World) -> tuple[Fitted, ExpansionReport]:
    rows = world.datasets["upsell"]
    fitted = fit_and_select(rows, "upsell", TrainConfig.for_target("upsell", family="lightgbm"), world.oracle)
    with connect(world.warehouse, read_only=True) as con:
        report = fit_and_judge(con, rows, fitted.model, fitted.scores, fitted.config, label_config(con))
    assert report is not None
    return fitted, report


def test_the_expansion_label_agrees_with_the_upsell_label(world: World) -> None:
    rows = world.datasets["upsell"]
    with connect(world.warehouse, read_only=True) as con:
        value = expansion_arr(con, rows, label_config(con))
    assert value is not None and value.notna().all() and (value >= 0).all()
    margin = 0.10 * rows["arr"].to_numpy()  # the margin of MRR, in ARR
    above = value.to_numpy() > margin + 1e-6
    assert (rows.loc[above, "label"] == 1).all()
    assert (value[rows["label"] == 0].to_numpy() <= margin[rows["label"].to_numpy() == 0] + 1e-6).all()
    assert (value > 0).sum() > 100


def test_every_ranking_is_judged_on_the_validation_rows_with_an_interval(
    judged: tuple[Fitted, ExpansionReport],
) -> None:
    _, x = judged
    assert set(x.captured) == set(RANKINGS)
    for who, share in x.captured.items():
        lo, hi = x.intervals[who]
        assert 0 <= lo <= share <= hi <= 1, who
    assert set(x.ratios) == set(RANKINGS) - {EXPECTED}
    assert x.selection.chosen in ("size", "arr", "tweedie")
    # the size of an upsell matters: ranking by P(upsell) alone holds far less of the revenue
    assert x.captured[EXPECTED] > 2 * x.captured["upsell_probability"]


def test_the_upsell_run_logs_the_figures_and_registers_the_expansion_model(
    world: World, judged: tuple[Fitted, ExpansionReport], store: tuple[str, Path]
) -> None:
    f, x = judged
    rows = world.datasets["upsell"]
    run_id, _ = log_and_register(rows, "upsell", f.config, f.model, f.scores, None, *store, selection=f.selection,
                                 baselines=f.baselines, expansion=x)  # fmt: skip
    metrics = MlflowClient(store[0]).get_run(run_id).data.metrics
    assert metrics["expansion_captured_top_decile_expected_expansion"] == pytest.approx(x.captured[EXPECTED])
    assert "expansion_captured_vs_oracle_x_arr_low" in metrics and "expansion_cv_captured_arr" in metrics
    reg = load_registered("upsell", "champion", store[0], version="1")
    assert isinstance(reg.expansion, ExpansionModel) and reg.expansion.kind == x.model.kind
    valid = rows[rows["split"] == "valid"].reset_index(drop=True)
    p = f.model.predict_proba(f.model.prepare(valid))[:, 1]
    want = x.model.predict(x.model.prepare(valid), p)
    np.testing.assert_allclose(expected_expansion_arr(valid, reg.model, reg.expansion), want, rtol=1e-12)


def test_rows_that_are_no_snapshots_of_the_subscriptions_skip_the_expansion_model() -> None:
    """A feature table imported into a warehouse that also holds raw tables: its rows are not the subscriptions'
    snapshots, so there is no expansion label to judge by, and training goes on without it."""
    rows = pd.DataFrame({"account_id": ["A1", "ghost"], "as_of": worlds.AS_OF, "arr": 1200.0, "label": [0, 1],
                         "split": ["train", "valid"]})  # fmt: skip
    with duckdb.connect() as con:
        load_raw(con, worlds.world(("A1",)))
        got = fit_and_judge(con, rows, None, {}, TrainConfig(), label_config(con))  # type: ignore[arg-type]
    assert got is None


@pytest.mark.slow
def test_the_expected_expansion_ranking_meets_the_floor(judged: tuple[Fitted, ExpansionReport]) -> None:
    """The floor of issue 23 on the small world: at least the scorecard's share of the validation rows' expansion
    ARR in the top decile, and 0.9 of the oracle's (its ranking by p_expand). The stricter reference, p_expand x
    ARR, is measured by ``benchmarks/expansion.py``: on worlds this small its ratio swings too widely to test."""
    _, x = judged
    floors = x.floors()
    assert floors["scorecard"] and floors["oracle"], (x.captured, x.ratios)
