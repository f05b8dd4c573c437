"""``churn score``: score the latest snapshot of every active account with the champion models, store the scores
(warehouse table ``scores.accounts``, or a PostgreSQL table) and publish them for the server (``pipelines.publish``).
One row per account and as_of: re-scoring an as_of replaces its rows, other dates stay, so health can be followed
over time.

Holdouts: each account's suggested play is checked against ``features.holdout.held_out`` (``Holdout``: seed and
share, CHURN_HOLDOUT_SEED and CHURN_HOLDOUT_SHARE or the options of ``churn score``). A held-out account keeps its
play in the stored scores (``held_out`` true, so the effects know what it was held out of); the published version
shows it no play. The assignments of the scored dates go to the warehouse table ``scores.play_assignments``
(account_id, play, as_of, eligible, held_out, seed, share: ``pipelines.effects`` reads them)."""

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import numpy as np
import pandas as pd
import sqlalchemy as sa

from features.holdout import HOLDOUT_SHARE, held_out
from models.published import is_postgres, shown
from models.registered import load_pair
from models.scoring import CURVE_COLUMNS, Scorer
from pipelines.publish import KEEP, Published, postgres_scores, publish_table, with_renewals
from pipelines.settings import get_settings
from pipelines.warehouse import arrow_table, replace_rows

ACCOUNT_COLUMNS = ("name", "segment", "touch_model", "csm_owner", "industry", "region")
JSON_COLUMNS = ("components", "reasons", "upsell_reasons")
# The columns added since the first release come last, in the order they came: a table written before them gains
# them by ALTER TABLE ADD COLUMN (``MIGRATES``), at the end, NULL in its older rows.
ADDED = (("notice_given", "BOOLEAN"), ("held_out", "BOOLEAN"), ("next_renewal_at", "TIMESTAMPTZ"),
         ("renewal_arr", "DOUBLE"), ("expected_expansion_arr", "DOUBLE"),
         *((c, "DOUBLE") for c in CURVE_COLUMNS), ("expected_churn_at", "TIMESTAMPTZ"))  # fmt: skip
COLUMNS = ("account_id", "as_of", "name", "segment", "touch_model", "csm_owner", "industry", "region", "p_churn",
           "p_upsell", "health", "tier", "components", "reasons", "upsell_reasons", "arr", "revenue_at_risk", "play",
           "churn_version", "upsell_version", "scored_at", *(c for c, _ in ADDED))  # fmt: skip
HOLDOUT_SEED = 24  # the default seed of the holdouts: fixed, so that every run holds out the same accounts
ASSIGNMENTS = "scores.play_assignments"
ASSIGNMENT_COLUMNS = ("account_id", "play", "as_of", "eligible", "held_out", "seed", "share")


@dataclass(frozen=True)
class Holdout:
    """Which accounts are held out of their suggested play: ``features.holdout.held_out`` with this seed and share
    (of the accounts suggested each play). Change the seed only to start a new experiment."""

    seed: int = HOLDOUT_SEED
    share: float = HOLDOUT_SHARE

    def __post_init__(self) -> None:
        if not 0.0 <= self.share < 1.0:
            raise ValueError(f"the holdout share must be in [0, 1), got {self.share}: 0.2 holds out a fifth")


def configured_holdout(seed: int | None = None, share: float | None = None) -> Holdout:
    """``seed`` and ``share`` where given, else CHURN_HOLDOUT_SEED and CHURN_HOLDOUT_SHARE, else the defaults."""
    s = get_settings()
    seed = seed if seed is not None else s.holdout_seed
    share = share if share is not None else s.holdout_share
    return Holdout(HOLDOUT_SEED if seed is None else seed, HOLDOUT_SHARE if share is None else share)


def holdouts(account_ids: Sequence[object], plays: Sequence[str], holdout: Holdout) -> np.ndarray:
    """Per row, whether the account is held out of its play (never when it has none: not eligible for any)."""
    ids, plays_ = np.asarray(account_ids, dtype=object), np.asarray(plays, dtype=object)
    out = np.zeros(len(ids), dtype=bool)
    for play in {p for p in plays_ if isinstance(p, str) and p}:
        at = np.flatnonzero(plays_ == play)
        out[at] = held_out(ids[at], play, seed=holdout.seed, share=holdout.share)
    return out


@dataclass(frozen=True)
class ScoreReport:
    as_of: list[datetime]
    accounts: int
    tiers: dict[str, int]
    revenue_at_risk: float
    versions: dict[str, str]
    seconds: float
    target: str
    published: Published | None = None  # the version published for the server, if one was


def champion_scorer(tracking_uri: str, alias: str = "champion") -> Scorer:
    """The ``Scorer`` of the churn and upsell models at ``alias`` (the champions by default)."""
    return load_pair(tracking_uri, alias)[1]


def latest_dates(con: duckdb.DuckDBPyConnection, n: int = 1) -> list[datetime]:
    try:
        got = con.execute("SELECT DISTINCT as_of FROM features.snapshots ORDER BY as_of DESC LIMIT ?", [n]).fetchall()
    except duckdb.CatalogException as e:
        raise ValueError("the warehouse has no feature snapshots: run `churn features build` first") from e
    if not got:
        raise ValueError("features.snapshots is empty: run `churn features build` first")
    return sorted(r[0] for r in got)


