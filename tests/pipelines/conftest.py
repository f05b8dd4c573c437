"""A Spark session in local mode, shared by the Spark tests of one worker (a session takes about 10 s to start)."""

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    from pipelines.spark import engine as spark

    session = spark.session("local[2]", [("spark.sql.shuffle.partitions", "4")])
    yield session
    session.stop()
