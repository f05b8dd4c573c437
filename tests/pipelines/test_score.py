"""``churn score`` into the warehouse and into a real PostgreSQL server: the scores equal the fitted model's
probabilities on the snapshots, re-scoring an as_of replaces its rows, a new as_of adds rows, and PostgreSQL holds
the same values as the warehouse. Each test writes to a copy of the served world's warehouse."""

import json
import shutil
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import psycopg
import pytest

from models.explain import HealthConfig
from models.scoring import Scorer
from pipelines.score import ADDED, COLUMNS, champion_scorer, latest_dates, score, score_dates, write_postgres
from pipelines.warehouse import connect
from tests.serving.conftest import Served, build_served, read_table

URL = "postgresql://postgres@127.0.0.1:5432/test"
SCORES = "SELECT * FROM scores.accounts ORDER BY as_of, account_id"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Served:
    return build_served(tmp_path_factory)


@pytest.fixture(scope="module")
def scorer(served: Served) -> Scorer:
    s = champion_scorer(served.tracking_uri)
    assert s.versions == {"churn": "1", "upsell": "1"}  # the champion that scored the served warehouse
    return s


@pytest.fixture
def warehouse(served: Served, tmp_path: Path) -> Path:
    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(served.warehouse, copy)
    return copy


def _digits(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _digits(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_digits(x) for x in v]
    if isinstance(v, float) and not isinstance(v, bool):
        return float(f"{v:.12g}")
    return v


def _parsed(v: Any) -> Any:
    """A JSON text's value (reasons, components), else ``v`` itself."""
    if isinstance(v, str) and v[:1] in "[{":
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def steady(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every number, those inside its JSON columns too (reasons, components), to 12 significant digits:
    a row's SHAP contributions scored in a batch of another size may differ in their last bits."""
    out = frame.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].map(lambda v: float(f"{v:.12g}") if pd.notna(v) else v)
        elif not pd.api.types.is_numeric_dtype(out[c]):
            out[c] = pd.Series([_digits(_parsed(v)) for v in out[c]], index=out.index, dtype=object)
    return out


def snapshot_dates(path: Path) -> list[datetime]:
    sql = "SELECT DISTINCT as_of FROM features.snapshots ORDER BY as_of"
    return list(read_table(path, sql)["as_of"].dt.to_pydatetime())


def test_scores_equal_the_fitted_model_on_the_snapshots(served: Served, warehouse: Path) -> None:
    scored = read_table(warehouse, SCORES)
    assert sorted(scored["as_of"].unique()) == sorted(pd.to_datetime(served.dates, utc=True))
    assert served.dates == snapshot_dates(warehouse)[-3:]
    assert not scored.duplicated(["account_id", "as_of"]).any()
    snaps = read_table(warehouse, "SELECT * FROM features.snapshots WHERE as_of >= ? ORDER BY as_of, account_id",
                       [served.dates[0]])  # fmt: skip
    assert list(zip(scored["account_id"], scored["as_of"], strict=True)) == list(
        zip(snaps["account_id"], snaps["as_of"], strict=True)
    )  # one row per active account and date, no more, no fewer
    churn, upsell = served.models["churn"], served.models["upsell"]
    np.testing.assert_allclose(scored["p_churn"], churn.predict_proba(churn.prepare(snaps))[:, 1], rtol=0, atol=1e-9)
    np.testing.assert_allclose(scored["p_upsell"], upsell.predict_proba(upsell.prepare(snaps))[:, 1], rtol=0, atol=1e-9)
    np.testing.assert_allclose(scored["health"], 100 * (1 - scored["p_churn"]), rtol=0, atol=1e-9)
    cut = HealthConfig()
    tiers = np.select([scored["health"] < cut.red_below, scored["health"] < cut.yellow_below], ["red", "yellow"],
                      "green")  # fmt: skip
    assert (scored["tier"] == tiers).all()
    np.testing.assert_allclose(scored["revenue_at_risk"], scored["p_churn"] * snaps["arr"], rtol=1e-12)
    accounts = read_table(warehouse, "SELECT account_id, name, csm_owner, segment FROM raw.accounts")
    joined = scored[["account_id", "name", "csm_owner", "segment"]].merge(accounts, on="account_id", how="left")
    for c in ("name", "csm_owner", "segment"):
        assert (joined[f"{c}_x"].fillna("?") == joined[f"{c}_y"].fillna("?")).all(), c
    assert set(scored["churn_version"]) == {"1"} and set(scored["upsell_version"]) == {"1"}


def test_notice_given_is_the_snapshots_cancellation_pending(served: Served, warehouse: Path) -> None:
    scored = read_table(warehouse, SCORES)
    snaps = read_table(warehouse, "SELECT account_id, as_of, cancellation_pending FROM features.snapshots "
                                  "WHERE as_of >= ?", [served.dates[0]])  # fmt: skip
    both = scored[["account_id", "as_of", "notice_given"]].merge(snaps, on=["account_id", "as_of"], how="left")
    assert len(both) == len(scored) and both["cancellation_pending"].notna().all()
    assert set(both["cancellation_pending"]) == {0.0, 1.0}  # both kinds of account are there to compare
    assert [bool(v) for v in both["notice_given"]] == [v == 1.0 for v in both["cancellation_pending"]]
    assert scored["notice_given"].dtype == bool  # stored as BOOLEAN, never NULL for a built snapshot


def test_scoring_into_a_table_written_before_notice_given_adds_it(
    served: Served, scorer: Scorer, warehouse: Path
) -> None:
    with duckdb.connect(str(warehouse)) as con:  # the table as `churn score` wrote it before the columns existed
        for column, _ in ADDED:
            con.execute(f"ALTER TABLE scores.accounts DROP COLUMN {column}")
    before = read_table(warehouse, SCORES)
    with connect(warehouse) as con:
        score(con, scorer, [served.dates[-1]])
    after = read_table(warehouse, SCORES)
    assert (
        list(after.columns)
        == [
            *before.columns,
            "notice_given",
            "held_out",
            "next_renewal_at",
            "renewal_arr",
            "expected_expansion_arr",
            "churn_within_30",
            "churn_within_60",
            "churn_within_90",
            "churn_within_180",
            "churn_within_365",
            "expected_churn_at",
        ]
        == list(COLUMNS)
    )
    latest = after["as_of"] == pd.Timestamp(served.dates[-1])
    assert after.loc[latest, "notice_given"].notna().all() and after.loc[latest, "notice_given"].astype(bool).any()
    assert after.loc[~latest, "notice_given"].isna().all()  # older rows: unknown, until scored again
    kept = before[before["as_of"] != pd.Timestamp(served.dates[-1])].reset_index(drop=True)
    pd.testing.assert_frame_equal(after.loc[~latest, list(before.columns)].reset_index(drop=True), kept)


def test_latest_dates_and_a_warehouse_without_snapshots(warehouse: Path, tmp_path: Path) -> None:
    with connect(warehouse, read_only=True) as con:
        assert latest_dates(con, 4) == snapshot_dates(warehouse)[-4:]
        assert latest_dates(con) == snapshot_dates(warehouse)[-1:]
    with duckdb.connect(str(tmp_path / "empty.duckdb")) as con, pytest.raises(ValueError, match="features build"):
        latest_dates(con)


def test_rescoring_an_as_of_replaces_its_rows(served: Served, scorer: Scorer, warehouse: Path) -> None:
    before = read_table(warehouse, SCORES)
    latest = pd.Timestamp(served.dates[-1])
    with connect(warehouse) as con:
        report = score(con, scorer, [served.dates[-1]])
    after = read_table(warehouse, SCORES)

    assert len(after) == len(before)
    old, new = before[before["as_of"] == latest], after[after["as_of"] == latest].reset_index(drop=True)
    assert new["scored_at"].min() > old["scored_at"].max()
    values = [c for c in COLUMNS if c != "scored_at"]
    # same models, same scores (to 12 digits: the same row scored in another batch may differ in its last bits)
    pd.testing.assert_frame_equal(steady(new[values]), steady(old[values].reset_index(drop=True)))
    pd.testing.assert_frame_equal(after[after["as_of"] != latest], before[before["as_of"] != latest])
    assert report.as_of == [served.dates[-1]] and report.accounts == len(new)
    assert report.tiers == new["tier"].value_counts().to_dict()
    assert report.revenue_at_risk == pytest.approx(float((new["p_churn"] * new["arr"]).sum()), rel=1e-9)


def test_a_new_as_of_adds_rows(served: Served, scorer: Scorer, warehouse: Path) -> None:
    before = read_table(warehouse, SCORES)
    earlier = snapshot_dates(warehouse)[-4]
    assert pd.Timestamp(earlier) not in set(before["as_of"])
    expected = read_table(warehouse, "SELECT account_id FROM features.snapshots WHERE as_of = ?", [earlier])
    with connect(warehouse) as con:
        score(con, scorer, [earlier])
    after = read_table(warehouse, SCORES)
    added = after[after["as_of"] == pd.Timestamp(earlier)]
    assert len(after) == len(before) + len(expected)
    assert sorted(added["account_id"]) == sorted(expected["account_id"])
    kept = after[after["as_of"] != pd.Timestamp(earlier)].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, before)


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A schema of its own, dropped afterwards whatever happens."""
    schema = f"score_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(URL, autocommit=True) as c:
        c.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        with psycopg.connect(URL, autocommit=True) as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def read_pg(schema: str, table: str) -> pd.DataFrame:
    with psycopg.connect(URL) as c, c.cursor() as cur:
        cur.execute(f'SELECT {", ".join(COLUMNS)} FROM "{schema}"."{table}" ORDER BY as_of, account_id')
        frame = pd.DataFrame(cur.fetchall(), columns=list(COLUMNS))
    for c in ("as_of", "scored_at"):
        frame[c] = pd.to_datetime(frame[c], utc=True)
    frame["notice_given"] = frame["notice_given"].astype("boolean")
    return frame


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column but scored_at, as plain objects (None for missing), times as UTC instants, numbers to 12
    digits (``steady``)."""
    out = frame[[c for c in COLUMNS if c != "scored_at"]].reset_index(drop=True).copy()
    out["as_of"] = pd.to_datetime(out["as_of"], utc=True).dt.as_unit("us")
    return steady(out.astype(object).where(out.notna(), None))


