"""The architecture graph the diagram draws: nodes of a kind, edges, nested clusters (see `model.py`)."""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("api", "worker", "beat", "web", "sandbox", "plugin-daemon", "ssrf-proxy")
# The AWS managed cache policy "CachingDisabled" (its ID is the same in every account).
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"

# Node kinds (render.py styles each one).
USERS = "users"
CDN = "cdn"
WAF = "waf"
LOAD_BALANCER = "load_balancer"
API_GATEWAY = "api_gateway"
VPC_LINK = "vpc_link"
FUNCTION = "function"
SERVICE = "service"
TASK = "task"  # one ECS task with several role containers; rendered as a box around its containers
CONTAINER = "container"
DATABASE = "database"
CACHE = "cache"
BUCKET = "bucket"
LOG_BUCKET = "log_bucket"
SECRETS = "secrets"
NAT = "nat"
ENDPOINTS = "endpoints"
AWS_SERVICE = "aws_service"
EXTERNAL = "external"

# Clusters (nested boxes), outermost first.
INTERNET = "internet"
AWS = "aws"
REGION = "region"
EDGE = "edge"
VPC = "vpc"
PUBLIC = "public"
PRIVATE = "private"
ISOLATED = "isolated"


@dataclass(frozen=True, order=True)
class Node:
    id: str
    kind: str
    title: str
    details: tuple[str, ...] = ()
    cluster: str = ""
    role: str = ""


@dataclass(frozen=True, order=True)
class Edge:
    src: str
    dst: str
    label: str = ""
    dashed: bool = False
    both: bool = False


@dataclass(frozen=True)
class Cluster:
    id: str
    label: str
    parent: str = ""


@dataclass
class Architecture:
    title: str
    nodes: dict[str, Node]
    edges: list[Edge]
    clusters: dict[str, Cluster]

    def roles(self) -> set[str]:
        return {n.role for n in self.nodes.values() if n.role}

    def of_kind(self, kind: str) -> list[Node]:
        return sorted(n for n in self.nodes.values() if n.kind == kind)

    def with_role(self, role: str) -> list[Node]:
        return sorted(n for n in self.nodes.values() if n.role == role)

    def inside(self, node_id: str) -> list[Node]:
        """The nodes drawn inside a task box."""
        return sorted(n for n in self.nodes.values() if n.cluster == node_id)

    def edge(self, src: str, dst: str) -> Edge | None:
        """The edge between two nodes in either direction (a two-way edge is stored once)."""
        for e in self.edges:
            if (e.src, e.dst) == (src, dst) or (e.both and (e.dst, e.src) == (src, dst)):
                return e
        return None
