"""Estimators and what is computed from them: the propensity model (``estimator``) and its time slices (``slices``),
calibration, baselines (scorecard, logistic), metrics with intervals and evaluation, explanations and the health
score (``explain``, ``sentences``), scoring rows (``scoring``), ranking the scored accounts (``ranking``), plays,
plots, loading registered models back from MLflow (``registered``, read-only), and the layout of published
scores that the batch job writes and the server reads (``published``).

Imports ``features`` (the registry's column list and phrases); never ``pipelines`` or ``serving``.
"""
