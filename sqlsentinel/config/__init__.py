"""Load and validate config files; see :func:`load_config`."""

from __future__ import annotations

from sqlsentinel.config.loader import load_config, load_config_text
from sqlsentinel.config.model import DEFAULT_DATA_SOURCE, Alert, Config, DataSource

__all__ = [
    "DEFAULT_DATA_SOURCE",
    "Alert",
    "Config",
    "DataSource",
    "load_config",
    "load_config_text",
]
