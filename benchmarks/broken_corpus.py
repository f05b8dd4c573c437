"""Run the broken-input corpus (tests/corpus.py) and print what ingest did with each case, as a Markdown table.

uv run python benchmarks/broken_corpus.py
"""

import sys
import tempfile
from pathlib import Path

import duckdb

from pipelines.ingest import IngestError, ingest

# Run as a file, the repository root is not on sys.path, and the dataset factories live in tests/.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.corpus import CASES, Case


def run_case(case: Case, folder: Path) -> tuple[str, str, str, str]:
    """(table, accepted, quarantined, reasons) of one case; a failed run shows its error instead.

    Reasons are those of raw.quarantine, per source row (rows are counted from 1, the first data row).
    """
    case.build(folder / "src")
    try:
        report = ingest(folder / "src", folder / "warehouse.duckdb")
    except IngestError as e:
        message = str(e).replace(str(folder / "src"), "src").replace("src/", "").replace("|", "\\|")
        return "-", "-", "-", f"IngestError: {message}"
    table = case.table or "-"
    counts = report.tables[table]
    with duckdb.connect(str(folder / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT source_row, reasons FROM raw.quarantine ORDER BY source_row").fetchall()
    reasons = " / ".join(f"row {row}: {why}" for row, why in rows)
    return table, str(counts.accepted), str(counts.quarantined), reasons


def main() -> None:
    print("| case | table | accepted | quarantined | reasons |")
    print("| --- | --- | ---: | ---: | --- |")
    for i, case in enumerate(CASES):
        with tempfile.TemporaryDirectory(prefix=f"corpus_{i}_") as tmp:
            table, accepted, quarantined, reasons = run_case(case, Path(tmp))
        print(f"| {case.name} | {table} | {accepted} | {quarantined} | {reasons} |")


if __name__ == "__main__":
    main()
