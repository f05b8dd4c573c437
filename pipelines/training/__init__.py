"""Training: training sets from snapshots and labels (``datasets``), fitting and evaluating a model and logging it to
MLflow (``train``), the settings search (``tune``), the rules that move the serving alias (``champion``), and the
helpers the notebooks read data with (``explore``).

May import ``features``, ``models``, ``pipelines.settings`` and ``pipelines.warehouse``; MLflow calls live here.
"""
