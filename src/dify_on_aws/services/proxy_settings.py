"""How Dify's containers reach each other, the SSRF proxy and a package index: internal URLs and the
standard proxy variables. Used by services/variables.py (the one place that maps the configuration to each
container's environment) and by the package proxy's own task."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from dify_on_aws.roles import PORTS, Role


def internal_url(role: Role, *, packed: bool = False, hosts: Mapping[Role, str] | None = None) -> str:
    """How roles reach each other: Service Connect names, localhost when they share one task, or `hosts`
    (private DNS names, for callers outside Service Connect such as a Lambda function)."""
    host = (hosts or {}).get(role) or ("localhost" if packed else role.value)
    return f"http://{host}:{PORTS[role]}"


# The ECS credential and metadata endpoints never go through the SSRF proxy.
_METADATA_ENDPOINTS = ["169.254.169.254", "169.254.170.2"]
# Internal names never go through the SSRF proxy either.
NO_PROXY = ",".join(
    ["localhost", "127.0.0.1", *_METADATA_ENDPOINTS]
    + [r.value for r in (Role.API, Role.PLUGIN_DAEMON, Role.SANDBOX, Role.WEB)]
)


# AWS API host names (`<service>.<region>.amazonaws.com`). In a closed network they resolve to the VPC's
# interface endpoints, inside the VPC CIDR the SSRF proxy denies, so AWS SDK calls (Bedrock from plugins) go
# around it; nothing else outside the VPC answers there.
AWS_API_HOSTS = ".amazonaws.com"


def proxy_environment(
    *, packed: bool = False, reaches_api: bool = False, bypass: Sequence[str] = ()
) -> dict[str, str]:
    """For processes that fetch arbitrary URLs with the standard proxy variables (sandbox, plugins).

    In one shared task, localhost is Dify itself and the proxy denies loopback, so nothing on localhost
    bypasses the proxy, except (`reaches_api`: plugins) the api's own port: plugins fetch and upload files
    at INTERNAL_FILES_URL (http://localhost:5001). NO_PROXY entries with a port match only that port (Go's
    net/http, Python's urllib, requests and httpx). `bypass`: further internal hosts reached directly (the
    package index: the SSRF proxy denies the VPC, and pip and uv honour these variables)."""
    url = internal_url(Role.SSRF_PROXY, packed=packed)
    names = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
    api = [f"{host}:{PORTS[Role.API]}" for host in ("localhost", "127.0.0.1")] if reaches_api else []
    no_proxy = ",".join([*api, *_METADATA_ENDPOINTS, *bypass]) if packed else ",".join([NO_PROXY, *bypass])
    return {**dict.fromkeys(names, url), "NO_PROXY": no_proxy, "no_proxy": no_proxy}


def package_index_environment(index: str | None, *, trusted_host: bool) -> dict[str, str]:
    """Where pip (sandbox) and uv (plugin daemon) install from: both pass PIP_MIRROR_URL as `-i`. pip ignores
    a plain-HTTP index on any host but localhost unless it is a trusted host, and the pinned sandbox passes
    no `--trusted-host`, so the sandbox's pip (which inherits its environment) gets PIP_TRUSTED_HOST."""
    if index is None:
        return {}
    parts = urlsplit(index)
    return {"PIP_MIRROR_URL": index, **({"PIP_TRUSTED_HOST": parts.netloc} if trusted_host else {})}


def index_hosts(url: str | None) -> list[str]:
    return [str(urlsplit(url).hostname)] if url else []
