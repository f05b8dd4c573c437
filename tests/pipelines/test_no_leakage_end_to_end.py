"""The issue's "Done when", as a black box: generate a world, ingest it from files and build features at a date D;
then change, in the source files, only what lies at or after D (invoices issued before D paid, failed or voided
after it; tickets opened before D escalated after it; contacts there before D promoted after it), ingest again and
rebuild: every feature at D is unchanged, while a later snapshot does see the changes."""

import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipelines.generate.run import generate
from pipelines.generate.simulate import Oracle
from pipelines.ingest import ingest
from pipelines.snapshots import build_fast, build_portable, read_snapshots
from tests.factories import valid_tables
from tests.features.checks import assert_same, failed_time, voided_time
from tests.features.reference import load_raw

D = pd.Timestamp("2024-09-01", tz="UTC")
LATER = pd.Timestamp("2024-10-01", tz="UTC")
HOUR = pd.Timedelta(hours=1)
# Features that the changes after D must move at the later date (so the comparison at D is not vacuous).
MOVED = ("failed_payments_180d", "unpaid_amount", "high_priority_tickets_90d", "champions", "admins")


def _after(as_of: pd.Timestamp, index: pd.Index) -> pd.Series:
    """A time at or after ``as_of`` per row: as_of itself, then one hour later per row, so that some fall on
    as_of exactly."""
    return pd.Series(as_of + HOUR * (pd.RangeIndex(len(index)) % 500), index=index)


def _not_before_d(times: pd.Series) -> pd.Series:
    return times.isna() | (times >= D)


def _open_invoices(inv: pd.DataFrame) -> pd.Series:
    """Issued before D and open at D: not paid, failed or voided before it (by their times or the rules)."""
    dated = _not_before_d(inv["paid_at"]) & _not_before_d(failed_time(inv)) & _not_before_d(voided_time(inv))
    return (inv["issued_at"] < D) & dated


def _change_invoices(inv: pd.DataFrame) -> dict[str, int]:
    rows = inv.index[_open_invoices(inv)]
    when = _after(D, rows)
    kinds = {"paid": rows[0::3], "failed": rows[1::3], "void": rows[2::3]}
    for column in ("paid_at", "failed_at", "voided_at"):
        inv.loc[rows, column] = pd.NaT
    inv.loc[kinds["paid"], "status"] = "paid"
    inv.loc[kinds["paid"], "paid_at"] = when[kinds["paid"]]
    inv.loc[kinds["failed"], "status"] = "failed"
    inv.loc[kinds["failed"], "failed_at"] = when[kinds["failed"]]
    inv.loc[kinds["void"], "status"] = "void"
    inv.loc[kinds["void"], "voided_at"] = when[kinds["void"]]
    return {f"invoices {k} after D": len(v) for k, v in kinds.items()}


def _change_tickets(tk: pd.DataFrame) -> dict[str, int]:
    high = tk["priority"].isin(["high", "urgent"])
    plain = (tk["escalated_at"] >= D) | (tk["escalated_at"].isna() & ~high)
    rows = tk.index[(tk["created_at"] < D) & plain]
    tk.loc[rows, "priority"] = "urgent"
    tk.loc[rows, "escalated_at"] = _after(D, rows)
    return {"tickets escalated after D": len(rows)}


def _change_contacts(ct: pd.DataFrame) -> dict[str, int]:
    plain = (ct["role_since"] >= D) | (ct["role_since"].isna() & (ct["role"] == "user"))
    there = (ct["created_at"] < D) & (ct["left_at"].isna() | (ct["left_at"] >= D))
    rows = ct.index[there & plain]
    when = _after(D, rows)
    left = ct.loc[rows, "left_at"]
    ct.loc[rows, "role"] = ["champion" if i % 2 == 0 else "admin" for i in range(len(rows))]
    ct.loc[rows, "role_since"] = when.where(left.isna() | (when <= left), left)
    return {"contacts promoted after D": len(rows)}


def _changed_after_d(source: Path, target: Path) -> dict[str, int]:
    """A copy of ``source`` with only changes dated at or after D; returns how many rows each kind changed."""
    shutil.copytree(source, target)
    counts: dict[str, int] = {}
    for table, change in (("invoices", _change_invoices), ("support_tickets", _change_tickets),
                          ("contacts", _change_contacts)):  # fmt: skip
        path = target / f"{table}.parquet"
        frame = pd.read_parquet(path)
        counts |= change(frame)
        frame.to_parquet(path, index=False)
    return counts


def _features(source: Path, warehouse: Path, *, portable: bool) -> pd.DataFrame:
    report = ingest(source, warehouse)
    assert report.quarantined == 0, report.reasons
    with duckdb.connect(str(warehouse)) as con:
        (build_portable if portable else build_fast)(con, [D.to_pydatetime(), LATER.to_pydatetime()])
        return read_snapshots(con)


def _at(snapshots: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    return snapshots[snapshots["as_of"] == as_of].sort_values("account_id", ignore_index=True)


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, int]]:
    """The generated source and its copy changed after D, with the counts of changed rows."""
    root = tmp_path_factory.mktemp("leakage")
    generate(root / "src", accounts=300, months=14, seed=13, oracle=Oracle(paths=0))
    return root / "src", root / "changed", _changed_after_d(root / "src", root / "changed")


@pytest.mark.parametrize("portable", [False, True], ids=["fast", "portable"])
def test_changes_dated_after_d_in_the_source_files_change_no_feature_at_d(
    worlds: tuple[Path, Path, dict[str, int]], tmp_path: Path, portable: bool
) -> None:
    source, changed, counts = worlds
    assert all(n > 0 for n in counts.values()), counts
    before = _features(source, tmp_path / "before.duckdb", portable=portable)
    after = _features(changed, tmp_path / "after.duckdb", portable=portable)
    assert (before["as_of"] == D).sum() > 100
    assert_same(_at(after, D), _at(before, D), ("changed after D", "as generated"))
    moved = [c for c in MOVED if not _at(after, LATER)[c].equals(_at(before, LATER)[c])]
    assert moved == list(MOVED), f"the changes after D do not show at {LATER.date()} in {set(MOVED) - set(moved)}"


def test_the_changed_source_changes_only_rows_after_d(worlds: tuple[Path, Path, dict[str, int]]) -> None:
    """Every changed cell holds a time at or after D, or a state set by such a time."""
    source, changed, _ = worlds
    for table, times in (("invoices", ("paid_at", "failed_at", "voided_at")), ("support_tickets", ("escalated_at",)),
                         ("contacts", ("role_since",))):  # fmt: skip
        a, b = pd.read_parquet(source / f"{table}.parquet"), pd.read_parquet(changed / f"{table}.parquet")
        differs = (a.ne(b) & ~(a.isna() & b.isna())).any(axis=1)
        assert differs.any(), table
        stamps = pd.concat([a.loc[differs, list(times)], b.loc[differs, list(times)]], axis=1)
        assert ((stamps >= D) | stamps.isna()).all().all(), table
        assert (b.loc[differs, list(times)].notna().any(axis=1)).all(), table


def test_a_warehouse_ingested_before_the_state_times_is_refused_with_the_fix() -> None:
    with duckdb.connect() as con:
        load_raw(con, valid_tables())
        con.execute("ALTER TABLE raw.invoices DROP COLUMN failed_at")
        con.execute("ALTER TABLE raw.invoices DROP COLUMN voided_at")
        with pytest.raises(ValueError, match=r"raw\.invoices has no column failed_at, voided_at.*churn ingest SOURCE"):
            build_fast(con, [D.to_pydatetime()])
