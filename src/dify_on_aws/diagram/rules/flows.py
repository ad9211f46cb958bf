"""Diagram rules for flows the templates imply: IAM grants (S3, Bedrock), Dify's known wiring where the
templates say nothing, and outbound calls through the SSRF proxy and NAT."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from dify_on_aws.diagram import graph
from dify_on_aws.diagram.rules.table import Step
from dify_on_aws.diagram.text import as_list, strings
from dify_on_aws.templates import Key

if TYPE_CHECKING:
    from dify_on_aws.diagram.deriver import Deriver


# How Dify's roles talk to each other, used only for nodes the templates say nothing about.
_KNOWN_FLOWS: dict[str, tuple[str, ...]] = {
    "api": (graph.DATABASE, graph.CACHE, graph.BUCKET, "sandbox", "plugin-daemon", "ssrf-proxy"),
    "worker": (graph.DATABASE, graph.CACHE, graph.BUCKET, "sandbox", "plugin-daemon", "ssrf-proxy"),
    "beat": (graph.DATABASE, graph.CACHE),
    "plugin-daemon": (graph.DATABASE, graph.CACHE, graph.BUCKET, "api"),
    "sandbox": ("ssrf-proxy",),
}
# Roles that call out of the VPC (model providers, marketplace, HTTP tools) when there is no SSRF proxy.
_EGRESS_ROLES = ("api", "worker", "plugin-daemon")
# Without data, these send their outbound HTTP through the SSRF proxy when one exists.
_PROXY_CLIENTS = ("api", "worker", "sandbox")


def permission_flows(d: Deriver) -> None:
    """Edges from IAM: node -> S3 bucket it may read/write, node -> a drawn AWS service whose resources
    it may use (CodeArtifact), node -> Bedrock ("Retrieve" when retrieving from knowledge bases is all
    it may do there)."""
    t = d.t
    bedrock_users: dict[str, set[str]] = {}
    for key, role_keys, statements in _policies(d):
        owners = sorted({o for r in role_keys for o in d.role_owner.get(r, [])})
        for statement in statements:
            if statement.get("Effect", "Allow") != "Allow":
                continue
            actions = [str(a) for a in as_list(statement.get("Action"))]
            bedrock_actions = {a for a in actions if a.lower().startswith("bedrock:") or a == "*"}
            for owner in owners if bedrock_actions else []:
                bedrock_users.setdefault(owner, set()).update(bedrock_actions)
            prefixes = {a.split(":", 1)[0].lower() for a in actions}
            for target in t.refs(key[0], statement.get("Resource")):
                node = d.nodes.get(d.node_of.get(target, ""))
                if node is not None and _grants_use(node, prefixes):
                    for owner in owners:
                        d.link(owner, node.id)
    statements = [s for _, _, st in _policies(d) for s in st if _grants_bedrock(s)]
    if statements:
        details = ["foundation models"]
        if any(":knowledge-base/" in r for s in statements for r in strings(s.get("Resource"))):
            details.append("knowledge bases")
        bedrock = d.add(
            graph.Node("bedrock", graph.AWS_SERVICE, "Amazon Bedrock", tuple(details), graph.REGION)
        )
        for owner, granted in sorted(bedrock_users.items()):
            retrieve_only = all(a.lower().startswith("bedrock:retrieve") for a in granted)
            d.link(owner, bedrock.id, "Retrieve" if retrieve_only else "")


def _grants_use(node: graph.Node, services: set[str]) -> bool:
    """An S3 action on a drawn bucket, or an action of any service on a drawn AWS service's resource."""
    return (node.kind == graph.BUCKET and "s3" in services) or node.kind == graph.AWS_SERVICE


def _grants_bedrock(statement: Mapping[str, Any]) -> bool:
    return statement.get("Effect", "Allow") == "Allow" and any(
        str(a).lower().startswith("bedrock:") for a in as_list(statement.get("Action"))
    )


