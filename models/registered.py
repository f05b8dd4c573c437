"""Loading registered models back from MLflow by alias (for batch scoring and for serving): the fitted ``Model``
(either family) with its version, run and out-of-time metrics, and the ``Scorer`` of the churn and upsell pair.
Read-only: registering and moving aliases live in ``pipelines``."""

from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from models.expansion import EXPANSION_ARTIFACT, ExpansionModel, load_expansion
from models.family import Model
from models.hazard_model import HAZARD_ARTIFACT, HazardModel, load_hazard
from models.pyfunc import ARTIFACT, load
from models.scoring import Scorer

TARGETS = ("churn", "upsell")  # the registered models, by name, that a Scorer pairs


class ModelNotFound(LookupError):
    """No version of the model holds the alias (train one: ``churn train``)."""


@dataclass(frozen=True)
class Registered:
    name: str
    alias: str
    version: str
    run_id: str
    model: Model
    metrics: dict[str, float] = field(default_factory=dict)
    calibration: list[tuple[float, float]] = field(default_factory=list)  # (predicted, observed) on validation
    # upsell: the expected-expansion model logged with this version (``models.expansion``); None before it was
    expansion: ExpansionModel | None = None
    # churn: the model of churn over time logged with this version (``models.hazard_model``); None before it was
    hazard: HazardModel | None = None


def alias_version(name: str, alias: str, tracking_uri: str) -> str | None:
    try:
        return str(MlflowClient(tracking_uri, tracking_uri).get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def load_registered(name: str, alias: str, tracking_uri: str, version: str | None = None) -> Registered:
    """The model ``name`` at ``alias`` (or at ``version`` when given)."""
    client = MlflowClient(tracking_uri, tracking_uri)
    try:
        mv = client.get_model_version(name, version) if version else client.get_model_version_by_alias(name, alias)
    except MlflowException as e:
        raise ModelNotFound(
            f"no model {name!r} with alias {alias!r} in {tracking_uri}: train one (churn train --target {name}) "
            "or promote a version (churn models promote)"
        ) from e
    folder = Path(mlflow.artifacts.download_artifacts(client.get_model_version_download_uri(name, mv.version)))
    found = next(folder.rglob(ARTIFACT), None)
    if found is None:
        raise ModelNotFound(f"{name} v{mv.version} has no {ARTIFACT}: it was not logged by churn train")
    run = client.get_run(mv.run_id) if mv.run_id else None
    bins: list[tuple[float, float]] = []
    if run is not None:
        try:
            got = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/calibration.json")
            bins = [(float(a), float(b)) for a, b in got["bins"]]
        except (MlflowException, OSError, KeyError, ValueError):
            bins = []  # logged before calibration bins were: the model page shows none
    size = next(folder.rglob(EXPANSION_ARTIFACT), None)
    curve = next(folder.rglob(HAZARD_ARTIFACT), None)
    return Registered(name, alias, str(mv.version), mv.run_id or "", load(found), run.data.metrics if run else {},
                      bins, None if size is None else load_expansion(size),
                      None if curve is None else load_hazard(curve))  # fmt: skip


def load_pair(tracking_uri: str, alias: str) -> tuple[dict[str, Registered], Scorer]:
    """The churn and upsell models at ``alias`` (``TARGETS`` -> ``Registered``), and the ``Scorer`` of the two with
    their versions. Raises ``ModelNotFound`` when churn has no version at the alias; without an upsell model (a
    feature table with a churn label only) the scores carry no upsell propensity."""
    models = {"churn": load_registered("churn", alias, tracking_uri)}
    with suppress(ModelNotFound):
        models["upsell"] = load_registered("upsell", alias, tracking_uri)
    versions = {t: m.version for t, m in models.items()}
    up = models.get("upsell")
    return models, Scorer(models["churn"].model, None if up is None else up.model, versions,
                          expansion=None if up is None else up.expansion, curve=models["churn"].hazard)  # fmt: skip