@pytest.mark.postgres
def test_postgres_holds_what_the_warehouse_holds_and_replaces_on_rerun(
    served: Served, scorer: Scorer, warehouse: Path, pg_schema: str
) -> None:
    # score() writes the table churn_scores; the search_path puts it in this test's schema
    url = f"{URL}?options=-csearch_path%3D{pg_schema}"
    with connect(warehouse) as con:
        score(con, scorer, served.dates[-2:], to=url)
    pg = read_pg(pg_schema, "churn_scores")
    wh = read_table(warehouse, SCORES)
    wh = wh[wh["as_of"] >= pd.Timestamp(served.dates[-2])]
    assert len(pg) == len(wh) > 0
    pd.testing.assert_frame_equal(comparable(pg), comparable(wh))

    with connect(warehouse) as con:
        score(con, scorer, [served.dates[-1]], to=url)
    again = read_pg(pg_schema, "churn_scores")
    assert len(again) == len(pg)
    latest = pd.Timestamp(served.dates[-1])
    assert again.loc[again["as_of"] == latest, "scored_at"].min() > pg.loc[pg["as_of"] == latest, "scored_at"].max()
    pd.testing.assert_frame_equal(comparable(again), comparable(pg))
    earlier = again["as_of"] != latest
    assert (again.loc[earlier, "scored_at"].to_numpy() == pg.loc[earlier, "scored_at"].to_numpy()).all()


@pytest.mark.postgres
def test_write_postgres_to_a_named_table_and_schema(
    served: Served, scorer: Scorer, warehouse: Path, pg_schema: str
) -> None:
    with connect(warehouse, read_only=True) as con:
        frame = score_dates(con, scorer, [served.dates[-1]])
    write_postgres(URL, frame, table="scores_elsewhere", schema=pg_schema)
    write_postgres(URL, frame, table="scores_elsewhere", schema=pg_schema)  # the same as_of again: replaced
    got = read_pg(pg_schema, "scores_elsewhere")
    pd.testing.assert_frame_equal(comparable(got), comparable(frame))
    assert (got["scored_at"] == pd.Timestamp(frame["scored_at"].iloc[0])).all()