def score_dates(con: duckdb.DuckDBPyConnection, scorer: Scorer, dates: Sequence[datetime],
                holdout: Holdout = Holdout()) -> pd.DataFrame:  # fmt: skip
    """Scores of every account with a snapshot at ``dates``, with the account's name, owner and segment."""
    # The account's columns that the snapshot does not have already (the registry's firmographics are features;
    # a feature table may have none of them).
    have = {r[0] for r in con.execute("DESCRIBE features.snapshots").fetchall()}
    cols = ", ".join(f"a.{c}" for c in ACCOUNT_COLUMNS if c not in have)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _dates AS SELECT UNNEST(CAST(? AS TIMESTAMPTZ[])) AS as_of", [list(dates)]
    )
    sql = (
        f"SELECT s.*, {cols} FROM features.snapshots s JOIN _dates USING (as_of) "
        "LEFT JOIN raw.accounts a USING (account_id) ORDER BY s.as_of, s.account_id"
    )
    # Through Arrow: duckdb 2.0's .df() calls DataFrame.drop(inplace=True) on time-zone-aware columns, which
    # pandas 3.1 deprecates (an error under the tests' warning filters).
    rows = with_renewals(con, con.sql(sql).to_arrow_table().to_pandas())
    return scored(rows, scorer, datetime.now(UTC), holdout)


def scored(rows: pd.DataFrame, scorer: Scorer, scored_at: datetime, holdout: Holdout = Holdout()) -> pd.DataFrame:
    """The stored form (``COLUMNS``) of the scores of ``rows`` (snapshots with the accounts' columns): reasons and
    components as JSON text, notice_given as a nullable boolean (the snapshot's ``cancellation_pending``; NULL
    when the rows lack it), held_out whether the account is held out of its play (``holdouts``); the renewal
    columns from ``rows`` when it has them (``pipelines.publish.with_renewals``), NULL otherwise. The Spark engine
    applies this very function to each part of its table, joined to the renewals it computes from the same SQL."""
    scores = scorer.score(rows)
    if "next_renewal_at" in rows:
        at = pd.to_datetime(rows["next_renewal_at"], utc=True).astype("datetime64[us, UTC]")
        scores["next_renewal_at"] = pd.Series(at.array, index=scores.index)
        scores["renewal_arr"] = rows["renewal_arr"].astype("float64").to_numpy()
    else:
        scores["next_renewal_at"] = pd.Series(pd.NaT, index=scores.index, dtype="datetime64[us, UTC]")
        scores["renewal_arr"] = np.nan
    scores["expected_churn_at"] = pd.to_datetime(scores["expected_churn_at"], utc=True).astype("datetime64[us, UTC]")
    for c in ACCOUNT_COLUMNS:
        scores[c] = rows[c].to_numpy()
    scores["scored_at"] = pd.Timestamp(scored_at)
    for c in JSON_COLUMNS:
        scores[c] = [json.dumps(v) for v in scores[c]]
    scores["notice_given"] = scores["notice_given"].astype("boolean")
    scores["held_out"] = holdouts(scores["account_id"].tolist(), scores["play"].tolist(), holdout)
    return scores[list(COLUMNS)]


def assignments(scores: pd.DataFrame, holdout: Holdout) -> pd.DataFrame:
    """The play assignments of ``scores`` (``ASSIGNMENT_COLUMNS``): one row per account with a suggested play,
    eligible, held out or not, under the seed and share that decided it."""
    rows = scores.loc[scores["play"].fillna("") != "", ["account_id", "play", "as_of", "held_out"]]
    return rows.assign(eligible=True, held_out=rows["held_out"].astype(bool), seed=holdout.seed,
                       share=holdout.share)[list(ASSIGNMENT_COLUMNS)].reset_index(drop=True)  # fmt: skip


ASSIGNMENTS_DDL = f"""CREATE TABLE IF NOT EXISTS {ASSIGNMENTS} (account_id VARCHAR NOT NULL, play VARCHAR NOT NULL,
    as_of TIMESTAMPTZ NOT NULL, eligible BOOLEAN NOT NULL, held_out BOOLEAN NOT NULL, seed BIGINT NOT NULL,
    share DOUBLE NOT NULL, PRIMARY KEY (account_id, play, as_of))"""


