"""Fixtures for integration tests: every state-store backend behind one parametrized fixture.

``store`` yields the in-memory fake and the SQL store on SQLite, PostgreSQL and MariaDB in
turn (STYLE rule 12), so one test body shows that all four keep the same promises. The SQL
ones are built on the isolated, empty databases of ``tests.conftest.state_url``; a server that
is down skips locally and fails in CI, as ``state_url`` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sqlsentinel.executor.state import SqlStateStore, StateStore
from sqlsentinel.testing import MemoryStateStore
from tests.conftest import _isolated_state_url

STORE_KINDS = ["memory", "sqlite", "postgres", "mysql"]


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """Yield an empty state store of each kind: memory, SQLite, PostgreSQL, MariaDB."""
    if request.param == "memory":
        yield MemoryStateStore()
        return
    databases = _isolated_state_url(request.param, tmp_path)
    url = next(databases)
    try:
        yield SqlStateStore.open(url)
    finally:
        next(databases, None)  # drops the schema or database
