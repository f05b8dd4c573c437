"""The layout of published scores, shared by the batch job that writes them (``pipelines.publish``) and the server
that reads them (``serving.store``): the columns of a version, the names of its files and tables.

A version is immutable. It holds one row per account active at the latest scored as_of: the columns the rankings
read, the account's top reason, and two JSON texts prepared once at publish time, the API's answer for the
account's latest score (``payload``) and its score history (``history``, one point per scored as_of, oldest first),
so that loading a version only reads bytes.

Two stores hold versions:

- a folder: ``v<UTC time>-<id>.parquet`` per version, each written under a hidden temporary name and renamed into
  place, and ``CURRENT``, a few bytes naming the version to serve, replaced the same way (so a reader sees the old
  pointer or the new one, and the new one only once its file is whole);
- PostgreSQL: ``churn_score_versions`` (version, published_at, as_of, rows) and ``churn_score_rows`` (the version's
  rows, keyed by version and account), a version's row inserted in the same transaction as its rows, so a reader
  that picks versions from ``churn_score_versions`` never sees part of one. The latest published version is served.

``held_out``: the account is held out of its suggested play (``pipelines.score``); its ``play`` is then null in the
version, so no page, ranking or API client acts on it, and its payload says ``held_out: true``.

Actions that CSMs and systems record on accounts (``serving.actions`` writes them, ``pipelines.effects`` reads them)
sit beside the versions, append-only: ``actions.jsonl`` in the folder (one JSON object per line, ``ACTION_FIELDS``),
or the table ``churn_actions`` in PostgreSQL.
"""

import re
from datetime import datetime

import pyarrow as pa
from sqlalchemy.engine import make_url

# The columns a ranking or a page reads (models.ranking, serving.pages), then the JSON texts.
FRAME_SCHEMA = pa.schema(
    [
        ("account_id", pa.string()), ("as_of", pa.timestamp("us", tz="UTC")), ("name", pa.string()),
        ("segment", pa.string()), ("touch_model", pa.string()), ("csm_owner", pa.string()),
        ("industry", pa.string()), ("region", pa.string()), ("p_churn", pa.float64()), ("p_upsell", pa.float64()),
        ("health", pa.float64()), ("tier", pa.string()), ("arr", pa.float64()), ("revenue_at_risk", pa.float64()),
        ("play", pa.string()), ("churn_version", pa.string()), ("upsell_version", pa.string()),
        ("scored_at", pa.timestamp("us", tz="UTC")), ("notice_given", pa.bool_()), ("top_reason", pa.string()),
        ("held_out", pa.bool_()), ("next_renewal_at", pa.timestamp("us", tz="UTC")), ("renewal_arr", pa.float64()),
        ("expected_expansion_arr", pa.float64()),
        *((f"churn_within_{d}", pa.float64()) for d in (30, 60, 90, 180, 365)),
        ("expected_churn_at", pa.timestamp("us", tz="UTC")),
    ]
)  # fmt: skip
# Columns a version published before them lacks (read as null: none known; ``held_out`` as not held out).
LATER = ("held_out", "next_renewal_at", "renewal_arr", "expected_expansion_arr",
         *(f"churn_within_{d}" for d in (30, 60, 90, 180, 365)), "expected_churn_at")  # fmt: skip
JSON_FIELDS = ("payload", "history")
SCHEMA = pa.schema([*FRAME_SCHEMA, *(pa.field(n, pa.string()) for n in JSON_FIELDS)])

POINTER = "CURRENT"
# The latest monitoring document (``churn monitor``): a JSON file beside the versions, replaced whole, or the newest
# row of a PostgreSQL table. Small; read by the server at every reload interval.
MONITORING = "monitoring.json"
MONITORING_TABLE = "churn_monitoring"
# The latest forecast of the book's retention (``churn forecast``), kept the same way as the monitoring.
FORECAST = "forecast.json"
FORECAST_TABLE = "churn_forecast"
# The latest effects of the plays (``churn effects --publish``), kept the same way.
EFFECTS = "effects.json"
EFFECTS_TABLE = "churn_effects"
# Published documents by kind: (file in a folder store, table in PostgreSQL).
DOCUMENTS = {
    "monitoring": (MONITORING, MONITORING_TABLE),
    "forecast": (FORECAST, FORECAST_TABLE),
    "effects": (EFFECTS, EFFECTS_TABLE),
}
# The command that publishes each kind, for the messages that say what to run.
PUBLISHED_BY = {"monitoring": "churn monitor", "forecast": "churn forecast", "effects": "churn effects --publish"}


