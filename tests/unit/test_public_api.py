"""The public API is what ``sqlsentinel.__all__`` says, and a change to it is deliberate.

Modelled on httpx's ``tests/test_exported_members.py``: adding or removing a public name means
editing the list below in the same change.
"""

from __future__ import annotations

import importlib

import pytest

import sqlsentinel

EXPECTED = [
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


def test_all_lists_exactly_the_public_names() -> None:
    assert sorted(sqlsentinel.__all__) == sorted(EXPECTED)
    assert len(sqlsentinel.__all__) == len(set(sqlsentinel.__all__))


def test_every_public_name_resolves_to_an_object_of_ours() -> None:
    for name in sqlsentinel.__all__:
        value = getattr(sqlsentinel, name)
        assert value is not None, name
        if name != "__version__":
            assert value.__module__.startswith("sqlsentinel."), name


def test_lazily_imported_names_are_the_objects_of_their_home_modules() -> None:
    from sqlsentinel.config import Alert, Config, DataSource, load_config, load_config_text
    from sqlsentinel.executor.query import run_query

    assert sqlsentinel.Alert is Alert
    assert sqlsentinel.Config is Config
    assert sqlsentinel.DataSource is DataSource
    assert sqlsentinel.load_config is load_config
    assert sqlsentinel.load_config_text is load_config_text
    assert sqlsentinel.run_query is run_query


def test_dir_includes_every_public_name() -> None:
    assert set(sqlsentinel.__all__) <= set(dir(sqlsentinel))


def test_star_import_gives_exactly_the_public_names() -> None:
    namespace: dict[str, object] = {}
    exec("from sqlsentinel import *", namespace)
    namespace.pop("__builtins__")
    assert sorted(namespace) == sorted(EXPECTED)


def test_an_unknown_attribute_raises_attribute_error_naming_it() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        _ = sqlsentinel.no_such_thing  # type: ignore[attr-defined]


def test_the_version_is_the_installed_distribution_version() -> None:
    from importlib.metadata import version

    assert sqlsentinel.__version__ == version("sqlsentinel")
    assert importlib.import_module("sqlsentinel").__version__ == sqlsentinel.__version__
