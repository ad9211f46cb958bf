"""Diagram rules for the network: subnet placement, load balancers and their routes, API Gateway
integrations, NAT gateways, VPC endpoints and the flows security group rules allow."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dify_on_aws.diagram import graph
from dify_on_aws.diagram.rules import edge
from dify_on_aws.diagram.rules.table import Step
from dify_on_aws.diagram.text import as_list, plural, short_paths, strings, summarize
from dify_on_aws.templates import Key, Templates, attributes

if TYPE_CHECKING:
    from dify_on_aws.diagram.deriver import Deriver


# Route targets that decide a subnet's kind; a route to an instance goes through a NAT instance.
_GATEWAYS = ("GatewayId", "NatGatewayId", "InstanceId")
_NAT_TYPES = {"AWS::EC2::NatGateway", "AWS::EC2::Instance"}


def nat_instances(t: Templates) -> list[Key]:
    """Instances that private subnets route to the internet through."""
    found: list[Key] = []
    for route in t.keys_of("AWS::EC2::Route"):
        for key in t.refs(route[0], t.props(route).get("InstanceId")):
            if t.type(key) == "AWS::EC2::Instance" and key not in found:
                found.append(key)
    return found


def classify_subnets(t: Templates) -> dict[Key, str]:
    """Subnet -> public, private or isolated, from the default routes of its route table (else its tags)."""
    route_kind: dict[Key, str] = {}
    for route in t.keys_of("AWS::EC2::Route"):
        p = t.props(route)
        if p.get("DestinationCidrBlock") not in ("0.0.0.0/0", None):
            continue
        targets = {t.type(k) for k in t.refs(route[0], [p.get(g) for g in _GATEWAYS])}
        for table in t.refs(route[0], p.get("RouteTableId")):
            if "AWS::EC2::InternetGateway" in targets:
                route_kind[table] = graph.PUBLIC
            elif targets & _NAT_TYPES or p.get("NatGatewayId") is not None:
                route_kind.setdefault(table, graph.PRIVATE)
    kinds: dict[Key, str] = {}
    for assoc in t.keys_of("AWS::EC2::SubnetRouteTableAssociation"):
        p = t.props(assoc)
        tables = t.refs(assoc[0], p.get("RouteTableId"))
        for subnet in t.refs(assoc[0], p.get("SubnetId")):
            kinds[subnet] = route_kind.get(tables[0], graph.ISOLATED) if tables else graph.ISOLATED
    for subnet in t.keys_of("AWS::EC2::Subnet"):
        if subnet in kinds:
            continue
        p = t.props(subnet)
        tags = {tag.get("Key"): tag.get("Value") for tag in as_list(p.get("Tags")) if isinstance(tag, dict)}
        declared = str(tags.get("aws-cdk:subnet-type", "")).lower()
        if declared in (graph.PUBLIC, graph.PRIVATE, graph.ISOLATED):
            kinds[subnet] = declared
        else:
            kinds[subnet] = graph.PUBLIC if p.get("MapPublicIpOnLaunch") is True else graph.PRIVATE
    return kinds


def load_balancers(d: Deriver) -> None:
    t = d.t
    hosts = edge.host_names(d)
    for key in t.keys_of("AWS::ElasticLoadBalancingV2::LoadBalancer"):
        p = t.props(key)
        public = p.get("Scheme") == "internet-facing"
        kind = "Network" if p.get("Type") == "network" else "Application"
        listeners = []
        tls = False
        for listener in t.referencing("AWS::ElasticLoadBalancingV2::Listener", "LoadBalancerArn", key):
            lp = t.props(listener)
            listeners.append(f"{lp.get('Protocol', '')} :{lp.get('Port', '')}")
            tls = tls or bool(lp.get("Certificates"))
        attrs = {a.get("Key"): a.get("Value") for a in as_list(p.get("LoadBalancerAttributes"))}
        details = [
            "internet-facing" if public else "internal",
            summarize(sorted(listeners)),
            *hosts.get(key, []),
            "TLS certificate (ACM)" if tls else "",
        ]
        allowed = d.ingress_cidrs(key[0], p.get("SecurityGroups"))
        if allowed and not set(allowed) <= {"0.0.0.0/0", "::/0"}:
            details.append(f"allow-list: {plural(len(allowed), 'range')}")
        timeout = attrs.get("idle_timeout.timeout_seconds")
        if timeout:
            details.append(f"idle timeout {timeout} s")
        cluster = d.placement(key[0], p.get("Subnets"), graph.PUBLIC if public else graph.PRIVATE)
        node = d.add(
            graph.Node(
                "alb", graph.LOAD_BALANCER, f"{kind} Load Balancer", tuple(x for x in details if x), cluster
            ),
            key,
        )
        d.own_security_groups(node.id, key[0], p.get("SecurityGroups"))
        for listener in t.referencing("AWS::ElasticLoadBalancingV2::Listener", "LoadBalancerArn", key):
            d.node_of[listener] = node.id


def shared(d: Deriver) -> None:
    t = d.t
    secrets = t.keys_of("AWS::SecretsManager::Secret")
    if secrets:
        d.add(
            graph.Node(
                "secrets", graph.SECRETS, "Secrets Manager", (plural(len(secrets), "secret"),), graph.REGION
            ),
            *secrets,
        )
    gateways, instances = t.keys_of("AWS::EC2::NatGateway"), nat_instances(t)
    nats = gateways or instances
    if nats:
        cluster = d.placement(nats[0][0], [t.props(n).get("SubnetId") for n in nats], graph.PUBLIC)
        kinds = sorted({str(t.props(n).get("InstanceType", "")) for n in instances})
        label = "NAT gateway" if gateways else f"NAT instance ({', '.join(kinds)})"
        d.add(
            graph.Node("nat", graph.NAT, label, (f"\N{MULTIPLICATION SIGN} {len(nats)}",), cluster),
            *nats,
        )
    endpoints = t.keys_of("AWS::EC2::VPCEndpoint")
    if endpoints:
        names = []
        for key in endpoints:
            service = t.props(key).get("ServiceName")
            text = service if isinstance(service, str) else " ".join(strings(service))
            names.append(text.rsplit(".", 1)[-1] or "endpoint")
        d.add(
            graph.Node(
                "vpc_endpoints",
                graph.ENDPOINTS,
                "VPC endpoints",
                (summarize(sorted(set(names)), 4),),
                graph.PRIVATE,
            ),
            *endpoints,
        )


def listener_routes(d: Deriver) -> None:
    t = d.t
    routes: dict[tuple[str, Key], list[str]] = defaultdict(list)  # (alb node, target group) -> paths
    for listener in t.keys_of("AWS::ElasticLoadBalancingV2::Listener"):
        alb = d.node_of.get(listener)
        if not alb:
            continue
        for group in _forwards(d, listener, t.props(listener).get("DefaultActions")):
            routes[(alb, group)].append("default")
        for rule in t.referencing("AWS::ElasticLoadBalancingV2::ListenerRule", "ListenerArn", listener):
            p = t.props(rule)
            paths = [
                str(v)
                for c in as_list(p.get("Conditions"))
                for v in as_list(c.get("PathPatternConfig", {}).get("Values") or c.get("Values"))
                if c.get("Field") == "path-pattern"
            ]
            for group in _forwards(d, rule, p.get("Actions")):
                routes[(alb, group)] += paths or ["rule"]
    for (alb, group), paths in sorted(routes.items()):
        label = summarize(short_paths(paths))
        targets = [_service_target(d, s, group) for s in _group_services(d, group)]
        targets += d.resolve(group[0], t.props(group).get("Targets"))
        for target in sorted(set(targets)):
            d.link(alb, target, label)


def _forwards(d: Deriver, key: Key, actions: Any) -> list[Key]:
    groups: list[Key] = []
    for action in as_list(actions):
        if isinstance(action, dict) and action.get("Type") == "forward":
            groups += [g for g in d.t.refs(key[0], action) if d.t.type(g).endswith("::TargetGroup")]
    return sorted(set(groups))


def _service_target(d: Deriver, service: Key, group: Key) -> str:
    """The node a target group reaches in a service: the named container of a multi-role task."""
    node = d.node_of[service]
    for lb in as_list(d.t.props(service).get("LoadBalancers")):
        if isinstance(lb, Mapping) and group in d.t.refs(service[0], lb.get("TargetGroupArn")):
            node = d.task_containers.get((node, str(lb.get("ContainerName"))), node)
    return node


def _group_services(d: Deriver, group: Key) -> list[Key]:
    found = []
    for service in d.t.keys_of("AWS::ECS::Service"):
        if (
            service[0] == group[0]
            and service in d.node_of
            and any(
                group in d.t.refs(service[0], lb.get("TargetGroupArn"))
                for lb in as_list(d.t.props(service).get("LoadBalancers"))
            )
        ):
            found.append(service)
    return found


def api_routes(d: Deriver) -> None:
    t = d.t
    route_keys: dict[Key, list[str]] = defaultdict(list)
    for route in t.keys_of("AWS::ApiGatewayV2::Route"):
        p = t.props(route)
        for integration in t.refs(route[0], p.get("Target")):
            key = str(p.get("RouteKey", ""))
            path = key.split(" ", 1)[-1].replace("/{proxy+}", "")
            route_keys[integration].append("default" if path == "$default" else path)
    for integration in t.keys_of("AWS::ApiGatewayV2::Integration"):
        p = t.props(integration)
        apis = [d.node_of[a] for a in t.refs(integration[0], p.get("ApiId")) if a in d.node_of]
        links = [d.node_of[v] for v in t.refs(integration[0], p.get("ConnectionId")) if v in d.node_of]
        targets = d.resolve(integration[0], p.get("IntegrationUri")) or _cloud_map_by_name(d, integration)
        label = summarize(short_paths(route_keys.get(integration, [])))
        for api in apis:
            for link in links:
                d.link(api, link)
            for target in targets:
                d.link(links[0] if links else api, target, label)
    for authorizer in t.keys_of("AWS::ApiGatewayV2::Authorizer"):
        p = t.props(authorizer)
        for api in d.resolve(authorizer[0], p.get("ApiId")):
            for fn in d.resolve(authorizer[0], p.get("AuthorizerUri")):
                d.link(api, fn, "authorize", dashed=True)
    _rest_routes(d)


def _rest_routes(d: Deriver) -> None:
    """REST API (API Gateway v1) -> the function or endpoint its methods integrate, labelled by path."""
    t = d.t
    paths: dict[tuple[str, str], list[str]] = defaultdict(list)
    for method in t.keys_of("AWS::ApiGateway::Method"):
        p = t.props(method)
        for api in d.resolve(method[0], p.get("RestApiId")):
            for target in d.resolve(method[0], p.get("Integration", {}).get("Uri")):
                paths[(api, target)].append(_rest_path(d, method[0], p.get("ResourceId")))
    for (api, target), found in sorted(paths.items()):
        d.link(api, target, summarize(short_paths(found)))


def _rest_path(d: Deriver, stack: str, resource: Any) -> str:
    """A REST API resource's path from its path parts (the root resource is '/', a greedy
    '{proxy+}' part stands for everything under its parent)."""
    parts: list[str] = []
    keys = d.t.refs(stack, resource)
    while keys and d.t.type(keys[0]) == "AWS::ApiGateway::Resource" and len(parts) < 20:
        p = d.t.props(keys[0])
        parts.insert(0, str(p.get("PathPart", "")))
        keys = d.t.refs(stack, p.get("ParentId"))
    return "/" + "/".join(part for part in parts if part != "{proxy+}")


def _cloud_map_by_name(d: Deriver, integration: Key) -> list[str]:
    """An integration URI we could not follow: match a Cloud Map service name, or the attribute of
    a lookup custom resource (such as `apiArn`), against the services' role names."""
    uri = d.t.props(integration).get("IntegrationUri")
    names = [str(d.t.props(k).get("Name", "")) for k in d.t.refs(integration[0], uri)]
    names += [attr for _, attr in attributes(uri)]
    services = [n for n in d.nodes.values() if n.kind in (graph.SERVICE, graph.CONTAINER) and n.role]
    out: set[str] = set()
    for name in names:
        matches = [n for n in services if name == n.role or name.startswith(n.role)]
        if matches:
            out.add(max(matches, key=lambda n: len(n.role)).id)
    return sorted(out)


