"""Which accounts each play would help most now: ``churn effects --rank SCORES``.

Ranking by risk sends CSMs to accounts that churn whatever they do; this ranks by the uplift instead. Per play with
enough outcomes (``pipelines.effects.too_few``), the uplift model of ``churn effects`` (``models.uplift``'s
log-odds model) is fitted on every matured (account, play) row, then applied to the accounts of the latest scores:
their predicted risk now (the scores' latest as_of), segment, seats and MRR then. An account's uplift is the expected
reduction in churn (for upsell, the gain in upsells) from assigning it the play; rank 1 is the account helped most.
The model's ranking quality on past plays is what ``churn effects`` reports (Qini against the risk ranking): read
it before acting on this list, and keep the holdouts running so that the next measure stays unbiased.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from models.uplift import fit_log_odds
from pipelines.effects import (
    RISK_COLUMN,
    EffectsError,
    find_table,
    read_table,
    segments_of,
    to_lower,
    too_few,
    uplift_covariates,
    with_covariates,
)

COLUMNS = ("play", "rank", "account_id", "as_of", "risk", "uplift")


def current_accounts(folder: Path, scores: Path, target: str) -> pd.DataFrame:
    """account_id, as_of, risk (the target's probability) of the accounts scored at the latest as_of of ``scores``
    (a Parquet or CSV file of account_id, as_of, p_churn / p_upsell, such as exported scores; an account scored
    only earlier is gone), with the uplift model's covariates from ``folder``'s subscriptions and accounts
    (``with_covariates``)."""
    df = read_table(scores.parent, scores.stem, "the file given to --rank")
    column = RISK_COLUMN[target]
    missing = [c for c in ("account_id", "as_of", column) if c not in df]
    if missing:
        raise EffectsError(f"{scores} has no column {', '.join(missing)}: --rank needs account_id, as_of and "
                           f"{column} (the scores to rank, e.g. the latest scores exported)")  # fmt: skip
    df = df.dropna(subset=[column])
    if df.empty:
        raise EffectsError(f"{scores} holds no {column}: nothing to rank")
    latest = df[df["as_of"] == df["as_of"].max()].drop_duplicates("account_id", keep="last")
    now = latest[["account_id", "as_of", column]].rename(columns={column: "risk"})
    subs = read_table(folder, "subscriptions", "the accounts' seats and MRR come from the subscriptions")
    accounts = read_table(folder, "accounts", "") if find_table(folder, "accounts") is not None else None
    return with_covariates(now, subs, accounts)


def rank_accounts(frame: pd.DataFrame, current: pd.DataFrame, target: str, *, seed: int = 0
                  ) -> tuple[pd.DataFrame, dict[str, str]]:  # fmt: skip
    """Per play of ``frame`` (the matured rows of ``pipelines.effects.load_frame``) with enough outcomes, the
    accounts of ``current`` (``current_accounts``) ranked by their uplift from the play (``COLUMNS``); and per play
    not ranked, why."""
    out, skipped = [], {}
    for play, g in frame.groupby("play", sort=False):
        reason = too_few(g, target)
        if reason:
            skipped[str(play)] = reason
            continue
        t, y, risk = g["treated"].to_numpy(bool), g["y"].to_numpy(float), g["risk"].to_numpy(float)
        segments = segments_of(g)
        model = fit_log_odds(uplift_covariates(g, segments), to_lower(y, target), t, risk=to_lower(risk, target),
                             seed=seed)  # fmt: skip
        now = current["risk"].to_numpy(float)
        uplift = model.uplift(uplift_covariates(current, segments), to_lower(now, target))
        ranked = current[["account_id", "as_of", "risk"]].assign(play=str(play), uplift=uplift)
        ranked = ranked.sort_values(["uplift", "account_id"], ascending=[False, True], kind="stable")
        out.append(ranked.assign(rank=np.arange(1, len(ranked) + 1)))
    table = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=list(COLUMNS))
    return table[list(COLUMNS)], skipped
