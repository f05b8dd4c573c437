"""The stages wired together: ingest, build feature snapshots, build training sets, train, score; and the CLI.

Rooms: ``ingest/`` (sources checked against the data contract into the warehouse), ``snapshots/`` (the DuckDB
feature and label build), ``spark/`` (the same definitions on Apache Spark), ``training/`` (training sets, training,
tuning, the champion rules, notebook helpers), ``generate/`` (the demo's generated customers with ground truth),
``cli/`` (every ``churn`` command); ``score.py`` (batch scoring), ``effects.py`` (the effects of plays) and
``play_ranking.py`` (the accounts each play would help most), ``publish.py`` (publishing scores as versions
for the server), ``warehouse.py`` (opening the DuckDB file), ``settings.py`` (where things live).

May import ``features`` and ``models``; never ``serving`` (``churn serve`` names the app by its import path).
"""
