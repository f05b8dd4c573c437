"""Result tables of the benchmark scripts, as Markdown: a figure with its interval, and rows as a table."""


def ci(value: float, bounds: tuple[float, float], digits: int = 3) -> str:
    """``value (low to high)``."""
    lo, hi = bounds
    return f"{value:.{digits}f} ({lo:.{digits}f} to {hi:.{digits}f})"


def markdown(rows: list[dict[str, str]]) -> str:
    """Rows of equal keys as a Markdown table (the keys are the header); a cell's ``|`` is escaped."""
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return "\n".join([*lines, *("| " + " | ".join(r[c].replace("|", "\\|") for c in columns) + " |" for r in rows)])