def document_ddl(table: str) -> str:
    return f"CREATE TABLE IF NOT EXISTS {table} (published_at TIMESTAMPTZ NOT NULL, body TEXT NOT NULL)"


def latest_document_sql(table: str) -> str:
    return f"SELECT body FROM {table} ORDER BY published_at DESC LIMIT 1"


SUFFIX = ".parquet"
VERSIONS_TABLE, ROWS_TABLE = "churn_score_versions", "churn_score_rows"
VERSION = re.compile(r"v\d{8}T\d{12}Z-[0-9a-f]{8}")

_PG_TYPES = {pa.string(): "TEXT", pa.float64(): "DOUBLE PRECISION", pa.bool_(): "BOOLEAN",
             pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ"}  # fmt: skip
PG_DDL = (
    f"CREATE TABLE IF NOT EXISTS {VERSIONS_TABLE} (version TEXT PRIMARY KEY, published_at TIMESTAMPTZ NOT NULL, "
    'as_of TIMESTAMPTZ, "rows" INTEGER NOT NULL)',
    f"CREATE TABLE IF NOT EXISTS {ROWS_TABLE} (version TEXT NOT NULL, "
    + ", ".join(f"{f.name} {_PG_TYPES[f.type]}" + (" NOT NULL" if f.name == "account_id" else "") for f in SCHEMA)
    + ", PRIMARY KEY (version, account_id))",
    # Rows tables made before a column existed gain it (their versions read as not held out, no renewal known:
    # serving.store). Only when missing: ALTER TABLE locks the table even when the column is there, and would wait
    # for a reader.
    *(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
        f"AND table_name = '{ROWS_TABLE}' AND column_name = '{name}') THEN "
        f"ALTER TABLE {ROWS_TABLE} ADD COLUMN {name} {kind}; END IF; END $$"
        for name, kind in ((n, _PG_TYPES[FRAME_SCHEMA.field(n).type]) for n in LATER)
    ),
)
# Newest first: published_at, then the version's name (which starts with its UTC time) to break a tie.
LATEST_SQL = f"SELECT version FROM {VERSIONS_TABLE} ORDER BY published_at DESC, version DESC"


def version_name(published_at: datetime, token: str) -> str:
    """``v<UTC time to the microsecond>-<8 hex digits>``: names sort in the order they were published."""
    return f"v{published_at:%Y%m%dT%H%M%S%f}Z-{token[:8]}"


def is_version(name: str) -> bool:
    return VERSION.fullmatch(name) is not None


def is_postgres(store: str) -> bool:
    """Whether ``store`` names PostgreSQL (a URL) rather than a folder."""
    return store.startswith(("postgresql://", "postgres://", "postgresql+"))


def shown(store: str) -> str:
    """The store as it may be printed or logged: a URL without its password."""
    return make_url(store).render_as_string(hide_password=True) if is_postgres(store) else store


def libpq_url(url: str) -> str:
    """``url`` as libpq takes it: SQLAlchemy's ``postgresql+psycopg://`` names a driver libpq does not know."""
    scheme, rest = url.split("://", 1)
    return f"{scheme.split('+')[0]}://{rest}"


ACTIONS = "actions.jsonl"
ACTIONS_TABLE = "churn_actions"
ACTION_STATUSES = ("started", "done", "abandoned")
ACTION_SOURCES = ("api", "page")
# id, the account and play, what happened and by whom, when it happened (at), when and by whom it was recorded
ACTION_FIELDS = ("id", "account_id", "play", "status", "note", "by", "at", "recorded_at", "recorded_by", "source")
ACTIONS_DDL = (
    f"CREATE TABLE IF NOT EXISTS {ACTIONS_TABLE} (id TEXT PRIMARY KEY, account_id TEXT NOT NULL, play TEXT NOT NULL, "
    "status TEXT NOT NULL CHECK (status IN ('started', 'done', 'abandoned')), note TEXT, by TEXT NOT NULL, "
    "at TIMESTAMPTZ NOT NULL, recorded_at TIMESTAMPTZ NOT NULL, recorded_by TEXT NOT NULL, "
    "source TEXT NOT NULL CHECK (source IN ('api', 'page')))"
)
