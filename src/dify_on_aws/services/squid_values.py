"""Values for the Squid configuration: networks, domains and ports checked with a message naming the
setting, and the network arithmetic (NAT64 peers, holes, pruning) that keeps the deny list exact."""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Iterable, Sequence
from typing import Final, TypeVar

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_N = TypeVar("_N", ipaddress.IPv4Network, ipaddress.IPv6Network)

NAT64_PREFIX: Final = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_DOMAIN = re.compile(rf"\.?{_LABEL}(?:\.{_LABEL})+")


def parse_networks(name: str, values: Iterable[str]) -> list[IPNetwork]:
    if isinstance(values, str):
        raise TypeError(f"{name} must be a sequence of CIDR strings, not a single string")
    networks: list[IPNetwork] = []
    for value in values:
        if not isinstance(value, str):
            raise ValueError(f"{name}: {value!r} is not a CIDR string")
        try:
            network = ipaddress.ip_network(value, strict=True)
        except ValueError as exc:
            hint = ""
            with contextlib.suppress(ValueError):
                hint = f"; did you mean {ipaddress.ip_network(value, strict=False)}?"
            raise ValueError(f"{name}: {value!r} is not a network CIDR ({exc}){hint}") from None
        if network.prefixlen == 0:
            raise ValueError(f"{name}: {value!r} would match every address; list specific networks")
        if isinstance(network, ipaddress.IPv6Network) and network.overlaps(_IPV4_MAPPED):
            raise ValueError(
                f"{name}: {value!r} is (or covers) IPv4-mapped IPv6, which Squid treats as IPv4; "
                "write the IPv4 network instead"
            )
        networks.append(network)
    return networks


def parse_domains(values: Sequence[str]) -> list[str]:
    if isinstance(values, str):
        raise TypeError("allowed_domains must be a sequence of domain names, not a single string")
    domains: set[str] = set()
    for value in values:
        domain = value.lower() if isinstance(value, str) else ""
        if (
            not _DOMAIN.fullmatch(domain)
            or len(domain.lstrip(".")) > 253
            or domain.rsplit(".", 1)[-1].isdigit()
        ):
            raise ValueError(
                f"allowed_domains: {value!r} is not a domain name: use 'example.com' for one host, "
                "'.example.com' for it and its subdomains (ASCII/punycode; IP addresses go in allowed_cidrs)"
            )
        domains.add(domain)

    def covered(domain: str) -> bool:
        # '.example.com' already matches 'example.com' and every 'x.example.com': Squid warns on repeats.
        parts = domain.lstrip(".").split(".")
        for i in range(len(parts)):
            parent = "." + ".".join(parts[i:])
            if parent != domain and parent in domains:
                return True
        return False

    return sorted((d for d in domains if not covered(d)), key=lambda d: (d.lstrip(".").split(".")[::-1], d))


def parse_ports(name: str, values: Sequence[int]) -> list[int]:
    ports: set[int] = set()
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            raise ValueError(f"{name}: {value!r} is not a TCP port (1-65535)")
        ports.add(value)
    return sorted(ports)


def port_ranges(values: Iterable[str]) -> list[str]:
    """Squid port ACL values ("80", "1025-65535"), sorted, without ports inside a listed range."""
    spans = sorted({(int(v.split("-")[0]), int(v.split("-")[-1])) for v in values})
    kept = [s for s in spans if not any(o != s and o[0] <= s[0] and s[1] <= o[1] for o in spans)]
    return [str(low) if low == high else f"{low}-{high}" for low, high in kept]


def subtract(networks: Iterable[IPNetwork], holes: Sequence[IPNetwork]) -> list[IPNetwork]:
    """`networks` without the addresses in `holes`."""
    networks = list(networks)
    v4 = _subtract_same(_of(ipaddress.IPv4Network, networks), _of(ipaddress.IPv4Network, holes))
    v6 = _subtract_same(_of(ipaddress.IPv6Network, networks), _of(ipaddress.IPv6Network, holes))
    return [*v4, *v6]


def _subtract_same(networks: Iterable[_N], holes: Sequence[_N]) -> list[_N]:
    result: list[_N] = []
    for network in networks:
        pieces = [network]
        for hole in holes:
            remaining: list[_N] = []
            for piece in pieces:
                if piece.subnet_of(hole):
                    continue
                if piece.supernet_of(hole):
                    remaining.extend(piece.address_exclude(hole))
                else:
                    remaining.append(piece)
            pieces = remaining
        result.extend(pieces)
    return result


def _of(kind: type[_N], networks: Iterable[IPNetwork]) -> list[_N]:
    return [n for n in networks if isinstance(n, kind)]


def nat64(network: ipaddress.IPv4Network) -> ipaddress.IPv6Network:
    address = int(NAT64_PREFIX.network_address) | int(network.network_address)
    return ipaddress.IPv6Network((address, NAT64_PREFIX.prefixlen + network.prefixlen))


def prune(networks: Iterable[IPNetwork]) -> list[IPNetwork]:
    """Drop duplicates and networks inside another listed one: Squid warns about both and ignores them."""
    return [
        *_prune_same(_of(ipaddress.IPv4Network, networks)),
        *_prune_same(_of(ipaddress.IPv6Network, networks)),
    ]


def _prune_same(networks: Iterable[_N]) -> list[_N]:
    unique = set(networks)
    return [n for n in unique if not any(o != n and n.subnet_of(o) for o in unique)]


def sorted_networks(networks: Iterable[IPNetwork]) -> list[IPNetwork]:
    return sorted(networks, key=lambda n: (n.version, n.network_address.packed, n.prefixlen))
