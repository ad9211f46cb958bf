"""The SSRF proxy: a Squid configuration, and how a stock Squid container runs it.

Dify fetches URLs that users type (HTTP-request node, tools, remote files). api and worker send that traffic
through SSRF_PROXY_HTTP_URL / SSRF_PROXY_HTTPS_URL, the sandbox and the plugin daemon through HTTP_PROXY /
HTTPS_PROXY. The proxy lets it reach the public internet (or, in closed networks, only listed domains) but
never the VPC, the metadata and credential endpoints, or any other private or special-purpose address.

Everything here is plain Python (strings, lists, dicts); the stack wraps it into CDK constructs.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

from dify_on_aws.services.squid_values import (
    IPNetwork,
    nat64,
    parse_domains,
    parse_networks,
    parse_ports,
    port_ranges,
    prune,
    sorted_networks,
    subtract,
)

PORT: Final = 3128
# Canonical's Squid image (Ubuntu 24.04 LTS, multi-arch), from ECR Public: no Docker Hub pull limits.
IMAGE: Final = "public.ecr.aws/ubuntu/squid:6.6-24.04_beta"
# ECS Service Connect name the other services use: http://ssrf-proxy:3128.
DNS_NAME: Final = "ssrf-proxy"
URL: Final = f"http://{DNS_NAME}:{PORT}"
# The container receives its squid.conf in this variable (base64; the configuration holds no secret).
CONFIG_ENV: Final = "SQUID_CONFIG_B64"
CONFIG_PATH: Final = "/etc/squid/squid.conf"
# Names of AWS-internal HTTPS APIs of this deployment that Dify must reach although they resolve to VPC
# addresses (the knowledge API's private REST API in a closed network): known only at deploy time, so the
# container writes them from INTERNAL_HOSTS_ENV (space-separated) to INTERNAL_HOSTS_PATH, which the
# configuration reads (squid_config `internal_hosts_file`).
INTERNAL_HOSTS_ENV: Final = "SQUID_INTERNAL_HOSTS"
INTERNAL_HOSTS_PATH: Final = "/etc/squid/internal-hosts"
# Debian's and Ubuntu's squid packages run as this user after starting as root.
EFFECTIVE_USER: Final = "proxy"

# Destination ports: plain HTTP, and TLS through CONNECT.
HTTP_PORT: Final = 80
TLS_PORT: Final = 443
# Which destination ports plain HTTP may use. `dify`: the safe ports of Dify's own proxy
# (docker/ssrf_proxy/squid.conf.template: Squid's usual Safe_ports, i.e. 80, 21, 443, 70, 210, 280, 488, 591,
# 777 and 1025-65535), so HTTP-request nodes and tools reach APIs on other ports. `strict`: 80 and 443 only.
# CONNECT (TLS) goes to 443 in both, plus `extra_ports`; every destination rule applies on every port.
PortPolicy = Literal["dify", "strict"]
PORT_POLICIES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "dify": ("21", "70", "80", "210", "280", "443", "488", "591", "777", "1025-65535"),
        "strict": (str(HTTP_PORT), str(TLS_PORT)),
    }
)

# Metadata and credential endpoints: denied before anything else, and `allowed_cidrs` may not touch them.
METADATA: Final[Mapping[str, str]] = MappingProxyType(
    {
        "169.254.169.254/32": "EC2 instance metadata (IMDS)",
        "169.254.170.2/32": "ECS task metadata and task-role credentials",
        "169.254.170.23/32": "EKS Pod Identity agent",
        "fd00:ec2::254/128": "EC2 instance metadata over IPv6",
        "fd00:ec2::23/128": "EKS Pod Identity agent over IPv6",
    }
)

# Never reachable through the proxy (RFC 6890 special-purpose ranges), on top of the caller's `denied_cidrs`.
# IPv4-mapped IPv6 (::ffff:0:0/96) is deliberately absent: Squid keeps every IPv4 address in that form, so
# listing it would deny all of IPv4, while the IPv4 ranges below already match [::ffff:a.b.c.d] URLs.
ALWAYS_DENIED: Final[Mapping[str, str]] = MappingProxyType(
    {
        "0.0.0.0/8": '"this" network (0.0.0.0 reaches the local host)',
        "10.0.0.0/8": "RFC 1918 private",
        "100.64.0.0/10": "RFC 6598 shared address space (carrier-grade NAT)",
        "127.0.0.0/8": "loopback",
        "169.254.0.0/16": "link-local (instance metadata, ECS credentials, Route 53 Resolver, time sync)",
        "172.16.0.0/12": "RFC 1918 private",
        "192.0.0.0/24": "IETF protocol assignments",
        "192.0.2.0/24": "TEST-NET-1 documentation",
        "192.168.0.0/16": "RFC 1918 private",
        "198.18.0.0/15": "benchmarking",
        "198.51.100.0/24": "TEST-NET-2 documentation",
        "203.0.113.0/24": "TEST-NET-3 documentation",
        "224.0.0.0/4": "multicast",
        "240.0.0.0/4": "reserved, and 255.255.255.255 broadcast",
        "::/96": "unspecified (::), loopback (::1) and deprecated IPv4-compatible addresses",
        "64:ff9b:1::/48": "local-use NAT64 (RFC 8215): may translate to any IPv4 address",
        "100::/64": "discard-only",
        "2001::/23": "IETF protocol assignments (Teredo, benchmarking 2001:2::/48, ORCHID)",
        "2001:db8::/32": "documentation",
        "fc00::/7": "unique local addresses (includes fd00:ec2::/32, the AWS IPv6 metadata services)",
        "fe80::/10": "link-local",
        "fec0::/10": "deprecated site-local",
        "ff00::/8": "multicast",
    }
)

# The well-known NAT64 prefix (RFC 6052): 64:ff9b::a.b.c.d is a.b.c.d reached through a NAT64 gateway (an AWS
# NAT gateway translates it, private addresses included), so every denied IPv4 range is denied in it too.

# Who may use the proxy unless `client_cidrs` says otherwise, besides the caller's `denied_cidrs` (the VPC).
# Loopback: with ECS Service Connect, the proxy sidecar in Squid's own task forwards the connections.
DEFAULT_CLIENTS: Final = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "::1/128")

_LOG_DIR = re.compile(r"(?:/[A-Za-z0-9._-]+)+|/")
_INTERNAL_ACL = re.compile(r'^acl ssrf_internal_hosts dstdomain -n "([^"]+)"$', re.MULTILINE)


def squid_config(
    *,
    denied_cidrs: Sequence[str],
    allowed_domains: Sequence[str] = (),
    allowed_cidrs: Sequence[str] = (),
    client_cidrs: Sequence[str] | None = None,
    extra_ports: Sequence[int] = (),
    port_policy: PortPolicy = "dify",
    port: int = PORT,
    log_dir: str | None = None,
    internal_hosts_file: str | None = None,
    internal_port: int = TLS_PORT,
) -> str:
    """Render squid.conf for Dify's SSRF proxy.

    denied_cidrs: networks to deny on top of ALWAYS_DENIED, normally the VPC CIDR.
    allowed_domains: when not empty, only these names are reachable (closed networks); `example.com` is
        that name only, `.example.com` the name and all its subdomains. Empty: the whole public internet.
    allowed_cidrs: networks the user explicitly permits although they are denied (an internal endpoint, a
        corporate proxy). They are cut out of the denied ranges, so a host name is allowed only when none of
        its addresses is denied; with `allowed_domains`, URLs naming an address in them are allowed as well.
        They may not cover a METADATA address.
    client_cidrs: sources allowed to use the proxy; default DEFAULT_CLIENTS plus `denied_cidrs`.
    extra_ports: destination ports allowed for HTTP and CONNECT besides those of `port_policy`.
    port_policy: the destination ports plain HTTP may use (PORT_POLICIES); CONNECT only to 443.
    port: where Squid listens.
    log_dir: None logs to the container's stdout (access) and stderr (Squid's own messages); a directory
        writable by EFFECTIVE_USER gets access.log and cache.log instead.
    internal_hosts_file: a file listing host names (one a line) that CONNECT may reach on `internal_port`
        although their addresses are denied: the deployment's own private APIs, named exactly. The names
        only, never an address in the URL, and only after the metadata rule; written at start from
        INTERNAL_HOSTS_ENV by squid_container. None: no such names.

    Raises ValueError naming the first invalid CIDR, domain or port. The output depends only on the
    arguments (sorted, no timestamps), so an unchanged configuration never changes the task definition.
    """
    denied = parse_networks("denied_cidrs", denied_cidrs)
    allowed = parse_networks("allowed_cidrs", allowed_cidrs)
    clients = parse_networks(
        "client_cidrs", [*DEFAULT_CLIENTS, *denied_cidrs] if client_cidrs is None else client_cidrs
    )
    if not clients:
        raise ValueError("client_cidrs: at least one network must be allowed to use the proxy")
    domains = parse_domains(allowed_domains)
    ports = parse_ports("extra_ports", extra_ports)
    if port_policy not in PORT_POLICIES:
        raise ValueError(f"port_policy: {port_policy!r} is not one of {', '.join(PORT_POLICIES)}")
    http_ports = port_ranges([*PORT_POLICIES[port_policy], *map(str, ports)])
    parse_ports("port", [port])
    for name, path in (("log_dir", log_dir), ("internal_hosts_file", internal_hosts_file)):
        if path is not None and not _LOG_DIR.fullmatch(path):
            raise ValueError(f"{name}: {path!r} is not an absolute path of letters, digits, '.', '_', '-'")
    parse_ports("internal_port", [internal_port])
    if internal_port not in (TLS_PORT, *ports):
        raise ValueError(f"internal_port: {internal_port} is not a CONNECT port (443 or extra_ports)")
    metadata: list[IPNetwork] = [ipaddress.ip_network(cidr) for cidr in METADATA]
    for network in allowed:
        for address in metadata:
            if network.version == address.version and network.overlaps(address):
                raise ValueError(f"allowed_cidrs: {network} covers {address} ({METADATA[str(address)]})")

    blocked = subtract([*(ipaddress.ip_network(cidr) for cidr in ALWAYS_DENIED), *denied], allowed)
    blocked += [nat64(n) for n in blocked if isinstance(n, ipaddress.IPv4Network)]
    metadata += [nat64(n) for n in metadata if isinstance(n, ipaddress.IPv4Network)]

    lines = [
        "# Squid as Dify's SSRF proxy, rendered by dify_on_aws.services.ssrf_proxy: edit that, not this.",
        "# Dify sends the URLs users type through here; they may reach the public internet, never the VPC,",
        "# the metadata and credential endpoints, or other private and special-purpose addresses.",
        *_settings(port, log_dir),
        *_section(
            "Who may use the proxy: Dify's tasks in the VPC. By default also private networks and loopback\n"
            "(ECS Service Connect's proxy sidecar in this task forwards the connections from there).",
            [f"acl ssrf_clients src {n}" for n in sorted_networks(prune(clients))],
        ),
        *_section(
            f"Destination ports ({port_policy}): HTTP on {', '.join(PORT_POLICIES[port_policy])};\n"
            f"CONNECT (TLS) only to {TLS_PORT}"
            + (f"; extra_ports for both: {', '.join(map(str, ports))}." if ports else "."),
            [
                *(f"acl ssrf_ports port {p}" for p in http_ports),
                *(f"acl ssrf_tls_ports port {p}" for p in sorted({TLS_PORT, *ports})),
                "acl ssrf_connect method CONNECT",
            ],
        ),
        *_section(
            "Metadata and credential endpoints (and their NAT64 forms): never reachable.\n"
            + _table(METADATA),
            [f"acl ssrf_metadata dst {n}" for n in sorted_networks(metadata)],
        ),
        *_section(
            _DENIED_WHY
            + _table(ALWAYS_DENIED)
            + f"\nAlso denied (denied_cidrs): {_joined(denied)}"
            + f"\nCut out of the above (allowed_cidrs): {_joined(allowed)}",
            [f"acl ssrf_denied dst {n}" for n in sorted_networks(prune(blocked))],
        ),
        *_internal(internal_hosts_file, internal_port),
        *_access(domains, allowed, internal=internal_hosts_file is not None),
    ]
    return "\n".join(lines) + "\n"


_DENIED_WHY = """Denied destinations. dst resolves a host name and matches when ANY of its addresses
is listed, and Squid connects to the addresses it checked, so a public name resolving (or rebinding)
to a private address is denied like the address itself. Squid keeps IPv4 addresses as ::ffff:a.b.c.d,
so the IPv4 ranges also cover IPv4-mapped IPv6 URLs. The NAT64 (64:ff9b::/96) form of every IPv4
range is denied too.
"""


def _settings(port: int, log_dir: str | None) -> list[str]:
    if log_dir is None:
        where = "Logs go to the container's stdout and stderr (CloudWatch Logs), unrotated."
        logs = ["access_log stdio:/dev/stdout", "cache_log /dev/stderr"]
    else:
        where = f"Logs go to {log_dir}, unrotated."
        logs = [f"access_log stdio:{log_dir}/access.log", f"cache_log {log_dir}/cache.log"]
    return [
        *_section(
            "A forward proxy in the foreground of its container (squid -N): no pid file, no ICMP helper.",
            [
                f"http_port {port}",
                f"visible_hostname {DNS_NAME}",
                f"cache_effective_user {EFFECTIVE_USER}",
                "pid_filename none",
                "pinger_enable off",
                "max_filedescriptors 16384",
            ],
        ),
        *_section(
            "Nothing is cached: every response is fetched, and checked, again.",
            ["cache deny all", "cache_mem 16 MB"],
        ),
        *_section(
            "Do not tell upstream servers about the proxy or the client addresses behind it.",
            ["via off", "forwarded_for delete", "httpd_suppress_version_string on"],
        ),
        *_section(
            "Model APIs may think for minutes before the first byte and stream (SSE) with long gaps, so an\n"
            "upstream may stay silent for up to read_timeout; establishing a connection has to be quick.",
            [
                "connect_timeout 30 seconds",
                "forward_timeout 60 seconds",
                "read_timeout 15 minutes",
                "request_timeout 60 seconds",
                "shutdown_lifetime 5 seconds",
            ],
        ),
        *_section(
            f"{where}\nQuery strings are not logged: they may hold keys.",
            [*logs, "logfile_rotate 0", "strip_query_terms on"],
        ),
    ]


def _internal(path: str | None, port: int) -> list[str]:
    if path is None:
        return []
    return _section(
        f"The deployment's own private APIs: these exact names (-n: never an address in the URL), through\n"
        f"CONNECT to {port} only, although they resolve to VPC addresses. Written at container start.",
        [f'acl ssrf_internal_hosts dstdomain -n "{path}"', f"acl ssrf_internal_port port {port}"],
    )


def _access(domains: Sequence[str], allowed: Sequence[IPNetwork], *, internal: bool) -> list[str]:
    rules = [
        "http_access deny !ssrf_clients",
        "http_access deny manager",
        "http_access deny !ssrf_ports",
        "http_access deny ssrf_connect !ssrf_tls_ports",
        "http_access deny ssrf_metadata",
        *(["http_access allow ssrf_connect ssrf_internal_port ssrf_internal_hosts"] if internal else []),
        "http_access deny ssrf_denied",
    ]
    lines: list[str] = []
    if domains:
        acls = [f"acl ssrf_allowed_domains dstdomain -n {domain}" for domain in domains]
        rules.append("http_access allow ssrf_allowed_domains")
        if allowed:
            acls += [f"acl ssrf_allowed_ips dst -n {n}" for n in sorted_networks(prune(allowed))]
            rules.append("http_access allow ssrf_allowed_ips")
        lines += _section(
            "Closed network: only these names are reachable (-n: an IP address in the URL never matches a\n"
            "name, not even through reverse DNS). URLs naming an allowed_cidrs address directly are allowed\n"
            "too; host names resolving to them have to be listed here.",
            acls,
        )
        last = "Anything else is denied."
    else:
        rules.append("http_access allow all")
        last = "Whatever is left is public: allowed. The final deny is a backstop."
    return lines + _section(
        "Order matters: unknown clients, the cache manager, other ports and denied destinations first.\n"
        + last,
        [*rules, "http_access deny all"],
    )


def _section(comment: str, directives: Sequence[str]) -> list[str]:
    return ["", *(f"# {text}".rstrip() for text in comment.rstrip("\n").split("\n")), *directives]


def _table(rows: Mapping[str, str]) -> str:
    return "\n".join(f"  {cidr:<20} {why}" for cidr, why in rows.items())


def _joined(networks: Iterable[IPNetwork]) -> str:
    return ", ".join(str(n) for n in sorted_networks(networks)) or "none"


@dataclass(frozen=True)
class SquidContainer:
    """How a stock Squid image runs a rendered configuration, without building an image."""

    entry_point: list[str]
    command: list[str]
    environment: dict[str, str]
    # ECS health check command (the CMD form; the image has bash).
    health_check: list[str]


def squid_container(config: str, *, config_path: str = CONFIG_PATH, port: int = PORT) -> SquidContainer:
    """Entry point, command and environment for `config` (from squid_config) in IMAGE.

    The configuration travels base64-encoded in CONFIG_ENV; the shell writes it to `config_path` and execs
    Squid in the foreground. Squid opens its logs after switching to EFFECTIVE_USER, so the container's
    stdout and stderr are first handed to that user (they belong to root and are not world-writable).
    When the configuration reads an internal-hosts file, the shell first writes INTERNAL_HOSTS_ENV there
    (the names are deploy-time values: internal_hosts_environment); without the variable it fails.
    """
    parse_ports("port", [port])
    hosts_file = _INTERNAL_ACL.search(config)
    hosts = (
        [
            f': "${{{INTERNAL_HOSTS_ENV}:?is not set}}"',
            # Unquoted on purpose: one name a line.
            f"printf '%s\\n' ${INTERNAL_HOSTS_ENV} > {shlex.quote(hosts_file.group(1))}",
        ]
        if hosts_file
        else []
    )
    script = "\n".join(
        [
            "set -eu",
            f': "${{{CONFIG_ENV}:?is not set}}"',
            f'printf %s "${CONFIG_ENV}" | base64 -d > {shlex.quote(config_path)}',
            *hosts,
            # The shell's own stdout and stderr (pipes, or files), never a device such as /dev/null.
            "for fd in 1 2; do",
            '  out="/proc/$$/fd/$fd"',
            f'  if [ -p "$out" ] || [ -f "$out" ]; then chown {EFFECTIVE_USER} "$out" || true; fi',
            "done",
            f"exec squid -N -f {shlex.quote(config_path)}",
        ]
    )
    return SquidContainer(
        entry_point=["sh", "-c"],
        command=[script],
        environment={CONFIG_ENV: base64.b64encode(config.encode()).decode("ascii")},
        health_check=["CMD", "bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port}"],
    )


def internal_hosts_environment(hosts: Sequence[str]) -> dict[str, str]:
    """The SSRF proxy container's INTERNAL_HOSTS_ENV for `hosts` (deploy-time values, such as a private
    API's Route 53 alias name), for a configuration rendered with `internal_hosts_file`."""
    if not hosts:
        raise ValueError("internal hosts: at least one name")
    return {INTERNAL_HOSTS_ENV: " ".join(hosts)}
