"""``churn effects``: the table of each play's effect with its intervals, the naive comparison beside it."""

from pathlib import Path
from typing import Annotated

import adbc_driver_manager
import pandas as pd
import typer
from rich.markup import escape
from rich.table import Table

from features.labels import LabelConfig
from pipelines.cli.console import console, failing_as
from pipelines.effects import MIN_OUTCOMES, TOP, TOP_SHARE, EffectsError, EffectsReport, effects_document, measure
from pipelines.play_ranking import current_accounts, rank_accounts
from pipelines.publish import publish_document
from pipelines.settings import get_settings


def effects_cmd(
    source: Annotated[
        Path,
        typer.Argument(help="Folder with play_assignments, play_actions and subscriptions (a world with --plays)."),
    ],
    target: Annotated[str, typer.Option(help="churn or upsell.")] = "churn",
    risk: Annotated[
        Path | None,
        typer.Option(
            help="Parquet/CSV of account_id, as_of, p_churn (p_upsell) at the plays' as_of; default: the "
            "world's ground_truth/oracle."
        ),
    ] = None,
    assignments: Annotated[
        Path | None,
        typer.Option(help="A warehouse whose scores.play_assignments (the holdouts of `churn score`) join SOURCE's."),
    ] = None,
    actions: Annotated[
        str | None,
        typer.Option(
            help="The published scores store (folder or postgresql:// URL) whose actions recorded on the "
            "server join SOURCE's play_actions, each once by its id."
        ),
    ] = None,
    horizon: Annotated[int, typer.Option(min=1, help="Days within which the outcome counts.")] = 90,
    grace: Annotated[int, typer.Option(min=0, help="Churn: days of return that undo a stop of service.")] = 30,
    rank: Annotated[
        Path | None,
        typer.Option(
            metavar="SCORES",
            help="Rank the accounts of these scores (Parquet/CSV of account_id, as_of, p_churn or p_upsell; those "
            "of the latest as_of) by how much each play would help them: the uplift model fitted on the plays "
            "measured.",
        ),
    ] = None,
    rank_out: Annotated[
        Path | None, typer.Option(help="Write the whole ranking (every play, every account) to this CSV file.")
    ] = None,
    publish: Annotated[
        str | None,
        typer.Option(
            metavar="STORE",
            help="Also publish the effects for the server (GET /v1/effects and the What works page) to this "
            "published scores store: the folder or postgresql:// URL the server reads (its CHURN_SCORES).",
        ),
    ] = None,
) -> None:
    """Per play and overall: the effect of assigning the play on churn (or upsell) within the horizon, treated
    (eligible, not held out) against held out, adjusted for the predicted risk, with 90% and 95% intervals; and
    the naive comparison (accounts a play was run on against the rest), biased by the CSMs' choice. With --publish,
    also published beside the scores for the server's /v1/effects and What works page. With --rank, the accounts of
    those scores ranked per play by the uplift model (the accounts a play would help most, not the riskiest)."""
    with failing_as("effects failed", EffectsError):
        report = measure(
            source,
            target=target,
            risk_file=risk,
            cfg=LabelConfig(horizon_days=horizon, grace_days=grace),
            assignments_from=assignments,
            actions_from=actions,
        )
    print_effects(report)
    if rank is not None:
        with failing_as("ranking the accounts failed", EffectsError):
            assert report.frame is not None
            ranking, skipped = rank_accounts(report.frame, current_accounts(source, rank, target), target)
        print_ranking(ranking, skipped, report.target)
        if rank_out is not None:
            ranking.to_csv(rank_out, index=False)
            console.print(escape(f"Wrote the ranking ({len(ranking):,} rows) to {rank_out}"))
    elif rank_out is not None:
        raise typer.BadParameter("--rank-out needs --rank SCORES: the accounts to rank")
    if publish is not None:
        with failing_as("publishing the effects failed", ValueError, OSError, adbc_driver_manager.Error):
            where = publish_document("effects", effects_document(report), publish, get_settings().scores_keep)
        console.print(escape(f"Published the effects for the server to {where}"))


