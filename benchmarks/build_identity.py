"""Proof that a change left the feature build alone: every SQL statement the build sends to DuckDB, and every
feature value and label it computes, recorded on a warehouse and compared with an earlier record.

    uv run python benchmarks/build_identity.py record OUT     # on the warehouse of CHURN_WAREHOUSE
    uv run python benchmarks/build_identity.py compare BEFORE AFTER

``record`` runs the fast and the portable builds at the warehouse's monthly snapshot dates (as ``churn features
build`` picks them) on a connection that writes down each statement, then the labels; it writes
``statements_<build>.sql`` (one statement per block, in the order sent), ``spark.sql`` (the portable statements
in Spark's dialect, as the Spark engine sends them) and ``snapshots_<build>.parquet`` / ``labels.parquet``.
``compare`` says which statements differ (a unified diff; statements equal but for whitespace are named apart) and
whether the frames are exactly equal, and exits 1 if anything differs beyond whitespace. ``--rename OLD=>NEW``
(repeatable) names text that a change renamed on purpose, which ``compare`` reads as equal.
"""

import argparse
import difflib
import sys
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SEP = "\n-- ;;\n"


class Recorder:
    """A DuckDB connection that writes down the text of every statement it is sent."""

    def __init__(self, con: Any) -> None:
        self._con = con
        self.statements: list[str] = []

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        self.statements.append(sql)
        return self._con.execute(sql, *args, **kwargs)

    def sql(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        self.statements.append(sql)
        return self._con.sql(sql, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def _build() -> dict[str, Any]:
    """The build's entry points, wherever the layout keeps them."""
    try:
        from pipelines.featurize import compute_labels, compute_snapshots, data_bounds, default_dates

        return {
            "fast": lambda con, dates: compute_snapshots(con, dates),
            "portable": lambda con, dates: compute_snapshots(con, dates, portable=True),
            "labels": compute_labels, "dates": default_dates, "bounds": data_bounds,
        }  # fmt: skip
    except ImportError:
        from pipelines.snapshots import build_fast, build_portable, compute_labels, data_bounds, default_dates

        return {"fast": build_fast, "portable": build_portable, "labels": compute_labels, "dates": default_dates,
                "bounds": data_bounds}  # fmt: skip


def record(out: Path) -> None:
    from features.registry import to_dialect
    from pipelines.warehouse import connect

    b = _build()
    out.mkdir(parents=True, exist_ok=True)
    with connect(read_only=True) as con:
        dates = b["dates"](con)
        end = b["bounds"](con)[1]
        for name in ("fast", "portable"):
            rec = Recorder(con)
            b[name](rec, dates)
            (out / f"statements_{name}.sql").write_text(SEP.join(rec.statements))
            con.sql("SELECT * FROM snapshots ORDER BY as_of, account_id").to_arrow_table().to_pandas().to_parquet(
                out / f"snapshots_{name}.parquet"
            )
            if name == "portable":
                portable = [s for s in rec.statements if s.lstrip().upper().startswith("CREATE")]
                spark = [to_dialect(s.split(" AS ", 1)[1], "spark") for s in portable if " AS " in s]
                (out / "spark.sql").write_text(SEP.join(spark))
        b["labels"](con, data_end=end)
        con.sql("SELECT * FROM labels ORDER BY as_of, account_id").to_arrow_table().to_pandas().to_parquet(
            out / "labels.parquet"
        )
    print(f"recorded {len(dates)} dates into {out}")


def compare(before: Path, after: Path, renames: list[tuple[str, str]]) -> int:
    failures = 0
    for f in sorted(before.glob("*.sql")):
        old, new = f.read_text(), (after / f.name).read_text()
        for a, b in renames:
            old = old.replace(a, b)
        if old == new:
            print(f"{f.name}: {len(old.split(SEP))} statements, identical")
            continue
        olds, news = old.split(SEP), new.split(SEP)
        pairs = list(zip(olds, news, strict=False))
        if len(olds) == len(news) and all(" ".join(a.split()) == " ".join(b.split()) for a, b in pairs):
            spaced = [" ".join(b.split())[:60] for a, b in pairs if a != b]
            print(f"{f.name}: {len(olds)} statements, identical but for whitespace in {len(spaced)}: {spaced}")
            continue
        failures += 1
        print(f"{f.name}: differs")
        sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True), "before", "after", n=1))
    for f in sorted(before.glob("*.parquet")):
        old, new = pd.read_parquet(f), pd.read_parquet(after / f.name)
        try:
            pd.testing.assert_frame_equal(old, new, check_exact=True)
            print(f"{f.name}: {len(old)} rows x {old.shape[1]} columns, exactly equal")
        except AssertionError as e:
            failures += 1
            print(f"{f.name}: differs: {e}")
    return 1 if failures else 0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("record").add_argument("out", type=Path)
    c = sub.add_parser("compare")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    c.add_argument("--rename", action="append", default=[], help="OLD=>NEW: text renamed on purpose")
    args = p.parse_args()
    if args.cmd == "record":
        record(args.out)
        return
    sys.exit(compare(args.before, args.after, [tuple(r.split("=>", 1)) for r in args.rename]))


if __name__ == "__main__":
    main()
