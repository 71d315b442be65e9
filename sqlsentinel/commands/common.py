"""What the command modules share: printing, exit codes, the state database's location."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from sqlsentinel.redact import redactor

if TYPE_CHECKING:
    from sqlsentinel.config import Config
    from sqlsentinel.executor.state import SqlStateStore

__all__ = ["EXIT_FAILED", "EXIT_OK", "STATE_FILE", "emit", "open_store", "state_url"]

EXIT_OK = 0
EXIT_FAILED = 1
STATE_FILE = "sqlsentinel_state.db"


def emit(text: str, fmt: str) -> None:
    """Print a result on stdout, masked like the logs: results can quote errors and data.

    JSON was masked value by value when it was built (masking the text could break it).
    """
    print(text if fmt == "json" else redactor.scrub(text))


def state_url(config: Config, override: str | None, environ: Mapping[str, str]) -> str:
    """Return where the state database is: ``--state-url``, ``SQLSENTINEL_STATE_URL``,
    the config's ``state.url``, else a SQLite file next to the config."""
    url = override or environ.get("SQLSENTINEL_STATE_URL") or config.state_url
    if url:
        return url
    folder = Path(config.source).resolve().parent if config.source else Path.cwd()
    return f"sqlite:///{folder / STATE_FILE}"


def open_store(config: Config, args: argparse.Namespace) -> SqlStateStore:
    """Open the state database the command should use (``StateStoreError``: exit code 3)."""
    from sqlsentinel.database.engines import check_driver
    from sqlsentinel.executor.state import SqlStateStore

    url = state_url(config, getattr(args, "state_url", None), os.environ)
    redactor.add_url(url)
    check_driver(url, where="the state database")
    return SqlStateStore.open(url, upgrade_command=f"sqlsentinel db upgrade {args.config}")