def security_group_flows(d: Deriver) -> None:
    """Edges from security group rules (source SG -> destination SG).

    Sets `sg_known` (nodes with security groups) and `restricted` (nodes reachable only from the
    security groups their rules name): between two such nodes the rules are the whole truth."""
    t = d.t
    rules: list[tuple[str, Mapping[str, Any], Key]] = []
    for key in t.keys_of("AWS::EC2::SecurityGroupIngress"):
        p = t.props(key)
        for group in t.refs(key[0], p.get("GroupId")):
            rules.append((key[0], p, group))
    for group in t.keys_of("AWS::EC2::SecurityGroup"):
        for rule in as_list(t.props(group).get("SecurityGroupIngress")):
            if isinstance(rule, dict):
                rules.append((group[0], rule, group))
    from_groups: set[str] = set()
    open_to_cidr: set[str] = set()
    for stack, rule, group in rules:
        owners = d.sg_owners.get(group, [])
        if rule.get("CidrIp") or rule.get("CidrIpv6") or rule.get("SourcePrefixListId"):
            open_to_cidr.update(owners)
        for source in t.refs(stack, rule.get("SourceSecurityGroupId")):
            from_groups.update(owners)
            for src in d.sg_owners.get(source, []):
                for owner in owners:
                    port = rule.get("FromPort")
                    dst = d.task_ports.get((owner, port), owner) if isinstance(port, int) else owner
                    service_to_service = {d.nodes[src].kind, d.nodes[dst].kind} <= {
                        graph.SERVICE,
                        graph.FUNCTION,
                        graph.TASK,
                        graph.CONTAINER,
                    }
                    label = f":{port}" if service_to_service and isinstance(port, int) else ""
                    d.link(src, dst, label)
    d.sg_known = {o for owners in d.sg_owners.values() for o in owners}
    d.restricted = from_groups - open_to_cidr


STEPS = (
    Step(30, load_balancers, ("AWS::ElasticLoadBalancingV2::LoadBalancer",)),
    Step(
        90,
        shared,
        (
            "AWS::SecretsManager::Secret",
            "AWS::EC2::NatGateway",
            "AWS::EC2::Instance",
            "AWS::EC2::VPCEndpoint",
        ),
    ),
    Step(
        120,
        listener_routes,
        ("AWS::ElasticLoadBalancingV2::Listener", "AWS::ElasticLoadBalancingV2::ListenerRule"),
    ),
    Step(
        130,
        api_routes,
        ("AWS::ApiGatewayV2::Route", "AWS::ApiGatewayV2::Integration", "AWS::ApiGateway::Method"),
    ),
    Step(150, security_group_flows, ("AWS::EC2::SecurityGroup", "AWS::EC2::SecurityGroupIngress")),
)
