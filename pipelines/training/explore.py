"""Helpers for exploring a warehouse in the notebooks: where the project lives, snapshots with their labels, churn
and expansion rates over time, cohort retention, and how signals differ before churn. Plain frames in and out."""

import math
from collections.abc import Sequence
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

DAYS_PER_MONTH = 30  # the width of a "month" in ``before_churn``'s buckets


def project_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: the working directory) holding a ``pyproject.toml``.

    Notebooks run from ``notebooks/``; the settings' default paths (``data/warehouse.duckdb``,
    ``sqlite:///mlflow.db``) are relative to the project root, so a notebook changes to this folder first.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    raise FileNotFoundError(f"no pyproject.toml in {here} or above it: start the notebook inside the project")


def labeled_snapshots(con: duckdb.DuckDBPyConnection, columns: Sequence[str]) -> pd.DataFrame:
    """Every feature snapshot with its labels: account_id, as_of, the feature ``columns``, churn, upsell (1, 0,
    or NaN when the data end too early to know) and service_ends_at (when the account's current stretch of
    service ends, NaT when no end is known), ordered by as_of and account_id."""
    picked = "".join(f', s."{c}"' for c in columns)
    sql = (
        f"SELECT s.account_id, s.as_of{picked}, l.churn, l.upsell, l.service_ends_at FROM features.snapshots s "
        "JOIN features.labels l USING (account_id, as_of) ORDER BY s.as_of, s.account_id"
    )
    # Through Arrow: duckdb's .df() trips a pandas 3 deprecation on time-zone-aware columns.
    return con.sql(sql).to_arrow_table().to_pandas()


def rates_over_time(labels: pd.DataFrame) -> pd.DataFrame:
    """Per snapshot date (index ``as_of``): ``accounts`` (active accounts, labeled or not), ``churn_rate`` and
    ``upsell_rate`` (shares among the labeled snapshots; NaN where no snapshot of the date is labeled yet).
    ``labels``: account_id, as_of, churn, upsell (as in ``features.labels``)."""
    rates = labels.assign(churn=labels["churn"].astype(float), upsell=labels["upsell"].astype(float))
    return rates.groupby("as_of").agg(
        accounts=("account_id", "size"), churn_rate=("churn", "mean"), upsell_rate=("upsell", "mean")
    )


def cohort_retention(
    subscriptions: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, months: int = 12
) -> pd.DataFrame:
    """Accounts grouped by the month their first subscription started (index ``cohort``, "YYYY-MM"), for the
    cohorts starting at or after ``start``: ``accounts`` (the cohort's size), then one column per month
    ``0..months``: the share of the cohort's accounts still active that many months after their own start.

    Active at t: a subscription covers t (start_at <= t < end_at, or no end_at). An account's status after
    ``end`` (the end of the data) is unknown, so the share is over the accounts whose date is at or before
    ``end``, and NaN when there are none. ``subscriptions``: account_id, start_at, end_at.
    """
    subs = subscriptions[["account_id", "start_at", "end_at"]]
    first = subs.groupby("account_id")["start_at"].min()
    first = first[first >= start]
    cohort = first.dt.strftime("%Y-%m").rename("cohort")
    subs = subs[subs["account_id"].isin(first.index)].join(first.rename("first"), on="account_id")
    out = pd.DataFrame({"accounts": cohort.value_counts().sort_index()})
    for n in range(months + 1):
        at = subs["first"] + pd.DateOffset(months=n)
        covers = (subs["start_at"] <= at) & (subs["end_at"].isna() | (subs["end_at"] > at))
        active = covers.groupby(subs["account_id"]).any().astype(float)
        known = first + pd.DateOffset(months=n) <= end
        out[n] = active.where(known.reindex(active.index)).groupby(cohort).mean()
    out.index.name = "cohort"
    return out


def compare_outcomes(rows: pd.DataFrame, columns: Sequence[str], label: str = "churn") -> pd.DataFrame:
    """How each of ``columns`` differs between labeled snapshots with ``label`` 0 and 1: one row per column with
    ``retained`` and ``churned`` (the means at label 0 and 1) and ``auc`` (the column's ROC AUC alone: 0.5 tells
    nothing apart, above 0.5 means higher values go with label 1, below with label 0). NaN values are left out."""
    labeled = rows[rows[label].notna()]
    y = labeled[label].astype(int)
    out = []
    for c in columns:
        x = labeled[c].astype(float)
        ok = x.notna()
        auc = roc_auc_score(y[ok], x[ok]) if y[ok].nunique() == 2 else math.nan
        out.append({"retained": x[y == 0].mean(), "churned": x[y == 1].mean(), "auc": float(auc)})
    return pd.DataFrame(out, index=pd.Index(list(columns), name="feature"))


def before_churn(rows: pd.DataFrame, columns: Sequence[str], months: int = 6, label: str = "churn") -> pd.DataFrame:
    """The mean of each of ``columns`` over the snapshots taken 1, 2, ... ``months`` months before a churn (index
    ``months_to_churn``; month k holds the snapshots (k - 1) x 30 to k x 30 days before the service ended).

    A churn is a stretch of service that ends (``service_ends_at``) with at least one snapshot labeled 1 before it;
    every snapshot of that stretch counts, whatever its own label (one taken 5 months ahead is labeled 0 with a
    90-day horizon). ``rows``: account_id, as_of, ``label``, service_ends_at and ``columns``
    (``labeled_snapshots``'s frame)."""
    ends = rows.loc[rows[label] == 1, ["account_id", "service_ends_at"]].drop_duplicates()
    churned = rows.merge(ends, on=["account_id", "service_ends_at"])
    days = (churned["service_ends_at"] - churned["as_of"]).dt.total_seconds() / 86_400
    churned = churned.assign(months_to_churn=np.ceil(days / DAYS_PER_MONTH).astype(int))
    churned = churned[churned["months_to_churn"].between(1, months)]
    means = churned.groupby("months_to_churn")[list(columns)].mean()
    return means.reindex(pd.RangeIndex(1, months + 1, name="months_to_churn"))
