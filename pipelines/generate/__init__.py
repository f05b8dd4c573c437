"""The demo's generated customer base with its ground truth: latent health (``latent``), the simulation and its
oracle probabilities (``simulate``), one module per kind of table (``activity``, ``billing``, ``touchpoints``,
``people``), written in chunks by worker processes (``run``, ``chunk``, ``writer``); plays run by CSMs, with
holdouts and known effects, when asked for (``playbook``, ``plays``).

May import ``features`` (the label rules the oracle shares, the holdout rule the plays share); nothing else of the
product.
"""
