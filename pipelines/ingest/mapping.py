"""The mapping file: how a user's tables, columns and values map onto the contract (TOML, no code).

```toml
[source]
schema = "crm"                    # database schema (database sources only)

[tables.accounts]
file = "AccountsExport.csv"       # folder sources; a database source names `table = "dim_account"` instead
encoding = "utf-8"                # CSV only; default utf-8

[tables.accounts.columns]         # contract column = your column
account_id = "AccountId"

[tables.accounts.values.segment]  # your value = contract value
"Mid-Market" = "mid_market"

[tables.email_events]
absent = true                     # the export has no such table: its feature families are off

[tables.usage_events]             # a table defined by a query (DuckDB SQL), e.g. usage keyed by subscription
query = '''
    SELECT s.account_id, u.user_id, u.ts, u.event_type
    FROM feature_usage u JOIN subscriptions_export s USING (subscription_id)
'''                               # folder sources: each file is a view named by its file name without suffix
```
Tables and columns left out keep their contract names.
"""

import codecs
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from features.contract import TABLES
from pipelines.ingest.report import IngestError

_TABLE_KEYS = {"file", "table", "query", "absent", "encoding", "columns", "values"}


@dataclass(frozen=True)
class TableMapping:
    """Where one contract table comes from (a file, a database table, or a query over either); ``columns`` maps
    contract column -> source column."""

    file: str | None = None
    table: str | None = None
    query: str | None = None
    encoding: str = "utf-8"
    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    absent: bool = False  # declared absent: not looked for, loaded with no rows, its families off

    def source_column(self, column: str) -> str:
        return self.columns.get(column, column)


@dataclass(frozen=True)
class Mapping:
    """A whole mapping file (or the empty mapping: everything keeps its contract name)."""

    path: Path | None = None
    schema: str | None = None
    tables: dict[str, TableMapping] = field(default_factory=dict)

    def table(self, name: str) -> TableMapping:
        return self.tables.get(name, TableMapping())

    def describe(self) -> str:
        return f"mapping file {self.path}" if self.path else "a mapping file (--mapping)"


def load_mapping(path: Path | None) -> Mapping:
    """Read and check a mapping file; ``None`` gives the empty mapping."""
    if path is None:
        return Mapping()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise IngestError(f"mapping file {path} does not exist; check the --mapping path") from e
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise IngestError(f"mapping file {path} is not valid TOML: {e}; see examples/mapping.toml") from e
    return parse_mapping(data, Path(path))


def parse_mapping(data: dict[str, Any], path: Path | None = None) -> Mapping:
    """Check a parsed mapping: unknown tables, columns or keys are errors naming them."""
    where = f"mapping file {path}" if path else "mapping"
    _only(data, {"source", "tables"}, where)
    source = _table_of(data.get("source", {}), f"{where} [source]")
    _only(source, {"schema"}, f"{where} [source]")
    schema = source.get("schema")
    if schema is not None:
        _string(schema, f"{where} [source] schema")
    tables: dict[str, TableMapping] = {}
    for name, raw in _table_of(data.get("tables", {}), f"{where} [tables]").items():
        if name not in TABLES:
            raise IngestError(
                f"{where} names an unknown table [tables.{name}]; contract tables are: {', '.join(TABLES)}"
            )
        tables[name] = _table_mapping(name, _table_of(raw, f"{where} [tables.{name}]"), where)
    return Mapping(path=path, schema=schema, tables=tables)


def _table_mapping(name: str, raw: dict[str, Any], where: str) -> TableMapping:
    here = f"{where} [tables.{name}]"
    _only(raw, _TABLE_KEYS, here)
    if "absent" in raw:
        if raw["absent"] is not True:
            raise IngestError(f"{here} absent must be true (or left out), got {raw['absent']!r}")
        if not TABLES[name].optional_table:
            raise IngestError(
                f"{here} declares {name} absent, but it is required: only "
                f"{', '.join(t for t, s in TABLES.items() if not s.optional_table)} are. Map it to your export"
            )
        others = sorted(set(raw) - {"absent"})
        if others:
            raise IngestError(f"{here} declares the table absent and also sets {', '.join(others)}; keep one")
        return TableMapping(absent=True)
    given = [k for k in ("file", "table", "query") if k in raw]
    if len(given) > 1:
        raise IngestError(
            f"{here} sets {'both ' if len(given) == 2 else ''}{' and '.join(given)}; set one: file for a folder, "
            "table for a database, or query for a table computed from either"
        )
    for key in ("file", "table", "query", "encoding"):
        if key in raw:
            _string(raw[key], f"{here} {key}")
    encoding = raw.get("encoding", "utf-8")
    try:
        codecs.lookup(encoding)
    except LookupError as e:
        raise IngestError(f"{here} encoding {encoding!r} is not a known text encoding (e.g. 'latin-1')") from e
    contract_columns = TABLES[name].columns
    columns = _table_of(raw.get("columns", {}), f"{here}.columns")
    values = _table_of(raw.get("values", {}), f"{here}.values")
    for column in [*columns, *values]:
        if column not in contract_columns:
            raise IngestError(
                f"{here} names an unknown column {column!r} of {name}; its columns are: "
                f"{', '.join(contract_columns)} (the left-hand side is the contract column)"
            )
    for column, source in columns.items():
        _string(source, f"{here}.columns {column}")
    value_maps: dict[str, dict[str, str]] = {}
    for column, pairs in values.items():
        value_maps[column] = dict(_table_of(pairs, f"{here}.values.{column}"))
        for theirs, ours in value_maps[column].items():
            _string(ours, f"{here}.values.{column} {theirs!r}")
    return TableMapping(
        file=raw.get("file"),
        table=raw.get("table"),
        query=raw.get("query"),
        encoding=encoding,
        columns=dict(columns),
        values=value_maps,
    )


def _only(raw: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise IngestError(f"{where} has unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _table_of(raw: object, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise IngestError(f"{where} must be a TOML table, got {raw!r}")
    return raw


def _string(value: object, where: str) -> None:
    if not isinstance(value, str):
        raise IngestError(f"{where} must be a string, got {value!r}; quote it in the TOML file")
