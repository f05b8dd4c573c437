"""What the API serves, held in memory and swapped whole: the loaded models and the scores table.

The warehouse is read once per (re)load and closed at once, so ``churn score`` can write while the server runs.
Scores by id are answered from JSON prepared at load time: the work is done once per snapshot, not per request.

``notice_given`` (the customer had given notice to cancel at as_of) is the stored column where it is set. Scores
written before that column existed have none: for them it is read from the stored snapshot's
``cancellation_pending`` at the same (account_id, as_of) when ``features.snapshots`` holds it, and is otherwise
unknown (None); the rankings count unknown as not given (see ``models.ranking``).
"""

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from models.registered import Registered, load_pair
from models.scoring import NOTICE, Scorer


@dataclass(frozen=True)
class Scores:
    frame: pd.DataFrame  # latest as_of per account, one row each
    history: dict[str, list[dict[str, Any]]]  # account -> [{as_of, health, tier, p_churn, p_upsell}] oldest first
    payloads: dict[str, bytes]  # account -> JSON of its latest score
    as_of: str | None
    scored_at: str | None


def _record(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
    for k in ("components", "reasons", "upsell_reasons"):
        out[k] = json.loads(out[k]) if isinstance(out[k], str) else out[k]
    for k in ("as_of", "scored_at"):
        if isinstance(out.get(k), pd.Timestamp | datetime):
            out[k] = out[k].isoformat()
    given = out.get("notice_given")
    out["notice_given"] = None if given is None or given is pd.NA else bool(given)
    out["model_versions"] = {"churn": out.pop("churn_version"), "upsell": out.pop("upsell_version")}
    return out


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> set[str]:
    got = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?", [schema, table]
    ).fetchall()
    return {r[0] for r in got}


def _scores_sql(con: duckdb.DuckDBPyConnection) -> str:
    """Every row of ``scores.accounts``, with notice_given as the module docstring says."""
    has_column = "notice_given" in _columns(con, "scores", "accounts")
    keep, stored = ("s.* EXCLUDE (notice_given)", "s.notice_given") if has_column else ("s.*", "NULL::BOOLEAN")
    if NOTICE in _columns(con, "features", "snapshots"):
        notice = f"coalesce({stored}, f.{NOTICE} > 0)"
        source = "scores.accounts s LEFT JOIN features.snapshots f ON f.account_id = s.account_id AND f.as_of = s.as_of"
    else:
        notice, source = stored, "scores.accounts s"
    return f"SELECT {keep}, {notice} AS notice_given FROM {source} ORDER BY s.account_id, s.as_of"


def load_scores(warehouse: Path) -> Scores:
    """The scores table, or empty scores when there is none yet (the API then says to run ``churn score``)."""
    if not warehouse.exists():
        return Scores(pd.DataFrame(), {}, {}, None, None)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        try:
            all_rows = con.sql(_scores_sql(con)).to_arrow_table().to_pandas()
        except duckdb.CatalogException:
            return Scores(pd.DataFrame(), {}, {}, None, None)
    all_rows["notice_given"] = all_rows["notice_given"].astype("boolean")
    history: dict[str, list[dict[str, Any]]] = {}
    for acc, as_of, h, tier, pc, pu in all_rows[
        ["account_id", "as_of", "health", "tier", "p_churn", "p_upsell"]
    ].itertuples(index=False):
        history.setdefault(acc, []).append({"as_of": as_of.isoformat(), "health": float(h), "tier": tier,
                                            "p_churn": float(pc),
                                            "p_upsell": None if pd.isna(pu) else float(pu)})  # fmt: skip
    latest = all_rows.groupby("account_id", sort=False).tail(1).reset_index(drop=True)
    latest = latest[latest["as_of"] == latest["as_of"].max()].reset_index(drop=True)  # accounts still active
    records = [_record(r) for r in latest.to_dict(orient="records")]
    payloads = {r["account_id"]: json.dumps(r).encode() for r in records}
    frame = latest.drop(columns=["components", "reasons", "upsell_reasons"])
    frame["top_reason"] = [r["reasons"][0]["sentence"] if r["reasons"] else None for r in records]
    as_of = latest["as_of"].max().isoformat() if len(latest) else None
    scored = latest["scored_at"].max().isoformat() if len(latest) else None
    return Scores(frame, history, payloads, as_of, scored)


@dataclass(frozen=True)
class Bundle:
    """Models and scores that belong together; requests take one reference and use it to the end."""

    models: dict[str, Registered]
    scorer: Scorer
    scores: Scores
    loaded_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @property
    def versions(self) -> dict[str, str]:
        return {t: m.version for t, m in self.models.items()}


def load_bundle(tracking_uri: str, alias: str, warehouse: Path, smoke: pd.DataFrame | None = None) -> Bundle:
    """Load both models at ``alias`` and the scores; raise if a model fails to load or to score a smoke row."""
    models, scorer = load_pair(tracking_uri, alias)
    scores = load_scores(warehouse)
    probe = smoke if smoke is not None else pd.DataFrame([{f: None for f in scorer.churn.features_}])
    got = scorer.score(probe, threads=1)
    checked = ["p_churn", "health"] + (["p_upsell"] if scorer.upsell is not None else [])
    if not np.isfinite(got[checked].to_numpy(dtype=float)).all():
        raise ValueError("the smoke prediction gave non-finite values")
    return Bundle(models, scorer, scores)


class Holder:
    """The current bundle, replaced atomically (one reference assignment) by ``swap``."""

    def __init__(self) -> None:
        self.bundle: Bundle | None = None
        self.error: str | None = None
        self.lock = threading.Lock()  # one reload at a time; readers never wait

    def swap(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.error = None
