"""``churn monitor`` against the generator's injected changes (issue 22's floors): on a generated world with no
change, drift judged against the data's own history raises at most one false alert per 24 monthly checks; on the
same world with a tracking outage, a price change, a new segment and a product release (months apart), each is
flagged at the first scoring date after its start, by an alert whose subject is what it changed. The truth is read
from ``ground_truth/changes.parquet``.

Both worlds: 2,000 accounts over 38 months (37 monthly snapshot dates, 24 of them judged against 12 earlier
date-to-date changes), one small LightGBM trained on the world without changes and scoring every date of both.
"""

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from models.config import TrainConfig
from pipelines.generate.changes import Change, parse_change
from pipelines.generate.run import generate
from pipelines.generate.simulate import Oracle
from pipelines.ingest import ingest
from pipelines.monitor.config import Alert
from pipelines.monitor.run import MonitorReport, monitor
from pipelines.score import champion_scorer, score
from pipelines.snapshots import default_dates, refresh
from pipelines.training.datasets import build_dataset, feature_definitions
from pipelines.training.train import fit_and_evaluate, log_and_register
from pipelines.warehouse import connect

pytestmark = pytest.mark.slow

WORLD = {"accounts": 2000, "months": 38, "seed": 5, "oracle": Oracle(paths=0), "workers": 1}
CHANGES = [parse_change(c) for c in ("outage:2025-03-10:event_type=login:days=14", "price:2025-06-10:factor=1.2",
                                     "segment:2025-09-10:segment=startup", "release:2025-12-10")]  # fmt: skip


@dataclass(frozen=True)
class Monitored:
    root: Path
    report: MonitorReport

    def judged(self) -> list[datetime]:
        """The scored dates judged against their history (the others are listed in a note)."""
        notes = " ".join(self.report.notes)
        return [d for d in self.report.dates if f"{d:%Y-%m-%d} (" not in notes]


def build(root: Path, changes: list[Change], tracking_uri: str | None) -> tuple[Path, str]:
    """Generate, ingest, snapshot every month; train and register a champion unless ``tracking_uri`` has one;
    score every snapshot date. The warehouse and the tracking URI."""
    generate(root / "raw", changes=changes, **WORLD)  # type: ignore[arg-type]
    warehouse = root / "warehouse.duckdb"
    ingest(root / "raw", warehouse)
    with connect(warehouse) as con:
        dates = default_dates(con)
        refresh(con, dates)
        rows, _ = build_dataset(con, "churn")
        registry = feature_definitions(con)
    if tracking_uri is None:
        tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
        cfg = TrainConfig.for_target("churn", max_trees=30, family="lightgbm")
        model, scores, _ = fit_and_evaluate(rows, "churn", cfg, registry=registry)
        log_and_register(rows, "churn", cfg, model, scores, None, tracking_uri, root / "mlruns", force=True)
    with connect(warehouse) as con:
        score(con, champion_scorer(tracking_uri), dates)
    return warehouse, tracking_uri


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Monitored, Monitored]:
    root = tmp_path_factory.mktemp("monitor_changes")
    plain, uri = build(root / "plain", [], None)
    changed, _ = build(root / "changed", CHANGES, uri)
    out = []
    for name, warehouse in (("plain", plain), ("changed", changed)):
        with connect(warehouse) as con:
            out.append(Monitored(root / name, monitor(con)))
    return out[0], out[1]


def test_a_world_without_changes_raises_at_most_one_false_alert_per_24_monthly_checks(
    worlds: tuple[Monitored, Monitored],
) -> None:
    plain = worlds[0]
    judged = plain.judged()
    assert len(judged) >= 24, plain.report.notes
    false = [a for a in plain.report.alerts if a.level == "alert" and a.as_of in judged]
    print(f"\nfalse alerts over {len(judged)} judged monthly checks: {len(false)}",
          *[f"{a.as_of:%Y-%m-%d} {a.kind} {a.subject} {a.value}" for a in false], sep="\n")  # fmt: skip
    assert len(false) <= len(judged) // 24, false


def caught(change: pd.Series, alert: Alert) -> bool:
    """Whether ``alert``'s subject is what ``change`` changed: its event type (a feature of it, its raw table), the
    amounts it repriced, or the segment (the new value, or the rows the contract quarantined for it)."""
    kind, subject = change["kind"], alert.subject
    if kind in ("outage", "release"):
        return str(change["event_type"]) in subject or subject == "usage_events"
    if kind == "price":
        return subject in {"last_invoice_amount", "overdue_amount", "unpaid_amount", "mrr", "arr", "price_per_seat",
                           "invoices", "subscriptions"}  # fmt: skip
    return subject in {"segment", "accounts"}


def test_each_injected_change_is_flagged_at_the_first_scoring_date_after_it(
    worlds: tuple[Monitored, Monitored],
) -> None:
    changed = worlds[1]
    truth = pd.read_parquet(changed.root / "raw" / "ground_truth" / "changes.parquet")
    assert sorted(truth["kind"]) == ["outage", "price", "release", "segment"]
    judged = changed.judged()
    found = []
    for _, change in truth.iterrows():
        first = min(d for d in changed.report.dates if d > change["start"])
        assert first in judged, (change["kind"], first)
        hits = [a for a in changed.report.alerts if a.as_of == first and a.level == "alert" and caught(change, a)]
        assert hits, (change["description"], [(a.kind, a.subject) for a in changed.report.alerts if a.as_of == first])
        found.append(f"{change['kind']} {change['start']:%Y-%m-%d} -> {first:%Y-%m-%d}: "
                     + ", ".join(f"{a.kind} {a.subject} ({a.value:g} > {a.threshold:g})" for a in hits))  # fmt: skip
    print("", *found, sep="\n")
