"""Dify's path routing (what Dify's own nginx does), shared by every front door."""

from __future__ import annotations

from dataclasses import dataclass

from dify_on_aws.roles import PORTS, Role

API_PREFIXES = ("/console/api", "/api", "/v1", "/files", "/mcp", "/triggers")
PLUGIN_PREFIXES = ("/e",)


@dataclass(frozen=True)
class Route:
    role: Role
    prefixes: tuple[str, ...]
    port: int
    health_path: str


ROUTES = (
    Route(Role.API, API_PREFIXES, PORTS[Role.API], "/health"),
    Route(Role.PLUGIN_DAEMON, PLUGIN_PREFIXES, PORTS[Role.PLUGIN_DAEMON], "/health/check"),
)
DEFAULT_ROUTE = Route(Role.WEB, ("/",), PORTS[Role.WEB], "/")


def path_patterns(prefixes: tuple[str, ...]) -> list[str]:
    """Each prefix as itself and everything below it (`/v1` and `/v1/*`, never `/v1beta`)."""
    return [pattern for prefix in prefixes for pattern in (prefix, f"{prefix}/*")]
