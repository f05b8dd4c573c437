"""``churn train``: fit a target's model and baselines on the time-split training set, evaluate them on the
out-of-time validation rows (and the generator's oracle when there is one), log everything to MLflow, register
the model and move the aliases by the registry's rules."""

import hashlib
import json
import logging
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from features.catalog import features
from models import plots
from models.baselines import LogisticBaseline, ScorecardBaseline
from models.config import TrainConfig
from models.estimator import PropensityModel, fit_on_slices
from models.evaluation import Evaluation, evaluate_validation
from models.explain import explain
from models.metrics import calibration_bins, evaluate
from models.pyfunc import ProbabilityModel, save
from pipelines.training.champion import Decision, Evidence, decide
from pipelines.training.datasets import TARGETS, column_families, families_off
from pipelines.training.tune import tune

logger = logging.getLogger(__name__)
ORACLE_COLUMN = {"churn": "p_churn", "upsell": "p_expand"}
FEATURE_NAMES = {f.name for f in features()}


@dataclass(frozen=True)
class TrainReport:
    target: str
    evaluation: Evaluation  # model, scorecard, logistic, oracle (when known) -> metric -> value and interval
    summary: dict[str, Any]
    seconds: float
    run_id: str | None
    decision: Decision | None
    families_off: dict[str, str] = field(default_factory=dict)  # left out of training: no data fed them
    out_of_time: bool = True  # validation rows later than every training row (False: a holdout of customers)


def load_dataset(con: duckdb.DuckDBPyConnection, target: str) -> pd.DataFrame:
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    try:
        return (
            con.sql(f"SELECT * FROM features.dataset_{target} ORDER BY as_of, account_id").to_arrow_table().to_pandas()
        )
    except duckdb.CatalogException as e:
        raise ValueError(f"no training set for {target}: run `churn dataset build --target {target}` first") from e


def fingerprint(rows: pd.DataFrame) -> dict[str, Any]:
    """What identifies the training data: a hash of its content, dates, row counts and positive rates."""
    digest = hashlib.sha256(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes()).hexdigest()
    out: dict[str, Any] = {"sha256": digest, "columns": len(rows.columns)}
    for part, g in rows.groupby("split"):
        out[str(part)] = {"rows": len(g), "accounts": int(g["account_id"].nunique()),
                          "positive_rate": round(float(g["label"].mean()), 6),
                          "first_as_of": str(g["as_of"].min()), "last_as_of": str(g["as_of"].max())}  # fmt: skip
    return out


def oracle_scores(valid: pd.DataFrame, target: str, path: Path | None) -> np.ndarray | None:
    """The generator's true probabilities for the validation rows, or None when unknown (real data)."""
    if path is None or not path.exists():
        return None
    truth = pd.read_parquet(path, columns=["account_id", "as_of", ORACLE_COLUMN[target]])
    joined = valid[["account_id", "as_of"]].merge(truth, on=["account_id", "as_of"], how="left")
    if joined[ORACLE_COLUMN[target]].isna().any():
        logger.warning("the oracle at %s does not cover every validation row; oracle metrics skipped", path)
        return None
    return joined[ORACLE_COLUMN[target]].to_numpy(dtype=float)


