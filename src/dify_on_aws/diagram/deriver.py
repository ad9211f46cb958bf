"""The state the diagram rules share while they derive the architecture: the template model, the nodes
and edges drawn so far, and which resource each node stands for (see `model.py` for the derivation)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from dify_on_aws.diagram.graph import (
    AWS,
    EDGE,
    INTERNET,
    ISOLATED,
    PRIVATE,
    PUBLIC,
    REGION,
    VPC,
    Cluster,
    Edge,
    Node,
)
from dify_on_aws.diagram.rules.network import classify_subnets
from dify_on_aws.diagram.text import as_list
from dify_on_aws.templates import Key, Templates

# Resources a reference passes through on its way to something drawn (origin -> VPC origin -> ALB).
_PASS_THROUGH = {
    "AWS::CloudFront::VpcOrigin",
    "AWS::Lambda::Url",
    "AWS::Lambda::Alias",
    "AWS::Lambda::Version",
    "AWS::Lambda::Permission",
    "AWS::ApiGatewayV2::Stage",
    "AWS::ApiGatewayV2::DomainName",
    "AWS::ApiGatewayV2::ApiMapping",
    "AWS::ElasticLoadBalancingV2::Listener",
    "AWS::ServiceDiscovery::Service",
}


class Deriver:
    """Nodes, edges and clusters under construction; the family rules in `rules/` add to them."""

    def __init__(self, templates: Mapping[str, Mapping[str, Any]], region: str | None) -> None:
        self.t = Templates(templates)
        self.region = region
        with_vpc = {k[0] for k in self.t.keys_of("AWS::EC2::VPC", "AWS::ECS::Service")}
        # Stacks without a VPC next to one with it: the edge stack (Lambda@Edge, CloudFront WAF, certificate).
        self.edge_stacks = sorted(set(templates) - with_vpc) if with_vpc else []
        self.nodes: dict[str, Node] = {}
        self.node_of: dict[Key, str] = {}
        self.sg_owners: dict[Key, list[str]] = defaultdict(list)
        self.role_owner: dict[Key, list[str]] = defaultdict(list)
        self.edges: dict[tuple[str, str], Edge] = {}
        self.edge_links: list[tuple[Key, Key, str]] = []
        self.sg_known: set[str] = set()
        self.restricted: set[str] = set()
        # Multi-role tasks: task node -> its Dify roles; (task node, port) and (task node, container
        # name) -> the container node.
        self.task_roles: dict[str, set[str]] = {}
        self.task_ports: dict[tuple[str, int], str] = {}
        self.task_containers: dict[tuple[str, str], str] = {}
        self.subnet_kind = classify_subnets(self.t)
        self.container_env = self._container_env()

    def add(self, node: Node, *sources: Key) -> Node:
        node_id = node.id
        n = 2
        while node_id in self.nodes:
            node_id = f"{node.id}_{n}"
            n += 1
        node = Node(
            node_id, node.kind, node.title, tuple(x for x in node.details if x), node.cluster, node.role
        )
        self.nodes[node_id] = node
        for key in sources:
            self.node_of[key] = node_id
        return node

    def link(self, src: str, dst: str, label: str = "", *, dashed: bool = False) -> None:
        if src == dst or src not in self.nodes or dst not in self.nodes:
            return
        if self.nodes[src].cluster == dst or self.nodes[dst].cluster == src:
            return  # a task and its own containers: localhost
        if (src, dst) in self.edges:
            old = self.edges[(src, dst)]
            if not old.label and label:
                self.edges[(src, dst)] = Edge(src, dst, label, old.dashed and dashed)
            return
        self.edges[(src, dst)] = Edge(src, dst, label, dashed)

    def cluster_for(self, key: Key, default: str = REGION) -> str:
        return EDGE if key[0] in self.edge_stacks else default

    def placement(self, stack: str, subnets: Any, default: str = PRIVATE) -> str:
        kinds = {self.subnet_kind.get(k) for k in self.t.refs(stack, subnets)} - {None}
        for kind in (PUBLIC, PRIVATE, ISOLATED):
            if kinds == {kind}:
                return kind
        return PRIVATE if kinds else default

    def own_security_groups(self, node_id: str, stack: str, groups: Any) -> None:
        for sg in self.t.refs(stack, groups):
            if self.t.type(sg) == "AWS::EC2::SecurityGroup" and node_id not in self.sg_owners[sg]:
                self.sg_owners[sg].append(node_id)

    def _container_env(self) -> dict[str, set[str]]:
        """Every plain-text container environment value, by variable name, across task definitions."""
        env: dict[str, set[str]] = defaultdict(set)
        for task in self.t.keys_of("AWS::ECS::TaskDefinition"):
            for container in as_list(self.t.props(task).get("ContainerDefinitions")):
                for var in as_list(container.get("Environment")):
                    if isinstance(var, dict) and isinstance(var.get("Value"), str):
                        env[str(var.get("Name"))].add(var["Value"])
        for fn in self.t.keys_of("AWS::Lambda::Function"):
            variables = self.t.props(fn).get("Environment", {}).get("Variables", {})
            if isinstance(variables, dict):
                for name, value in variables.items():
                    if isinstance(value, str):
                        env[name].add(value)
        return env

    def functions_in(self, stack: str, value: Any, depth: int = 0) -> list[Key]:
        found: list[Key] = []
        for key in self.t.refs(stack, value):
            kind = self.t.type(key)
            if kind == "AWS::Lambda::Function":
                found.append(key)
            elif kind in ("AWS::Lambda::Alias", "AWS::Lambda::Version") and depth < 3:
                found += self.functions_in(stack, self.t.props(key).get("FunctionName"), depth + 1)
        return sorted(set(found))

    def ingress_cidrs(self, stack: str, groups: Any) -> list[str]:
        """Literal CIDR ranges that the security groups admit (inline and separate ingress rules)."""
        t = self.t
        cidrs: set[str] = set()
        for sg in t.refs(stack, groups):
            rules = list(as_list(t.props(sg).get("SecurityGroupIngress")))
            rules += [t.props(k) for k in t.referencing("AWS::EC2::SecurityGroupIngress", "GroupId", sg)]
            for rule in rules:
                for field_name in ("CidrIp", "CidrIpv6"):
                    if isinstance(rule, Mapping) and isinstance(rule.get(field_name), str):
                        cidrs.add(rule[field_name])
        return sorted(cidrs)

    def resolve(self, stack: str, value: Any, depth: int = 0) -> list[str]:
        """Drawn nodes that a property value leads to, through pass-through resources."""
        out: list[str] = []
        for key in self.t.refs(stack, value):
            if key in self.node_of:
                out.append(self.node_of[key])
            elif self.t.type(key) in _PASS_THROUGH and depth < 4:
                out += self.resolve(stack, self.t.props(key), depth + 1)
        return sorted(set(out))

    def subnet_group_placement(self, key: Key, group: Any) -> str:
        groups = self.t.refs(key[0], group)
        return self.placement(key[0], self.t.props(groups[0]).get("SubnetIds")) if groups else PRIVATE

    def edges_list(self) -> list[Edge]:
        """Two opposite edges become one two-way edge; sorted for stable output."""
        out: list[Edge] = []
        for (src, dst), edge in sorted(self.edges.items()):
            back = self.edges.get((dst, src))
            if back is None:
                out.append(edge)
            elif src < dst:
                label = " / ".join(x for x in (edge.label, back.label) if x)
                out.append(Edge(src, dst, label, edge.dashed and back.dashed, both=True))
        return out

    def clusters(self) -> dict[str, Cluster]:
        region = f"Region {self.region}" if self.region else "Region (deployment region)"
        edge = "us-east-1 (edge stack" + (f": {', '.join(self.edge_stacks)})" if self.edge_stacks else ")")
        tasks = [Cluster(t, self.nodes[t].title, self.nodes[t].cluster) for t in sorted(self.task_roles)]
        return {
            c.id: c
            for c in (
                Cluster(INTERNET, "Internet"),
                Cluster(AWS, "AWS Cloud"),
                Cluster(REGION, region, AWS),
                Cluster(EDGE, edge, AWS),
                Cluster(VPC, "VPC", REGION),
                Cluster(PUBLIC, "Public subnets", VPC),
                Cluster(PRIVATE, "Private subnets", VPC),
                Cluster(ISOLATED, "Isolated subnets", VPC),
                *tasks,
            )
        }
