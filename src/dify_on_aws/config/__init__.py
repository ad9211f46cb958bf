"""Configuration: the pydantic model, the TOML loader and the generated reference."""

from dify_on_aws.config.loader import ConfigError, load_config, parse_config
from dify_on_aws.config.model import DifyConfig

__all__ = ["ConfigError", "DifyConfig", "load_config", "parse_config"]
