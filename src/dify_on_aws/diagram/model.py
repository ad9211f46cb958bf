"""Derive a small architecture graph of a Dify deployment from its synthesized CloudFormation templates.

The derivation is generic: it goes by resource type, by references between resources (Ref, Fn::GetAtt,
Fn::Sub), by security group rules and IAM policies, and by ECS container names (which are the Dify role
names), never by logical IDs. Fixed knowledge of how Dify's roles talk to each other is only a fallback
for nodes the templates say nothing about (no security groups, no IAM policy).

A deployment is one main stack (the VPC and everything in it) and optionally further stacks without a
VPC, such as a us-east-1 "edge" stack with Lambda@Edge functions, a CloudFront WAF or a certificate.

An ECS service whose task runs several Dify roles (the single-task layout) is a TASK node drawn as a box
around one CONTAINER node per container (a cache container is a CACHE node inside it). Facts about the
task as a whole (security groups, IAM role, network egress) attach to the task; security group rules and
routes that name a port or a container attach to the container listening there. Traffic between the
containers stays inside the task (localhost) and is not drawn.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dify_on_aws.templates import number

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


# --- template helpers -----------------------------------------------------------------------------

Key = tuple[str, str]  # (stack name, logical ID)
_SUB_REF = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}")


def _get_atts(value: Any) -> list[tuple[str, str]]:
    """(logical ID, attribute) of every Fn::GetAtt inside a value."""
    found: list[tuple[str, str]] = []
    if isinstance(value, Mapping):
        for name, inner in value.items():
            if name == "Fn::GetAtt" and isinstance(inner, list) and len(inner) == 2:
                found.append((str(inner[0]), str(inner[1])))
            else:
                found += _get_atts(inner)
    elif isinstance(value, list):
        for item in value:
            found += _get_atts(item)
    return found


def refs(value: Any) -> set[str]:
    """Logical IDs that a property value references through Ref, Fn::GetAtt or Fn::Sub."""
    found: set[str] = set()
    if isinstance(value, Mapping):
        for name, inner in value.items():
            if name == "Ref" and isinstance(inner, str) and not inner.startswith("AWS::"):
                found.add(inner)
            elif name == "Fn::GetAtt":
                if isinstance(inner, list) and inner and isinstance(inner[0], str):
                    found.add(inner[0])
                elif isinstance(inner, str):
                    found.add(inner.split(".", 1)[0])
            elif name == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) and inner else inner
                if isinstance(text, str):
                    found.update(m for m in _SUB_REF.findall(text) if not m.startswith("AWS"))
                if isinstance(inner, list) and len(inner) > 1:
                    found |= refs(inner[1])
            else:
                found |= refs(inner)
    elif isinstance(value, list):
        for item in value:
            found |= refs(item)
    return found


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _fmt(value: float) -> str:
    return f"{value:g}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _summarize(items: Iterable[str], limit: int = 3) -> str:
    unique = list(dict.fromkeys(i for i in items if i))
    shown = ", ".join(unique[:limit])
    return shown + (f" +{len(unique) - limit}" if len(unique) > limit else "")


def _short_paths(patterns: Iterable[str]) -> list[str]:
    """'/console/api/*' and '/console/api' are one route in a picture."""
    out: list[str] = []
    for pattern in patterns:
        short = pattern.removesuffix("/*").removesuffix("*").rstrip("/") or "/"
        if short not in out:
            out.append(short)
    return out


def _image_name(image: Any) -> str:
    if not isinstance(image, str):
        return ""
    return image.rsplit("/", 1)[-1]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "x"


class _Templates:
    """All stacks' resources, indexed by type; references resolve within a stack."""

    def __init__(self, templates: Mapping[str, Mapping[str, Any]]) -> None:
        self.resources: dict[Key, Mapping[str, Any]] = {}
        self.by_type: dict[str, list[Key]] = defaultdict(list)
        for stack in sorted(templates):
            resources = templates[stack].get("Resources", {})
            if not isinstance(resources, Mapping):
                continue
            for lid in sorted(resources):
                body = resources[lid]
                if isinstance(body, Mapping) and isinstance(body.get("Type"), str):
                    self.resources[(stack, lid)] = body
                    self.by_type[body["Type"]].append((stack, lid))

    def of(self, *types: str) -> list[Key]:
        return sorted(k for t in types for k in self.by_type.get(t, []))

    def type(self, key: Key) -> str:
        return str(self.resources[key]["Type"]) if key in self.resources else ""

    def props(self, key: Key) -> Mapping[str, Any]:
        props = self.resources.get(key, {}).get("Properties", {})
        return props if isinstance(props, Mapping) else {}

    def refs(self, stack: str, value: Any) -> list[Key]:
        """Referenced resources (parameters and unknown IDs dropped), sorted."""
        return sorted((stack, lid) for lid in refs(value) if (stack, lid) in self.resources)

    def referencing(self, type_: str, prop: str, target: Key) -> list[Key]:
        """Resources of `type_` whose property `prop` references `target`."""
        stack, lid = target
        return [k for k in self.of(type_) if k[0] == stack and lid in refs(self.props(k).get(prop))]


# --- derivation -------------------------------------------------------------------------------------

# How Dify's roles talk to each other, used only for nodes the templates say nothing about.
_KNOWN_FLOWS: dict[str, tuple[str, ...]] = {
    "api": (DATABASE, CACHE, BUCKET, "sandbox", "plugin-daemon", "ssrf-proxy"),
    "worker": (DATABASE, CACHE, BUCKET, "sandbox", "plugin-daemon", "ssrf-proxy"),
    "beat": (DATABASE, CACHE),
    "plugin-daemon": (DATABASE, CACHE, BUCKET, "api"),
    "sandbox": ("ssrf-proxy",),
}
# Roles that call out of the VPC (model providers, marketplace, HTTP tools) when there is no SSRF proxy.
_EGRESS_ROLES = ("api", "worker", "plugin-daemon")
# Without data, these send their outbound HTTP through the SSRF proxy when one exists.
_PROXY_CLIENTS = ("api", "worker", "sandbox")
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


