"""`[front_door]`: how Dify is reached (docs/front-doors.md compares the types)."""

from __future__ import annotations

import contextlib
import ipaddress
import re
from typing import Literal

from pydantic import Field, field_validator

from dify_on_aws.config.base import Section, cross_check

FrontDoorType = Literal["cloudfront", "alb", "api_gateway", "lambda", "lambda_proxy"]
# Front doors whose edge is CloudFront: certificates, WAF and Lambda@Edge live in us-east-1.
CLOUDFRONT_FRONT_DOORS = ("cloudfront", "lambda", "lambda_proxy")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_ZONE_ID = re.compile(r"^Z[A-Z0-9]{1,31}$")
_CERTIFICATE_ARN = re.compile(r"^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate/[0-9a-f-]{36}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def dns_name(value: str | None, example: str = "dify.example.com") -> str | None:
    """A lower-case DNS name without the trailing dot, or a ValueError naming an `example`."""
    if value is not None:
        value = value.rstrip(".")
        if not _DOMAIN.fullmatch(value):
            raise ValueError(f"{value!r} is not a lower-case DNS name such as {example!r}")
    return value


class FrontDoorConfig(Section):
    """How Dify is reached from the internet. `docs/front-doors.md` compares the four types."""

    type: FrontDoorType = Field(
        "cloudfront",
        description="`cloudfront`: CloudFront (HTTPS on *.cloudfront.net) with a VPC origin to an internal "
        "ALB that the internet cannot reach. `alb`: an internet-facing (or `internal`) ALB straight to the "
        "services. `api_gateway`: API Gateway HTTP API with a VPC link to the services through Cloud Map, "
        "no load balancer (no streaming, 30 s limit). `lambda`: CloudFront in front of Lambda function URLs "
        "that run the Dify api and web images (streaming; cold starts; 1 MB request bodies). `lambda_proxy`: "
        "CloudFront in front of a function URL running nginx that forwards to the single Dify task (the lean "
        "profile: nothing billed when idle, streaming, 6 MB request bodies).",
    )
    domain: str | None = Field(
        None,
        description="Custom domain, e.g. `dify.example.com`. Needs `hosted_zone` (certificate and alias "
        "record are created) or `certificate_arn` (you create the DNS record).",
    )
    hosted_zone: str | None = Field(
        None,
        description="Route 53 public hosted zone that contains `domain`, e.g. `example.com`. Looked up at "
        "synth time (needs `account` and `region`) unless `hosted_zone_id` is given.",
    )
    hosted_zone_id: str | None = Field(None, description="ID of `hosted_zone`; skips the lookup.")
    certificate_arn: str | None = Field(
        None,
        description="Bring your own ACM certificate for `domain` instead of a Route 53 validated one. "
        "For `cloudfront` and `lambda` it must be in us-east-1; otherwise in the stack's region.",
    )
    allowed_cidrs: list[str] = Field(
        default_factory=list,
        description="IPv4/IPv6 CIDRs allowed to reach Dify (empty: everyone). Enforced by the ALB security "
        "group (`alb`, IPv4 only: the load balancer has no IPv6 address), a WAF web ACL (`cloudfront`, "
        "`lambda`) or a Lambda authorizer (`api_gateway`).",
    )
    allowed_countries: list[str] = Field(
        default_factory=list,
        description="ISO 3166 country codes allowed to reach Dify (empty: all). WAF only: `cloudfront`, "
        "`lambda`. With `allowed_cidrs` too, a caller must match both.",
    )
    internal: bool = Field(
        False, description="`alb` only: an internal load balancer, reachable only from inside the VPC."
    )
    origin_read_timeout_seconds: int = Field(
        60,
        ge=1,
        le=180,
        description="How long CloudFront waits for the first byte of a response (blocking API calls). "
        "Above 60 needs a CloudFront quota increase.",
    )
    idle_timeout_seconds: int = Field(
        600, ge=60, le=4000, description="Load balancer idle timeout (long blocking requests, uploads)."
    )
    waf_managed_rules: bool = Field(
        False,
        description="`cloudfront`, `lambda`: add AWS managed rule groups (common, known bad inputs, IP "
        "reputation) and a per-IP rate limit to the WAF web ACL, with Dify's uploads exempted from body "
        "size rules (docs/security.md).",
    )
    waf_rate_limit: int = Field(
        2000, ge=100, le=2_000_000_000, description="Requests per 5 minutes per IP before WAF blocks it."
    )
    function_memory_mib: int = Field(
        2048, ge=512, le=10240, description="`lambda` only: memory of the api function (web gets 1024)."
    )
    function_timeout_seconds: int = Field(
        300, ge=30, le=900, description="`lambda` only: longest request the functions serve."
    )
    provisioned_concurrency: int = Field(
        0,
        ge=0,
        le=100,
        description="`lambda` only: api instances kept warm (removes cold starts; billed while idle).",
    )

    @field_validator("domain", "hosted_zone")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        return dns_name(value)

    @field_validator("hosted_zone_id")
    @classmethod
    def _zone_id(cls, value: str | None) -> str | None:
        if value is not None and not _ZONE_ID.fullmatch(value):
            raise ValueError("must be a Route 53 hosted zone ID such as 'Z0123456789ABCDEFGHIJ'")
        return value

    @field_validator("certificate_arn")
    @classmethod
    def _certificate(cls, value: str | None) -> str | None:
        if value is not None and not _CERTIFICATE_ARN.fullmatch(value):
            raise ValueError("must be an ACM certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID)")
        return value

    @field_validator("allowed_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            if cidr in ("0.0.0.0/0", "::/0"):
                # WAF IP sets reject /0, and "everyone" is what an empty list already means.
                raise ValueError(f"{cidr!r} allows everyone; leave allowed_cidrs empty for that")
            try:
                ipaddress.ip_network(cidr, strict=True)
            except ValueError as exc:
                hint = ""
                with contextlib.suppress(ValueError):
                    hint = f"; did you mean {ipaddress.ip_network(cidr, strict=False)}?"
                raise ValueError(f"{cidr!r} is not a network CIDR ({exc}){hint}") from None
        return value

    @field_validator("allowed_countries")
    @classmethod
    def _countries(cls, value: list[str]) -> list[str]:
        wrong = [c for c in value if not _COUNTRY.fullmatch(c)]
        if wrong:
            raise ValueError(f"{wrong} are not upper-case ISO 3166 alpha-2 codes such as 'JP' or 'US'")
        return value

    @cross_check
    def _ipv6_on_alb(self) -> FrontDoorConfig:
        ipv6 = [c for c in self.allowed_cidrs if ":" in c]
        if ipv6 and self.type == "alb":
            # The ALB is IPv4-only (its VPC has no IPv6), so an IPv6 rule would admit nobody.
            raise ValueError(
                f"allowed_cidrs {ipv6} are IPv6, but the 'alb' front door's load balancer is IPv4-only and "
                "never sees IPv6 clients; remove them, or use type = 'cloudfront' (its WAF allow-list "
                "takes IPv6)"
            )
        return self

    @cross_check
    def _internal(self) -> FrontDoorConfig:
        kind = self.type
        if self.internal and kind != "alb":
            raise ValueError(
                f"internal = true needs type = 'alb' (a {kind} front door is reachable from the internet); "
                "set type = 'alb' or remove internal"
            )
        return self

    @cross_check
    def _allow_lists(self) -> FrontDoorConfig:
        kind = self.type
        if kind == "lambda_proxy" and (
            self.allowed_cidrs or self.allowed_countries or self.waf_managed_rules
        ):
            raise ValueError(
                "type = 'lambda_proxy' cannot enforce allow-lists or WAF rules: its function URL is public "
                "and bypasses CloudFront; use 'cloudfront' or 'lambda', or remove them"
            )
        if self.waf_managed_rules and kind not in CLOUDFRONT_FRONT_DOORS:
            raise ValueError(
                f"waf_managed_rules needs a CloudFront-based front door, not type = '{kind}'; use "
                "'cloudfront' or 'lambda', or remove waf_managed_rules"
            )
        if self.allowed_countries and kind not in CLOUDFRONT_FRONT_DOORS:
            raise ValueError(
                f"allowed_countries needs a WAF, which type = '{kind}' cannot use; use type = 'cloudfront' "
                "or 'lambda', or remove allowed_countries"
            )
        return self

    @cross_check
    def _domain_settings(self) -> FrontDoorConfig:
        kind = self.type
        if self.domain is None:
            for key in ("hosted_zone", "hosted_zone_id", "certificate_arn"):
                if getattr(self, key) is not None:
                    raise ValueError(f"{key} is set but domain is not; set domain (e.g. 'dify.example.com')")
            return self
        if self.hosted_zone is None and self.certificate_arn is None:
            raise ValueError(
                f"domain {self.domain!r} needs hosted_zone (a Route 53 public zone, e.g. "
                f"'{self.domain.split('.', 1)[-1]}') or certificate_arn (your own ACM certificate)"
            )
        if self.hosted_zone_id is not None and self.hosted_zone is None:
            raise ValueError("hosted_zone_id needs hosted_zone (the zone's name)")
        zone = self.hosted_zone
        if zone is not None and self.domain != zone and not self.domain.endswith(f".{zone}"):
            raise ValueError(f"domain {self.domain!r} is not inside hosted_zone {zone!r}")
        if self.certificate_arn is not None and kind in CLOUDFRONT_FRONT_DOORS:
            region = _CERTIFICATE_ARN.fullmatch(self.certificate_arn)
            if region is not None and region.group(1) != "us-east-1":
                raise ValueError(
                    f"certificate_arn is in {region.group(1)}, but CloudFront only uses certificates in "
                    "us-east-1; import or request the certificate there"
                )
        return self

    def needs_edge_stack(self) -> bool:
        """Whether us-east-1 resources are needed: a CloudFront certificate, a WAF or Lambda@Edge."""
        if self.type not in CLOUDFRONT_FRONT_DOORS:
            return False
        certificate = self.domain is not None and self.certificate_arn is None
        waf = bool(self.allowed_cidrs or self.allowed_countries or self.waf_managed_rules)
        return self.type == "lambda" or certificate or waf
