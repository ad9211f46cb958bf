"""API Gateway HTTP API Lambda authorizer (payload format 2.0, simple responses) for IP allow-lists.

Callers are not identified, so the API disables the authorizer results cache and every request is
checked here against ``ALLOWED_CIDRS``: comma-separated IPv4/IPv6 networks or host addresses.

The authorizer fails closed: an empty list, an invalid entry or a missing or malformed source IP all deny.
Nothing from the event is logged except the source IP.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
from collections.abc import Mapping
from typing import Any

LOG = logging.getLogger("dify_ip_authorizer")
LOG.setLevel(logging.INFO)

ENV_ALLOWED = "ALLOWED_CIDRS"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Where IPv4 addresses live inside IPv6 (::ffff:a.b.c.d); such entries and sources are compared as IPv4.
_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


class ConfigError(ValueError):
    """An ``ALLOWED_CIDRS`` entry that is not an IP network or address."""


def _normalise_network(network: Network) -> Network:
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_IPV4_MAPPED):
        mapped = network.network_address.ipv4_mapped
        assert mapped is not None  # guaranteed by subnet_of
        return ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    return network


def parse_networks(value: str) -> tuple[Network, ...]:
    """Parse the allow-list; raise ConfigError naming the first bad entry."""
    networks: list[Network] = []
    for raw in value.split(","):
        entry = raw.strip()
        # Empty items (a trailing comma) cannot widen access, so they are tolerated rather than fatal.
        if not entry:
            continue
        try:
            # strict=False accepts 10.0.0.1/8 as 10.0.0.0/8; a bare address becomes a /32 or /128.
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigError(entry) from None
        networks.append(_normalise_network(network))
    return tuple(networks)


@functools.lru_cache(maxsize=1)
def allowed_networks(value: str) -> tuple[Network, ...]:
    """The allow-list for one env value, parsed once per container; empty when it must deny everything."""
    try:
        networks = parse_networks(value)
    except ConfigError as exc:
        LOG.error("%s has an invalid entry %r: denying every request", ENV_ALLOWED, str(exc))
        return ()
    if not networks:
        LOG.warning("%s is empty: denying every request", ENV_ALLOWED)
    return networks


def reset_cache() -> None:
    allowed_networks.cache_clear()


def parse_source_ip(value: object) -> Address | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_allowed(source_ip: object, networks: tuple[Network, ...]) -> bool:
    address = parse_source_ip(source_ip)
    if address is None:
        return False
    # The version check is essential: `in` on a network of the other version only compares masked
    # integers, so an IPv6 address would count as inside 0.0.0.0/0.
    return any(address.version == net.version and address in net for net in networks)


def _source_ip(event: Mapping[str, Any]) -> object:
    context = event.get("requestContext")
    http = context.get("http") if isinstance(context, Mapping) else None
    return http.get("sourceIp") if isinstance(http, Mapping) else None


def handler(event: Mapping[str, Any], context: object) -> dict[str, bool]:
    source_ip = _source_ip(event)
    allowed = is_allowed(source_ip, allowed_networks(os.environ.get(ENV_ALLOWED, "")))
    if not allowed:
        # %r with a cap keeps a malformed value from forging or flooding log lines.
        LOG.info("Denied source IP %.80r", source_ip)
    return {"isAuthorized": allowed}
