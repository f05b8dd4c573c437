"""The FastAPI app (``app.create_app``) with the JSON API (``routes``, ``schemas``), API keys (``auth``), the CSM pages
(``pages``, ``charts``, ``templates/``), the loaded models and scores swapped atomically (``state``), the published
scores read from a folder or PostgreSQL (``store``) and reloaded when they or the models change (``reloading``), and
the server's settings.

Imports ``models`` and ``features``; never ``pipelines`` (``churn serve`` starts the app by its import path).
"""
