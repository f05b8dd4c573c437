"""The model registry's rules. A new version, even the first, must earn the alias ``champion``: on the
out-of-time validation rows the 95% interval of its ROC AUC must lie above chance (0.5), and it must not be below
the best of its baselines (the scorecard, the logistic baseline and the best single feature, ``BASELINES``) beyond
noise: the paired 90% interval of (its ROC AUC - the best baseline's) must reach 0 or above. Then it must beat the
current champion scored on the same rows. Otherwise it becomes ``challenger``, with the reason and the figures.
``force`` makes it champion whatever the figures. Names of registered models are the targets (``churn``,
``upsell``)."""

from dataclasses import dataclass

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from models.evaluation import NOT_WORSE, Assessment
from models.metrics import evaluate

CHAMPION, CHALLENGER = "champion", "challenger"
PRIMARY = "roc_auc"  # the metric a candidate must beat the champion on
FEW_POSITIVES = 50  # below this many validation positives, the reason says how wide the interval is


BASELINES = ("scorecard", "logistic", "best_feature")  # the scorers a candidate must not fall below


@dataclass(frozen=True)
class Evidence:
    """What a candidate showed on the validation rows."""

    roc_auc: float
    low: float  # 95% interval of its ROC AUC (bootstrap over accounts)
    high: float
    baseline: str  # the best baseline on these rows, in words (e.g. "best single feature (events_90d)")
    baseline_roc_auc: float
    versus_baseline: tuple[float, float]  # 90% interval of (ROC AUC - the best baseline's), paired bootstrap
    positives: int


def evidence(a: Assessment, positives: int, names: dict[str, str] | None = None) -> Evidence:
    """The candidate ``model``'s evidence from an assessment of it and its baselines on the same rows; ``names``
    words a baseline (say, which feature the best single feature is)."""
    present = [b for b in BASELINES if b in a.metrics]
    if not present:
        raise ValueError(f"the assessment holds none of the baselines {BASELINES}: fit them beside the model")
    best = max(present, key=lambda b: a.metrics[b]["roc_auc"])
    lo, hi = a.intervals["model"]["roc_auc"]
    return Evidence(a.metrics["model"]["roc_auc"], lo, hi, (names or {}).get(best, best), a.metrics[best]["roc_auc"],
                    a.difference("model", best, level=NOT_WORSE), positives)  # fmt: skip


def shortfalls(e: Evidence) -> list[str]:
    """Why ``e`` cannot be champion, in words with the figures; empty when it qualifies."""
    out = []
    if not e.low > 0.5:
        out.append(f"its ROC AUC {e.roc_auc:.3f} (95% interval {e.low:.3f}-{e.high:.3f}) does not beat chance (0.5)")
    lo, hi = e.versus_baseline
    if hi < 0:
        out.append(f"its ROC AUC {e.roc_auc:.3f} is below the best baseline, {e.baseline}, at "
                   f"{e.baseline_roc_auc:.3f} beyond noise (difference {e.roc_auc - e.baseline_roc_auc:+.3f}, "
                   f"{NOT_WORSE:.0%} interval {lo:+.3f} to {hi:+.3f}, below 0)")  # fmt: skip
    return out


def caveat(e: Evidence) -> str:
    if e.positives >= FEW_POSITIVES:
        return ""
    return (f"; only {e.positives} validation positives: the ROC AUC is known to within "
            f"{e.low:.3f}-{e.high:.3f} (+-{(e.high - e.low) / 2:.3f})")  # fmt: skip


TRY = (
    "Try: check the label's positive rate and that the mapping sends churn where the labels read it (churn "
    "dataset build prints the rates), bring a longer history or more accounts, or `churn train --force` to make "
    "it champion anyway"
)


@dataclass(frozen=True)
class Decision:
    name: str
    version: str
    alias: str  # the alias the new version got
    candidate: float
    champion: float | None  # the champion's score on the same rows; None when there was no champion
    champion_version: str | None
    reason: str


