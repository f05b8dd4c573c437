"""``churn effects``: the effect of each play on churn (or upsell) within the horizon, from the holdout
assignments, the actions, the outcomes and the risk predicted at each play's as_of (``models.effects``).

The play tables are not part of the ingest contract yet: they are read from a folder of the export's shape
(a generated world with ``--plays``, or an export holding the same tables): ``play_assignments`` (account_id,
play, as_of, eligible, held_out), ``play_actions`` (account_id, play, status, actor, at, note) and
``subscriptions``, from which the outcomes are labelled by the product's own label rules (``features.labels``).
The predicted risk is a Parquet or CSV file of (account_id, as_of, p_churn[, p_upsell]), such as the scores of
those dates, or by default the world's ``ground_truth/oracle`` (p_churn, p_expand).

Two more sources join the folder's tables (``--assignments`` and ``--actions`` of ``churn effects``): the holdout
assignments that ``churn score`` wrote to the warehouse's ``scores.play_assignments``, and the actions recorded on
the server (``recorded_actions``: ``actions.jsonl`` beside the published scores, or PostgreSQL's ``churn_actions``),
read into the ``play_actions`` shape with their ids, so that reading them twice, or rows already in the folder's
table, counts each action once.
"""

import json
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import adbc_driver_postgresql.dbapi as adbc
import duckdb
import numpy as np
import pandas as pd

from features.labels import LabelConfig, labels_sql
from features.rollups import served_rows
from models import published
from models.effects import effects_table
from models.uplift import log_odds_learner, qini_coefficient, uplift_at

RISK_COLUMN = {"churn": "p_churn", "upsell": "p_upsell"}
# The uplift model is fitted on a play only with this many outcomes (churners; for upsell, upsells) and as many
# accounts without one, among the treated and among the held out: a logistic regression's information is bounded
# by its rarer class, and with fewer the interactions' estimates, and a Qini over a few dozen events, are noise.
MIN_OUTCOMES = 30
TOP_SHARE, BOOTSTRAP, LEVEL = 0.3, 200, 0.90
TOP = f"uplift_top{round(100 * TOP_SHARE)}"
UPLIFT_FIGURES = ("qini", "qini_lo90", "qini_hi90", "qini_risk", "qini_vs_risk", "qini_vs_risk_lo90",
                  "qini_vs_risk_hi90", TOP, f"{TOP}_lo90", f"{TOP}_hi90")  # fmt: skip
# The sign of an effect that helps: fewer churners, more upsells.
HELPS = {"churn": -1, "upsell": 1}


class EffectsError(ValueError):
    """What the effects need is missing or malformed (the message names it and the fix)."""


@dataclass
class EffectsReport:
    """``table``: ``models.effects.effects_table``'s (per play, then ``all``). ``matured_through``: the end of the
    data the outcomes were labelled from; ``assigned``: the first and last as_of of the rows measured."""

    table: pd.DataFrame
    target: str
    notes: list[str] = field(default_factory=list)
    horizon_days: int = LabelConfig().horizon_days
    matured_through: pd.Timestamp | None = None
    assigned: tuple[pd.Timestamp, pd.Timestamp] | None = None
    measured_at: datetime | None = None
    uplift: pd.DataFrame | None = None  # ``uplift_table``'s
    frame: pd.DataFrame | None = None  # the rows measured (``load_frame``'s)


def find_table(folder: Path, name: str) -> Path | None:
    return next((folder / f"{name}.{s}" for s in ("parquet", "csv") if (folder / f"{name}.{s}").exists()), None)


def read_table(folder: Path, name: str, why: str) -> pd.DataFrame:
    path = find_table(folder, name)
    if path is None:
        raise EffectsError(f"no {name} table in {folder} ({name}.parquet or {name}.csv): {why}")
    df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    for c in ("as_of", "at", "start_at", "end_at"):
        if c in df:
            df[c] = pd.to_datetime(df[c], utc=True)
    return df


ACTION_COLUMNS = ("account_id", "play", "status", "actor", "at", "note", "id")


