"""Ingest: validate a folder of CSV/Parquet files or a database against the data contract, load it into DuckDB.

```python
from pipelines.ingest import ingest
report = ingest("examples/crm_export", Path("data/warehouse.duckdb"), mapping=Path("examples/mapping.toml"))
report.tables["nps_responses"]  # TableCounts(input_rows=4, accepted=3, quarantined=1)
report.reasons["nps_responses"]  # {"score: must be between 0 and 10": 1}; the row itself is in raw.quarantine
```
"""

from pipelines.ingest.mapping import Mapping, TableMapping, load_mapping
from pipelines.ingest.report import IngestError, IngestReport, TableCounts
from pipelines.ingest.run import CHUNK_ROWS, ingest

__all__ = [
    "CHUNK_ROWS",
    "IngestError",
    "IngestReport",
    "Mapping",
    "TableCounts",
    "TableMapping",
    "ingest",
    "load_mapping",
]
