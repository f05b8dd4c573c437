"""The demo's generated customer base with its ground truth: latent health (``latent``), the simulation and its
oracle probabilities (``simulate``), one module per kind of table (``activity``, ``billing``, ``touchpoints``,
``people``), written in chunks by worker processes (``run``, ``chunk``, ``writer``).

May import ``features`` (the label rules the oracle shares); nothing else of the product.
"""
