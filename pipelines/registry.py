"""The model registry's rules: the alias ``champion`` moves to a new version only when it beats the current
champion on the same out-of-time split; otherwise the new version becomes ``challenger``. Names of registered
models are the targets (``churn``, ``upsell``)."""

from dataclasses import dataclass

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from models.metrics import evaluate

CHAMPION, CHALLENGER = "champion", "challenger"
PRIMARY = "roc_auc"  # the metric a candidate must beat the champion on


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


def decide(client: MlflowClient, name: str, version: str, valid: pd.DataFrame, candidate: float) -> Decision:
    """Give ``version`` the alias it earns. ``valid``: the out-of-time rows (features and ``label``) on which
    ``candidate`` (the new version's ROC AUC) was measured; the champion is scored on the very same rows."""
    current = champion_version(client, name)
    if current is None:
        client.set_registered_model_alias(name, CHAMPION, version)
        return Decision(name, version, CHAMPION, candidate, None, None, "no champion yet")
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
        why = f"{PRIMARY} {candidate:.4f} beats champion v{current}'s {score:.4f} on the same rows"
        return Decision(name, version, CHAMPION, candidate, score, current, why)
    client.set_registered_model_alias(name, CHALLENGER, version)
    why = f"{PRIMARY} {candidate:.4f} does not beat champion v{current}'s {score:.4f}; kept as challenger"
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
