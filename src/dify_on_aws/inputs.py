"""The configuration path rule of the CLI commands (templates are read by `dify_on_aws.templates`)."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_CONFIG = "dify.toml"


def default_config() -> str:
    """The --config default of every command: $DIFY_CONFIG, else dify.toml."""
    return os.environ.get("DIFY_CONFIG", DEFAULT_CONFIG)


def config_path(given: str | None) -> str | None:
    """An explicit path must exist; the default dify.toml is optional (defaults apply without it)."""
    if given and given != DEFAULT_CONFIG:
        return given
    return DEFAULT_CONFIG if Path(DEFAULT_CONFIG).is_file() else None
