"""Uplift: which accounts a play helps most, and how well a ranking finds them.

``log_odds_learner`` models the play's effect on the log-odds of churn: a logistic regression of churn with the
logit of the predicted risk (P(churn) at as_of, before the play) as offset, main effects of that logit and of the
covariates (segment dummies, log seats, log MRR) to recalibrate it, the assignment (treated: not held out), and the
assignment's interactions with the same columns, standardised. The interactions carry the heterogeneity and are
shrunk by a ridge penalty, the main effects by another, both chosen by cross-validated deviance with the
one-standard-error rule (``choose_penalties``); at the largest penalty the play is a constant shift of the
log-odds, which ranks accounts about by P (1 - P): like their risk below P = 0.5. An account's uplift is
P(churn | held out) - P(churn | treated): the expected reduction in churn from assigning the play. It assumes that
the play acts on the log-odds additively and linearly in those columns, which is how a play that shifts a churn
hazard by an amount per segment shows; the dependence of the uplift on risk comes from the sigmoid.

Cross-fitted: the rows are split into ``folds``, each scored by the model fitted (penalty chosen included) on the
others. The folds' uplifts are not on one scale: a fold whose treated accounts happened to churn more leaves the
other folds a stronger effect, so its accounts get larger uplifts though they show less, and concatenated folds
rank worse than any one model does (on the benchmark's worlds a constant-shift model ranked 3 to 4 x 1e-3 of Qini
below the risk it was a monotone function of). The ranking to evaluate is therefore ``CrossFitted.rank``: each
account's quantile within its fold (as GATES groups by the quantiles within the evaluation sample).

Why not the T-learner it replaces (two LightGBM classifiers, treated and held out): an uplift is a small difference
of two probabilities, each model's noise enters it, and the held-out model has a few hundred rows. Over 12
development worlds (seeds 101 to 112, 8,000 accounts) this model reached 3.44 x 1e-3 of Qini on the helpful play
against the T-learner's 2.33 (started from the risk), and 5.47 on the harmful play against 1.75; see the README for
the benchmark's 20 worlds.

Evaluation by the Qini curve: accounts ranked by a score (highest first), at each cut k the churn the play
prevented among the top k, Q(k) = C0(k) n1(k) / n0(k) - C1(k), where C1, C0 are the churners among the treated
and held-out accounts of the top k and n1, n0 their counts (held-out churn scaled to the treated group's size).
The Qini coefficient is the mean over k of Q(k) minus the straight line of random ranking (k / N) Q(N), divided
by N: the area between the curve and random, per account. Uplift at k: the held-out churn rate minus the treated
one among the top share k. For an outcome to raise (upsell), pass 1 - y: the curve then counts outcomes gained.
"""

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

# Penalties (log-likelihood summed over accounts, on standardised columns) of the treatment interactions, from
# little to a constant shift of the log-odds; and of the main effects, which only recalibrate the predicted risk.
# Cross-validation picks one of each per fit (``choose_penalties``).
PENALTIES = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1e6)
MAIN_PENALTIES = (1.0, 10.0, 100.0, 1000.0)
FOLDS = 5


@dataclass(frozen=True)
class CrossFitted:
    """``uplift``: per row, P(churn | held out) - P(churn | treated) by the model not fitted on it; ``fold``: the
    fold it was scored in; ``rank``: its uplift's quantile within its fold, in (0, 1), the ranking to evaluate."""

    uplift: np.ndarray
    fold: np.ndarray
    rank: np.ndarray


def penalised_logistic(x: np.ndarray, y: np.ndarray, offset: np.ndarray, penalty: np.ndarray, *,
                       tol: float = 1e-9, max_iter: int = 100) -> np.ndarray:  # fmt: skip
    """Coefficients w minimising the logistic loss of ``y`` on ``offset + x @ w`` plus ``0.5 * sum(penalty * w**2)``
    (Newton's method with step halving)."""
    x, y, offset = np.asarray(x, float), np.asarray(y, float), np.asarray(offset, float)
    lam = np.asarray(penalty, float) + 1e-8  # keeps the Hessian invertible when a column is all zeros

    def loss(w: np.ndarray) -> float:
        eta = offset + x @ w
        return float(np.sum(np.logaddexp(0.0, eta) - y * eta) + 0.5 * np.sum(lam * w**2))

    w = np.zeros(x.shape[1])
    current = loss(w)
    for _ in range(max_iter):
        p = expit(offset + x @ w)
        step = np.linalg.solve((x.T * (p * (1 - p))) @ x + np.diag(lam), x.T @ (p - y) + lam * w)
        size = 1.0
        while (new := loss(w - size * step)) > current and size > 1e-10:
            size /= 2
        w, current = w - size * step, new
        if np.max(np.abs(size * step)) < tol:
            break
    return w


