"""Drift judged against the data's own history: what changed at a scoring date, against how much the same things
changed from one snapshot date to the next before it.

A customer base grows (tenure, milestones reached, history accumulating: missing rates fall), and some features
follow the calendar (days since the last email open when campaigns go out monthly, 7-day counts over the year-end
holidays): measured against a fixed reference (the champion's training rows), all of them drift by themselves. Those
movements are gradual or periodic, and so are the changes between consecutive snapshot dates they cause: about the
same from one month to the next, or recurring within a year. An injected change (a tracking outage, a price change,
a product release, a new segment) is abrupt: the change between the date before it and the date after it is unlike
any before. So, for each consecutive pair of snapshot dates (the date before -> this date):

- per feature: the PSI of its values (``models.drift``, bins from the date before), its missing rate's change, and
  the share of accounts present at both dates whose value changed (a price change moves few accounts' invoice
  amounts far in a wide distribution, which barely moves a PSI, but the share of accounts whose last invoice amount
  changed jumps from a few percent to most);
- per family: the mean of its features' PSIs; for p_churn: the PSI of the stored scores;
- per raw table: the rows quarantined at ingest (``raw.quarantine``) whose arrival time falls between the two dates;

and a date is judged against the ``history`` pairs before it (at least ``min_history``, else not judged: 12 monthly
pairs hold a year, so yearly calendar effects are part of the history). A value alerts when it exceeds ``factor``
times the largest of its history (for the changed share, which has a level of its own: its deviation from the
history's median against ``factor`` times the largest such deviation) and a floor (``min_psi``, ...), so that noise
in a quiet feature never alerts. A category of a categorical feature that no earlier snapshot date had is an abrupt
change by construction (``new_category``).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd

from models.drift import drift_table, psi
from pipelines.monitor.config import Alert, DriftConfig
from pipelines.monitor.health import ARRIVAL
from pipelines.warehouse import has_table

STEP_COLUMNS = ("step_psi", "step_limit", "missing_step", "missing_limit", "changed_share", "changed_limit")
"""The columns this module adds to monitor.drift (NaN where not measured or not judged)."""


@dataclass(frozen=True)
class Pair:
    """What changed between two consecutive snapshot dates: ``stats`` has a row per feature (kind 'feature'), per
    family ('family') and for p_churn ('score') with step_psi, missing_step and changed_share; ``quarantined`` the
    rows quarantined per table (and the most common reason) that arrived between the two dates."""

    before: datetime
    after: datetime
    stats: pd.DataFrame
    quarantined: dict[str, tuple[int, str]]


def changed_share(before: pd.DataFrame, after: pd.DataFrame, features: Sequence[str]) -> pd.Series:
    """Per feature, the share of accounts present at both dates (frames indexed by account_id) whose value differs
    (missing on one side only counts as a change); NaN without common accounts."""
    common = before.index.intersection(after.index)
    if len(common) == 0:
        return pd.Series(np.nan, index=list(features), dtype=float)
    a, b = before.loc[common, list(features)], after.loc[common, list(features)]
    same = (a == b).fillna(False).astype(bool) | (a.isna() & b.isna())
    return 1.0 - same.mean().astype(float)


def pair_stats(before: pd.DataFrame, after: pd.DataFrame, families: dict[str, str], categorical: set[str],
               p_before: np.ndarray, p_after: np.ndarray, bins: int) -> pd.DataFrame:  # fmt: skip
    """The rows of ``Pair.stats`` for two snapshot frames (each with account_id) and the scores at both dates."""
    d = drift_table(before, after, families, categorical, bins=bins)
    shares = changed_share(before.set_index("account_id"), after.set_index("account_id"), list(families))
    feats = pd.DataFrame({"kind": "feature", "subject": d["feature"], "family": d["family"], "step_psi": d["psi"],
                          "missing_step": d["missing_change"],
                          "changed_share": d["feature"].map(shares).astype(float)})  # fmt: skip
    fam = feats.groupby("family", sort=True)["step_psi"].mean()
    fams = pd.DataFrame({"kind": "family", "subject": fam.index, "family": fam.index, "step_psi": fam.to_numpy()})
    score = psi(p_before, p_after, bins=bins) if len(p_before) and len(p_after) else float("nan")
    scores = pd.DataFrame([{"kind": "score", "subject": "p_churn", "step_psi": score}])
    return pd.concat([feats, fams, scores], ignore_index=True)


def limit(history: np.ndarray, factor: float, floor: float, *, centred: bool = False) -> tuple[float, float]:
    """(centre, limit) of a value's history: a value alerts when its distance from ``centre`` exceeds ``limit``.
    ``centred``: the centre is the history's median and the limit ``factor`` times the largest deviation from it;
    otherwise the centre is 0 and the limit ``factor`` times the largest absolute value; never below ``floor``."""
    h = history[np.isfinite(history)]
    centre = float(np.median(h)) if centred and h.size else 0.0
    spread = float(np.max(np.abs(h - centre))) if h.size else 0.0
    return centre, max(floor, factor * spread)


# -- reading the pairs ----------------------------------------------------------------------------------------------


def snapshot_dates(con: duckdb.DuckDBPyConnection) -> list[datetime]:
    return [r[0] for r in con.execute("SELECT DISTINCT as_of FROM features.snapshots ORDER BY 1").fetchall()]


def needed_pairs(all_dates: Sequence[datetime], dates: Sequence[datetime], history: int) -> list[int]:
    """Indexes k of ``all_dates`` whose pair (k-1, k) a scored date in ``dates`` or its history needs."""
    position = {d: i for i, d in enumerate(all_dates)}
    need: set[int] = set()
    for d in dates:
        if d in position:
            k = position[d]
            need.update(range(max(1, k - history), k + 1))
    return sorted(need)


def read_pairs(con: duckdb.DuckDBPyConnection, all_dates: Sequence[datetime], pairs: Sequence[int],
               families: dict[str, str], categorical: set[str], bins: int) -> dict[int, Pair]:  # fmt: skip
    """The ``Pair`` of each index in ``pairs`` (snapshot rows read once per date, in date order)."""
    from pipelines.monitor.run import _rows

    frames: dict[int, pd.DataFrame] = {}
    cols = ", ".join(f'"{c}"' for c in ["account_id", *families])

    def frame(i: int) -> pd.DataFrame:
        if i not in frames:
            frames.clear() if len(frames) > 2 else None
            frames[i] = _rows(con, f"SELECT {cols} FROM features.snapshots WHERE as_of = ?", [all_dates[i]])
        return frames[i]

    def scores(i: int) -> np.ndarray:
        got = _rows(con, "SELECT p_churn FROM scores.accounts WHERE as_of = ?", [all_dates[i]])
        return got["p_churn"].to_numpy(dtype=float)

    quarantine = quarantined(con, all_dates)
    out = {}
    for k in pairs:
        stats = pair_stats(frame(k - 1), frame(k), families, categorical, scores(k - 1), scores(k), bins)
        out[k] = Pair(all_dates[k - 1], all_dates[k], stats, quarantine.get(k, {}))
    return out


def quarantined(con: duckdb.DuckDBPyConnection, all_dates: Sequence[datetime]) -> dict[int, dict[str, tuple[int, str]]]:
    """Per pair index k, per table: the rows of raw.quarantine whose arrival time (``health.ARRIVAL``) lies in
    [all_dates[k-1], all_dates[k]), and their most common reason. Rows whose arrival time cannot be read are left
    out (the ingest report counts them)."""
    if not has_table(con, "raw", "quarantine") or len(all_dates) < 2:
        return {}
    arrival = " ".join(f"WHEN '{t}' THEN json_extract_string(row_json, '$.{c}')" for t, c in ARRIVAL.items())
    rows = con.execute(f"""
        WITH q AS (SELECT table_name, reasons, TRY_CAST(CASE table_name {arrival} END AS TIMESTAMPTZ) AS at
                   FROM raw.quarantine),
             b AS (SELECT UNNEST(CAST(? AS TIMESTAMPTZ[])) AS lo, UNNEST(CAST(? AS TIMESTAMPTZ[])) AS hi,
                          UNNEST(CAST(? AS INTEGER[])) AS k)
        SELECT k, table_name, count(*), mode(reasons) FROM q JOIN b ON q.at >= b.lo AND q.at < b.hi
        GROUP BY ALL""", [list(all_dates[:-1]), list(all_dates[1:]),
                          list(range(1, len(all_dates)))]).fetchall()  # fmt: skip
    out: dict[int, dict[str, tuple[int, str]]] = {}
    for k, table, n, reason in rows:
        out.setdefault(int(k), {})[str(table)] = (int(n), str(reason))
    return out


def new_categories(
    con: duckdb.DuckDBPyConnection, as_of: datetime, categorical: Sequence[str]
) -> dict[str, dict[str, int]]:
    """Per categorical feature, the values at ``as_of`` (with their rows) that no earlier snapshot date had."""
    out: dict[str, dict[str, int]] = {}
    for c in categorical:
        got = con.execute(f'SELECT CAST("{c}" AS VARCHAR), count(*) FROM features.snapshots s WHERE as_of = ? AND '
                          f'"{c}" IS NOT NULL AND NOT EXISTS (SELECT 1 FROM features.snapshots e WHERE e.as_of < ? '
                          f'AND e."{c}" = s."{c}") GROUP BY 1 ORDER BY 2 DESC', [as_of, as_of]).fetchall()  # fmt: skip
        if got:
            out[c] = {str(v): int(n) for v, n in got}
    return out


# -- judging a date -------------------------------------------------------------------------------------------------


def history_checks(con: duckdb.DuckDBPyConnection, dates: Sequence[datetime], families: dict[str, str],
                   categorical: set[str], cfg: DriftConfig) -> tuple[pd.DataFrame, list[Alert], list[str]]:  # fmt: skip
    """For each of ``dates``: the rows (as_of, kind, subject and ``STEP_COLUMNS``) merged into monitor.drift, the
    alerts, and notes on the dates not judged."""
    all_dates = snapshot_dates(con)
    position = {d: i for i, d in enumerate(all_dates)}
    pairs = read_pairs(con, all_dates, needed_pairs(all_dates, dates, cfg.history), families, categorical, cfg.bins)
    parts, alerts, short = [], [], []
    for as_of in dates:
        k = position.get(as_of)
        if k is None or k not in pairs:  # the first snapshot date: no date before it
            short.append(f"{as_of:%Y-%m-%d} (0)")
            continue
        before = [pairs[j] for j in range(max(1, k - cfg.history), k) if j in pairs]
        rows, found = judge(pairs[k], before, cfg)
        parts.append(rows.assign(as_of=as_of))
        if len(before) < cfg.min_history:
            short.append(f"{as_of:%Y-%m-%d} ({len(before)})")
            continue
        alerts += found
        for feature, values in new_categories(con, as_of, sorted(categorical - set(cfg.ignore))).items():
            listed = ", ".join(f"{v!r} ({n} rows)" for v, n in list(values.items())[:5])
            alerts.append(Alert(as_of, "new_category", "alert", feature, float(sum(values.values())), 0,
                                f"{feature} ({families.get(feature, feature)}) has values no earlier snapshot date "
                                f"had: {listed}; check where they come from (a new segment, plan or region, or a "
                                "changed mapping) before trusting the scores of those accounts"))  # fmt: skip
    notes = [f"drift against the data's history not judged at {', '.join(short)}: fewer earlier changes between "
             f"snapshot dates than min_history ({cfg.min_history}); the values are stored in monitor.drift"
             ] if short else []  # fmt: skip
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["as_of", "kind", "subject",
                                                                                  *STEP_COLUMNS])  # fmt: skip
    return out, alerts, notes


FLOORS = {"feature": "min_psi", "family": "family_min_psi", "score": "score_min_psi"}
KINDS = {"feature": "feature_drift", "family": "family_drift", "score": "score_shift"}


def judge(pair: Pair, before: Sequence[Pair], cfg: DriftConfig) -> tuple[pd.DataFrame, list[Alert]]:
    """The step rows of one pair, with the limits from the pairs ``before`` it, and the alerts they raise (returned
    whatever the history's length; the caller drops them when it is too short)."""
    as_of, since = pair.after, f"since {pair.before:%Y-%m-%d}"
    cur = pair.stats.set_index(["kind", "subject"])
    hist = {m: pd.DataFrame({i: p.stats.set_index(["kind", "subject"])[m] for i, p in enumerate(before)})
            .reindex(cur.index) for m in ("step_psi", "missing_step", "changed_share")}  # fmt: skip
    out = cur.reindex(columns=["family", *STEP_COLUMNS]).copy()
    alerts: list[Alert] = []
    enough = len(before) >= cfg.min_history
    for key, r in cur.iterrows():
        kind, subject = str(key[0]), str(key[1])  # type: ignore[index]
        if subject in cfg.ignore:
            continue
        fam = r["family"]
        h = np.asarray(hist["step_psi"].loc[(kind, subject)], dtype=float)
        value = float(r["step_psi"])
        if np.isfinite(value) and np.isfinite(h).sum() >= cfg.min_history:
            _, lim = limit(h, cfg.factor, getattr(cfg, FLOORS[str(kind)]))
            out.loc[(kind, subject), "step_limit"] = lim
            if enough and value > lim:
                what = {"feature": f"{subject} ({fam})", "family": f"the {subject} family (mean over its features)",
                        "score": "the churn scores (p_churn)"}[str(kind)]  # fmt: skip
                alerts.append(Alert(as_of, KINDS[str(kind)], "alert", str(subject), round(value, 4), round(lim, 4),
                                    f"{what} moved abruptly {since}: PSI {value:.2f} against the date before, over "
                                    f"{cfg.factor:g} x the largest of the {len(before)} changes before it "
                                    f"({float(np.nanmax(h)):.3f}); check what changed in its source data or in "
                                    "the product"))  # fmt: skip
        if kind != "feature":
            continue
        for metric, lim_col, floor, centred, alert_kind in (
            ("missing_step", "missing_limit", cfg.min_missing_change, False, "missing_rate"),
            ("changed_share", "changed_limit", cfg.min_changed_share, True, "changed_share"),
        ):  # fmt: skip
            value = float(r[metric])
            h = np.asarray(hist[metric].loc[(kind, subject)], dtype=float)
            if not np.isfinite(value) or np.isfinite(h).sum() < cfg.min_history:
                continue
            centre, lim = limit(h, cfg.factor, floor, centred=centred)
            out.loc[(kind, subject), lim_col] = lim
            if enough and abs(value - centre) > lim:
                alerts.append(Alert(as_of, alert_kind, "alert", str(subject), round(value, 4), round(lim, 4),
                                    _words(alert_kind, str(subject), str(fam), value, centre, lim, since)))  # fmt: skip
    for table, (n, reason) in sorted(pair.quarantined.items()):
        h = np.array([p.quarantined.get(table, (0, ""))[0] for p in before], dtype=float)
        _, lim = limit(h, cfg.factor, cfg.min_quarantined)
        if enough and n > lim:
            alerts.append(Alert(as_of, "quarantined", "alert", table, float(n), lim,
                                f"{n} rows of raw.{table} that arrived {since} were quarantined at ingest, over "
                                f"{cfg.factor:g} x the most of the {len(before)} periods before ({int(h.max())}), "
                                f"mostly for: {reason}; fix the export or extend the mapping, then ingest "
                                "again"))  # fmt: skip
    return out.reset_index(), alerts


def _words(kind: str, subject: str, family: str, value: float, centre: float, lim: float, since: str) -> str:
    if kind == "missing_rate":
        return (
            f"{subject} ({family}): its missing rate changed by {value:+.0%} {since}, over the {lim:.0%} its "
            "history allows; check the table or column it is built from (stopped arriving, renamed, remapped)"
        )
    return (
        f"{subject} ({family}): {value:.0%} of the accounts present at both dates had a different value {since}, "
        f"against {centre:.0%} usually (at most {lim:.0%} off allowed); check what changed in its source data "
        "(prices, plans, a mapping)"
    )
