"""``churn score``: score the latest snapshot of every active account with the champion models, store the scores
(warehouse table ``scores.accounts``, or a PostgreSQL table) and publish them for the server (``pipelines.publish``).
One row per account and as_of: re-scoring an as_of replaces its rows, other dates stay, so health can be followed
over time."""

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pandas as pd
import sqlalchemy as sa

from models.published import is_postgres, shown
from models.registered import load_pair
from models.scoring import Scorer
from pipelines.publish import KEEP, Published, postgres_scores, publish_table
from pipelines.warehouse import arrow_table, replace_rows

ACCOUNT_COLUMNS = ("name", "segment", "touch_model", "csm_owner", "industry", "region")
JSON_COLUMNS = ("components", "reasons", "upsell_reasons")
# notice_given comes last: a table written before it existed gets it by ALTER TABLE ADD COLUMN, at the end.
COLUMNS = ("account_id", "as_of", "name", "segment", "touch_model", "csm_owner", "industry", "region", "p_churn",
           "p_upsell", "health", "tier", "components", "reasons", "upsell_reasons", "arr", "revenue_at_risk", "play",
           "churn_version", "upsell_version", "scored_at", "notice_given")  # fmt: skip


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


def score_dates(con: duckdb.DuckDBPyConnection, scorer: Scorer, dates: Sequence[datetime]) -> pd.DataFrame:
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
    return scored(con.sql(sql).to_arrow_table().to_pandas(), scorer, datetime.now(UTC))


def scored(rows: pd.DataFrame, scorer: Scorer, scored_at: datetime) -> pd.DataFrame:
    """The stored form (``COLUMNS``) of the scores of ``rows`` (snapshots with the accounts' columns): reasons and
    components as JSON text, notice_given as a nullable boolean (the snapshot's ``cancellation_pending``; NULL
    when the rows lack it). The Spark engine applies this very function to each part of its table."""
    scores = scorer.score(rows)
    for c in ACCOUNT_COLUMNS:
        scores[c] = rows[c].to_numpy()
    scores["scored_at"] = pd.Timestamp(scored_at)
    for c in JSON_COLUMNS:
        scores[c] = [json.dumps(v) for v in scores[c]]
    scores["notice_given"] = scores["notice_given"].astype("boolean")
    return scores[list(COLUMNS)]


DDL = """CREATE TABLE IF NOT EXISTS {table} (
    account_id VARCHAR NOT NULL, as_of TIMESTAMPTZ NOT NULL, name VARCHAR, segment VARCHAR, touch_model VARCHAR,
    csm_owner VARCHAR, industry VARCHAR, region VARCHAR, p_churn DOUBLE, p_upsell DOUBLE, health DOUBLE,
    tier VARCHAR, components VARCHAR, reasons VARCHAR, upsell_reasons VARCHAR, arr DOUBLE, revenue_at_risk DOUBLE,
    play VARCHAR, churn_version VARCHAR, upsell_version VARCHAR, scored_at TIMESTAMPTZ, notice_given BOOLEAN,
    PRIMARY KEY (account_id, as_of))"""
# A table created before notice_given existed gains it; its older rows keep NULL there (unknown; the server then
# reads the stored snapshot's cancellation_pending, see serving.state).
MIGRATE = "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS notice_given BOOLEAN"


def write_warehouse(con: duckdb.DuckDBPyConnection, scores: pd.DataFrame) -> None:
    """Replace the scores of these as_of dates in ``scores.accounts`` (one transaction)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS scores")
    con.execute(DDL.format(table="scores.accounts"))
    con.execute(MIGRATE.format(table="scores.accounts"))
    replace_rows(con, "scores.accounts", arrow_table(scores), "as_of IN (SELECT DISTINCT as_of FROM _new)")


def write_postgres(url: str, scores: pd.DataFrame, table: str = "churn_scores", schema: str | None = None) -> None:
    """Replace the scores of these as_of dates in a PostgreSQL table (created if missing), in one transaction."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f'"{schema}"."{table}"' if schema else f'"{table}"'
    ddl = DDL.format(table=name).replace("DOUBLE", "DOUBLE PRECISION").replace("VARCHAR", "TEXT")
    with engine.begin() as c:
        c.execute(sa.text(ddl))
        c.execute(sa.text(MIGRATE.format(table=name)))
        dates = [d.to_pydatetime() for d in pd.to_datetime(scores["as_of"].unique(), utc=True)]
        c.execute(sa.text(f"DELETE FROM {name} WHERE as_of = ANY(:dates)"), {"dates": dates})
        with c.connection.driver_connection.cursor() as cur:  # type: ignore[union-attr]
            cols = ", ".join(COLUMNS)
            with cur.copy(f"COPY {name} ({cols}) FROM STDIN") as copy:
                for row in scores.astype(object).itertuples(index=False):
                    copy.write_row([None if v is pd.NA or (isinstance(v, float) and v != v) else v for v in row])
    engine.dispose()


def score(
    con: duckdb.DuckDBPyConnection, scorer: Scorer, dates: Sequence[datetime] | None = None, to: str | None = None,
    keep: int = KEEP,
) -> ScoreReport:  # fmt: skip
    """Score ``dates`` (default: the latest snapshot date) and store the scores: with ``to`` a postgresql:// URL in
    its table ``churn_scores``, else in the warehouse's ``scores.accounts``. With ``to`` (that URL, or a folder), the
    whole table is then published there as a new version for the server, keeping the newest ``keep`` versions."""
    t0 = time.perf_counter()
    dates = list(dates or latest_dates(con))
    scores = score_dates(con, scorer, dates)
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
