"""The ``churn`` command line: one module per group of commands (``app`` assembles them), and the helpers they share
(``console``: printing, progress bars, errors as one red line). Commands parse options, call a stage and print its
report; the work itself lives in the stages (``pipelines.<stage>``).

May import every other room of ``pipelines``, ``features`` and ``models``; never ``serving``.
"""
