"""Plays in the generated world: holdouts by ``features.holdout``, CSMs' actions only on assigned accounts, the
true effects in the ground truth, and ``churn effects`` recovering them within noise; without ``plays`` nothing
of it is written (the default world's own hashes: ``test_generate_type_mix.test_the_default_world_is_unchanged``)."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.holdout import held_out
from pipelines.cli.app import app
from pipelines.effects import effects_document, load_frame, measure
from pipelines.generate.params import Params
from pipelines.generate.playbook import PLAYS, Play, Plays
from pipelines.generate.run import generate
from pipelines.generate.simulate import Oracle
from serving.store import FolderStore

SEED = 4


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plays") / "world"
    generate(out, accounts=6000, months=10, seed=SEED, oracle=Oracle(paths=20), params=replace(Params(), plays=PLAYS),
             workers=1)  # fmt: skip
    return out


def test_the_holdout_is_the_shared_function_and_actions_only_reach_assigned_accounts(world: Path) -> None:
    a = pd.read_parquet(world / "play_assignments.parquet")
    for play in PLAYS.plays:
        rows = a[(a.play == play.name) & a.eligible]
        assert rows.held_out.tolist() == held_out(rows.account_id, play.name, seed=SEED, share=play.share).tolist()
        assert abs(rows.held_out.mean() - play.share) < 4 * np.sqrt(play.share * (1 - play.share) / len(rows))
    assert not a[~a.eligible].held_out.any()
    actions = pd.read_parquet(world / "play_actions.parquet")
    run = actions.merge(a, on=["account_id", "play"])
    assert run.eligible.all() and not run.held_out.any()
    assert set(actions.status) == {"started", "done", "abandoned"}
    assert (actions.groupby(["account_id", "play"]).size() == 2).all()


def test_csms_run_plays_on_riskier_accounts_first(world: Path) -> None:
    truth = pd.read_parquet(world / "ground_truth" / "play_effects.parquet")
    chosen = truth[~truth.held_out]
    assert chosen[chosen.acted].p_churn_without.mean() > 1.3 * chosen[~chosen.acted].p_churn_without.mean()


def test_the_ground_truth_holds_each_plays_true_effect_per_segment(world: Path) -> None:
    plays = pd.read_parquet(world / "ground_truth" / "plays.parquet").set_index(["play", "segment"])
    assert len(plays) == 4 * 3
    assert plays.loc[("health_check_call", "smb"), "logit_shift"] == -1.2
    assert (plays.loc["training_webinar"].effect_itt == 0).all()
    assert plays.loc[("health_check_call", "smb"), "effect_itt"] < -0.02  # helpful
    assert plays.loc[("automated_nudges", "smb"), "effect_itt"] > 0.02  # harmful
    assert plays.loc[("renewal_discount", "smb"), "eligible"] == 0  # not a play for small accounts


def test_churn_effects_recovers_the_true_effects_within_noise(world: Path) -> None:
    frame, _ = load_frame(world)
    truth = pd.read_parquet(world / "ground_truth" / "play_effects.parquet")
    truth["itt"] = truth.effect * truth.would_be_done
    true = frame.merge(truth, on=["account_id", "play"]).groupby("play").itt.mean()
    table = measure(world).table.set_index("play")
    for play in true.index:
        row = table.loc[play]
        assert abs(row.effect - true[play]) < 3 * row.se, (play, row.effect, true[play], row.se)
    naive_bias = (table.naive - true).drop("all", errors="ignore")
    assert naive_bias.mean() > 0.01  # CSMs choose riskier accounts: the naive comparison makes plays look harmful


def test_the_cli_prints_the_table_and_names_what_is_missing(world: Path, tmp_path: Path) -> None:
    done = CliRunner().invoke(app, ["effects", str(world)], env={"COLUMNS": "160"})
    assert done.exit_code == 0, done.output
    assert "health_check_call" in done.output and "intention-to-treat" in done.output
    missing = CliRunner().invoke(app, ["effects", str(tmp_path)])
    assert missing.exit_code == 1 and "no play_assignments table" in missing.output


def test_a_world_without_plays_writes_none_of_their_tables(tmp_path: Path) -> None:
    assert Params().plays is None
    generate(tmp_path, accounts=50, months=4, seed=1, oracle=Oracle(paths=2), workers=1)
    names = {p.stem for p in tmp_path.rglob("*.parquet")}
    assert not names & {"play_assignments", "play_actions", "play_effects", "plays"}


def test_bad_plays_are_refused() -> None:
    with pytest.raises(ValueError, match="month must be >= 1"):
        Play("x", month=0, effect=(0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="play names must be unique"):
        Plays((Play("x", month=1, effect=(0, 0, 0)), Play("x", month=2, effect=(0, 0, 0))))
    with pytest.raises(ValueError, match="plays need the oracle"):
        generate(
            Path("/nonexistent"), accounts=5, months=4, oracle=Oracle(paths=0), params=replace(Params(), plays=PLAYS)
        )


def test_the_cli_publishes_the_effects_for_the_server(world: Path, tmp_path: Path) -> None:
    store = tmp_path / "scores"
    done = CliRunner().invoke(app, ["effects", str(world), "--publish", str(store)], env={"COLUMNS": "160"})
    assert done.exit_code == 0, done.output
    assert "Published the effects for the server to" in done.output
    published = FolderStore(store).document("effects")
    assert published is not None
    expected = effects_document(measure(world))
    assert {k: v for k, v in published.items() if k != "measured_at"} == {
        k: v for k, v in expected.items() if k != "measured_at"
    }
    assert {p["play"] for p in published["plays"]} == {p.name for p in PLAYS.plays}
    assert published["matured_through"] is not None and published["measured_at"] is not None


def test_the_cli_ranks_the_latest_accounts_by_how_much_each_play_helps(world: Path, tmp_path: Path) -> None:
    oracle = pd.read_parquet(world / "ground_truth" / "oracle.parquet", columns=["account_id", "as_of", "p_churn"])
    scores = tmp_path / "scores.parquet"
    oracle.to_parquet(scores)
    out = tmp_path / "ranking.csv"
    done = CliRunner().invoke(app, ["effects", str(world), "--rank", str(scores), "--rank-out", str(out)],
                              env={"COLUMNS": "160"})  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "the accounts it would help most" in done.output and "Wrote the ranking" in done.output
    ranking = pd.read_csv(out)
    latest = oracle[oracle.as_of == oracle.as_of.max()]
    for play, g in ranking.groupby("play"):
        # Every account of the latest scores, once, ranked 1..n by decreasing uplift.
        assert sorted(g.account_id) == sorted(latest.account_id), play
        assert g["rank"].tolist() == list(range(1, len(g) + 1)) and g.uplift.is_monotonic_decreasing, play
    assert "health_check_call" in set(ranking.play)
    refused = CliRunner().invoke(app, ["effects", str(world), "--rank-out", str(out)])
    assert refused.exit_code != 0 and "--rank-out needs --rank SCORES" in refused.output