def recorded_actions(store: str) -> pd.DataFrame:
    """The actions recorded on the server whose published scores are ``store`` (a folder or a postgresql:// URL),
    in the ``play_actions`` shape plus their ``id`` (``ACTION_COLUMNS``; actor is who took the action). A line of
    ``actions.jsonl`` torn by a crash is skipped; none recorded yet: no rows."""
    if published.is_postgres(store):
        cols = ", ".join(f'"{c}"' for c in published.ACTION_FIELDS)
        with adbc.connect(published.libpq_url(store)) as c, c.cursor() as cur:
            cur.execute(published.ACTIONS_DDL)
            cur.execute(f"SELECT {cols} FROM {published.ACTIONS_TABLE}")
            rows = cur.fetch_arrow_table().to_pandas()
            c.commit()
    else:
        path = Path(store) / published.ACTIONS
        lines = path.read_bytes().split(b"\n") if path.exists() else []
        parsed = []
        for line in lines:
            try:
                parsed.append(json.loads(line))
            except ValueError:  # torn by a writer that died mid-line, or empty
                continue
        rows = pd.DataFrame([r for r in parsed if isinstance(r, dict)], columns=list(published.ACTION_FIELDS))
    out = rows.rename(columns={"by": "actor"}).reindex(columns=list(ACTION_COLUMNS))
    out["at"] = pd.to_datetime(out["at"], utc=True, format="ISO8601")
    return out.dropna(subset=["id", "account_id", "play", "status", "at"]).drop_duplicates("id").reset_index(drop=True)


def merged_actions(actions: pd.DataFrame, recorded: pd.DataFrame) -> pd.DataFrame:
    """The folder's ``actions`` with the ``recorded`` ones (``recorded_actions``) whose id is not among them."""
    if "id" in actions:
        recorded = recorded[~recorded["id"].isin(actions["id"])]
    else:
        actions = actions.assign(id=None)
    if recorded.empty:
        return actions.reset_index(drop=True)
    if actions.empty:
        return recorded.reset_index(drop=True)
    return pd.concat([actions, recorded.astype({"at": actions["at"].dtype})], ignore_index=True)


def scored_assignments(warehouse: Path) -> pd.DataFrame:
    """The holdout assignments ``churn score`` wrote to the warehouse (``scores.play_assignments``)."""
    try:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            con.execute("SET TimeZone = 'UTC'")
            got = con.sql("SELECT account_id, play, as_of, eligible, held_out FROM scores.play_assignments")
            return got.to_arrow_table().to_pandas()
    except duckdb.CatalogException as e:
        raise EffectsError(f"the warehouse {warehouse} has no scores.play_assignments: run `churn score`") from e


