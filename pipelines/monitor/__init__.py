"""``churn monitor``: drift of the features and scores against the champion's training rows, health of the raw
tables, and alerts from the thresholds of a configuration file (``pipelines.monitor.run.monitor``)."""