def _policies(d: Deriver) -> Iterator[tuple[Key, list[Key], list[Mapping[str, Any]]]]:
    t = d.t
    for key in t.keys_of("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        p = t.props(key)
        statements = as_list(p.get("PolicyDocument", {}).get("Statement"))
        yield key, t.refs(key[0], p.get("Roles")), [s for s in statements if isinstance(s, dict)]
    for key in t.keys_of("AWS::IAM::Role"):
        for policy in as_list(t.props(key).get("Policies")):
            statements = as_list(policy.get("PolicyDocument", {}).get("Statement"))
            yield key, [key], [s for s in statements if isinstance(s, dict)]


def fallback_flows(d: Deriver) -> None:
    """Dify's own wiring where the templates say nothing: no security groups on either side of a
    network flow, no IAM role for a bucket flow. A multi-role task stands for its containers (what
    they do among themselves stays inside the task)."""
    iam_known = {o for owners in d.role_owner.values() for o in owners}
    for node in sorted(d.nodes.values()):
        if node.cluster in d.task_roles:
            continue
        own = d.task_roles.get(node.id, {node.role} - {""})
        wanted = dict.fromkeys(t for role in sorted(own) for t in _KNOWN_FLOWS.get(role, ()))
        for target in wanted:
            if target in own:
                continue
            if target == graph.BUCKET:
                if node.id in iam_known:
                    continue
                targets = [n.id for n in d.nodes.values() if n.kind == graph.BUCKET]
            elif target in (graph.DATABASE, graph.CACHE):
                targets = [n.id for n in d.nodes.values() if n.kind == target]
            else:
                targets = [
                    n.id
                    for n in d.nodes.values()
                    if n.role == target and n.kind in (graph.SERVICE, graph.FUNCTION, graph.CONTAINER)
                ]
            for dst in sorted(targets):
                if target == graph.BUCKET or not (node.id in d.sg_known and dst in d.restricted):
                    d.link(node.id, dst)


def egress(d: Deriver) -> None:
    """Outbound calls: through the SSRF proxy when there is one, out through NAT to the internet."""
    hop = "nat" if "nat" in d.nodes else ""
    proxies = [n for n in d.nodes.values() if n.role == "ssrf-proxy" and n.kind != graph.CONTAINER]
    clients = _proxy_clients(d, proxies)
    outbound = [n.id for n in proxies]
    # A multi-role task leaves through its own network interface, whichever container calls out.
    outbound += [task for task, roles in d.task_roles.items() if roles & {*_EGRESS_ROLES, "ssrf-proxy"}]
    outbound += [
        n.id
        for n in d.nodes.values()
        if (
            n.kind == graph.SERVICE
            or (n.kind == graph.FUNCTION and n.cluster in (graph.PRIVATE, graph.PUBLIC))
        )
        and n.role in _EGRESS_ROLES
        and (n.id not in clients or n.role == "plugin-daemon")
    ]
    outbound = [n for n in outbound if _may_leave(d, n)]
    if not outbound or not (hop or any(d.nodes[n].cluster == graph.PUBLIC for n in outbound)):
        return
    externals = _externals(d)
    for src in sorted(set(outbound)):
        if hop and d.nodes[src].cluster != graph.PUBLIC:
            d.link(src, hop)
        else:
            for ext in externals:
                d.link(src, ext.id)
    if hop:
        for ext in externals:
            d.link(hop, ext.id, "HTTPS" if ext.id == "model_apis" else "")


def _proxy_clients(d: Deriver, proxies: list[graph.Node]) -> set[str]:
    """Nodes that reach the SSRF proxy (from its security group rules, else Dify's defaults)."""
    clients: set[str] = set()
    for proxy in proxies:
        incoming = {e.src for e in d.edges.values() if e.dst == proxy.id}
        if not incoming:
            incoming = {
                n.id for n in d.nodes.values() if n.kind == graph.SERVICE and n.role in _PROXY_CLIENTS
            }
            for src in sorted(incoming):
                d.link(src, proxy.id)
        clients |= incoming
    return clients


def _externals(d: Deriver) -> list[graph.Node]:
    """Model provider APIs, and the plugin marketplace when plugins can be installed from it."""
    env = d.container_env
    marketplace = "true" in env.get("MARKETPLACE_ENABLED", set()) or any(
        n.role == "plugin-daemon" for n in d.nodes.values()
    )
    urls = sorted(env.get("MARKETPLACE_API_URL", set()) | env.get("MARKETPLACE_URL", set()))
    host = re.sub(r"^https?://", "", urls[0]).rstrip("/") if urls else "marketplace.dify.ai"
    externals = [
        d.add(
            graph.Node(
                "model_apis",
                graph.EXTERNAL,
                "Model provider APIs",
                ("LLM, embedding, tools",),
                graph.INTERNET,
            )
        )
    ]
    if marketplace:
        externals.append(
            d.add(graph.Node("marketplace", graph.EXTERNAL, "Dify Marketplace", (host,), graph.INTERNET))
        )
    return externals


def _may_leave(d: Deriver, node_id: str) -> bool:
    """False when every security group of the node blocks outbound internet traffic."""
    groups = [sg for sg, owners in d.sg_owners.items() if node_id in owners]
    if not groups:
        return True
    for sg in groups:
        egress = d.t.props(sg).get("SecurityGroupEgress")
        if egress is None:
            return True
        for rule in as_list(egress):
            if isinstance(rule, dict) and rule.get("CidrIp") == "0.0.0.0/0":
                return True
    return False


STEPS = (
    Step(160, permission_flows, ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::Role")),
    Step(170, fallback_flows),
    Step(180, egress),
)