def outcomes(
    subscriptions: pd.DataFrame, spine: pd.DataFrame, cfg: LabelConfig, data_end: pd.Timestamp
) -> pd.DataFrame:
    """churn and upsell (NULL: unlabeled) of (account_id, as_of) by ``features.labels`` over ``subscriptions``."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE SCHEMA raw")
    con.register("subs_in", subscriptions)
    con.execute("CREATE TABLE raw.subscriptions AS SELECT * FROM subs_in")
    if "status" not in subscriptions:
        con.execute("ALTER TABLE raw.subscriptions ADD COLUMN status VARCHAR")
    con.register("spine_in", spine[["account_id", "as_of"]].drop_duplicates())
    con.execute("CREATE TEMP TABLE snapshot_dates AS SELECT DISTINCT as_of FROM spine_in")
    # The totals at as_of of the rows serving it, by the spine's own rule (no churn events in these exports).
    serving = served_rows("x.account_id, d.as_of, x.mrr, x.seats", frozenset({"churn_events"}))
    con.execute(f"""CREATE TEMP TABLE spine AS
        SELECT s.account_id, s.as_of, COALESCE(SUM(x.mrr), 0) AS mrr, COALESCE(SUM(x.seats), 0) AS seats
        FROM spine_in s LEFT JOIN ({serving}) x ON x.account_id = s.account_id AND x.as_of = s.as_of
        GROUP BY 1, 2""")
    con.execute("CREATE TEMP TABLE data_end AS SELECT CAST(? AS TIMESTAMPTZ) AS ts", [data_end.to_pydatetime()])
    out = con.sql(labels_sql(cfg, frozenset({"churn_events"}))).to_arrow_table().to_pandas()
    out["as_of"] = pd.to_datetime(out.as_of, utc=True)
    return out


def effect_frame(assignments: pd.DataFrame, actions: pd.DataFrame, labels: pd.DataFrame, risk: pd.DataFrame,
                 target: str) -> pd.DataFrame:  # fmt: skip
    """One row per eligible (account, play) with a known outcome: play, account_id, y, treated, acted, risk."""
    e = assignments[assignments.eligible.astype(bool)].copy()
    e["treated"] = ~e.held_out.astype(bool)
    started = actions[actions.status == "started"][["account_id", "play", "at"]]
    run = e.merge(started, on=["account_id", "play"], how="left")
    run = run[run["at"].notna() & (run["at"] >= run["as_of"])].drop_duplicates(["account_id", "play"])
    e = e.merge(run[["account_id", "play"]].assign(acted=True), on=["account_id", "play"], how="left")
    e["acted"] = e.acted.fillna(False).astype(bool)
    e = e.merge(labels[["account_id", "as_of", target]], on=["account_id", "as_of"], how="left")
    e = e.merge(risk[["account_id", "as_of", "risk"]], on=["account_id", "as_of"], how="left")
    e["y"] = e[target]
    return e


def measure(folder: Path, *, target: str = "churn", risk_file: Path | None = None,
            cfg: LabelConfig = LabelConfig(), assignments_from: Path | None = None,
            actions_from: str | None = None) -> EffectsReport:  # fmt: skip
    """The effects table of the plays recorded in ``folder`` (see the module)."""
    frame, notes, data_end = _load(folder, target=target, risk_file=risk_file, cfg=cfg,
                                   assignments_from=assignments_from, actions_from=actions_from)  # fmt: skip
    return EffectsReport(effects_table(frame), target, notes, cfg.horizon_days, data_end,
                         (frame["as_of"].min(), frame["as_of"].max()), datetime.now(UTC),
                         uplift_table(frame, target), frame)  # fmt: skip


def _iso(t: pd.Timestamp | datetime | None) -> str | None:
    return None if t is None or pd.isna(t) else t.isoformat()


def effect_row(row: pd.Series, target: str) -> dict[str, Any]:
    """One row of ``effects_table`` as published: counts, the adjusted effect with its standard error and its 90%
    and 95% intervals, the unadjusted and the naive differences (probabilities, treated minus held out), and the
    verdict of the 90% interval: ``helps`` or ``harms`` when it excludes 0, else ``unclear``."""
    out: dict[str, Any] = {"play": str(row["play"]), "treated": int(row["treated"]), "held_out": int(row["held_out"])}
    for k in ("effect", "se", "lo90", "hi90", "lo95", "hi95", "unadjusted", "naive"):
        out[k] = round(float(row[k]), 6)
    helps = HELPS[target]
    if helps * row["lo90"] > 0 and helps * row["hi90"] > 0:
        out["verdict"] = "helps"
    elif helps * row["lo90"] < 0 and helps * row["hi90"] < 0:
        out["verdict"] = "harms"
    else:
        out["verdict"] = "unclear"
    return out


def uplift_entry(row: Mapping[Hashable, Any]) -> dict[str, Any]:
    """An ``uplift_table`` row as published: ``fitted``, the outcome counts per group, then the figures
    (``UPLIFT_FIGURES``; null when not computable) or the ``reason`` it was not fitted."""
    out: dict[str, Any] = {"fitted": bool(row["fitted"]), "treated_events": int(row["treated_events"]),
                           "held_out_events": int(row["held_out_events"])}  # fmt: skip
    if not out["fitted"]:
        return {**out, "reason": str(row["reason"])}
    for k in UPLIFT_FIGURES:
        v = float(row[k])
        out[k] = None if np.isnan(v) else round(v, 6)
    return out


def effects_document(report: EffectsReport) -> dict[str, Any]:
    """What the server shows (GET /v1/effects, the What works page): the target and horizon, when it was measured,
    the data's end the outcomes matured by and the dates of the plays measured, then per play and overall
    (``effect_row``; each play's with its ``uplift``: ``uplift_entry``, null when not measured), and the notes."""
    rows = [effect_row(r, report.target) for _, r in report.table.iterrows()]
    uplift = {} if report.uplift is None else {r["play"]: r for r in report.uplift.to_dict("records")}
    for r in rows[:-1]:
        r["uplift"] = uplift_entry(uplift[r["play"]]) if r["play"] in uplift else None
    first, last = report.assigned if report.assigned is not None else (None, None)
    return {
        "target": report.target, "horizon_days": report.horizon_days, "measured_at": _iso(report.measured_at),
        "matured_through": _iso(report.matured_through), "assigned_from": _iso(first), "assigned_to": _iso(last),
        "plays": rows[:-1], "overall": rows[-1],  # effects_table's last row pools the plays
        "notes": list(report.notes),
    }  # fmt: skip


def play_tables(folder: Path, assignments_from: Path | None = None,
                actions_from: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """``play_assignments`` and ``play_actions``: the folder's, with the warehouse's scored assignments
    (``assignments_from``) and the server's recorded actions (``actions_from``) joined where given; a folder table
    may then be absent."""
    why = "the effects need the holdout assignments and the actions of each play (generate with --plays)"
    frames = []
    if assignments_from is None or find_table(folder, "play_assignments") is not None:
        frames.append(read_table(folder, "play_assignments", why))
    if assignments_from is not None:
        frames.append(scored_assignments(assignments_from))
    assignments = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    assignments = assignments.drop_duplicates(["account_id", "play", "as_of"], keep="last")
    assignments["as_of"] = pd.to_datetime(assignments["as_of"], utc=True)
    if actions_from is None:
        return assignments, read_table(folder, "play_actions", why)
    recorded = recorded_actions(actions_from)
    if find_table(folder, "play_actions") is None:
        return assignments, recorded
    return assignments, merged_actions(read_table(folder, "play_actions", why), recorded)


def load_frame(folder: Path, *, target: str = "churn", risk_file: Path | None = None,
               cfg: LabelConfig = LabelConfig(), assignments_from: Path | None = None,
               actions_from: str | None = None) -> tuple[pd.DataFrame, list[str]]:  # fmt: skip
    """The eligible (account, play) rows of ``folder`` with a known outcome and risk (``effect_frame``), and notes
    on what was assumed or left out. ``assignments_from``: a warehouse whose ``scores.play_assignments`` join the
    folder's; ``actions_from``: a published scores store whose recorded actions join the folder's."""
    frame, notes, _ = _load(folder, target=target, risk_file=risk_file, cfg=cfg, assignments_from=assignments_from,
                            actions_from=actions_from)  # fmt: skip
    return frame, notes


def _load(folder: Path, *, target: str, risk_file: Path | None, cfg: LabelConfig, assignments_from: Path | None,
          actions_from: str | None) -> tuple[pd.DataFrame, list[str], pd.Timestamp]:  # fmt: skip
    """``load_frame``'s frame and notes, and the end of the data the outcomes were labelled from."""
    if target not in RISK_COLUMN:
        raise EffectsError(f"target must be one of {', '.join(RISK_COLUMN)}, got {target!r}")
    assignments, actions = play_tables(folder, assignments_from, actions_from)
    subs = read_table(folder, "subscriptions", "the outcomes are labelled from the subscriptions")
    risk = _risk(folder, risk_file, target)
    data_end = _data_end(folder, subs, actions)
    labels = outcomes(subs, assignments[assignments.eligible.astype(bool)], cfg, data_end)
    accounts = read_table(folder, "accounts", "") if find_table(folder, "accounts") is not None else None
    frame = with_covariates(effect_frame(assignments, actions, labels, risk, target), subs, accounts)
    notes = [f"intention-to-treat: treated = eligible and not held out, whether or not a CSM ran the play; "
             f"adjusted for the predicted risk at as_of; {target} within {cfg.horizon_days} days"]  # fmt: skip
    unknown = frame.y.isna() | frame.risk.isna()
    if unknown.any():
        notes.append(f"{int(unknown.sum())} eligible accounts left out: outcome not yet known or no predicted risk")
    frame = frame[~unknown]
    if frame.empty:
        raise EffectsError(f"no eligible account of {folder} has both a known outcome and a predicted risk")
    return frame, notes, data_end


def with_covariates(frame: pd.DataFrame, subscriptions: pd.DataFrame,
                    accounts: pd.DataFrame | None) -> pd.DataFrame:  # fmt: skip
    """``frame`` (account_id, as_of, ...) with the uplift model's covariates: ``seats`` and ``mrr``, the totals of
    the account's subscriptions active at as_of (0 when none), and ``segment`` when ``accounts`` has one."""
    at = frame[["account_id", "as_of"]].drop_duplicates().merge(subscriptions, on="account_id")
    at = at[(at.start_at <= at.as_of) & (at.end_at.isna() | (at.end_at > at.as_of))]
    size = at.groupby(["account_id", "as_of"], as_index=False)[["seats", "mrr"]].sum()
    out = frame.merge(size, on=["account_id", "as_of"], how="left").fillna({"seats": 0, "mrr": 0})
    if accounts is not None and "segment" in accounts:
        out = out.merge(accounts[["account_id", "segment"]].drop_duplicates("account_id"), on="account_id",
                        how="left")  # fmt: skip
    return out


def segments_of(g: pd.DataFrame) -> list[str]:
    """The segments of the rows ``g`` whose dummies the uplift model takes (all but the first in sorted order, the
    reference); none without a ``segment`` column."""
    return sorted(g["segment"].fillna("unknown").astype(str).unique())[1:] if "segment" in g else []


def uplift_covariates(g: pd.DataFrame, segments: Sequence[str] | None = None) -> np.ndarray:
    """The uplift model's covariates of the rows ``g`` (``with_covariates``'s columns, those present): the
    dummies of ``segments`` (default ``segments_of(g)``; rows scored by a model fitted on other rows take the fitted
    rows' segments, a segment unseen there none), log(1 + seats), log(1 + MRR)."""
    cols: list[np.ndarray] = []
    if "segment" in g:
        seg = g["segment"].fillna("unknown").astype(str)
        cols += [(seg == s).to_numpy(float) for s in (segments_of(g) if segments is None else segments)]
    cols += [np.log1p(g[c].to_numpy(float)) for c in ("seats", "mrr") if c in g]
    return np.column_stack(cols) if cols else np.zeros((len(g), 0))


def _interval(draws: np.ndarray) -> tuple[float, float]:
    lo, hi = np.nanquantile(draws, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return float(lo), float(hi)


def too_few(g: pd.DataFrame, target: str) -> str:
    """Why the uplift model is not fitted on one play's rows ``g`` (fewer than ``MIN_OUTCOMES`` outcomes, or
    accounts without one, among the treated or the held out); empty when it is."""
    t, y = g["treated"].to_numpy(bool), g["y"].to_numpy(float)
    if min(y[t].sum(), (1 - y[t]).sum(), y[~t].sum(), (1 - y[~t]).sum()) >= MIN_OUTCOMES:
        return ""
    what = "churners" if target == "churn" else "upsells"
    return (f"not fitted: {int(y[t].sum())} {what} among the treated and {int(y[~t].sum())} among the held out; the "
            f"uplift model needs at least {MIN_OUTCOMES} in each group (and as many without)")  # fmt: skip


def to_lower(p: np.ndarray, target: str) -> np.ndarray:
    """``p`` (outcomes 0/1 or probabilities of the target) as the outcome a play should lower, which the uplift
    model is fitted on: churn as it is, for upsell its complement (no upsell)."""
    return p if target == "churn" else 1 - p


def uplift_row(g: pd.DataFrame, target: str, *, seed: int = 0) -> dict[str, Any]:
    """The uplift ranking of one play's rows (``effect_frame``'s with ``with_covariates``'): the counts of outcomes
    and non-outcomes per group, then below ``MIN_OUTCOMES`` in any, ``fitted`` False and the ``reason``; else the
    Qini coefficient of the cross-fitted ranking (``models.uplift.log_odds_learner``, each account ranked within its
    fold) and of the ranking by risk, their difference, and the uplift (points of the outcome avoided, for upsell
    gained) among the top ``TOP_SHARE``, each with a 90% interval by bootstrap of the accounts (the scores fixed)."""
    t = g["treated"].to_numpy(bool)
    y = g["y"].to_numpy(float)
    bad = to_lower(y, target)
    counts = {"treated_events": int(y[t].sum()), "held_out_events": int(y[~t].sum())}
    reason = too_few(g, target)
    if reason:
        return {"play": str(g["play"].iloc[0]), "fitted": False, "reason": reason, **counts}
    risk = g["risk"].to_numpy(float)
    risk_bad = to_lower(risk, target)
    rank = log_odds_learner(uplift_covariates(g), bad, t, risk=risk_bad, seed=seed).rank

    def figures(i: np.ndarray) -> tuple[float, float, float]:
        q, qr = qini_coefficient(rank[i], bad[i], t[i]), qini_coefficient(risk_bad[i], bad[i], t[i])
        return q, qr, uplift_at(rank[i], bad[i], t[i], TOP_SHARE)

    q, qr, top = figures(np.arange(len(g)))
    rng = np.random.default_rng(seed)
    draws = np.array([figures(rng.integers(0, len(g), len(g))) for _ in range(BOOTSTRAP)])
    out = {"play": str(g["play"].iloc[0]), "fitted": True, "reason": "", **counts, "qini": q, "qini_risk": qr,
           "qini_vs_risk": q - qr, TOP: top}  # fmt: skip
    for key, d in (("qini", draws[:, 0]), ("qini_vs_risk", draws[:, 0] - draws[:, 1]), (TOP, draws[:, 2])):
        out[f"{key}_lo90"], out[f"{key}_hi90"] = _interval(d)
    return out


def uplift_table(frame: pd.DataFrame, target: str, *, seed: int = 0) -> pd.DataFrame:
    """``uplift_row`` of each play of ``frame``, in its order."""
    return pd.DataFrame([uplift_row(g, target, seed=seed) for _, g in frame.groupby("play", sort=False)])


def _risk(folder: Path, risk_file: Path | None, target: str) -> pd.DataFrame:
    if risk_file is not None:
        df = read_table(risk_file.parent, risk_file.stem, "the file given to --risk")
        column = RISK_COLUMN[target]
    else:
        why = "pass --risk FILE with account_id, as_of and the predicted p_churn (or p_upsell) at each play's as_of"
        df = read_table(folder / "ground_truth", "oracle", why)
        column = "p_churn" if target == "churn" else "p_expand"
    if column not in df:
        raise EffectsError(f"the predicted risk has no column {column!r}; it has {', '.join(df.columns)}")
    return df.rename(columns={column: "risk"})


def _data_end(folder: Path, subs: pd.DataFrame, actions: pd.DataFrame) -> pd.Timestamp:
    """The end of a generated world (its manifest), else the latest observed time: a subscription's start or an
    action (a subscription's end may be scheduled in the future, so it is not read)."""
    manifest = folder / "manifest.json"
    if manifest.exists():
        m = json.loads(manifest.read_text())
        return pd.Timestamp(m["start"], tz="UTC") + pd.DateOffset(months=int(m["months"]))
    return max(subs.start_at.max(), actions["at"].max())
