"""The CLI's terminal: the one Rich console every command prints on, progress bars for long work, and the red
one-line message that ends a failed command."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import duckdb
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from pipelines.settings import get_settings

console = Console()
Warehouse = Annotated[Path | None, typer.Option(help="DuckDB file (default: data/warehouse.duckdb).")]
"""The ``--warehouse`` option of every command that reads or writes the warehouse."""

Report = Callable[[str, int, int | None], None]
"""Progress of long work as ``(what, done, total)``, total None when unknown: how the feature build and the demo's
stages report, and what ``progress_bars`` draws."""


@contextmanager
def progress_bars() -> Iterator[Report]:
    """Bars on the console while the block runs (gone after it), fed by the ``Report`` it yields: a bar per
    ``what``, made at its first report."""
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def report(what: str, done: int, total: int | None) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=total)
            bar.update(tasks[what], completed=done)

        yield report


def counted(report: Report, what: str, total: int) -> Callable[[int], None]:
    """``generate``'s callback (``n`` more accounts done) as reports of the running count out of ``total``; the
    bar shows at 0 at once."""
    done = 0
    report(what, done, total)

    def step(n: int) -> None:
        nonlocal done
        done += n
        report(what, done, total)

    return step


def per_table(report: Report, what: str) -> Callable[[str, int], None]:
    """``ingest``'s callback (a table, its rows done so far) as reports on a bar per table, "<what> <table>"."""
    return lambda table, rows: report(f"{what} {table}", rows, None)


@contextmanager
def failing_as(what: str, *errors: type[Exception]) -> Iterator[None]:
    """Turn ``errors`` (default ValueError) into a red one-line message and exit code 1."""
    caught = errors or (ValueError,)
    try:
        yield
    except caught as e:
        # Escaped: Rich would read bracketed text in the message (a TOML table name, say) as markup and drop it.
        console.print(f"[red]{what}:[/red] {escape(_hint(e))}")
        raise typer.Exit(1) from e


def _hint(e: Exception) -> str:
    """The error, with the fix when DuckDB ran out of its memory cap (it spills most work, not all of it)."""
    if isinstance(e, duckdb.OutOfMemoryException):
        cap = get_settings().duckdb_memory
        return f"DuckDB ran out of its memory cap ({cap}): raise it, e.g. CHURN_DUCKDB_MEMORY=4GB ({e})"
    return str(e)
