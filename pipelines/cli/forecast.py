"""``churn forecast``: the book's gross and net revenue retention over the next quarter, overall and per segment,
with intervals (``pipelines.forecast``), stored in the warehouse's ``forecast.book`` and printed."""

from pathlib import Path
from typing import Annotated

import adbc_driver_manager
import typer
from rich.markup import escape
from rich.table import Table

from models.registered import ModelNotFound, load_registered
from pipelines.cli.console import Warehouse, console, failing_as
from pipelines.forecast import BookForecast, book_forecast, forecast_document, store_forecast
from pipelines.publish import publish_document
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
    replaced) and published beside the scores (CHURN_SCORES) for the server's /v1/forecast and Forecast page."""
    with failing_as("forecast failed", ValueError, ModelNotFound):
        f = make_forecast(warehouse, months=months, alias=alias, draws=draws)
    print_forecast(f)
    # Beside the scores the server reads (it never opens the warehouse): GET /v1/forecast and the Forecast page.
    s = get_settings()
    with failing_as("publishing the forecast failed", ValueError, OSError, adbc_driver_manager.Error):
        where = publish_document("forecast", forecast_document(f), s.scores, s.scores_keep)
    console.print(escape(f"Published the forecast for the server to {where}"))


def make_forecast(warehouse: Path | None = None, *, months: int = 3, alias: str = "champion",
                  draws: int = 4000) -> BookForecast:  # fmt: skip
    """The forecast of the warehouse's latest book with the churn model at ``alias``, stored in forecast.book."""
    s = get_settings()
    registered = load_registered("churn", alias, s.mlflow_uri())
    with connect(warehouse or s.warehouse) as con:
        f = book_forecast(con, registered.model, f"churn v{registered.version} ({alias})", months, draws,
                          registered.hazard)  # fmt: skip
        store_forecast(con, f)
    return f


def print_forecast(f: BookForecast) -> None:
    t = Table(title=f"Revenue retention over the {f.months} months after {f.as_of:%Y-%m-%d}: {f.accounts:,} accounts, "
                    f"ARR {f.arr:,.0f} ({escape(f.model)}, {f.forecast.periods} past periods)")  # fmt: skip
    for c in ("group", "measure", "forecast", "80% interval", "95% interval"):
        t.add_column(c, justify="left" if c in ("group", "measure") else "right")
    for r in f.forecast.frame().itertuples(index=False):
        t.add_row(str(r.group), str(r.measure).upper(), f"{r.point:.1%}", f"{r.lo80:.1%} to {r.hi80:.1%}",
                  f"{r.lo95:.1%} to {r.hi95:.1%}")  # fmt: skip
    console.print(t)
