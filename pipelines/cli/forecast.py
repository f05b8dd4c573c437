"""``churn forecast``: the book's gross and net revenue retention over the next quarter, overall and per segment,
with intervals (``pipelines.forecast``), stored in the warehouse's ``forecast.book`` and printed."""

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from models.registered import ModelNotFound, load_registered
from pipelines.cli.console import Warehouse, console, failing_as
from pipelines.forecast import BookForecast, book_forecast, store_forecast
from pipelines.settings import get_settings
from pipelines.warehouse import connect


def forecast_cmd(
    warehouse: Warehouse = None,
    months: Annotated[int, typer.Option(min=1, max=12, help="The period's length in months (3: a quarter).")] = 3,
    alias: Annotated[str, typer.Option(help="The churn model's alias whose probabilities are used.")] = "champion",
    draws: Annotated[int, typer.Option(min=200, help="Simulated periods.")] = 4000,
) -> None:
    """GRR and NRR of the accounts in the latest snapshot over the next --months, from the churn model's
    probabilities, with a shock shared by a segment's accounts and the retained accounts' ARR change drawn from the
    past periods that have ended (benchmarks/forecast.py backtests it). Stored in forecast.book (the date's rows
    replaced)."""
    s = get_settings()
    with failing_as("forecast failed", ValueError, ModelNotFound):
        registered = load_registered("churn", alias, s.mlflow_uri())
        with connect(warehouse or s.warehouse) as con:
            f = book_forecast(con, registered.model, f"churn v{registered.version} ({alias})", months, draws)
            store_forecast(con, f)
    print_forecast(f)


def print_forecast(f: BookForecast) -> None:
    t = Table(title=f"Revenue retention over the {f.months} months after {f.as_of:%Y-%m-%d}: {f.accounts:,} accounts, "
                    f"ARR {f.arr:,.0f} ({escape(f.model)}, {f.forecast.periods} past periods)")  # fmt: skip
    for c in ("group", "measure", "forecast", "80% interval", "95% interval"):
        t.add_column(c, justify="left" if c in ("group", "measure") else "right")
    for r in f.forecast.frame().itertuples(index=False):
        t.add_row(str(r.group), str(r.measure).upper(), f"{r.point:.1%}", f"{r.lo80:.1%} to {r.hi80:.1%}",
                  f"{r.lo95:.1%} to {r.hi95:.1%}")  # fmt: skip
    console.print(t)
