"""sqlsentinel: SQL-first alerting as a stateless one-shot tick.

The public API. Names that pull in heavier dependencies (pydantic, croniter, SQLAlchemy)
are imported on first use, so that ``import sqlsentinel`` — and ``sqlsentinel --help`` —
stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlsentinel.errors import (
    ConfigError,
    ConfigProblem,
    ContractError,
    NotifyError,
    QueryError,
    QueryTimeout,
    SentinelError,
    StateStoreError,
)
from sqlsentinel.models import EmptyResult, QueryResult, Severity, Status

if TYPE_CHECKING:
    from sqlsentinel.config import Alert, Config, DataSource, load_config, load_config_text
    from sqlsentinel.executor.query import run_query

__version__ = "0.1.0"

__all__ = [
    "Alert",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "ContractError",
    "DataSource",
    "EmptyResult",
    "NotifyError",
    "QueryError",
    "QueryResult",
    "QueryTimeout",
    "SentinelError",
    "Severity",
    "StateStoreError",
    "Status",
    "__version__",
    "load_config",
    "load_config_text",
    "run_query",
]

_LAZY = {
    "Alert": "sqlsentinel.config",
    "Config": "sqlsentinel.config",
    "DataSource": "sqlsentinel.config",
    "load_config": "sqlsentinel.config",
    "load_config_text": "sqlsentinel.config",
    "run_query": "sqlsentinel.executor.query",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sqlsentinel' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