def _design(c: np.ndarray, treated: np.ndarray) -> np.ndarray:
    """Intercept, main effects, the treatment indicator and its interactions with the columns ``c``."""
    t = np.asarray(treated, float)[:, None]
    return np.column_stack([np.ones(len(c)), c, t, t * c])


def _penalty(k: int, main: float, interactions: float) -> np.ndarray:
    return np.concatenate([[0.0], np.full(k, main), [0.0], np.full(k, interactions)])


def _held_out_deviance(x: np.ndarray, y: np.ndarray, offset: np.ndarray, penalties: list[np.ndarray],
                       fold: np.ndarray) -> np.ndarray:  # fmt: skip
    """Deviance (half of it: the summed log-loss) of each fold's rows under the fit on the other folds, per fold
    and candidate penalty: an array (folds, candidates)."""
    folds = int(fold.max()) + 1
    out = np.zeros((folds, len(penalties)))
    for f in range(folds):
        fit, test = fold != f, fold == f
        for i, penalty in enumerate(penalties):
            eta = offset[test] + x[test] @ penalised_logistic(x[fit], y[fit], offset[fit], penalty)
            out[f, i] = float(np.sum(np.logaddexp(0.0, eta) - y[test] * eta))
    return out


def one_standard_error(deviance: np.ndarray) -> int:
    """The last candidate (candidates ordered from least to most penalised) whose held-out deviance, summed over
    the folds, is within one standard error of the least one's (the "one-standard-error rule"; the error of the
    summed paired difference, from its spread over the folds)."""
    total = deviance.sum(axis=0)
    best = int(np.argmin(total))
    paired = deviance - deviance[:, [best]]
    se = paired.std(axis=0, ddof=1) * np.sqrt(len(deviance))
    return max(i for i in range(deviance.shape[1]) if total[i] - total[best] <= se[i])


def choose_penalties(c: np.ndarray, y: np.ndarray, treated: np.ndarray, offset: np.ndarray, *,
                     folds: int = FOLDS, seed: int = 0) -> tuple[float, float]:  # fmt: skip
    """The penalties (main effects, treatment interactions) of the standardised columns ``c``, by cross-validated
    deviance and the one-standard-error rule: first the main effects' among ``MAIN_PENALTIES`` with the play a
    constant shift, then the interactions' among ``PENALTIES``. The rule prefers the more penalised model unless
    the data show the other is better: a predicted risk kept as it is, and the risk's ranking (which a constant
    shift gives) unless the play's heterogeneity is clear. Choosing by the least deviance alone (with a fixed light
    main penalty) let noise through: on the helpful play of the generated worlds (benchmarks/plays.py, seeds 1-20;
    101-112 for development), the model fitted on every row, scored on the true effects (``expected_qini``),
    ranked below the risk ranking by 0.54 +- 0.23 (0.39 +- 0.19) x 1e-3; with the rule, above it by 0.17 +- 0.01
    (0.16 +- 0.03). The price: a real contrast is shrunk toward one shift (about a tenth at 20,000 accounts in
    tests/models/test_uplift.py), and heterogeneity in a small segment goes unseen on a few thousand accounts."""
    x = _design(c, treated)
    fold = np.random.default_rng(seed).permutation(len(y)) % folds
    k, constant = c.shape[1], PENALTIES[-1]
    mains = _held_out_deviance(x, y, offset, [_penalty(k, m, constant) for m in MAIN_PENALTIES], fold)
    chosen = one_standard_error(mains)
    main = MAIN_PENALTIES[chosen]
    # The last candidate, the constant shift under that main penalty, is the column of ``mains`` just chosen.
    lighter = _held_out_deviance(x, y, offset, [_penalty(k, main, lam) for lam in PENALTIES[:-1]], fold)
    return main, PENALTIES[one_standard_error(np.column_stack([lighter, mains[:, chosen]]))]


def _logit(risk: np.ndarray) -> np.ndarray:
    r = np.clip(np.asarray(risk, float), 1e-4, 1 - 1e-4)
    return np.log(r / (1 - r))


@dataclass(frozen=True)
class LogOddsModel:
    """The model fitted on some rows (``fit_log_odds``): the columns' standardisation, the coefficients of the
    design (``_design``) and the penalties chosen (main effects, interactions)."""

    mean: np.ndarray
    sd: np.ndarray
    w: np.ndarray
    penalties: tuple[float, float]

    def uplift(self, covariates: np.ndarray, risk: np.ndarray) -> np.ndarray:
        """P(churn | held out) - P(churn | treated) of each row (``covariates`` as fitted, ``risk`` its P(churn))."""
        offset = _logit(risk)
        c = np.column_stack([offset, np.asarray(covariates, float).reshape(len(offset), -1)])
        c = (c - self.mean) / self.sd
        held, assigned = (_design(c, np.full(len(c), g)) @ self.w for g in (False, True))
        return expit(offset + held) - expit(offset + assigned)


