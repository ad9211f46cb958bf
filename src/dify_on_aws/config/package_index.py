"""`[package_index]`: where the plugin daemon and the sandbox install Python packages from."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from dify_on_aws.config.base import Section

# A stock Python image from ECR Public (Docker's official image, multi-architecture); the proxy needs only
# the standard library.
DEFAULT_PROXY_IMAGE = "public.ecr.aws/docker/library/python:3.13-slim"
_IMAGE = re.compile(
    r"^[a-z0-9][a-z0-9._/:-]*[a-z0-9](:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$"
)


class PackageIndexConfig(Section):
    """A Python package index inside the VPC for plugin dependencies and the sandbox's packages."""

    type: Literal["none", "codeartifact"] = Field(
        "none",
        description="`none`: the plugin daemon and the sandbox install from PyPI over the internet (through "
        "NAT and the SSRF proxy). `codeartifact`: an AWS CodeArtifact repository with an external "
        "connection to public PyPI, served inside the VPC by a small package proxy (an ECS service) that "
        "renews CodeArtifact's 12-hour tokens itself; works without internet access (closed networks) "
        "given the `codeartifact.api` and `codeartifact.repositories` VPC endpoints.",
    )
    proxy_image: str = Field(
        DEFAULT_PROXY_IMAGE,
        description="Python image the package proxy runs on (standard library only; Python 3.11 or newer). "
        "Mirror it to ECR for closed networks.",
    )

    @field_validator("proxy_image")
    @classmethod
    def _image(cls, value: str) -> str:
        if not _IMAGE.fullmatch(value):
            raise ValueError(
                "must be an image reference such as 'public.ecr.aws/docker/library/python:3.13-slim'"
            )
        return value
