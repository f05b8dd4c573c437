"""The families of the churn / upsell model: LightGBM (``models.estimator.PropensityModel``) and logistic
regression (``models.linear.LogisticModel``). ``churn train`` fits the one that wins on the inner folds
(``models.selection``); serving, scoring and explanations take either through ``Model``."""

from models.estimator import PropensityModel
from models.linear import LogisticModel

Model = PropensityModel | LogisticModel
FAMILIES = ("lightgbm", "logistic")


def family_of(model: Model) -> str:
    """ "lightgbm" or "logistic"."""
    return "logistic" if isinstance(model, LogisticModel) else "lightgbm"
