"""Cold start: importing sqlsentinel pulls in no cloud SDK, HTTP or mail client.

A tick runs every minute (in Lambda, on every cold start), so every import it does not need is
paid again and again. Each check runs in a fresh interpreter, since this test process has long
since imported everything.

To guard another entry module (``sqlsentinel.tick`` from the tick issue on), add it to
``COLD_START_MODULES``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache

import pytest

COLD_START_MODULES = [
    "sqlsentinel",
    "sqlsentinel.cli",
    "sqlsentinel.config",
    "sqlsentinel.executor.query",
    "sqlsentinel.commands.alerts",
    "sqlsentinel.tick",
    "sqlsentinel.notifications.factory",
    "sqlsentinel.notifications.delivery",
    "sqlsentinel.notifications.content",
]
"""Modules a tick or a CLI command imports before it knows which channels it needs."""

NEVER_AT_IMPORT = [
    "boto3",
    "botocore",
    "functions_framework",
    "smtplib",
    "urllib.request",
    "http.client",
    "requests",
]
"""Loaded only when a channel or handler that needs them runs."""

LAZY_DEPENDENCIES = {
    "sqlsentinel": ["sqlalchemy", "pydantic"],
    "sqlsentinel.cli": ["sqlalchemy", "pydantic"],
}
"""Core dependencies that a module must still not import until a name that needs them is used."""


@cache
def modules_loaded_by(module: str) -> frozenset[str]:
    """Return ``sys.modules`` of a fresh interpreter after ``import module``."""
    code = f"import sys, json; import {module}; print(json.dumps(sorted(sys.modules)))"
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 0, completed.stderr
    return frozenset(json.loads(completed.stdout))


@pytest.mark.parametrize("module", COLD_START_MODULES)
def test_importing_pulls_in_no_cloud_http_or_mail_client(module: str) -> None:
    loaded = modules_loaded_by(module)
    assert module in loaded
    assert [name for name in NEVER_AT_IMPORT if name in loaded] == []


@pytest.mark.parametrize(
    ("module", "dependency"),
    [(module, dep) for module, deps in LAZY_DEPENDENCIES.items() for dep in deps],
)
def test_heavy_core_dependencies_load_only_when_used(module: str, dependency: str) -> None:
    assert dependency not in modules_loaded_by(module)


def test_the_check_sees_what_a_module_does_import() -> None:
    # Guards the guard: if the subprocess reported nothing, every test above would pass.
    loaded = modules_loaded_by("sqlsentinel.config")
    assert {"pydantic", "yaml"} <= loaded
