"""What a query cannot do to the process or to the pool: load a huge result, fail on a huge
timeout, or leave a lock behind on the pooled connection for the next user.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from sqlsentinel.database.engines import resolve_url
from sqlsentinel.executor.query import run_query
from sqlsentinel.models import Status

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tests.conftest import DataSource

ROWS = 2_000_000
# Two million rows of about 100 bytes each: hundreds of megabytes if a driver buffers them.
HUGE = {
    "postgres": (f"SELECT 'OK' AS status, repeat('x', 100) AS pad FROM generate_series(1, {ROWS})"),
    "mysql": (
        "WITH RECURSIVE d(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM d WHERE n < 9) "
        "SELECT 'OK' AS status, REPEAT('x', 100) AS pad "
        "FROM d a, d b, d c, d e, d f, d g, (SELECT 1 UNION ALL SELECT 2) h"
    ),
    "sqlite": (
        f"WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {ROWS}) "
        "SELECT 'OK' AS status, printf('%100s', 'x') AS pad FROM n"
    ),
}
MORE_THAN_ONE_ROW = "the query returned more than one row"

# Runs one alert query in a fresh interpreter and reports how much the peak RSS grew.
PEAK_GROWTH = textwrap.dedent(
    """
    import json, resource, sys
    from sqlsentinel.database.engines import dispose_engines, get_engine
    from sqlsentinel.executor.query import run_query

    engine = get_engine(sys.argv[1])
    run_query(engine, "SELECT 'OK' AS status")  # imports, connection, type loaders
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = run_query(engine, sys.argv[2], timeout=120)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    dispose_engines()
    print(json.dumps({"error": result.error, "grown_kib": after - before}))
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="resource.getrusage is POSIX-only")
@pytest.mark.parametrize("data_source", ["postgres", "mysql"], indirect=True)
def test_a_huge_result_is_refused_without_loading_it_into_memory(
    data_source: DataSource,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PEAK_GROWTH, data_source.url, HUGE[data_source.kind]],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        cwd=Path(__file__).parents[2],
    )
    measured = json.loads(done.stdout)

    assert MORE_THAN_ONE_ROW in (measured["error"] or ""), measured
    # buffering the rows costs hundreds of MiB (about 600 MiB on MariaDB, 300 on PostgreSQL)
    assert measured["grown_kib"] < 50 * 1024, measured


def test_a_huge_result_leaves_the_connection_reusable(data_source: DataSource) -> None:
    engine = data_source.engine
    engine.dispose()
    run_query(engine, "SELECT 'OK' AS status")

    result = run_query(engine, HUGE[data_source.kind], timeout=60)
    after = run_query(engine, "SELECT 'OK' AS status")

    assert MORE_THAN_ONE_ROW in (result.error or ""), result
    assert after.status is Status.OK, after.error
    assert engine.pool.checkedout() == 0


def test_an_empty_result_without_a_status_column_is_an_error_naming_its_columns(
    data_source: DataSource,
) -> None:
    table = data_source.table("id INT")

    result = run_query(
        data_source.engine, f"SELECT 1 AS revenue, 2 AS target FROM {table}", timeout=10
    )

    assert result.status is Status.ERROR
    assert "no 'status' column (its columns: revenue, target)" in (result.error or "")


@pytest.mark.parametrize(
    "timeout",
    [timedelta(days=30), timedelta(days=400), 1e12],
    ids=["30 days", "400 days", "1e12 seconds"],
)
def test_a_timeout_beyond_what_the_server_accepts_still_runs_the_query(
    data_source: DataSource, timeout: timedelta | float
) -> None:
    result = run_query(data_source.engine, "SELECT 'OK' AS status", timeout=timeout)

    assert result.status is Status.OK, result.error


@pytest.fixture
def other_connection(data_source: DataSource) -> Iterator[Engine]:
    """An engine that never shares a connection with the data source's pool."""
    engine = create_engine(resolve_url(data_source.url), poolclass=NullPool)
    yield engine
    engine.dispose()


LOCKS = {
    "postgres": (
        "SELECT 'OK' AS status FROM (SELECT pg_advisory_lock(4242)) AS locked",
        "SELECT pg_try_advisory_lock(4242)",
    ),
    "mysql": (
        "SELECT 'OK' AS status, GET_LOCK('sqlsentinel_4242', 0) AS locked",
        "SELECT GET_LOCK('sqlsentinel_4242', 0)",
    ),
}


@pytest.mark.parametrize("data_source", ["postgres", "mysql"], indirect=True)
def test_a_lock_the_query_takes_is_released_before_the_connection_is_pooled(
    data_source: DataSource, other_connection: Engine
) -> None:
    take, try_take = LOCKS[data_source.kind]
    engine = data_source.engine
    engine.dispose()

    result = run_query(engine, take, timeout=10)
    with other_connection.connect() as conn:
        taken = conn.exec_driver_sql(try_take).scalar()
        conn.rollback()

    assert result.status is Status.OK, result.error
    assert engine.pool.checkedin() == 1  # the connection was pooled, not discarded
    assert taken in (True, 1)  # another session got the lock: nobody holds it any more