def champion_version(client: MlflowClient, name: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def decide(
    client: MlflowClient, name: str, version: str, valid: pd.DataFrame, evidence: Evidence, force: bool = False
) -> Decision:
    """Give ``version`` the alias it earns. ``valid``: the out-of-time rows (features and ``label``) on which
    ``evidence`` was measured; the champion is scored on the very same rows."""
    candidate, note = evidence.roc_auc, caveat(evidence)
    current = champion_version(client, name)
    if force:
        client.set_registered_model_alias(name, CHAMPION, version)
        why = (f"made champion by --force ({PRIMARY} {candidate:.4f}, best baseline {evidence.baseline} "
               f"{evidence.baseline_roc_auc:.4f}){note}")  # fmt: skip
        return Decision(name, version, CHAMPION, candidate, None, current, why)
    short = shortfalls(evidence)
    if short:
        client.set_registered_model_alias(name, CHALLENGER, version)
        why = f"not made champion: {'; '.join(short)}{note}. {TRY}"
        return Decision(name, version, CHALLENGER, candidate, None, current, why)
    if current is None:
        client.set_registered_model_alias(name, CHAMPION, version)
        lo, hi = evidence.versus_baseline
        why = (f"no champion yet; {PRIMARY} {candidate:.4f} (95% interval {evidence.low:.4f}-{evidence.high:.4f}) "
               f"beats chance and is not below the best baseline, {evidence.baseline} at "
               f"{evidence.baseline_roc_auc:.4f}, beyond noise (difference {candidate - evidence.baseline_roc_auc:+.4f}"
               f", {NOT_WORSE:.0%} interval {lo:+.4f} to {hi:+.4f}){note}")  # fmt: skip
        return Decision(name, version, CHAMPION, candidate, None, None, why)
    try:
        old = mlflow.pyfunc.load_model(f"models:/{name}@{CHAMPION}")
        schema = old.metadata.get_input_schema()
        columns = schema.input_names() if schema else list(valid.columns)
        p = np.asarray(old.predict(valid[columns])["probability"])
        score = evaluate(valid["label"].to_numpy(), p)[PRIMARY]
    except (MlflowException, ValueError, KeyError, OSError) as e:
        # A champion that cannot score today's rows (say, its features no longer exist) cannot be compared.
        client.set_registered_model_alias(name, CHAMPION, version)
        return Decision(name, version, CHAMPION, candidate, None, current,
                        f"champion v{current} could not score the validation rows ({e}); replaced")  # fmt: skip
    if candidate > score:
        client.set_registered_model_alias(name, CHAMPION, version)
        why = f"{PRIMARY} {candidate:.4f} beats champion v{current}'s {score:.4f} on the same rows{note}"
        return Decision(name, version, CHAMPION, candidate, score, current, why)
    client.set_registered_model_alias(name, CHALLENGER, version)
    why = f"{PRIMARY} {candidate:.4f} does not beat champion v{current}'s {score:.4f}; kept as challenger{note}"
    return Decision(name, version, CHALLENGER, candidate, score, current, why)


def promote(client: MlflowClient, name: str, version: str) -> None:
    """Make ``version`` the champion by hand (raises if the version does not exist)."""
    client.get_model_version(name, version)
    client.set_registered_model_alias(name, CHAMPION, version)
    if str(client.get_registered_model(name).aliases.get(CHALLENGER)) == str(version):
        client.delete_registered_model_alias(name, CHALLENGER)  # a champion is no longer a challenger


def versions(client: MlflowClient, name: str) -> list[dict[str, object]]:
    """Every version of ``name``: version, aliases, run id, creation time and the run's metrics."""
    # search_model_versions leaves the aliases out of its results; the registered model has them all.
    aliases: dict[str, list[str]] = {}
    for alias, v in client.get_registered_model(name).aliases.items():
        aliases.setdefault(str(v), []).append(alias)
    out: list[dict[str, object]] = []
    for v in sorted(client.search_model_versions(f"name = '{name}'"), key=lambda v: int(v.version)):
        metrics = client.get_run(v.run_id).data.metrics if v.run_id else {}
        out.append({"version": v.version, "aliases": sorted(aliases.get(str(v.version), [])), "run_id": v.run_id,
                    "created": v.creation_timestamp, "metrics": metrics})  # fmt: skip
    return out
