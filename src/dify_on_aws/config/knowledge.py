"""`[knowledge_bases]`: Amazon Bedrock knowledge bases served to Dify as external knowledge."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from dify_on_aws.config.base import Section, region_name

# Bedrock's knowledgeBaseId pattern (Agents for Amazon Bedrock runtime API reference, Retrieve).
_KB_ID = re.compile(r"^[0-9a-zA-Z]{10}$")
# The host names of Lambda function URLs (`<url-id>.lambda-url.<region>.on.aws`).
FUNCTION_URL_DOMAIN = ".on.aws"
_ANY_REGION = re.compile(r"\.lambda-url\.[a-z0-9-]+\.on\.aws")


class KnowledgeBasesConfig(Section):
    """Bedrock knowledge bases that Dify can query through its External Knowledge API."""

    ids: list[str] = Field(
        default_factory=list,
        description="Knowledge base IDs (10 letters and digits, e.g. `ABCDEFGHIJ`). When set, a small "
        "function implements Dify's External Knowledge API over Bedrock's Retrieve on exactly these; "
        "register its endpoint (stack output `KnowledgeApiEndpoint`) in Dify and use an ID as the "
        "External Knowledge ID. It is a public function URL (Dify reaches it through the SSRF proxy over "
        "NAT), or with `network.closed` a private REST API behind an `execute-api` VPC endpoint the stack "
        "creates. Empty: nothing is deployed.",
    )
    region: str | None = Field(
        None,
        description="Region of the knowledge bases; default: the stack's region.",
    )

    @field_validator("ids")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        wrong = [kb for kb in value if not _KB_ID.fullmatch(kb)]
        if wrong:
            raise ValueError(
                f"{wrong[0]!r} is not a knowledge base ID (10 letters and digits, as in the console's "
                "knowledge base details or `aws bedrock-agent list-knowledge-bases`)"
            )
        if len(set(value)) != len(value):
            raise ValueError("lists a knowledge base twice")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        return region_name(value)


def reachability_problem(
    *, enabled: bool, nat_gateways: int, closed: bool, allowed_domains: list[str], region: str | None
) -> str | None:
    """Why Dify's api and worker could not reach the knowledge API through the SSRF proxy, if so.

    Dify sends external-knowledge requests through its SSRF proxy (core/helper/ssrf_proxy.py), and ours
    denies every private and VPC address. Outside a closed network the API is a public Lambda function URL
    that Squid reaches over NAT: it needs NAT and, when the proxy only allows listed domains, the function
    URL domain. A closed network gets a private API whose exact name Squid lets through: nothing to check."""
    if not enabled or closed:
        return None
    if nat_gateways == 0:
        return (
            "knowledge_bases.ids with network.nat_gateways = 0: Dify reaches the knowledge API (a public "
            "Lambda function URL) through the SSRF proxy, which needs NAT; set network.nat_gateways >= 1 "
            "or remove knowledge_bases.ids"
        )
    if allowed_domains and not any(_covers_function_urls(d, region) for d in allowed_domains):
        return (
            f"knowledge_bases.ids with ssrf_proxy.allowed_domains = {allowed_domains}: the proxy would deny "
            f"the knowledge API's function URL; add '.lambda-url.{region or '<region>'}.on.aws' to "
            "ssrf_proxy.allowed_domains"
        )
    return None


def _covers_function_urls(domain: str, region: str | None) -> bool:
    """Whether an allowed domain ('.x' = x and its subdomains) admits `<id>.lambda-url.<region>.on.aws`."""
    if not domain.startswith("."):
        return False
    if region is None:
        return domain == FUNCTION_URL_DOMAIN or _ANY_REGION.fullmatch(domain) is not None
    return f"id.lambda-url.{region}{FUNCTION_URL_DOMAIN}".endswith(domain)
