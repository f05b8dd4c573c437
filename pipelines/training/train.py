"""``churn train``: choose a target's model family and settings by cross-validation over the training dates
(``models.selection``), fit it and the baselines on the time-split training set, evaluate them on the out-of-time
validation rows (and the generator's oracle when there is one), log everything to MLflow, register the model and
move the aliases by the registry's rules."""

import hashlib
import json
import logging
import tempfile
import time
import warnings
from collections.abc import Mapping
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

from features.labels import LABELS, LabelConfig
from features.registry import Feature
from models import plots
from models.baselines import BestFeatureBaseline, LogisticBaseline, ScorecardBaseline
from models.config import TrainConfig
from models.evaluation import Evaluation, evaluate_validation
from models.explain import explain
from models.family import Model
from models.metrics import calibration_bins, evaluate
from models.pyfunc import ProbabilityModel, save
from models.selection import Selection, fit_model
from models.slices import settled
from pipelines.training.champion import Decision, decide, evidence
from pipelines.training.datasets import (
    TARGETS,
    column_families,
    families_off,
    feature_definitions,
    label_config,
)
from pipelines.training.expansion import ExpansionReport, fit_and_judge, log_expansion
from pipelines.training.survival import SurvivalReport, fit_and_judge_survival, log_survival
from pipelines.training.tune import tune

logger = logging.getLogger(__name__)
ORACLE_COLUMN = {"churn": "p_churn", "upsell": "p_expand"}


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
    selection: Selection | None = None  # which family won on the inner folds, and by how much; None: not chosen
    baselines: dict[str, str] = field(default_factory=dict)  # a baseline's name -> its description in words
    expansion: ExpansionReport | None = None  # upsell: the expected-expansion model and its figures
    survival: SurvivalReport | None = None  # churn: the model of churn over time and its figures


@dataclass(frozen=True)
class Fitted:
    """A target's model and baselines fitted on the 'train' rows, scored on the 'valid' rows."""

    model: Model
    scores: dict[str, np.ndarray]  # scorer (model, scorecard, logistic, best_feature, oracle) -> probabilities
    metrics: dict[str, dict[str, float]]  # scorer -> metric -> value on the valid rows
    selection: Selection | None
    config: TrainConfig  # as trained: the slices' dates and gap settled
    baselines: dict[str, str]  # a baseline's name -> its description in words


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


def fit_and_select(
    rows: pd.DataFrame, target: str, cfg: TrainConfig, oracle: Path | None = None,
    families: dict[str, str] | None = None, labels: LabelConfig = LABELS, tuned: bool = False,
    registry: Mapping[str, Feature] | None = None,
) -> Fitted:  # fmt: skip
    """The model (its family and settings chosen on the training rows' folds unless ``cfg.family`` is "lightgbm")
    and the baselines fitted on the 'train' rows; their scores and metrics on the 'valid' rows. ``labels`` gives
    the gap between fit rows and the rows that judge them; ``families`` puts a feature table's own columns into
    families; ``tuned``: ``cfg`` holds settings found by ``--tune``; ``registry``: the definitions the snapshots were
    built with (``datasets.feature_definitions``: per event type too), which the model's explanations read."""
    train, valid = rows[rows["split"] == "train"], rows[rows["split"] == "valid"]
    if train.empty or valid.empty:
        raise ValueError("the training set needs both 'train' and 'valid' rows; rebuild it (churn dataset build)")
    fit_rows = train.drop(columns="split")
    cfg = settled(cfg, fit_rows["as_of"], labels.reads_days(target))
    model, selection = fit_model(fit_rows, target, cfg, families=families, tuned=tuned, registry=registry)
    scores = {"model": model.predict_proba(model.prepare(valid))[:, 1]}
    assert cfg.inner_dates is not None  # settled
    scorecard = ScorecardBaseline(target=target, inner_dates=cfg.inner_dates).fit(fit_rows)
    scores["scorecard"] = scorecard.predict_proba(valid)[:, 1]
    scores["logistic"] = LogisticBaseline(seed=cfg.seed).fit(fit_rows).predict_proba(valid)[:, 1]
    single = BestFeatureBaseline(inner_dates=cfg.inner_dates).fit(fit_rows)
    scores["best_feature"] = single.predict_proba(valid)[:, 1]
    sign = "higher" if single.sign_ > 0 else "lower"
    names = {"best_feature": f"the best single feature ({single.feature_}, {sign} = more {target})"}
    truth = oracle_scores(valid, target, oracle)
    if truth is not None:
        scores["oracle"] = truth
    y = valid["label"].to_numpy()
    arr = valid["arr"].to_numpy(dtype=float) if "arr" in valid else None  # a feature table may have no ARR
    metrics = {name: evaluate(y, p, arr) for name, p in scores.items()}
    return Fitted(model, scores, metrics, selection, cfg, names)


