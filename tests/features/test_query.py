"""What the builds read off the registry's sources: the tables a source reads, found from its FROM clause, are all
it reads (so an engine may drop a rollup once no later source names it)."""

import sqlglot
from sqlglot import exp

from features.catalog import families
from features.query import source_sql, tables_read
from features.registry import Feature, Source


def _every_table(sql: str) -> frozenset[str]:
    """The reference: every table anywhere in the statement, subqueries included."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    return frozenset(".".join(p for p in (t.db, t.name) if p) for t in tree.find_all(exp.Table))


def test_each_source_reads_only_the_tables_of_its_from_clause() -> None:
    for fam in families():
        for src in fam.sources:
            assert tables_read(src) == _every_table(source_sql(src)), (fam.name, src.name)


def test_a_subquery_reading_another_table_is_what_the_check_catches() -> None:
    hidden = Feature(
        name="tickets_via_subquery", family="support", description="planted", unit="tickets",
        sql="(SELECT COUNT(*) FROM raw.support_tickets t WHERE t.account_id = s.account_id)",
    )  # fmt: skip
    src = Source("planted", "spine s", (hidden,), per_row=True)
    assert tables_read(src) == {"spine"}
    assert _every_table(source_sql(src)) == {"spine", "raw.support_tickets"}