def print_effects(report: EffectsReport) -> None:
    table = Table(title=f"Effect of each play on {report.target} (percentage points; negative = fewer churners)")
    for c in ("play", "treated", "held out", "effect", "90% interval", "95% interval", "unadjusted", "naive"):
        table.add_column(c, justify="left" if c == "play" else "right", no_wrap=c == "play")
    for row in report.table.to_dict("records"):
        v = {k: 100 * float(row[k]) for k in ("effect", "lo90", "hi90", "lo95", "hi95", "unadjusted", "naive")}
        table.add_row(
            escape(str(row["play"])), f"{int(row['treated']):,}", f"{int(row['held_out']):,}", f"{v['effect']:+.1f}",
            f"{v['lo90']:+.1f} to {v['hi90']:+.1f}", f"{v['lo95']:+.1f} to {v['hi95']:+.1f}",
            f"{v['unadjusted']:+.1f}", f"{v['naive']:+.1f}",
        )  # fmt: skip
    console.print(table)
    for note in report.notes:
        console.print(escape(note))
    console.print("naive: accounts a play was run on against every other eligible account, no holdout (biased: CSMs "
                  "choose the riskier accounts)")  # fmt: skip
    print_uplift(report)


def print_ranking(ranking: pd.DataFrame, skipped: dict[str, str], target: str, top: int = 10) -> None:
    """Per play ranked, the ``top`` accounts it would help most, with their risk and uplift; then why the other
    plays were not ranked."""
    what = "churn avoided" if target == "churn" else "upsell gained"
    for play, g in ranking.groupby("play", sort=False):
        table = Table(title=f"{play}: the accounts it would help most (uplift: points of {what} if assigned)")
        for c in ("rank", "account", "as_of", target, "uplift"):
            table.add_column(c, justify="left" if c == "account" else "right")
        for r in g.head(top).to_dict("records"):
            table.add_row(f"{int(r['rank'])}", escape(str(r["account_id"])), f"{pd.Timestamp(r['as_of']):%Y-%m-%d}",
                          f"{float(r['risk']):.1%}", f"{100 * float(r['uplift']):+.1f}")  # fmt: skip
        console.print(table)
    for play, why in skipped.items():
        console.print(escape(f"{play}: not ranked, {why.removeprefix('not fitted: ')}"))


def print_uplift(report: EffectsReport) -> None:
    """Per play, the uplift ranking's Qini beside the risk ranking's, or why it was not fitted."""
    if report.uplift is None or report.uplift.empty:
        return
    what = "churn avoided" if report.target == "churn" else "upsell gained"
    table = Table(title=f"Uplift ranking per play (Qini x 1000; uplift: points of {what}; 90% bootstrap intervals)")
    for c in ("play", "events treated", "held out", "Qini", "risk's Qini", "difference", f"top {TOP_SHARE:.0%}"):
        table.add_column(c, justify="left" if c == "play" else "right", no_wrap=c == "play")
    for r in report.uplift.to_dict("records"):
        counts = (escape(str(r["play"])), f"{int(r['treated_events']):,}", f"{int(r['held_out_events']):,}")
        if not r["fitted"]:
            table.add_row(*counts, "not fitted", "", "", "")
            continue
        q = {k: 1000 * float(r[k]) for k in ("qini", "qini_lo90", "qini_hi90", "qini_risk", "qini_vs_risk",
                                             "qini_vs_risk_lo90", "qini_vs_risk_hi90")}  # fmt: skip
        top = {k: 100 * float(r[k]) for k in (TOP, f"{TOP}_lo90", f"{TOP}_hi90")}
        table.add_row(
            *counts, f"{q['qini']:.2f} ({q['qini_lo90']:.2f} to {q['qini_hi90']:.2f})", f"{q['qini_risk']:.2f}",
            f"{q['qini_vs_risk']:+.2f} ({q['qini_vs_risk_lo90']:+.2f} to {q['qini_vs_risk_hi90']:+.2f})",
            f"{top[TOP]:+.1f} ({top[f'{TOP}_lo90']:+.1f} to {top[f'{TOP}_hi90']:+.1f})",
        )  # fmt: skip
    console.print(table)
    for r in report.uplift.to_dict("records"):
        if not r["fitted"]:
            console.print(escape(f"{r['play']}: {r['reason']}"))
    console.print(f"uplift: a logistic model of the play's shift of the log-odds, cross-fitted, fitted on a play "
                  f"with at least {MIN_OUTCOMES} outcomes and non-outcomes among the treated and among the held "
                  f"out; difference: its Qini minus the risk ranking's")  # fmt: skip