def fit_and_evaluate(
    rows: pd.DataFrame, target: str, cfg: TrainConfig, oracle: Path | None = None,
    families: dict[str, str] | None = None,
) -> tuple[PropensityModel, dict[str, np.ndarray], dict[str, dict[str, float]]]:  # fmt: skip
    """The model and both baselines fitted on the 'train' rows; their scores and metrics on the 'valid' rows.
    ``families`` puts a feature table's own columns into families."""
    train, valid = rows[rows["split"] == "train"], rows[rows["split"] == "valid"]
    if train.empty or valid.empty:
        raise ValueError("the training set needs both 'train' and 'valid' rows; rebuild it (churn dataset build)")
    model = fit_on_slices(train.drop(columns="split"), target, cfg, families=families)
    scores = {"model": model.predict_proba(model.prepare(valid))[:, 1]}
    scorecard = ScorecardBaseline(target=target, inner_dates=cfg.inner_dates).fit(train.drop(columns="split"))
    scores["scorecard"] = scorecard.predict_proba(valid)[:, 1]
    scores["logistic"] = LogisticBaseline(seed=cfg.seed).fit(train.drop(columns="split")).predict_proba(valid)[:, 1]
    truth = oracle_scores(valid, target, oracle)
    if truth is not None:
        scores["oracle"] = truth
    y = valid["label"].to_numpy()
    arr = valid["arr"].to_numpy(dtype=float) if "arr" in valid else None  # a feature table may have no ARR
    return model, scores, {name: evaluate(y, p, arr) for name, p in scores.items()}


def train(
    con: duckdb.DuckDBPyConnection,
    target: str,
    cfg: TrainConfig | None = None,
    tracking_uri: str = "sqlite:///mlflow.db",
    artifacts: Path = Path("mlruns"),
    oracle: Path | None = None,
    tune_seconds: float | None = None,
    register: bool = True,
    force: bool = False,
) -> TrainReport:
    """Fit, evaluate with intervals, and (``register``) log and register; ``force`` makes the new version champion
    whatever its figures."""
    t0 = time.perf_counter()
    rows = load_dataset(con, target)
    cfg = cfg or TrainConfig.for_target(target)
    if tune_seconds:
        cfg = tune(rows[rows["split"] == "train"], target, cfg, tune_seconds)
    model, scores, _ = fit_and_evaluate(rows, target, cfg, oracle, column_families(con))
    off = families_off(con) if any(n in FEATURE_NAMES for n in model.features_) else {}
    evaluation = evaluate_validation(_valid(rows), scores, target)
    seconds = time.perf_counter() - t0
    run_id, decision = None, None
    if register:
        run_id, decision = log_and_register(rows, target, cfg, model, scores, evaluation, tracking_uri, artifacts,
                                            force, off)  # fmt: skip
    later = rows.loc[rows["split"] == "valid", "as_of"].min() > rows.loc[rows["split"] == "train", "as_of"].max()
    return TrainReport(target, evaluation, model.summary(), seconds, run_id, decision, off, bool(later))


def _valid(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["split"] == "valid"].reset_index(drop=True)


def flat_metrics(e: Evaluation) -> dict[str, float]:
    """Every figure of ``e`` under one MLflow name each: ``roc_auc`` (the model's), ``logistic_roc_auc``, with
    ``_low`` and ``_high`` for the 95% interval; ``beyond_notice_`` in front for the rows beyond notice;
    ``roc_auc_vs_oracle`` for the ratio to the oracle."""
    out: dict[str, float] = {}
    for prefix, a in (("", e.everyone), ("beyond_notice_", e.beyond_notice)):
        if a is None:
            continue
        for who, m in a.metrics.items():
            for k, v in m.items():
                name = f"{prefix}{'' if who == 'model' else who + '_'}{k}"
                out[name] = v
                if k in a.intervals[who] and k not in ("rows", "positive_rate"):
                    out[f"{name}_low"], out[f"{name}_high"] = a.intervals[who][k]
    if e.oracle_ratio is not None:
        ratio, (lo, hi) = e.oracle_ratio
        out.update(roc_auc_vs_oracle=ratio, roc_auc_vs_oracle_low=lo, roc_auc_vs_oracle_high=hi)
    out["notice_given_rows"] = float(e.noticed)
    return out


def requirements() -> list[str]:
    """What loading the model needs, pinned to this environment's versions. Given explicitly, because MLflow's
    inference imports the model in a subprocess and took about 12 s per run here."""
    from importlib.metadata import version

    return [f"{p}=={version(p)}" for p in ("mlflow", "lightgbm", "scikit-learn", "pandas", "numpy", "churn")]