def write_assignments(con: duckdb.DuckDBPyConnection, scores: pd.DataFrame, holdout: Holdout) -> None:
    """Replace the play assignments of the scored as_of dates in ``scores.play_assignments`` (one transaction)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS scores")
    con.execute(ASSIGNMENTS_DDL)
    dates = [d.to_pydatetime() for d in pd.to_datetime(scores["as_of"].unique(), utc=True)]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _scored_dates AS SELECT UNNEST(CAST(? AS TIMESTAMPTZ[])) AS as_of", [dates]
    )
    rows = arrow_table(assignments(scores, holdout))
    replace_rows(con, ASSIGNMENTS, rows, "as_of IN (SELECT as_of FROM _scored_dates)")


DDL = (
    """CREATE TABLE IF NOT EXISTS {table} (
    account_id VARCHAR NOT NULL, as_of TIMESTAMPTZ NOT NULL, name VARCHAR, segment VARCHAR, touch_model VARCHAR,
    csm_owner VARCHAR, industry VARCHAR, region VARCHAR, p_churn DOUBLE, p_upsell DOUBLE, health DOUBLE,
    tier VARCHAR, components VARCHAR, reasons VARCHAR, upsell_reasons VARCHAR, arr DOUBLE, revenue_at_risk DOUBLE,
    play VARCHAR, churn_version VARCHAR, upsell_version VARCHAR, scored_at TIMESTAMPTZ, """
    + ", ".join(f"{c} {kind}" for c, kind in ADDED)
    + """, PRIMARY KEY (account_id, as_of))"""
)
# A table created before a column of ``ADDED`` existed gains it; its older rows keep NULL there: notice_given
# unknown (the server then reads the stored snapshot's cancellation_pending, see serving.state), not held out, no
# renewal, expansion or churn curve known.
MIGRATES = tuple(f"ALTER TABLE {{table}} ADD COLUMN IF NOT EXISTS {c} {kind}" for c, kind in ADDED)


def write_warehouse(con: duckdb.DuckDBPyConnection, scores: pd.DataFrame) -> None:
    """Replace the scores of these as_of dates in ``scores.accounts`` (one transaction)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS scores")
    con.execute(DDL.format(table="scores.accounts"))
    for migrate in MIGRATES:
        con.execute(migrate.format(table="scores.accounts"))
    replace_rows(con, "scores.accounts", arrow_table(scores), "as_of IN (SELECT DISTINCT as_of FROM _new)")


def write_postgres(url: str, scores: pd.DataFrame, table: str = "churn_scores", schema: str | None = None) -> None:
    """Replace the scores of these as_of dates in a PostgreSQL table (created if missing), in one transaction."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f'"{schema}"."{table}"' if schema else f'"{table}"'
    ddl = DDL.format(table=name).replace("DOUBLE", "DOUBLE PRECISION").replace("VARCHAR", "TEXT")
    with engine.begin() as c:
        c.execute(sa.text(ddl))
        for migrate in MIGRATES:
            c.execute(sa.text(migrate.format(table=name).replace("DOUBLE", "DOUBLE PRECISION")))
        dates = [d.to_pydatetime() for d in pd.to_datetime(scores["as_of"].unique(), utc=True)]
        c.execute(sa.text(f"DELETE FROM {name} WHERE as_of = ANY(:dates)"), {"dates": dates})
        with c.connection.driver_connection.cursor() as cur:  # type: ignore[union-attr]
            cols = ", ".join(COLUMNS)
            with cur.copy(f"COPY {name} ({cols}) FROM STDIN") as copy:
                for row in scores.astype(object).itertuples(index=False):
                    copy.write_row(
                        [None if v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v) else v for v in row]
                    )
    engine.dispose()


def score(
    con: duckdb.DuckDBPyConnection, scorer: Scorer, dates: Sequence[datetime] | None = None, to: str | None = None,
    keep: int = KEEP, holdout: Holdout | None = None,
) -> ScoreReport:  # fmt: skip
    """Score ``dates`` (default: the latest snapshot date) and store the scores: with ``to`` a postgresql:// URL in
    its table ``churn_scores``, else in the warehouse's ``scores.accounts``. With ``to`` (that URL, or a folder), the
    whole table is then published there as a new version for the server, keeping the newest ``keep`` versions.
    The play assignments go to the warehouse's ``scores.play_assignments`` either way; ``holdout`` defaults to
    CHURN_HOLDOUT_SEED and CHURN_HOLDOUT_SHARE, so that every caller (score, retrain, demo) holds out alike."""
    t0 = time.perf_counter()
    holdout = holdout or configured_holdout()
    dates = list(dates or latest_dates(con))
    scores = score_dates(con, scorer, dates, holdout)
    write_assignments(con, scores, holdout)
    published = None
    if to and is_postgres(to):
        write_postgres(to, scores)
        con.register("_postgres_scores", postgres_scores(to))
        try:
            published = publish_table(con, "_postgres_scores", to, keep)
        finally:
            con.unregister("_postgres_scores")
    else:
        write_warehouse(con, scores)
        if to:
            published = publish_table(con, "scores.accounts", to, keep)
    latest = scores[scores["as_of"] == scores["as_of"].max()]
    return ScoreReport(
        as_of=dates, accounts=len(latest), tiers=latest["tier"].value_counts().to_dict(),
        revenue_at_risk=float(latest["revenue_at_risk"].sum(min_count=1)), versions=dict(scorer.versions),
        seconds=time.perf_counter() - t0, published=published,
        target=f"table churn_scores at {shown(to)}" if to and is_postgres(to) else "warehouse table scores.accounts",
    )  # fmt: skip