def fit_and_evaluate(
    rows: pd.DataFrame, target: str, cfg: TrainConfig, oracle: Path | None = None,
    families: dict[str, str] | None = None, registry: Mapping[str, Feature] | None = None,
) -> tuple[Model, dict[str, np.ndarray], dict[str, dict[str, float]]]:  # fmt: skip
    """``fit_and_select``'s model, scores and metrics."""
    f = fit_and_select(rows, target, cfg, oracle, families, registry=registry)
    return f.model, f.scores, f.metrics


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
    labels = label_config(con)  # the time rules the labels were built with (features.label_config)
    if tune_seconds:
        train_rows = rows[rows["split"] == "train"]
        cfg = tune(train_rows, target, settled(cfg, train_rows["as_of"], labels.reads_days(target)), tune_seconds)
    registry = feature_definitions(con)
    fitted = fit_and_select(rows, target, cfg, oracle, column_families(con), labels, tuned=bool(tune_seconds),
                            registry=registry)  # fmt: skip
    model, scores = fitted.model, fitted.scores
    off = families_off(con) if any(n in registry for n in model.features_) else {}
    evaluation = evaluate_validation(_valid(rows), scores, target)
    expansion = fit_and_judge(con, rows, model, scores, fitted.config, labels) if target == "upsell" else None
    survival = (fit_and_judge_survival(con, rows, model, scores, fitted.config, labels, oracle)
                if target == "churn" else None)  # fmt: skip
    seconds = time.perf_counter() - t0
    run_id, decision = None, None
    if register:
        run_id, decision = log_and_register(rows, target, fitted.config, model, scores, evaluation, tracking_uri,
                                            artifacts, force, off, fitted.selection, fitted.baselines,
                                            expansion, survival)  # fmt: skip
    later = rows.loc[rows["split"] == "valid", "as_of"].min() > rows.loc[rows["split"] == "train", "as_of"].max()
    return TrainReport(target, evaluation, model.summary(), seconds, run_id, decision, off, bool(later),
                       fitted.selection, fitted.baselines, expansion, survival)  # fmt: skip


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
    rows: pd.DataFrame, target: str, cfg: TrainConfig, model: Model, scores: dict[str, np.ndarray],
    evaluation: Evaluation | None, tracking_uri: str, artifacts: Path, force: bool = False,
    families_off: dict[str, str] | None = None, selection: Selection | None = None,
    baselines: dict[str, str] | None = None, expansion: ExpansionReport | None = None,
    survival: SurvivalReport | None = None,
) -> tuple[str, Decision]:  # fmt: skip
    """One MLflow run in the experiment ``churn-<target>``: parameters (the model's settings as trained), data
    fingerprint, features, the family selection (``selection``: which family won on the inner folds, each
    candidate's inner-fold ROC AUC and the margin), metrics with their intervals, plots and the model (registered
    as ``target``, given the alias it earns on ``rows``' validation part, or champion with ``force``).
    ``evaluation`` of ``scores`` is computed when not given; ``baselines`` words the baselines' names;
    ``expansion`` (upsell) is logged in the same run and its model beside the upsell model's; ``survival`` (churn)
    likewise, its hazard model beside the churn model's."""
    mlflow.set_tracking_uri(tracking_uri)
    name = f"churn-{target}"
    if mlflow.get_experiment_by_name(name) is None:
        mlflow.create_experiment(name, artifact_location=artifacts.resolve().as_uri())
    mlflow.set_experiment(name)
    valid = _valid(rows)
    y = valid["label"].to_numpy()
    evaluation = evaluation or evaluate_validation(valid, scores, target)
    with mlflow.start_run() as run, tempfile.TemporaryDirectory() as tmp:
        trained = model.config_
        mlflow.log_params({**{k: v for k, v in trained.as_dict().items() if k != "extra"}, **trained.extra,
                           "target": target, **model.summary()})  # fmt: skip
        if selection is not None:
            mlflow.log_params(selection.params())
            mlflow.log_metrics(selection.metrics())
            mlflow.log_dict({"folds": selection.folds, "family": selection.family, "chosen": selection.chosen.name,
                             "margin": selection.margin, "scores": selection.scores}, "selection.json")  # fmt: skip
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
        extra = log_expansion(expansion, Path(tmp)) if expansion is not None else {}
        extra |= log_survival(survival, Path(tmp)) if survival is not None else {}
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
                name="model", python_model=ProbabilityModel(),
                artifacts={"model": str(save(model, Path(tmp))), **extra},
                signature=signature, input_example=example, registered_model_name=target,
                pip_requirements=requirements(),
            )  # fmt: skip
        version = str(info.registered_model_version)
        shown = evidence(evaluation.everyone, int(y.sum()), baselines)
        decision = decide(MlflowClient(), target, version, valid, shown, force)
        mlflow.set_tags({"alias": decision.alias, "decision": decision.reason, "version": version})
        mlflow.log_text(json.dumps(decision.__dict__, default=str, indent=2), "decision.json")
    return run.info.run_id, decision
