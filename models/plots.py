"""Evaluation plots as matplotlib figures (no display needed): ROC and PR curves, calibration, cumulative gains,
SHAP summary. The caller saves or logs them."""

# No backend is forced: without a screen (servers, CI) matplotlib picks Agg itself, and in a notebook the figures
# show inline (forcing Agg here hid them there).
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

Scores = dict[str, np.ndarray]  # name -> predicted probability per row


def roc_pr(y: np.ndarray, scores: Scores) -> Figure:
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4.5))
    for name, p in scores.items():
        fpr, tpr, _ = roc_curve(y, p)
        prec, rec, _ = precision_recall_curve(y, p)
        a.plot(fpr, tpr, label=name)
        b.plot(rec, prec, label=name)
    a.plot([0, 1], [0, 1], ls=":", c="grey")
    b.axhline(y.mean(), ls=":", c="grey")
    a.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    b.set(xlabel="recall", ylabel="precision", title="Precision-recall")
    a.legend(loc="lower right")
    fig.tight_layout()
    return fig


def calibration(y: np.ndarray, scores: Scores, bins: int = 10) -> Figure:
    """Observed rate against mean prediction in equal-count bins (the bins of the ECE)."""
    fig, ax = plt.subplots(figsize=(5, 5))
    top = 0.0
    for name, p in scores.items():
        order = np.argsort(p, kind="stable")
        pts = [(p[i].mean(), y[i].mean()) for i in np.array_split(order, bins) if len(i)]
        xs, ys = zip(*pts, strict=True)
        ax.plot(xs, ys, marker="o", label=name)
        top = max(top, *xs, *ys)
    ax.plot([0, top], [0, top], ls=":", c="grey")
    ax.set(xlabel="mean predicted probability", ylabel="observed rate", title="Calibration (equal-count bins)")
    ax.legend()
    fig.tight_layout()
    return fig


def gains(y: np.ndarray, scores: Scores) -> Figure:
    """Share of positives captured against share of accounts contacted, best-ranked first."""
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, p in scores.items():
        hits = y[np.argsort(-p, kind="stable")]
        ax.plot(np.arange(1, len(y) + 1) / len(y), np.cumsum(hits) / hits.sum(), label=name)
    ax.plot([0, 1], [0, 1], ls=":", c="grey", label="random")
    ax.set(xlabel="share of accounts (highest score first)", ylabel="share of positives captured",
           title="Cumulative gains")  # fmt: skip
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def shap_summary(contributions: np.ndarray, X: pd.DataFrame, top: int = 20) -> Figure:
    """SHAP's beeswarm summary of the ``top`` features by mean absolute contribution."""
    import shap  # heavy import, only where the plot is drawn

    fig = plt.figure(figsize=(8, 0.35 * top + 1.5))
    # Its own generator for the jitter: with the global one, shap 0.51 warns (FutureWarning) once anything has
    # seeded NumPy's global RNG (hypothesis does), and the plot would depend on that state.
    shap.summary_plot(contributions, X, max_display=top, show=False, plot_size=None,  # categoricals: their codes
                      rng=np.random.default_rng(0))  # fmt: skip
    fig.tight_layout()
    return fig
