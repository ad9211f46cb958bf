"""Diagram rules for ECS: a node per service, or a task box with a node per container (single-task layout)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dify_on_aws.diagram import graph
from dify_on_aws.diagram.rules.table import Step
from dify_on_aws.diagram.text import as_list, fmt, image_name, plural, slug, summarize
from dify_on_aws.templates import Key, number

if TYPE_CHECKING:
    from dify_on_aws.diagram.deriver import Deriver


def services(d: Deriver) -> None:
    t = d.t
    autoscaling = _scaling_ranges(d)
    for key in t.keys_of("AWS::ECS::Service"):
        p = t.props(key)
        tasks = t.refs(key[0], p.get("TaskDefinition"))
        task = t.props(tasks[0]) if tasks else {}
        containers = [c for c in as_list(task.get("ContainerDefinitions")) if isinstance(c, dict)]
        essential = [c for c in containers if c.get("Essential", True) is not False] or containers
        names = [str(c.get("Name", "")) for c in essential]
        cpu, memory = number(task.get("Cpu")), number(task.get("Memory"))
        size = []
        if cpu:
            size.append(f"{fmt(cpu / 1024)} vCPU")
        if memory:
            size.append(f"{fmt(memory / 1024)} GB")
        arch = str(task.get("RuntimePlatform", {}).get("CpuArchitecture", "")).lower()
        if arch:
            size.append(arch)
        network = p.get("NetworkConfiguration", {}).get("AwsvpcConfiguration", {})
        public_ip = network.get("AssignPublicIp") == "ENABLED"
        cluster = graph.PUBLIC if public_ip else d.placement(key[0], network.get("Subnets"))
        details = [
            " · ".join(size),
            " · ".join(filter(None, [_count(key, p, autoscaling), _capacity(p)])),
            _public_ip(d, key[0], network.get("SecurityGroups")) if public_ip else "",
        ]
        if len([n for n in names if n in graph.ROLES]) > 1:
            node = _task(d, key, tasks, essential, details=[*details, _discovery(d, key, p)], cluster=cluster)
        else:
            role = next((n for n in names if n in graph.ROLES), names[0] if names else "service")
            main = next((c for c in essential if c.get("Name") == role), {})
            node = d.add(
                graph.Node(
                    f"svc_{slug(role)}",
                    graph.SERVICE,
                    role,
                    tuple(x for x in [image_name(main.get("Image")), *details] if x),
                    cluster,
                    role,
                ),
                key,
                *tasks,
            )
        d.own_security_groups(node.id, key[0], network.get("SecurityGroups"))
        for role_key in t.refs(key[0], task.get("TaskRoleArn")):
            d.role_owner[role_key].append(node.id)
        for registry in as_list(p.get("ServiceRegistries")):
            for cloud_map in t.refs(key[0], registry):
                d.node_of.setdefault(cloud_map, node.id)


def _task(
    d: Deriver,
    key: Key,
    tasks: list[Key],
    containers: Sequence[Mapping[str, Any]],
    *,
    details: list[str],
    cluster: str,
) -> graph.Node:
    """A task with several role containers: a TASK node (the box) and a node per container in it."""
    names = [str(c.get("Name", "")) for c in containers]
    roles = [n for n in names if n in graph.ROLES]
    what = "every role" if set(graph.ROLES) - {"ssrf-proxy"} <= set(roles) else summarize(roles, 4)
    task = d.add(
        graph.Node("dify_task", graph.TASK, f"Dify task ({what})", tuple(details), cluster), key, *tasks
    )
    d.task_roles[task.id] = set(roles)
    aliases = _service_connect_names(d, d.t.props(key))
    for container, name in zip(containers, names, strict=True):
        image = image_name(container.get("Image"))
        mappings = [m for m in as_list(container.get("PortMappings")) if isinstance(m, dict)]
        ports = [m["ContainerPort"] for m in mappings if isinstance(m.get("ContainerPort"), int)]
        listens = [aliases.get(str(m.get("Name")), f":{m.get('ContainerPort')}") for m in mappings]
        detail = " · ".join(filter(None, [image, *listens]))
        if re.search(r"valkey|redis", f"{name} {image}", re.IGNORECASE):
            engine = "Valkey" if "valkey" in f"{name} {image}".lower() else "Redis"
            node = graph.Node(
                f"{task.id}_{slug(name)}", graph.CACHE, f"{engine} (container, in-task)", (detail,)
            )
        else:
            role = name if name in graph.ROLES else ""
            node = graph.Node(f"{task.id}_{slug(name)}", graph.CONTAINER, name, (detail,), role=role)
        added = d.add(graph.Node(node.id, node.kind, node.title, node.details, task.id, node.role))
        d.task_containers[(task.id, name)] = added.id
        for port in ports:
            d.task_ports.setdefault((task.id, port), added.id)
    return task


def _service_connect_names(d: Deriver, p: Mapping[str, Any]) -> dict[str, str]:
    """Port mapping name -> 'dns-name:port' that Service Connect clients use."""
    config = p.get("ServiceConnectConfiguration", {})
    if not isinstance(config, Mapping) or config.get("Enabled") is not True:
        return {}
    names: dict[str, str] = {}
    for service in as_list(config.get("Services")):
        if not isinstance(service, Mapping):
            continue
        for alias in as_list(service.get("ClientAliases")):
            if isinstance(alias, Mapping) and isinstance(alias.get("DnsName"), str):
                names.setdefault(str(service.get("PortName")), f"{alias['DnsName']}:{alias.get('Port')}")
    return names


def _discovery(d: Deriver, key: Key, p: Mapping[str, Any]) -> str:
    """How other resources in the VPC find the service: Service Connect or a Cloud Map DNS name."""
    config = p.get("ServiceConnectConfiguration", {})
    if isinstance(config, Mapping) and config.get("Enabled") is True:
        namespace = _namespace_name(d, key[0], config.get("Namespace"))
        return f"Service Connect: {namespace}" if namespace else "Service Connect"
    for registry in as_list(p.get("ServiceRegistries")):
        for cloud_map in d.t.refs(key[0], registry):
            cp = d.t.props(cloud_map)
            namespace = _namespace_name(d, key[0], cp.get("NamespaceId"))
            name = cp.get("Name")
            if isinstance(name, str):
                return f"Cloud Map: {name}.{namespace}" if namespace else f"Cloud Map: {name}"
    return ""


def _namespace_name(d: Deriver, stack: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    for namespace in d.t.refs(stack, value):
        name = d.t.props(namespace).get("Name")
        if isinstance(name, str):
            return name
    return ""


def _public_ip(d: Deriver, stack: str, groups: Any) -> str:
    """Tasks with a public IP: whether their security groups admit anything from outside the VPC."""
    t = d.t
    ranges = set(d.ingress_cidrs(stack, groups))
    for sg in t.refs(stack, groups):
        rules = list(as_list(t.props(sg).get("SecurityGroupIngress")))
        rules += [t.props(k) for k in t.referencing("AWS::EC2::SecurityGroupIngress", "GroupId", sg)]
        for rule in rules:
            if isinstance(rule, Mapping) and rule.get("SourcePrefixListId"):
                ranges.add(str(rule["SourcePrefixListId"]))
    if not ranges:
        return "public IP, inbound closed"
    return f"public IP, inbound open to {plural(len(ranges), 'range')}"


def _scaling_ranges(d: Deriver) -> dict[Key, tuple[int, int]]:
    ranges: dict[Key, tuple[int, int]] = {}
    for target in d.t.keys_of("AWS::ApplicationAutoScaling::ScalableTarget"):
        p = d.t.props(target)
        low, high = number(p.get("MinCapacity")), number(p.get("MaxCapacity"))
        if low is None or high is None:
            continue
        for ref in d.t.refs(target[0], p.get("ResourceId")):
            ranges[ref] = (int(low), int(high))
    return ranges


def _count(key: Key, p: Mapping[str, Any], ranges: Mapping[Key, tuple[int, int]]) -> str:
    if key in ranges and ranges[key][0] != ranges[key][1]:
        low, high = ranges[key]
        return f"{low}\N{EN DASH}{high} tasks (auto scaling)"
    if key in ranges:  # a target for a schedule only: its fixed count
        return plural(ranges[key][0], "task")
    count = number(p.get("DesiredCount"))
    if count is None:
        return ""
    return "stopped (0 tasks)" if count == 0 else plural(int(count), "task")


def _capacity(p: Mapping[str, Any]) -> str:
    strategy = [s for s in as_list(p.get("CapacityProviderStrategy")) if isinstance(s, dict)]
    providers = {str(s.get("CapacityProvider")) for s in strategy}
    if "FARGATE_SPOT" in providers:
        base = sum(
            int(number(s.get("Base")) or 0) for s in strategy if s.get("CapacityProvider") == "FARGATE"
        )
        return "Fargate Spot" + (f" (+{base} on-demand)" if base else "")
    if providers == {"FARGATE"} or p.get("LaunchType") == "FARGATE":
        return "Fargate"
    return str(p.get("LaunchType", "")).title()


STEPS = (Step(50, services, ("AWS::ECS::Service", "AWS::ECS::TaskDefinition")),)