class _Deriver:
    def __init__(self, templates: Mapping[str, Mapping[str, Any]], region: str | None) -> None:
        self.t = _Templates(templates)
        self.region = region
        with_vpc = {k[0] for k in self.t.of("AWS::EC2::VPC", "AWS::ECS::Service")}
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
        self.subnet_kind = self._classify_subnets()
        self.container_env = self._container_env()

    # nodes and edges ---------------------------------------------------------------------------------

    def _add(self, node: Node, *sources: Key) -> Node:
        node_id = node.id
        n = 2
        while node_id in self.nodes:
            node_id = f"{node.id}_{n}"
            n += 1
        node = Node(
            node_id, node.kind, node.title, tuple(d for d in node.details if d), node.cluster, node.role
        )
        self.nodes[node_id] = node
        for key in sources:
            self.node_of[key] = node_id
        return node

    def _link(self, src: str, dst: str, label: str = "", *, dashed: bool = False) -> None:
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

    def _cluster_for(self, key: Key, default: str = REGION) -> str:
        return EDGE if key[0] in self.edge_stacks else default

    # network placement -------------------------------------------------------------------------------

    def _classify_subnets(self) -> dict[Key, str]:
        t = self.t
        route_kind: dict[Key, str] = {}
        for route in t.of("AWS::EC2::Route"):
            p = t.props(route)
            if p.get("DestinationCidrBlock") not in ("0.0.0.0/0", None):
                continue
            targets = {t.type(k) for k in t.refs(route[0], [p.get("GatewayId"), p.get("NatGatewayId")])}
            for table in t.refs(route[0], p.get("RouteTableId")):
                if "AWS::EC2::InternetGateway" in targets:
                    route_kind[table] = PUBLIC
                elif "AWS::EC2::NatGateway" in targets or p.get("NatGatewayId") is not None:
                    route_kind.setdefault(table, PRIVATE)
        kinds: dict[Key, str] = {}
        for assoc in t.of("AWS::EC2::SubnetRouteTableAssociation"):
            p = t.props(assoc)
            tables = t.refs(assoc[0], p.get("RouteTableId"))
            for subnet in t.refs(assoc[0], p.get("SubnetId")):
                kinds[subnet] = route_kind.get(tables[0], ISOLATED) if tables else ISOLATED
        for subnet in t.of("AWS::EC2::Subnet"):
            if subnet in kinds:
                continue
            p = t.props(subnet)
            tags = {
                tag.get("Key"): tag.get("Value") for tag in _as_list(p.get("Tags")) if isinstance(tag, dict)
            }
            declared = str(tags.get("aws-cdk:subnet-type", "")).lower()
            if declared in (PUBLIC, PRIVATE, ISOLATED):
                kinds[subnet] = declared
            else:
                kinds[subnet] = PUBLIC if p.get("MapPublicIpOnLaunch") is True else PRIVATE
        return kinds

    def _placement(self, stack: str, subnets: Any, default: str = PRIVATE) -> str:
        kinds = {self.subnet_kind.get(k) for k in self.t.refs(stack, subnets)} - {None}
        for kind in (PUBLIC, PRIVATE, ISOLATED):
            if kinds == {kind}:
                return kind
        return PRIVATE if kinds else default

    def _own_security_groups(self, node_id: str, stack: str, groups: Any) -> None:
        for sg in self.t.refs(stack, groups):
            if self.t.type(sg) == "AWS::EC2::SecurityGroup" and node_id not in self.sg_owners[sg]:
                self.sg_owners[sg].append(node_id)

    def _container_env(self) -> dict[str, set[str]]:
        """Every plain-text container environment value, by variable name, across task definitions."""
        env: dict[str, set[str]] = defaultdict(set)
        for task in self.t.of("AWS::ECS::TaskDefinition"):
            for container in _as_list(self.t.props(task).get("ContainerDefinitions")):
                for var in _as_list(container.get("Environment")):
                    if isinstance(var, dict) and isinstance(var.get("Value"), str):
                        env[str(var.get("Name"))].add(var["Value"])
        for fn in self.t.of("AWS::Lambda::Function"):
            variables = self.t.props(fn).get("Environment", {}).get("Variables", {})
            if isinstance(variables, dict):
                for name, value in variables.items():
                    if isinstance(value, str):
                        env[name].add(value)
        return env

    # resources -----------------------------------------------------------------------------------------

    def services(self) -> None:
        t = self.t
        autoscaling = self._scaling_ranges()
        for key in t.of("AWS::ECS::Service"):
            p = t.props(key)
            tasks = t.refs(key[0], p.get("TaskDefinition"))
            task = t.props(tasks[0]) if tasks else {}
            containers = [c for c in _as_list(task.get("ContainerDefinitions")) if isinstance(c, dict)]
            essential = [c for c in containers if c.get("Essential", True) is not False] or containers
            names = [str(c.get("Name", "")) for c in essential]
            cpu, memory = number(task.get("Cpu")), number(task.get("Memory"))
            size = []
            if cpu:
                size.append(f"{_fmt(cpu / 1024)} vCPU")
            if memory:
                size.append(f"{_fmt(memory / 1024)} GB")
            arch = str(task.get("RuntimePlatform", {}).get("CpuArchitecture", "")).lower()
            if arch:
                size.append(arch)
            network = p.get("NetworkConfiguration", {}).get("AwsvpcConfiguration", {})
            public_ip = network.get("AssignPublicIp") == "ENABLED"
            cluster = PUBLIC if public_ip else self._placement(key[0], network.get("Subnets"))
            details = [
                " · ".join(size),
                " · ".join(filter(None, [self._count(key, p, autoscaling), self._capacity(p)])),
                self._public_ip(key[0], network.get("SecurityGroups")) if public_ip else "",
            ]
            if len([n for n in names if n in ROLES]) > 1:
                node = self._task(key, tasks, essential, [*details, self._discovery(key, p)], cluster)
            else:
                role = next((n for n in names if n in ROLES), names[0] if names else "service")
                main = next((c for c in essential if c.get("Name") == role), {})
                node = self._add(
                    Node(
                        f"svc_{_slug(role)}",
                        SERVICE,
                        role,
                        tuple(d for d in [_image_name(main.get("Image")), *details] if d),
                        cluster,
                        role,
                    ),
                    key,
                    *tasks,
                )
            self._own_security_groups(node.id, key[0], network.get("SecurityGroups"))
            for role_key in t.refs(key[0], task.get("TaskRoleArn")):
                self.role_owner[role_key].append(node.id)
            for registry in _as_list(p.get("ServiceRegistries")):
                for cloud_map in t.refs(key[0], registry):
                    self.node_of.setdefault(cloud_map, node.id)

    def _task(
        self,
        key: Key,
        tasks: list[Key],
        containers: Sequence[Mapping[str, Any]],
        details: list[str],
        cluster: str,
    ) -> Node:
        """A task with several role containers: a TASK node (the box) and a node per container in it."""
        names = [str(c.get("Name", "")) for c in containers]
        roles = [n for n in names if n in ROLES]
        what = "every role" if set(ROLES) - {"ssrf-proxy"} <= set(roles) else _summarize(roles, 4)
        task = self._add(Node("dify_task", TASK, f"Dify task ({what})", tuple(details), cluster), key, *tasks)
        self.task_roles[task.id] = set(roles)
        aliases = self._service_connect_names(self.t.props(key))
        for container, name in zip(containers, names, strict=True):
            image = _image_name(container.get("Image"))
            mappings = [m for m in _as_list(container.get("PortMappings")) if isinstance(m, dict)]
            ports = [m["ContainerPort"] for m in mappings if isinstance(m.get("ContainerPort"), int)]
            listens = [aliases.get(str(m.get("Name")), f":{m.get('ContainerPort')}") for m in mappings]
            detail = " · ".join(filter(None, [image, *listens]))
            if re.search(r"valkey|redis", f"{name} {image}", re.IGNORECASE):
                engine = "Valkey" if "valkey" in f"{name} {image}".lower() else "Redis"
                node = Node(f"{task.id}_{_slug(name)}", CACHE, f"{engine} (container, in-task)", (detail,))
            else:
                role = name if name in ROLES else ""
                node = Node(f"{task.id}_{_slug(name)}", CONTAINER, name, (detail,), role=role)
            added = self._add(Node(node.id, node.kind, node.title, node.details, task.id, node.role))
            self.task_containers[(task.id, name)] = added.id
            for port in ports:
                self.task_ports.setdefault((task.id, port), added.id)
        return task

    def _service_connect_names(self, p: Mapping[str, Any]) -> dict[str, str]:
        """Port mapping name -> 'dns-name:port' that Service Connect clients use."""
        config = p.get("ServiceConnectConfiguration", {})
        if not isinstance(config, Mapping) or config.get("Enabled") is not True:
            return {}
        names: dict[str, str] = {}
        for service in _as_list(config.get("Services")):
            if not isinstance(service, Mapping):
                continue
            for alias in _as_list(service.get("ClientAliases")):
                if isinstance(alias, Mapping) and isinstance(alias.get("DnsName"), str):
                    names.setdefault(str(service.get("PortName")), f"{alias['DnsName']}:{alias.get('Port')}")
        return names

    def _discovery(self, key: Key, p: Mapping[str, Any]) -> str:
        """How other resources in the VPC find the service: Service Connect or a Cloud Map DNS name."""
        config = p.get("ServiceConnectConfiguration", {})
        if isinstance(config, Mapping) and config.get("Enabled") is True:
            namespace = self._namespace_name(key[0], config.get("Namespace"))
            return f"Service Connect: {namespace}" if namespace else "Service Connect"
        for registry in _as_list(p.get("ServiceRegistries")):
            for cloud_map in self.t.refs(key[0], registry):
                cp = self.t.props(cloud_map)
                namespace = self._namespace_name(key[0], cp.get("NamespaceId"))
                name = cp.get("Name")
                if isinstance(name, str):
                    return f"Cloud Map: {name}.{namespace}" if namespace else f"Cloud Map: {name}"
        return ""

    def _namespace_name(self, stack: str, value: Any) -> str:
        if isinstance(value, str):
            return value
        for namespace in self.t.refs(stack, value):
            name = self.t.props(namespace).get("Name")
            if isinstance(name, str):
                return name
        return ""

    def _public_ip(self, stack: str, groups: Any) -> str:
        """Tasks with a public IP: whether their security groups admit anything from outside the VPC."""
        t = self.t
        ranges = set(self._ingress_cidrs(stack, groups))
        for sg in t.refs(stack, groups):
            rules = list(_as_list(t.props(sg).get("SecurityGroupIngress")))
            rules += [t.props(k) for k in t.referencing("AWS::EC2::SecurityGroupIngress", "GroupId", sg)]
            for rule in rules:
                if isinstance(rule, Mapping) and rule.get("SourcePrefixListId"):
                    ranges.add(str(rule["SourcePrefixListId"]))
        if not ranges:
            return "public IP, inbound closed"
        return f"public IP, inbound open to {_plural(len(ranges), 'range')}"

    def _scaling_ranges(self) -> dict[Key, tuple[int, int]]:
        ranges: dict[Key, tuple[int, int]] = {}
        for target in self.t.of("AWS::ApplicationAutoScaling::ScalableTarget"):
            p = self.t.props(target)
            low, high = number(p.get("MinCapacity")), number(p.get("MaxCapacity"))
            if low is None or high is None:
                continue
            for ref in self.t.refs(target[0], p.get("ResourceId")):
                ranges[ref] = (int(low), int(high))
        return ranges

    @staticmethod
    def _count(key: Key, p: Mapping[str, Any], ranges: Mapping[Key, tuple[int, int]]) -> str:
        if key in ranges:
            low, high = ranges[key]
            return f"{low}\N{EN DASH}{high} tasks (auto scaling)"
        count = number(p.get("DesiredCount"))
        if count is None:
            return ""
        return "stopped (0 tasks)" if count == 0 else _plural(int(count), "task")

    @staticmethod
    def _capacity(p: Mapping[str, Any]) -> str:
        strategy = [s for s in _as_list(p.get("CapacityProviderStrategy")) if isinstance(s, dict)]
        providers = {str(s.get("CapacityProvider")) for s in strategy}
        if "FARGATE_SPOT" in providers:
            base = sum(
                int(number(s.get("Base")) or 0) for s in strategy if s.get("CapacityProvider") == "FARGATE"
            )
            return "Fargate Spot" + (f" (+{base} on-demand)" if base else "")
        if providers == {"FARGATE"} or p.get("LaunchType") == "FARGATE":
            return "Fargate"
        return str(p.get("LaunchType", "")).title()

    def functions(self) -> None:
        """Lambda functions that serve requests; custom-resource handlers and providers are left out."""
        t = self.t
        serving = self._serving_functions()
        titles = {"authorizer": "Lambda authorizer", "edge": "Lambda@Edge"}
        for key in sorted(serving):
            p = t.props(key)
            how = serving[key]
            role = self._function_role(p, how)
            title = titles.get(role, f"Lambda: {role}")
            node_id = f"fn_{_slug(role)}"
            details = [how.removeprefix("Lambda@Edge").strip(" ()") if role == "edge" else how]
            purpose = _dify_purpose(p.get("Description"))
            if role == "function" and purpose:
                # A function of its own (not a Dify role), described as "Dify <what> (<how>, <more>)".
                title, node_id = f"Lambda: {purpose[0]}", f"fn_{_slug(purpose[0].split('(')[0])}"
                details.insert(0, purpose[1])
            if role == "authorizer":
                description = str(p.get("Description", ""))
                details = [description if 0 < len(description) <= 48 else ""]
            memory = number(p.get("MemorySize"))
            arch = " ".join(str(a) for a in _as_list(p.get("Architectures")))
            details.append(" · ".join(filter(None, [f"{_fmt(memory / 1024)} GB" if memory else "", arch])))
            image = p.get("Code", {}).get("ImageUri")
            if isinstance(image, str):
                details.insert(0, _image_name(image))
            vpc = p.get("VpcConfig", {})
            cluster = self._placement(key[0], vpc.get("SubnetIds")) if vpc else self._cluster_for(key)
            node = self._add(
                Node(
                    node_id,
                    FUNCTION,
                    title,
                    tuple(d for d in details if d and d != title),
                    cluster,
                    role if role in ROLES else "",
                ),
                key,
            )
            self._own_security_groups(node.id, key[0], vpc.get("SecurityGroupIds"))
            for role_key in t.refs(key[0], p.get("Role")):
                self.role_owner[role_key].append(node.id)

    def _serving_functions(self) -> dict[Key, str]:
        """Function -> how it serves requests."""
        t = self.t
        serving: dict[Key, str] = {}
        for url in t.of("AWS::Lambda::Url"):
            p = t.props(url)
            auth = " (IAM auth)" if p.get("AuthType") == "AWS_IAM" else ""
            how = [
                f"function URL{auth}",
                "streaming" if p.get("InvokeMode") == "RESPONSE_STREAM" else "",
                "public URL" if p.get("AuthType") == "NONE" else "",
            ]
            for fn in self._functions_in(url[0], p.get("TargetFunctionArn")):
                serving.setdefault(fn, " · ".join(filter(None, how)))
        for integration in t.of("AWS::ApiGatewayV2::Integration"):
            for fn in self._functions_in(integration[0], t.props(integration).get("IntegrationUri")):
                serving.setdefault(fn, "API Gateway integration")
        for authorizer in t.of("AWS::ApiGatewayV2::Authorizer"):
            for fn in self._functions_in(authorizer[0], t.props(authorizer).get("AuthorizerUri")):
                serving[fn] = "authorizer"
        for target_group in t.of("AWS::ElasticLoadBalancingV2::TargetGroup"):
            p = t.props(target_group)
            if p.get("TargetType") == "lambda":
                for fn in self._functions_in(target_group[0], p.get("Targets")):
                    serving.setdefault(fn, "load balancer target")
        for fn, event in self._edge_functions().items():
            serving[fn] = f"Lambda@Edge{f' ({event})' if event else ''}"
        return serving

    def _functions_in(self, stack: str, value: Any, depth: int = 0) -> list[Key]:
        found: list[Key] = []
        for key in self.t.refs(stack, value):
            kind = self.t.type(key)
            if kind == "AWS::Lambda::Function":
                found.append(key)
            elif kind in ("AWS::Lambda::Alias", "AWS::Lambda::Version") and depth < 3:
                found += self._functions_in(stack, self.t.props(key).get("FunctionName"), depth + 1)
        return sorted(set(found))

    def _edge_functions(self) -> dict[Key, str]:
        """Functions associated with a distribution, directly or (across stacks) through a version.

        Also records (distribution, function, event type) in `self.edge_links` for routing()."""
        t = self.t
        events: dict[Key, str] = {}
        for dist in t.of("AWS::CloudFront::Distribution"):
            config = t.props(dist).get("DistributionConfig", {})
            behaviors = [config.get("DefaultCacheBehavior", {}), *_as_list(config.get("CacheBehaviors"))]
            unresolved: list[str] = []
            for behavior in behaviors:
                for assoc in _as_list(behavior.get("LambdaFunctionAssociations")):
                    event = str(assoc.get("EventType", ""))
                    fns = self._functions_in(dist[0], assoc.get("LambdaFunctionARN"))
                    for fn in fns:
                        events[fn] = event
                        self.edge_links.append((dist, fn, event))
                    if not fns:
                        unresolved.append(event)
            if not unresolved:
                continue
            # A cross-region reference (SSM parameter) hides the version: take every versioned function
            # of the stacks without a VPC.
            event = _summarize(sorted(set(unresolved)))
            for version in t.of("AWS::Lambda::Version"):
                if version[0] in self.edge_stacks:
                    for fn in self._functions_in(version[0], t.props(version).get("FunctionName")):
                        events.setdefault(fn, event)
                        self.edge_links.append((dist, fn, event))
        return events

    def _function_role(self, p: Mapping[str, Any], how: str) -> str:
        variables = p.get("Environment", {}).get("Variables", {})
        mode = variables.get("MODE") if isinstance(variables, dict) else None
        if isinstance(mode, str) and mode in ROLES:
            return mode
        image = str(p.get("Code", {}).get("ImageUri", ""))
        for role in ROLES:
            if f"dify-{role}" in image:
                return role
        if how == "authorizer":
            return "authorizer"
        if how.startswith("Lambda@Edge"):
            return "edge"
        purpose = _dify_purpose(p.get("Description"))
        if purpose:
            first = purpose[0].split(" ", 1)[0]
            return first if first in ROLES else "function"
        text = f"{p.get('Description', '')} {p.get('Handler', '')}".lower()
        return next((r for r in ROLES if re.search(rf"\b{re.escape(r)}\b", text)), "function")

    def load_balancers(self) -> None:
        t = self.t
        hosts = self._host_names()
        for key in t.of("AWS::ElasticLoadBalancingV2::LoadBalancer"):
            p = t.props(key)
            public = p.get("Scheme") == "internet-facing"
            kind = "Network" if p.get("Type") == "network" else "Application"
            listeners = []
            tls = False
            for listener in t.referencing("AWS::ElasticLoadBalancingV2::Listener", "LoadBalancerArn", key):
                lp = t.props(listener)
                listeners.append(f"{lp.get('Protocol', '')} :{lp.get('Port', '')}")
                tls = tls or bool(lp.get("Certificates"))
            attrs = {a.get("Key"): a.get("Value") for a in _as_list(p.get("LoadBalancerAttributes"))}
            details = [
                "internet-facing" if public else "internal",
                _summarize(sorted(listeners)),
                *hosts.get(key, []),
                "TLS certificate (ACM)" if tls else "",
            ]
            allowed = self._ingress_cidrs(key[0], p.get("SecurityGroups"))
            if allowed and not set(allowed) <= {"0.0.0.0/0", "::/0"}:
                details.append(f"allow-list: {_plural(len(allowed), 'range')}")
            timeout = attrs.get("idle_timeout.timeout_seconds")
            if timeout:
                details.append(f"idle timeout {timeout} s")
            cluster = self._placement(key[0], p.get("Subnets"), PUBLIC if public else PRIVATE)
            node = self._add(
                Node("alb", LOAD_BALANCER, f"{kind} Load Balancer", tuple(d for d in details if d), cluster),
                key,
            )
            self._own_security_groups(node.id, key[0], p.get("SecurityGroups"))
            for listener in t.referencing("AWS::ElasticLoadBalancingV2::Listener", "LoadBalancerArn", key):
                self.node_of[listener] = node.id

    def _ingress_cidrs(self, stack: str, groups: Any) -> list[str]:
        """Literal CIDR ranges that the security groups admit (inline and separate ingress rules)."""
        t = self.t
        cidrs: set[str] = set()
        for sg in t.refs(stack, groups):
            rules = list(_as_list(t.props(sg).get("SecurityGroupIngress")))
            rules += [t.props(k) for k in t.referencing("AWS::EC2::SecurityGroupIngress", "GroupId", sg)]
            for rule in rules:
                for field_name in ("CidrIp", "CidrIpv6"):
                    if isinstance(rule, Mapping) and isinstance(rule.get(field_name), str):
                        cidrs.add(rule[field_name])
        return sorted(cidrs)

    def _host_names(self) -> dict[Key, list[str]]:
        """Route 53 alias records and custom domains that name a resource."""
        t = self.t
        names: dict[Key, list[str]] = defaultdict(list)
        for record in t.of("AWS::Route53::RecordSet"):
            p = t.props(record)
            name = p.get("Name")
            if isinstance(name, str) and p.get("AliasTarget"):
                for target in self._through(record[0], p.get("AliasTarget")):
                    names[target].append(name.rstrip("."))
        for dist in t.of("AWS::CloudFront::Distribution"):
            for alias in _as_list(t.props(dist).get("DistributionConfig", {}).get("Aliases")):
                if isinstance(alias, str):
                    names[dist].append(alias)
        for domain in t.of("AWS::ApiGatewayV2::DomainName"):
            name = t.props(domain).get("DomainName")
            for mapping in t.referencing("AWS::ApiGatewayV2::ApiMapping", "DomainName", domain):
                for api in t.refs(mapping[0], t.props(mapping).get("ApiId")):
                    if isinstance(name, str):
                        names[api].append(name)
        return {k: sorted(set(v)) for k, v in names.items()}

    def _through(self, stack: str, value: Any, depth: int = 0) -> list[Key]:
        """Referenced resources, following custom domains and mappings to the resource they front."""
        out: list[Key] = []
        for key in self.t.refs(stack, value):
            if self.t.type(key) == "AWS::ApiGatewayV2::DomainName" and depth < 3:
                for mapping in self.t.referencing("AWS::ApiGatewayV2::ApiMapping", "DomainName", key):
                    out += self.t.refs(stack, self.t.props(mapping).get("ApiId"))
            out.append(key)
        return out

    def api_gateways(self) -> None:
        t = self.t
        hosts = self._host_names()
        for key in t.of("AWS::ApiGatewayV2::Api"):
            p = t.props(key)
            protocol = str(p.get("ProtocolType", "HTTP"))
            details = [f"{protocol} API", *hosts.get(key, [])]
            if t.referencing("AWS::ApiGatewayV2::Authorizer", "ApiId", key):
                details.append("Lambda authorizer")
            node = self._add(
                Node("apigw", API_GATEWAY, "API Gateway", tuple(details), self._cluster_for(key)), key
            )
            for stage in t.referencing("AWS::ApiGatewayV2::Stage", "ApiId", key):
                self.node_of[stage] = node.id
        for key in t.of("AWS::ApiGatewayV2::VpcLink"):
            p = t.props(key)
            node = self._add(
                Node("vpc_link", VPC_LINK, "VPC link", (), self._placement(key[0], p.get("SubnetIds"))), key
            )
            self._own_security_groups(node.id, key[0], p.get("SecurityGroupIds"))

    def distributions(self) -> None:
        t = self.t
        hosts = self._host_names()
        for key in t.of("AWS::CloudFront::Distribution"):
            config = t.props(key).get("DistributionConfig", {})
            names = hosts.get(key) or ["*.cloudfront.net"]
            details = [f"HTTPS · {_summarize(names, 2)}"]
            if config.get("ViewerCertificate", {}).get("AcmCertificateArn"):
                details.append("TLS certificate (ACM, us-east-1)")
            behaviors = [config.get("DefaultCacheBehavior", {}), *_as_list(config.get("CacheBehaviors"))]
            events = sorted(
                {str(a.get("EventType")) for b in behaviors for a in _as_list(b.get("FunctionAssociations"))}
            )
            if events:
                details.append(f"CloudFront Functions ({', '.join(events)})")
            cached = _short_paths(
                str(b.get("PathPattern"))
                for b in behaviors
                if b.get("PathPattern") and b.get("CachePolicyId") not in (None, CACHING_DISABLED)
            )
            if cached:
                details.append(f"cached: {_summarize(cached, 2)}")
            self._add(Node("cloudfront", CDN, "CloudFront", tuple(details), self._cluster_for(key, AWS)), key)

    def web_acls(self) -> None:
        t = self.t
        for key in t.of("AWS::WAFv2::WebACL"):
            p = t.props(key)
            rules = [r for r in _as_list(p.get("Rules")) if isinstance(r, dict)]
            managed = [
                str(r.get("Statement", {}).get("ManagedRuleGroupStatement", {}).get("Name", ""))
                .removeprefix("AWSManagedRules")
                .removesuffix("RuleSet")
                for r in rules
            ]
            details = [_plural(len(rules), "rule")]
            if any(m for m in managed):
                details.append(_summarize(m for m in managed if m))
            if any("RateBasedStatement" in r.get("Statement", {}) for r in rules):
                details.append("rate limit")
            countries = sorted(
                {str(c) for r in rules for c in _as_list(_find(r.get("Statement"), "CountryCodes"))}
            )
            if countries:
                details.append(f"countries: {_summarize(countries, 4)}")
            if any(_find(r.get("Statement"), "IPSetReferenceStatement") for r in rules):
                details.append("IP allow-list")
            if "Block" in p.get("DefaultAction", {}):
                details.append("default: block")
            scope = p.get("Scope")
            cluster = self._cluster_for(key, AWS if scope == "CLOUDFRONT" else REGION)
            self._add(Node("waf", WAF, "AWS WAF", tuple(details), cluster), key)

    def data_stores(self) -> None:
        self._db_clusters()
        self._db_instances()
        self._caches()

    def _subnet_group_placement(self, key: Key, group: Any) -> str:
        groups = self.t.refs(key[0], group)
        return self._placement(key[0], self.t.props(groups[0]).get("SubnetIds")) if groups else PRIVATE

    def _db_clusters(self) -> None:
        t = self.t
        for key in t.of("AWS::RDS::DBCluster"):
            p = t.props(key)
            engine = str(p.get("Engine", "aurora"))
            title = {"aurora-postgresql": "Aurora PostgreSQL", "aurora-mysql": "Aurora MySQL"}.get(
                engine, engine
            )
            details = [str(p.get("EngineVersion", ""))]
            scaling = p.get("ServerlessV2ScalingConfiguration", {})
            low, high = number(scaling.get("MinCapacity")), number(scaling.get("MaxCapacity"))
            if low is not None and high is not None:
                details[0] = " · ".join(filter(None, [details[0], "Serverless v2"]))
                idle = " (pauses when idle)" if low == 0 else ""
                details.append(f"{_fmt(low)}\N{EN DASH}{_fmt(high)} ACU{idle}")
            instances = t.referencing("AWS::RDS::DBInstance", "DBClusterIdentifier", key)
            if instances:
                readers = len(instances) - 1
                details.append("writer" + (f" + {_plural(readers, 'reader')}" if readers else ""))
            if "pgvector" in self.container_env.get("VECTOR_STORE", set()):
                details.append("+ pgvector (vector store)")
            cluster = self._subnet_group_placement(key, p.get("DBSubnetGroupName"))
            node = self._add(
                Node("database", DATABASE, title, tuple(d for d in details if d), cluster), key, *instances
            )
            self._own_security_groups(node.id, key[0], p.get("VpcSecurityGroupIds"))

    def _db_instances(self) -> None:
        t = self.t
        for key in t.of("AWS::RDS::DBInstance"):
            p = t.props(key)
            if key in self.node_of or p.get("DBClusterIdentifier"):
                continue
            details = (str(p.get("EngineVersion", "")), str(p.get("DBInstanceClass", "")))
            title = f"RDS {p.get('Engine', '')}".strip()
            cluster = self._subnet_group_placement(key, p.get("DBSubnetGroupName"))
            node = self._add(Node("database", DATABASE, title, tuple(d for d in details if d), cluster), key)
            self._own_security_groups(node.id, key[0], p.get("VPCSecurityGroups"))

    def _caches(self) -> None:
        t = self.t
        for key in t.of("AWS::ElastiCache::ReplicationGroup", "AWS::ElastiCache::ServerlessCache"):
            p = t.props(key)
            engine = str(p.get("Engine", "redis"))
            version = str(p.get("EngineVersion", p.get("MajorEngineVersion", "")))
            details = []
            if t.type(key) == "AWS::ElastiCache::ServerlessCache":
                details.append(f"{version} · serverless".strip(" ·"))
                cluster = self._placement(key[0], p.get("SubnetIds"))
            else:
                nodes = int(number(p.get("NumCacheClusters")) or 0)
                if not nodes:
                    shards = int(number(p.get("NumNodeGroups")) or 1)
                    nodes = shards * (1 + int(number(p.get("ReplicasPerNodeGroup")) or 0))
                node_type = p.get("CacheNodeType", "")
                details.append(f"{version} · {node_type} \N{MULTIPLICATION SIGN} {nodes}".strip(" ·"))
                if p.get("MultiAZEnabled") is True or p.get("AutomaticFailoverEnabled") is True:
                    details.append("multi-AZ failover")
                cluster = self._subnet_group_placement(key, p.get("CacheSubnetGroupName"))
            if p.get("TransitEncryptionEnabled") is True:
                details.append("TLS in transit")
            title = f"ElastiCache {engine.title() if engine.islower() else engine}"
            node = self._add(Node("cache", CACHE, title, tuple(details), cluster), key)
            self._own_security_groups(node.id, key[0], p.get("SecurityGroupIds"))

    def buckets(self) -> None:
        t = self.t
        log_buckets: dict[Key, list[Key]] = defaultdict(list)  # log bucket -> buckets logging into it
        for key in t.of("AWS::S3::Bucket"):
            target = t.props(key).get("LoggingConfiguration", {}).get("DestinationBucketName")
            for log in t.refs(key[0], target):
                log_buckets[log].append(key)
        for dist in t.of("AWS::CloudFront::Distribution"):
            logging = t.props(dist).get("DistributionConfig", {}).get("Logging", {})
            for log in t.refs(dist[0], logging.get("Bucket")):
                log_buckets.setdefault(log, [])
        env_buckets = self._bucket_env_refs()
        for key in t.of("AWS::S3::Bucket"):
            if key in log_buckets:
                continue
            p = t.props(key)
            details = []
            if p.get("VersioningConfiguration", {}).get("Status") == "Enabled":
                details.append("versioned")
            if p.get("BucketEncryption"):
                details.append("encrypted")
            files = key in env_buckets
            node_id, title = ("s3_files", "S3 files bucket") if files else ("s3_bucket", "S3 bucket")
            self._add(Node(node_id, BUCKET, title, (" · ".join(details),), self._cluster_for(key)), key)
        for log in sorted(log_buckets):
            node = self._add(Node("s3_logs", LOG_BUCKET, "S3 access logs", (), self._cluster_for(log)), log)
            for source in log_buckets[log]:
                if source in self.node_of:
                    self._link(self.node_of[source], node.id, dashed=True)

    def _bucket_env_refs(self) -> set[Key]:
        """Buckets named by a *BUCKET* environment variable of a container or function."""
        t = self.t
        out: set[Key] = set()
        for task in t.of("AWS::ECS::TaskDefinition"):
            for container in _as_list(t.props(task).get("ContainerDefinitions")):
                for var in _as_list(container.get("Environment")):
                    if isinstance(var, dict) and "BUCKET" in str(var.get("Name")):
                        out.update(t.refs(task[0], var.get("Value")))
        for fn in t.of("AWS::Lambda::Function"):
            variables = t.props(fn).get("Environment", {}).get("Variables", {})
            if isinstance(variables, dict):
                for name, value in variables.items():
                    if "BUCKET" in name:
                        out.update(t.refs(fn[0], value))
        return out

    def shared(self) -> None:
        t = self.t
        secrets = t.of("AWS::SecretsManager::Secret")
        if secrets:
            self._add(
                Node("secrets", SECRETS, "Secrets Manager", (_plural(len(secrets), "secret"),), REGION),
                *secrets,
            )
        nats = t.of("AWS::EC2::NatGateway")
        if nats:
            cluster = self._placement(nats[0][0], [t.props(n).get("SubnetId") for n in nats], PUBLIC)
            self._add(
                Node("nat", NAT, "NAT gateway", (f"\N{MULTIPLICATION SIGN} {len(nats)}",), cluster), *nats
            )
        endpoints = t.of("AWS::EC2::VPCEndpoint")
        if endpoints:
            names = []
            for key in endpoints:
                service = t.props(key).get("ServiceName")
                text = service if isinstance(service, str) else " ".join(_strings(service))
                names.append(text.rsplit(".", 1)[-1] or "endpoint")
            self._add(
                Node(
                    "vpc_endpoints", ENDPOINTS, "VPC endpoints", (_summarize(sorted(set(names)), 4),), PRIVATE
                ),
                *endpoints,
            )

    # edges -----------------------------------------------------------------------------------------

    def _resolve(self, stack: str, value: Any, depth: int = 0) -> list[str]:
        """Drawn nodes that a property value leads to, through pass-through resources."""
        out: list[str] = []
        for key in self.t.refs(stack, value):
            if key in self.node_of:
                out.append(self.node_of[key])
            elif self.t.type(key) in _PASS_THROUGH and depth < 4:
                out += self._resolve(stack, self.t.props(key), depth + 1)
        return sorted(set(out))

    def routing(self) -> None:
        """Front door -> origins / targets, labelled by the routes that lead there."""
        t = self.t
        for dist in t.of("AWS::CloudFront::Distribution"):
            config = t.props(dist).get("DistributionConfig", {})
            src = self.node_of.get(dist, "")
            paths: dict[str, list[str]] = defaultdict(list)
            for behavior in _as_list(config.get("CacheBehaviors")):
                paths[str(behavior.get("TargetOriginId"))].append(str(behavior.get("PathPattern", "")))
            default = str(config.get("DefaultCacheBehavior", {}).get("TargetOriginId"))
            for origin in _as_list(config.get("Origins")):
                origin_id = str(origin.get("Id"))
                routes = _short_paths(paths.get(origin_id, []))
                label = "default" if origin_id == default else ""
                if routes:
                    label = _summarize([label, *routes] if label else routes)
                if origin.get("VpcOriginConfig"):
                    label = f"{label}\nVPC origin" if label else "VPC origin"
                for target in self._resolve(dist[0], origin):
                    self._link(src, target, label)
        for dist, fn, event in sorted(set(self.edge_links)):
            if dist in self.node_of and fn in self.node_of:
                self._link(self.node_of[dist], self.node_of[fn], event, dashed=True)
        self._listener_routes()
        self._api_routes()

    def _listener_routes(self) -> None:
        t = self.t
        routes: dict[tuple[str, Key], list[str]] = defaultdict(list)  # (alb node, target group) -> paths
        for listener in t.of("AWS::ElasticLoadBalancingV2::Listener"):
            alb = self.node_of.get(listener)
            if not alb:
                continue
            for group in self._forwards(listener, t.props(listener).get("DefaultActions")):
                routes[(alb, group)].append("default")
            for rule in t.referencing("AWS::ElasticLoadBalancingV2::ListenerRule", "ListenerArn", listener):
                p = t.props(rule)
                paths = [
                    str(v)
                    for c in _as_list(p.get("Conditions"))
                    for v in _as_list(c.get("PathPatternConfig", {}).get("Values") or c.get("Values"))
                    if c.get("Field") == "path-pattern"
                ]
                for group in self._forwards(rule, p.get("Actions")):
                    routes[(alb, group)] += paths or ["rule"]
        for (alb, group), paths in sorted(routes.items()):
            label = _summarize(_short_paths(paths))
            targets = [self._service_target(s, group) for s in self._group_services(group)]
            targets += self._resolve(group[0], t.props(group).get("Targets"))
            for target in sorted(set(targets)):
                self._link(alb, target, label)

    def _forwards(self, key: Key, actions: Any) -> list[Key]:
        groups: list[Key] = []
        for action in _as_list(actions):
            if isinstance(action, dict) and action.get("Type") == "forward":
                groups += [g for g in self.t.refs(key[0], action) if self.t.type(g).endswith("::TargetGroup")]
        return sorted(set(groups))

    def _service_target(self, service: Key, group: Key) -> str:
        """The node a target group reaches in a service: the named container of a multi-role task."""
        node = self.node_of[service]
        for lb in _as_list(self.t.props(service).get("LoadBalancers")):
            if isinstance(lb, Mapping) and group[1] in refs(lb.get("TargetGroupArn")):
                node = self.task_containers.get((node, str(lb.get("ContainerName"))), node)
        return node

    def _group_services(self, group: Key) -> list[Key]:
        found = []
        for service in self.t.of("AWS::ECS::Service"):
            if (
                service[0] == group[0]
                and service in self.node_of
                and any(
                    group[1] in refs(lb.get("TargetGroupArn"))
                    for lb in _as_list(self.t.props(service).get("LoadBalancers"))
                )
            ):
                found.append(service)
        return found

    def _api_routes(self) -> None:
        t = self.t
        route_keys: dict[Key, list[str]] = defaultdict(list)
        for route in t.of("AWS::ApiGatewayV2::Route"):
            p = t.props(route)
            for integration in t.refs(route[0], p.get("Target")):
                key = str(p.get("RouteKey", ""))
                path = key.split(" ", 1)[-1].replace("/{proxy+}", "")
                route_keys[integration].append("default" if path == "$default" else path)
        for integration in t.of("AWS::ApiGatewayV2::Integration"):
            p = t.props(integration)
            apis = [self.node_of[a] for a in t.refs(integration[0], p.get("ApiId")) if a in self.node_of]
            links = [
                self.node_of[v] for v in t.refs(integration[0], p.get("ConnectionId")) if v in self.node_of
            ]
            targets = self._resolve(integration[0], p.get("IntegrationUri")) or self._cloud_map_by_name(
                integration
            )
            label = _summarize(_short_paths(route_keys.get(integration, [])))
            for api in apis:
                for link in links:
                    self._link(api, link)
                for target in targets:
                    self._link(links[0] if links else api, target, label)
        for authorizer in t.of("AWS::ApiGatewayV2::Authorizer"):
            p = t.props(authorizer)
            for api in self._resolve(authorizer[0], p.get("ApiId")):
                for fn in self._resolve(authorizer[0], p.get("AuthorizerUri")):
                    self._link(api, fn, "authorize", dashed=True)

    def _cloud_map_by_name(self, integration: Key) -> list[str]:
        """An integration URI we could not follow: match a Cloud Map service name, or the attribute of
        a lookup custom resource (such as `apiArn`), against the services' role names."""
        uri = self.t.props(integration).get("IntegrationUri")
        names = [str(self.t.props(k).get("Name", "")) for k in self.t.refs(integration[0], uri)]
        names += [attr for _, attr in _get_atts(uri)]
        services = [n for n in self.nodes.values() if n.kind in (SERVICE, CONTAINER) and n.role]
        out: set[str] = set()
        for name in names:
            matches = [n for n in services if name == n.role or name.startswith(n.role)]
            if matches:
                out.add(max(matches, key=lambda n: len(n.role)).id)
        return sorted(out)

    def web_acl_links(self) -> dict[str, str]:
        """Protected front-door node -> web ACL node."""
        t = self.t
        protected: dict[str, str] = {}
        for dist in t.of("AWS::CloudFront::Distribution"):
            acl = t.props(dist).get("DistributionConfig", {}).get("WebACLId")
            for waf in self._resolve(dist[0], acl):
                protected[self.node_of[dist]] = waf
        for assoc in t.of("AWS::WAFv2::WebACLAssociation"):
            p = t.props(assoc)
            for waf in self._resolve(assoc[0], p.get("WebACLArn")):
                for target in self._resolve(assoc[0], p.get("ResourceArn")):
                    protected[target] = waf
        # A CloudFront web ACL in another stack (us-east-1) protects the distribution through a
        # cross-region reference the templates cannot resolve.
        global_acls = [k for k in t.of("AWS::WAFv2::WebACL") if t.props(k).get("Scope") == "CLOUDFRONT"]
        dists = [self.node_of[d] for d in t.of("AWS::CloudFront::Distribution")]
        unprotected = [d for d in dists if d not in protected]
        if len(global_acls) == 1 and unprotected and self.node_of[global_acls[0]] not in protected.values():
            for dist_node in unprotected:
                protected[dist_node] = self.node_of[global_acls[0]]
        return protected

    def entry(self) -> None:
        """Users -> (web ACL ->) every entry point that is not itself behind another front door."""
        entries = [n for n in self.nodes.values() if n.kind in (CDN, API_GATEWAY)]
        entries += [
            n for n in self.nodes.values() if n.kind == LOAD_BALANCER and "internet-facing" in n.details
        ]
        entries += [
            n
            for n in self.nodes.values()
            if n.kind == FUNCTION and any(d.startswith("function URL") for d in n.details)
        ]
        fronted = {e.dst for e in self.edges.values()}
        entries = sorted(n for n in entries if n.id not in fronted)
        private = sorted(
            n
            for n in self.nodes.values()
            if n.kind == LOAD_BALANCER and "internal" in n.details and n.id not in fronted
        )
        if not entries and not private:
            return
        who = "browsers, API clients" if entries else "VPN, Direct Connect, peered VPCs"
        self._add(Node(USERS, USERS, "Users", (who,), ""))
        protected = self.web_acl_links()
        for node in entries:
            waf = protected.get(node.id)
            if waf:
                self._link(USERS, waf, "HTTPS")
                self._link(waf, node.id)
            else:
                self._link(USERS, node.id, "HTTPS")
        for node in private:
            self._link(USERS, node.id, "private network")

    def security_group_flows(self) -> None:
        """Edges from security group rules (source SG -> destination SG).

        Sets `sg_known` (nodes with security groups) and `restricted` (nodes reachable only from the
        security groups their rules name): between two such nodes the rules are the whole truth."""
        t = self.t
        rules: list[tuple[str, Mapping[str, Any], Key]] = []
        for key in t.of("AWS::EC2::SecurityGroupIngress"):
            p = t.props(key)
            for group in t.refs(key[0], p.get("GroupId")):
                rules.append((key[0], p, group))
        for group in t.of("AWS::EC2::SecurityGroup"):
            for rule in _as_list(t.props(group).get("SecurityGroupIngress")):
                if isinstance(rule, dict):
                    rules.append((group[0], rule, group))
        from_groups: set[str] = set()
        open_to_cidr: set[str] = set()
        for stack, rule, group in rules:
            owners = self.sg_owners.get(group, [])
            if rule.get("CidrIp") or rule.get("CidrIpv6") or rule.get("SourcePrefixListId"):
                open_to_cidr.update(owners)
            for source in t.refs(stack, rule.get("SourceSecurityGroupId")):
                from_groups.update(owners)
                for src in self.sg_owners.get(source, []):
                    for owner in owners:
                        port = rule.get("FromPort")
                        dst = self.task_ports.get((owner, port), owner) if isinstance(port, int) else owner
                        service_to_service = {self.nodes[src].kind, self.nodes[dst].kind} <= {
                            SERVICE,
                            FUNCTION,
                            TASK,
                            CONTAINER,
                        }
                        label = f":{port}" if service_to_service and isinstance(port, int) else ""
                        self._link(src, dst, label)
        self.sg_known = {o for owners in self.sg_owners.values() for o in owners}
        self.restricted = from_groups - open_to_cidr

    def permission_flows(self) -> None:
        """Edges from IAM: node -> S3 bucket it may read/write, node -> Bedrock."""
        t = self.t
        bedrock_users: set[str] = set()
        for key, role_keys, statements in self._policies():
            owners = sorted({o for r in role_keys for o in self.role_owner.get(r, [])})
            for statement in statements:
                if statement.get("Effect", "Allow") != "Allow":
                    continue
                actions = [str(a) for a in _as_list(statement.get("Action"))]
                if any(a.lower().startswith("bedrock:") or a == "*" for a in actions):
                    bedrock_users.update(owners)
                if any(a.lower().startswith("s3:") for a in actions):
                    for bucket in t.refs(key[0], statement.get("Resource")):
                        if bucket in self.node_of and self.nodes[self.node_of[bucket]].kind == BUCKET:
                            for owner in owners:
                                self._link(owner, self.node_of[bucket])
        if any(self._grants_bedrock(s) for _, _, st in self._policies() for s in st):
            bedrock = self._add(
                Node("bedrock", AWS_SERVICE, "Amazon Bedrock", ("foundation models",), REGION)
            )
            for owner in sorted(bedrock_users):
                self._link(owner, bedrock.id)

    @staticmethod
    def _grants_bedrock(statement: Mapping[str, Any]) -> bool:
        return statement.get("Effect", "Allow") == "Allow" and any(
            str(a).lower().startswith("bedrock:") for a in _as_list(statement.get("Action"))
        )

    def _policies(self) -> Iterator[tuple[Key, list[Key], list[Mapping[str, Any]]]]:
        t = self.t
        for key in t.of("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            p = t.props(key)
            statements = _as_list(p.get("PolicyDocument", {}).get("Statement"))
            yield key, t.refs(key[0], p.get("Roles")), [s for s in statements if isinstance(s, dict)]
        for key in t.of("AWS::IAM::Role"):
            for policy in _as_list(t.props(key).get("Policies")):
                statements = _as_list(policy.get("PolicyDocument", {}).get("Statement"))
                yield key, [key], [s for s in statements if isinstance(s, dict)]

    def fallback_flows(self) -> None:
        """Dify's own wiring where the templates say nothing: no security groups on either side of a
        network flow, no IAM role for a bucket flow. A multi-role task stands for its containers (what
        they do among themselves stays inside the task)."""
        iam_known = {o for owners in self.role_owner.values() for o in owners}
        for node in sorted(self.nodes.values()):
            if node.cluster in self.task_roles:
                continue
            own = self.task_roles.get(node.id, {node.role} - {""})
            wanted = dict.fromkeys(t for role in sorted(own) for t in _KNOWN_FLOWS.get(role, ()))
            for target in wanted:
                if target in own:
                    continue
                if target == BUCKET:
                    if node.id in iam_known:
                        continue
                    targets = [n.id for n in self.nodes.values() if n.kind == BUCKET]
                elif target in (DATABASE, CACHE):
                    targets = [n.id for n in self.nodes.values() if n.kind == target]
                else:
                    targets = [
                        n.id
                        for n in self.nodes.values()
                        if n.role == target and n.kind in (SERVICE, FUNCTION, CONTAINER)
                    ]
                for dst in sorted(targets):
                    if target == BUCKET or not (node.id in self.sg_known and dst in self.restricted):
                        self._link(node.id, dst)

    def egress(self) -> None:
        """Outbound calls: through the SSRF proxy when there is one, out through NAT to the internet."""
        hop = "nat" if "nat" in self.nodes else ""
        proxies = [n for n in self.nodes.values() if n.role == "ssrf-proxy" and n.kind != CONTAINER]
        clients = self._proxy_clients(proxies)
        outbound = [n.id for n in proxies]
        # A multi-role task leaves through its own network interface, whichever container calls out.
        outbound += [
            task for task, roles in self.task_roles.items() if roles & {*_EGRESS_ROLES, "ssrf-proxy"}
        ]
        outbound += [
            n.id
            for n in self.nodes.values()
            if (n.kind == SERVICE or (n.kind == FUNCTION and n.cluster in (PRIVATE, PUBLIC)))
            and n.role in _EGRESS_ROLES
            and (n.id not in clients or n.role == "plugin-daemon")
        ]
        outbound = [n for n in outbound if self._may_leave(n)]
        if not outbound or not (hop or any(self.nodes[n].cluster == PUBLIC for n in outbound)):
            return
        externals = self._externals()
        for src in sorted(set(outbound)):
            if hop and self.nodes[src].cluster != PUBLIC:
                self._link(src, hop)
            else:
                for ext in externals:
                    self._link(src, ext.id)
        if hop:
            for ext in externals:
                self._link(hop, ext.id, "HTTPS" if ext.id == "model_apis" else "")

    def _proxy_clients(self, proxies: list[Node]) -> set[str]:
        """Nodes that reach the SSRF proxy (from its security group rules, else Dify's defaults)."""
        clients: set[str] = set()
        for proxy in proxies:
            incoming = {e.src for e in self.edges.values() if e.dst == proxy.id}
            if not incoming:
                incoming = {
                    n.id for n in self.nodes.values() if n.kind == SERVICE and n.role in _PROXY_CLIENTS
                }
                for src in sorted(incoming):
                    self._link(src, proxy.id)
            clients |= incoming
        return clients

    def _externals(self) -> list[Node]:
        """Model provider APIs, and the plugin marketplace when plugins can be installed from it."""
        env = self.container_env
        marketplace = "true" in env.get("MARKETPLACE_ENABLED", set()) or any(
            n.role == "plugin-daemon" for n in self.nodes.values()
        )
        urls = sorted(env.get("MARKETPLACE_API_URL", set()) | env.get("MARKETPLACE_URL", set()))
        host = re.sub(r"^https?://", "", urls[0]).rstrip("/") if urls else "marketplace.dify.ai"
        externals = [
            self._add(
                Node("model_apis", EXTERNAL, "Model provider APIs", ("LLM, embedding, tools",), INTERNET)
            )
        ]
        if marketplace:
            externals.append(self._add(Node("marketplace", EXTERNAL, "Dify Marketplace", (host,), INTERNET)))
        return externals

    def _may_leave(self, node_id: str) -> bool:
        """False when every security group of the node blocks outbound internet traffic."""
        groups = [sg for sg, owners in self.sg_owners.items() if node_id in owners]
        if not groups:
            return True
        for sg in groups:
            egress = self.t.props(sg).get("SecurityGroupEgress")
            if egress is None:
                return True
            for rule in _as_list(egress):
                if isinstance(rule, dict) and rule.get("CidrIp") == "0.0.0.0/0":
                    return True
        return False

    # result ------------------------------------------------------------------------------------------

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


def _dify_purpose(description: Any) -> tuple[str, str] | None:
    """'Dify reverse proxy (nginx, Lambda Web Adapter)' -> ('reverse proxy (nginx)', 'Lambda Web Adapter'):
    what a function is, with the first parenthesised item, and the remaining items; None when the
    description does not have that form."""
    if not isinstance(description, str):
        return None
    found = re.fullmatch(r"Dify\s+([^():]+?)\s*(?:\(([^()]*)\))?\s*", description)
    if not found:
        return None
    what, notes = found.group(1), [n.strip() for n in (found.group(2) or "").split(",") if n.strip()]
    return (f"{what} ({notes[0]})" if notes else what), ", ".join(notes[1:])


def _find(value: Any, name: str) -> Any:
    """The first value of key `name` anywhere inside a nested statement (None when absent)."""
    if isinstance(value, Mapping):
        if name in value:
            return value[name]
        for inner in value.values():
            found = _find(inner, name)
            if found is not None:
                return found
    elif isinstance(value, list):
        for inner in value:
            found = _find(inner, name)
            if found is not None:
                return found
    return None


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for inner in value.values():
            yield from _strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _strings(inner)


def derive(
    templates: Mapping[str, Mapping[str, Any]], *, title: str = "", region: str | None = None
) -> Architecture:
    """The architecture of a deployment from its templates (stack name -> template)."""
    d = _Deriver(templates, region)
    d.distributions()
    d.web_acls()
    d.load_balancers()
    d.api_gateways()
    d.services()
    d.functions()
    d.data_stores()
    d.buckets()
    d.shared()
    d.routing()
    d.entry()
    d.security_group_flows()
    d.permission_flows()
    d.fallback_flows()
    d.egress()
    return Architecture(
        title=title or " + ".join(sorted(templates)),
        nodes=dict(sorted(d.nodes.items())),
        edges=d.edges_list(),
        clusters=d.clusters(),
    )
