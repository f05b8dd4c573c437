"""``churn retrain`` labels again only the dates whose labels may have changed: with the label inputs before the last
labeling's data end unchanged, the dates whose labels were unknown; when a subscription before that end was
corrected, every date. Either way the stored labels equal those of a labeling from scratch (the reference)."""

from pathlib import Path

import pandas as pd
import pytest

from pipelines.generate.observed import write_observed
from pipelines.generate.run import generate
from pipelines.generate.simulate import Oracle
from pipelines.ingest import ingest
from pipelines.retrain import build_changed
from pipelines.snapshots.labels import build_labels, stored_label_config
from pipelines.warehouse import connect

pytestmark = pytest.mark.slow  # a small world generated, ingested twice and built: about 20 s


def stored(con) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    return con.sql("SELECT * FROM features.labels ORDER BY as_of, account_id").to_arrow_table().to_pandas()


def from_scratch(con) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    dates = [d for (d,) in con.execute("SELECT DISTINCT as_of FROM features.snapshots ORDER BY 1").fetchall()]
    got = build_labels(con, dates, stored_label_config(con))
    return got[stored(con).columns].sort_values(["as_of", "account_id"], ignore_index=True)


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("relabel")
    generate(root / "world", accounts=600, months=16, seed=11, oracle=Oracle(paths=0), workers=1)
    end = pd.read_parquet(root / "world" / "usage_events.parquet", columns=["ts"])["ts"].max()
    later = end.normalize().replace(day=1)
    write_observed(root / "world", root / "earlier", later - pd.DateOffset(months=1))
    write_observed(root / "world", root / "later", later)
    return root / "earlier", root / "later"


def unknown_dates(con) -> set:  # type: ignore[no-untyped-def, type-arg]
    return {d for (d,) in con.execute(
        "SELECT DISTINCT as_of FROM features.labels WHERE churn IS NULL OR upsell IS NULL").fetchall()}  # fmt: skip


def first_build(export: Path, warehouse: Path) -> None:
    ingest(export, warehouse)
    with connect(warehouse) as con:
        build_changed(con)


def test_only_the_unknown_labels_are_computed_again_and_they_match_a_labeling_from_scratch(
    exports: tuple[Path, Path], tmp_path: Path
) -> None:
    warehouse = tmp_path / "w.duckdb"
    first_build(exports[0], warehouse)
    with connect(warehouse, read_only=True) as con:
        unknown = unknown_dates(con)
    ingest(exports[1], warehouse)
    with connect(warehouse) as con:
        built = build_changed(con)
        # The last date of the earlier export may be built again: the later one shows what started at that time.
        assert set(built.relabeled) == unknown - set(built.changed) and 0 < len(built.relabeled) < built.kept
        pd.testing.assert_frame_equal(stored(con), from_scratch(con))
        still = unknown_dates(con)
        again = build_changed(con)  # the same export: nothing built, only the labels still unknown computed again
        assert again.new == again.changed == [] and set(again.relabeled) == still
        pd.testing.assert_frame_equal(stored(con), from_scratch(con))


def test_a_subscription_corrected_before_the_last_data_end_labels_every_date_again(
    exports: tuple[Path, Path], tmp_path: Path
) -> None:
    warehouse = tmp_path / "w.duckdb"
    first_build(exports[0], warehouse)
    with connect(warehouse) as con:
        dates = [d for (d,) in con.execute("SELECT DISTINCT as_of FROM features.snapshots ORDER BY 1").fetchall()]
        # A correction the feature fingerprints of the early dates cannot see: a subscription open at the fourth date
        # ends (for good) ten days after it. The labels of the fourth date read it; its features do not.
        ((sid, account),) = con.execute(
            "SELECT subscription_id, account_id FROM raw.subscriptions WHERE start_at < ? AND end_at IS NULL "
            "AND status IS DISTINCT FROM 'trial' ORDER BY subscription_id LIMIT 1", [dates[3]]).fetchall()  # fmt: skip
        con.execute("DELETE FROM raw.subscriptions WHERE account_id = ? AND subscription_id <> ?", [account, sid])
        con.execute("UPDATE raw.subscriptions SET end_at = ? + INTERVAL 10 DAY WHERE subscription_id = ?",
                    [dates[3], sid])  # fmt: skip
        before = stored(con).set_index(["account_id", "as_of"])["churn"]
        built = build_changed(con)
        assert dates[3] not in built.changed, "the date's features cannot see the correction"
        assert set(built.relabeled) | set(built.changed) == set(dates)
        after = stored(con)
        assert after.set_index(["account_id", "as_of"]).loc[(account, dates[3]), "churn"] == 1
        assert before.loc[(account, dates[3])] == 0
        pd.testing.assert_frame_equal(after, from_scratch(con))
