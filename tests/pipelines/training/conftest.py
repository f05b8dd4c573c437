"""The small generated world of ``tests/models``, which the registry tests train on (a fixture is seen only below
the conftest that defines or imports it)."""

from tests.models.conftest import world

__all__ = ["world"]