def fit_log_odds(covariates: np.ndarray, y: np.ndarray, treated: np.ndarray, *, risk: np.ndarray,
                 seed: int = 0) -> LogOddsModel:  # fmt: skip
    """The model of the module fitted on every row given (the penalty chosen by cross-validation on them):
    ``covariates`` a column each, ``y`` churn 0/1, ``treated`` not held out, ``risk`` P(churn) at as_of."""
    y, t, offset = np.asarray(y, float), np.asarray(treated, bool), _logit(risk)
    c = np.column_stack([offset, np.asarray(covariates, float).reshape(len(offset), -1)])
    mean, sd = c.mean(axis=0), c.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)  # a constant column stays 0
    c = (c - mean) / sd
    main, lam = choose_penalties(c, y, t, offset, seed=seed)
    w = penalised_logistic(_design(c, t), y, offset, _penalty(c.shape[1], main, lam))
    return LogOddsModel(mean, sd, w, (main, lam))


def log_odds_learner(covariates: np.ndarray, y: np.ndarray, treated: np.ndarray, *, risk: np.ndarray,
                     folds: int = FOLDS, seed: int = 0) -> CrossFitted:  # fmt: skip
    """The cross-fitted uplift of each row (see the module): each fold scored by ``fit_log_odds`` on the others.
    ``covariates``: a column each (segment dummies, log seats, ...; may have no columns); ``y``: churn 0/1;
    ``treated``: not held out; ``risk``: the predicted P(churn) at as_of, before the play."""
    y, t = np.asarray(y, float), np.asarray(treated, bool)
    if folds < 2 or len(y) < 2 * folds:
        raise ValueError(f"folds must be at least 2 and at most half the {len(y)} rows; got {folds}")
    x = np.asarray(covariates, float).reshape(len(y), -1)
    r = np.asarray(risk, float)
    fold = np.random.default_rng(seed).permutation(len(y)) % folds
    uplift, rank = np.zeros(len(y)), np.zeros(len(y))
    for f in range(folds):
        fit, score = fold != f, fold == f
        model = fit_log_odds(x[fit], y[fit], t[fit], risk=r[fit], seed=seed + 1 + f)
        uplift[score] = model.uplift(x[score], r[score])
        n = int(score.sum())
        rank[score] = (np.argsort(np.argsort(uplift[score], kind="stable"), kind="stable") + 0.5) / n
    return CrossFitted(uplift, fold, rank)


def qini_curve(score: np.ndarray, y: np.ndarray, treated: np.ndarray) -> np.ndarray:
    """Q(k) for k = 1 .. N, accounts ranked by ``score`` highest first (ties by row order); ``y`` is churn."""
    order = np.argsort(-np.asarray(score, float), kind="stable")
    t, yy = np.asarray(treated, bool)[order], np.asarray(y, float)[order]
    n1, n0 = np.cumsum(t), np.cumsum(~t)
    c1, c0 = np.cumsum(yy * t), np.cumsum(yy * ~t)
    return np.where(n0 > 0, c0 * n1 / np.maximum(n0, 1), 0.0) - c1


def qini_coefficient(score: np.ndarray, y: np.ndarray, treated: np.ndarray) -> float:
    """Mean of Q(k) - (k / N) Q(N) over k, divided by N (0 for a random ranking in expectation)."""
    return _area(qini_curve(score, y, treated))


def _area(q: np.ndarray) -> float:
    """The mean over k of a Qini curve ``q`` minus the straight line of random ranking, (k / N) Q(N), over N."""
    n = len(q)
    return float(np.mean(q - np.arange(1, n + 1) / n * q[-1]) / n)


def expected_qini(score: np.ndarray, gain: np.ndarray, treated_share: float) -> float:
    """The Qini coefficient a ranking by ``score`` has in expectation when each account's assignment would lower
    its churn by ``gain`` (known in a simulation, never in data) and a share ``treated_share`` of the accounts is
    assigned at random: Q(k) = treated_share x the gain summed over the top k, then as ``qini_coefficient``. It
    scores a ranking without the noise of the outcomes and of the holdout draw, which on a few thousand accounts
    swamps the differences between good rankings."""
    order = np.argsort(-np.asarray(score, float), kind="stable")
    return _area(treated_share * np.cumsum(np.asarray(gain, float)[order]))


def uplift_at(score: np.ndarray, y: np.ndarray, treated: np.ndarray, share: float = 0.3) -> float:
    """Held-out churn rate minus treated churn rate among the top ``share`` by ``score`` (NaN if a group is empty)."""
    top = np.argsort(-np.asarray(score, float), kind="stable")[: max(1, round(share * len(score)))]
    t, yy = np.asarray(treated, bool)[top], np.asarray(y, float)[top]
    if t.all() or not t.any():
        return float("nan")
    return float(yy[~t].mean() - yy[t].mean())
