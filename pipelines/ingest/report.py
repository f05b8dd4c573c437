"""What an ingest run reports, and the error it raises when the whole run cannot go on."""

from dataclasses import dataclass, field


class IngestError(Exception):
    """The run failed as a whole (missing table or column, unreadable file, unreachable database, bad mapping).

    The message names the table, column, file or URL and says how to fix it. Nothing was written to the warehouse.
    """


@dataclass(frozen=True)
class TableCounts:
    """Rows of one table: every input row is either accepted or quarantined, never dropped."""

    input_rows: int
    accepted: int
    quarantined: int

    def __post_init__(self) -> None:
        # Not an `assert`: this invariant is the contract's promise and must hold under `python -O` too.
        if self.input_rows != self.accepted + self.quarantined:
            raise AssertionError(
                f"input_rows ({self.input_rows}) != accepted ({self.accepted}) + quarantined ({self.quarantined})"
            )


@dataclass(frozen=True)
class IngestReport:
    """Counts per table; ``reasons[table][reason] = rows`` (a row with several reasons counts under each)."""

    source: str
    warehouse: str
    tables: dict[str, TableCounts]
    reasons: dict[str, dict[str, int]]
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)
    absent_optional_tables: list[str] = field(default_factory=list)  # not in the source, or declared absent
    declared_absent: list[str] = field(default_factory=list)  # declared absent in the mapping
    families_off: dict[str, str] = field(default_factory=dict)  # family -> why it is (partly) off
    seconds: float = 0.0

    @property
    def input_rows(self) -> int:
        return sum(c.input_rows for c in self.tables.values())

    @property
    def accepted(self) -> int:
        return sum(c.accepted for c in self.tables.values())

    @property
    def quarantined(self) -> int:
        return sum(c.quarantined for c in self.tables.values())


def brief(e: BaseException) -> str:
    """An error's text on one line, printable characters only (Arrow's messages can hold raw bytes), for the
    messages of ``IngestError``."""
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in str(e)).split())
    return text[:200]
