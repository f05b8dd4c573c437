"""The shifted-beta-geometric (sBG) model of contractual retention (Fader & Hardie, 2007): each account churns
at the end of a period with a constant probability theta, and theta varies across accounts as Beta(alpha, beta).
A baseline for churn over time: per segment, fit on whole periods (e.g. 30-day months) by maximum likelihood.

    P(T = t) = B(alpha + 1, beta + t - 1) / B(alpha, beta),  S(t) = B(alpha, beta + t) / B(alpha, beta)
"""

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import minimize
from scipy.special import betaln


@dataclass(frozen=True)
class SBG:
    alpha: float
    beta: float

    def survival(self, periods: ArrayLike) -> np.ndarray:
        """S(t): the probability of still being a customer after ``periods`` whole periods (S(0) = 1)."""
        t = np.asarray(periods, dtype=float)
        return np.exp(betaln(self.alpha, self.beta + t) - betaln(self.alpha, self.beta))


def log_likelihood(alpha: float, beta: float, periods: np.ndarray, event: np.ndarray) -> float:
    """Sum over accounts: log P(T = t) for a churn in period t >= 1 (``event`` 1), log S(t) for an account seen
    surviving t periods (``event`` 0)."""
    base = betaln(alpha, beta)
    churned = betaln(alpha + 1, beta + periods - 1) - base
    survived = betaln(alpha, beta + periods) - base
    return float(np.sum(np.where(event == 1, churned, survived)))


def fit_sbg(periods: ArrayLike, event: ArrayLike) -> SBG:
    """Maximum-likelihood alpha and beta from per-account ``periods`` (whole periods to churn, >= 1 when
    ``event`` is 1; periods survived when 0)."""
    t = np.asarray(periods, dtype=float)
    e = np.asarray(event, dtype=int)
    if len(t) != len(e) or len(t) == 0:
        raise ValueError(f"periods and event must be non-empty and of one length; got {len(t)} and {len(e)}")
    if np.any((e == 1) & (t < 1)):
        raise ValueError("a churn (event 1) must fall in period 1 or later; periods holds a value below 1")

    def loss(x: np.ndarray) -> float:
        return -log_likelihood(float(np.exp(x[0])), float(np.exp(x[1])), t, e)

    res = minimize(loss, x0=np.zeros(2), method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-8})
    return SBG(alpha=float(np.exp(res.x[0])), beta=float(np.exp(res.x[1])))
