"""Dify on AWS: an AWS CDK app and construct library for Dify 1.x on managed AWS services.

As a library::

    import aws_cdk as cdk
    from dify_on_aws import DifyConfig, DifyStack, load_config

    app = cdk.App()
    DifyStack(app, "Dify", config=load_config("dify.toml"))  # or DifyConfig(name="Dify", ...)
    app.synth()

`DifyConfig(...)` and `load_config` validate exactly as the CLI does (`ConfigError` lists every problem);
`DifyStack` sets the project's feature flags and adds the us-east-1 Edge stack when the config needs one,
so the templates equal those of `dify-on-aws synth`. `DifyStack` is imported on first use: reading or
validating a config does not start the CDK's jsii runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dify_on_aws.config import ConfigError, DifyConfig, load_config, parse_config

if TYPE_CHECKING:
    from dify_on_aws.stack import DifyStack

__version__ = "0.1.0"
__all__ = ["ConfigError", "DifyConfig", "DifyStack", "load_config", "parse_config"]


def __getattr__(name: str) -> Any:
    if name == "DifyStack":
        from dify_on_aws.stack import DifyStack  # noqa: PLC0415 - keeps config-only imports free of jsii

        return DifyStack
    raise AttributeError(f"module 'dify_on_aws' has no attribute {name!r}")
