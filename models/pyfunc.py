"""The model as an MLflow pyfunc: ``predict`` returns calibrated probabilities (not class labels), so that
``mlflow models serve`` and ``mlflow.pyfunc.load_model`` give what callers need. The fitted model (either family,
``models.family.Model``) is the artifact; ``load`` gets it back for explanations. No tracking calls here (those
live in ``pipelines``)."""

import pickle
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from models.estimator import PropensityModel
from models.family import Model
from models.linear import LogisticModel

ARTIFACT = "model.pkl"


def save(model: Model, folder: Path) -> Path:
    path = folder / ARTIFACT
    path.write_bytes(pickle.dumps(model))
    return path


class _Unpickler(pickle.Unpickler):
    """Reads versions registered before the model class was renamed (``models.estimator.ChurnModel``, until issue
    19): a registry keeps serving what it holds after an upgrade."""

    RENAMED: ClassVar = {("models.estimator", "ChurnModel"): ("models.estimator", "PropensityModel")}

    def find_class(self, module: str, name: str) -> Any:
        return super().find_class(*self.RENAMED.get((module, name), (module, name)))


def load(path: str | Path) -> Model:
    with Path(path).open("rb") as f:
        model = _Unpickler(f).load()
    if not isinstance(model, PropensityModel | LogisticModel):
        raise TypeError(f"{path} holds a {type(model).__name__}, not a PropensityModel or a LogisticModel")
    return model


class ProbabilityModel(PythonModel):
    """Input: a frame with the model's feature columns (extra columns ignored). Output: a frame with one column,
    ``probability``."""

    def load_context(self, context: Any) -> None:
        self.model = load(context.artifacts["model"])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        p = self.model.predict_proba(self.model.prepare(pd.DataFrame(model_input)))[:, 1]
        return pd.DataFrame({"probability": np.asarray(p, dtype="float64")})
