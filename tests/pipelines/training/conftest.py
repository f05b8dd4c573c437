"""The small generated world of ``tests/models``, which the registry tests train on (a fixture is seen only below
the conftest that defines or imports it), and an MLflow store of the test's own."""

from pathlib import Path

import pytest

from tests.models.conftest import world

__all__ = ["store", "world"]


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    """A fresh MLflow tracking store (SQLite) for the test: its URI and artifact folder."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri, tmp_path / "mlruns"