def log_and_register(
    rows: pd.DataFrame, target: str, cfg: TrainConfig, model: PropensityModel, scores: dict[str, np.ndarray],
    evaluation: Evaluation | None, tracking_uri: str, artifacts: Path, force: bool = False,
    families_off: dict[str, str] | None = None,
) -> tuple[str, Decision]:  # fmt: skip
    """One MLflow run in the experiment ``churn-<target>``: parameters, data fingerprint, features, metrics with
    their intervals, plots and the model (registered as ``target``, given the alias it earns on ``rows``'
    validation part, or champion with ``force``). ``evaluation`` of ``scores`` is computed when not given."""
    mlflow.set_tracking_uri(tracking_uri)
    name = f"churn-{target}"
    if mlflow.get_experiment_by_name(name) is None:
        mlflow.create_experiment(name, artifact_location=artifacts.resolve().as_uri())
    mlflow.set_experiment(name)
    valid = _valid(rows)
    y = valid["label"].to_numpy()
    evaluation = evaluation or evaluate_validation(valid, scores, target)
    metrics = evaluation.everyone.metrics
    with mlflow.start_run() as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params({**{k: v for k, v in cfg.as_dict().items() if k != "extra"}, **cfg.extra,
                           "target": target, **model.summary()})  # fmt: skip
        mlflow.log_dict(fingerprint(rows), "data_fingerprint.json")
        mlflow.log_dict(
            {
                "features": model.features_,
                "categorical": model.categorical_,
                "families": {n: f.family for n, f in model.feature_info_.items()},
            },
            "features.json",
        )
        mlflow.log_dict(families_off or {}, "families_off.json")
        mlflow.set_tag("families_off", ", ".join(families_off or {}) or "none")
        flat = flat_metrics(evaluation)
        mlflow.log_metrics({k: float(v) for k, v in flat.items() if np.isfinite(v)})
        mlflow.log_dict(flat, "metrics.json")
        mlflow.log_dict({"bins": calibration_bins(y, scores["model"])}, "calibration.json")
        sample = valid.sample(min(len(valid), 2000), random_state=cfg.seed)
        X = model.prepare(sample)
        for fname, fig in (
            ("roc_pr.png", plots.roc_pr(y, scores)),
            ("calibration.png", plots.calibration(y, {k: v for k, v in scores.items() if k != "oracle"})),
            ("gains.png", plots.gains(y, scores)),
            ("shap_summary.png", plots.shap_summary(explain(model, X).contributions, X)),
        ):
            mlflow.log_figure(fig, f"plots/{fname}")
            plt.close(fig)
        example = valid[model.features_].head(5)
        probability = model.predict_proba(model.prepare(example))[:, 1]
        signature = infer_signature(example, pd.DataFrame({"probability": probability}))
        with warnings.catch_warnings():
            # MLflow 3.17 compares DataFrame columns with a range when saving the input example; pandas 3.1
            # deprecates that. Harmless, and not ours to fix.
            warnings.filterwarnings("ignore", "Operation with range is deprecated", pd.errors.Pandas4Warning)
            info = mlflow.pyfunc.log_model(
                name="model", python_model=ProbabilityModel(), artifacts={"model": str(save(model, Path(tmp)))},
                signature=signature, input_example=example, registered_model_name=target,
                pip_requirements=requirements(),
            )  # fmt: skip
        version = str(info.registered_model_version)
        lo, hi = evaluation.everyone.intervals["model"]["roc_auc"]
        evidence = Evidence(metrics["model"]["roc_auc"], lo, hi, metrics["logistic"]["roc_auc"],
                            evaluation.everyone.difference("model", "logistic"), int(y.sum()))  # fmt: skip
        decision = decide(MlflowClient(), target, version, valid, evidence, force)
        mlflow.set_tags({"alias": decision.alias, "decision": decision.reason, "version": version})
        mlflow.log_text(json.dumps(decision.__dict__, default=str, indent=2), "decision.json")
    return run.info.run_id, decision
