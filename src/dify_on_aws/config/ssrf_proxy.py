"""`[ssrf_proxy]`: what Dify may fetch on users' behalf."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from dify_on_aws.config.base import Section
from dify_on_aws.config.images import DEFAULT_IMAGE_SET
from dify_on_aws.services.ssrf_proxy import squid_config


class SsrfProxyConfig(Section):
    """The SSRF proxy (Squid) that every URL a Dify user types is fetched through."""

    image: str = Field(
        DEFAULT_IMAGE_SET["ssrf_proxy"],
        description="Squid image (full reference; mirror it to ECR for closed networks). Its tag must be the "
        "one of `images.dify_version`'s set unless `images.force = true`.",
    )
    allowed_domains: list[str] = Field(
        default_factory=list,
        description="Closed networks: when set, only these domains are reachable (`.example.com` includes "
        "subdomains). Empty: the whole public internet, never the VPC or metadata endpoints.",
    )
    allowed_cidrs: list[str] = Field(
        default_factory=list,
        description="Private networks Dify may reach anyway (an internal API, a corporate proxy). Metadata "
        "endpoints can never be allowed.",
    )
    port_policy: Literal["dify", "strict"] = Field(
        "dify",
        description="Destination ports plain HTTP may use. `dify`: the safe ports of Dify's own SSRF proxy "
        "(80, 443, 21, 70, 210, 280, 488, 591, 777 and 1025-65535), so HTTP-request nodes and tools reach "
        "APIs on other ports. `strict`: 80 and 443 only (plus `extra_ports`). CONNECT (TLS) goes to 443 "
        "(plus `extra_ports`) either way; private, VPC, metadata and loopback addresses stay denied on every "
        "port.",
    )
    extra_ports: list[int] = Field(
        default_factory=list,
        description="Destination ports allowed for both plain HTTP and CONNECT (TLS) on top of "
        "`port_policy` (e.g. 8443).",
    )

    @model_validator(mode="after")
    def _valid(self) -> SsrfProxyConfig:
        # Rendering the configuration validates every CIDR, domain and port with a message naming it.
        squid_config(
            denied_cidrs=["10.0.0.0/16"],
            allowed_domains=self.allowed_domains,
            allowed_cidrs=self.allowed_cidrs,
            extra_ports=self.extra_ports,
            port_policy=self.port_policy,
        )
        return self
