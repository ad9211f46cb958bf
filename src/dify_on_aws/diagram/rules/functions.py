"""Diagram rules for Lambda: the functions that serve requests (URLs, API Gateway, load balancers,
authorizers, Lambda@Edge, the knowledge-base External Knowledge API); custom-resource handlers and
providers are left out."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dify_on_aws.diagram import graph
from dify_on_aws.diagram.rules.table import Step
from dify_on_aws.diagram.text import as_list, fmt, image_name, plural, slug, summarize
from dify_on_aws.templates import Key, number

if TYPE_CHECKING:
    from dify_on_aws.diagram.deriver import Deriver

# The variable that lists the knowledge bases of the External Knowledge API function (the name
# services/knowledge.py gives it; a test keeps the two equal). It marks that function, whatever fronts it.
KNOWLEDGE_BASES_VARIABLE = "DIFY_KNOWLEDGE_BASES"
KNOWLEDGE_NODE = "fn_knowledge_api"


def functions(d: Deriver) -> None:
    """Lambda functions that serve requests; custom-resource handlers and providers are left out."""
    t = d.t
    serving = _serving_functions(d)
    titles = {"authorizer": "Lambda authorizer", "edge": "Lambda@Edge"}
    for key in sorted(serving):
        p = t.props(key)
        how = serving[key]
        role = _function_role(d, p, how)
        title = titles.get(role, f"Lambda: {role}")
        node_id = f"fn_{slug(role)}"
        details = [how.removeprefix("Lambda@Edge").strip(" ()") if role == "edge" else how]
        purpose = dify_purpose(p.get("Description"))
        bases = knowledge_bases(p)
        if bases is not None:
            title, node_id = "Lambda: External Knowledge API", KNOWLEDGE_NODE
            details.insert(0, _bases_text(bases))
        elif role == "function" and purpose:
            # A function of its own (not a Dify role), described as "Dify <what> (<how>, <more>)".
            title, node_id = f"Lambda: {purpose[0]}", f"fn_{slug(purpose[0].split('(')[0])}"
            details.insert(0, purpose[1])
        if role == "authorizer":
            description = str(p.get("Description", ""))
            details = [description if 0 < len(description) <= 48 else ""]
        memory = number(p.get("MemorySize"))
        arch = " ".join(str(a) for a in as_list(p.get("Architectures")))
        details.append(" · ".join(filter(None, [f"{fmt(memory / 1024)} GB" if memory else "", arch])))
        image = p.get("Code", {}).get("ImageUri")
        if isinstance(image, str):
            details.insert(0, image_name(image))
        vpc = p.get("VpcConfig", {})
        cluster = d.placement(key[0], vpc.get("SubnetIds")) if vpc else d.cluster_for(key)
        node = d.add(
            graph.Node(
                node_id,
                graph.FUNCTION,
                title,
                tuple(x for x in details if x and x != title),
                cluster,
                role if role in graph.ROLES else "",
            ),
            key,
        )
        d.own_security_groups(node.id, key[0], vpc.get("SecurityGroupIds"))
        for role_key in t.refs(key[0], p.get("Role")):
            d.role_owner[role_key].append(node.id)


def _serving_functions(d: Deriver) -> dict[Key, str]:
    """Function -> how it serves requests."""
    t = d.t
    serving: dict[Key, str] = {}
    for url in t.keys_of("AWS::Lambda::Url"):
        p = t.props(url)
        auth = " (IAM auth)" if p.get("AuthType") == "AWS_IAM" else ""
        how = [
            f"function URL{auth}",
            "streaming" if p.get("InvokeMode") == "RESPONSE_STREAM" else "",
            "public URL" if p.get("AuthType") == "NONE" else "",
        ]
        for fn in d.functions_in(url[0], p.get("TargetFunctionArn")):
            serving.setdefault(fn, " · ".join(filter(None, how)))
    for fn, through in _gateway_functions(d):
        if through == "authorizer":
            serving[fn] = through
        else:
            serving.setdefault(fn, through)
    for target_group in t.keys_of("AWS::ElasticLoadBalancingV2::TargetGroup"):
        p = t.props(target_group)
        if p.get("TargetType") == "lambda":
            for fn in d.functions_in(target_group[0], p.get("Targets")):
                serving.setdefault(fn, "load balancer target")
    for fn, event in _edge_functions(d).items():
        serving[fn] = f"Lambda@Edge{f' ({event})' if event else ''}"
    for fn in t.keys_of("AWS::Lambda::Function"):
        if knowledge_bases(t.props(fn)) is not None:
            serving.setdefault(fn, "")  # drawn whatever fronts it
    return serving


def _gateway_functions(d: Deriver) -> list[tuple[Key, str]]:
    """(function, how) for API Gateway integrations (HTTP APIs and REST API methods) and authorizers."""
    t = d.t
    found: list[tuple[Key, str]] = []
    for integration in t.keys_of("AWS::ApiGatewayV2::Integration"):
        for fn in d.functions_in(integration[0], t.props(integration).get("IntegrationUri")):
            found.append((fn, "API Gateway integration"))
    for method in t.keys_of("AWS::ApiGateway::Method"):
        p = t.props(method)
        how = f"{rest_api_kind(d, t.refs(method[0], p.get('RestApiId')))} integration"
        found += [(fn, how) for fn in d.functions_in(method[0], p.get("Integration", {}).get("Uri"))]
    for authorizer in t.keys_of("AWS::ApiGatewayV2::Authorizer"):
        for fn in d.functions_in(authorizer[0], t.props(authorizer).get("AuthorizerUri")):
            found.append((fn, "authorizer"))
    return found


def rest_api_kind(d: Deriver, apis: list[Key]) -> str:
    """'private REST API' for an API Gateway REST API whose endpoint type is PRIVATE, else 'REST API'."""
    for key in apis:
        types = as_list(d.t.props(key).get("EndpointConfiguration", {}).get("Types"))
        if "PRIVATE" in types:
            return "private REST API"
    return "REST API"


def knowledge_bases(p: Mapping[str, Any]) -> list[str] | None:
    """The knowledge base IDs of the External Knowledge API function (a JSON list in its
    DIFY_KNOWLEDGE_BASES variable); None for any other function."""
    variables = p.get("Environment", {}).get("Variables", {})
    if not isinstance(variables, Mapping) or KNOWLEDGE_BASES_VARIABLE not in variables:
        return None
    try:
        ids = json.loads(str(variables[KNOWLEDGE_BASES_VARIABLE]))
    except ValueError:
        return []
    return [str(i) for i in ids] if isinstance(ids, list) else []


def _bases_text(bases: list[str]) -> str:
    if not bases:
        return "Bedrock knowledge bases"
    return f"{plural(len(bases), 'knowledge base')}: {summarize(bases, 2)}"


def _edge_functions(d: Deriver) -> dict[Key, str]:
    """Functions associated with a distribution, directly or (across stacks) through a version.

    Also records (distribution, function, event type) in `d.edge_links` for routing()."""
    t = d.t
    events: dict[Key, str] = {}
    for dist in t.keys_of("AWS::CloudFront::Distribution"):
        config = t.props(dist).get("DistributionConfig", {})
        behaviors = [config.get("DefaultCacheBehavior", {}), *as_list(config.get("CacheBehaviors"))]
        unresolved: list[str] = []
        for behavior in behaviors:
            for assoc in as_list(behavior.get("LambdaFunctionAssociations")):
                event = str(assoc.get("EventType", ""))
                fns = d.functions_in(dist[0], assoc.get("LambdaFunctionARN"))
                for fn in fns:
                    events[fn] = event
                    d.edge_links.append((dist, fn, event))
                if not fns:
                    unresolved.append(event)
        if not unresolved:
            continue
        # A cross-region reference (SSM parameter) the model cannot follow (its writer is not among the
        # templates) hides the version: take every versioned function of the stacks without a VPC.
        event = summarize(sorted(set(unresolved)))
        for version in t.keys_of("AWS::Lambda::Version"):
            if version[0] in d.edge_stacks:
                for fn in d.functions_in(version[0], t.props(version).get("FunctionName")):
                    events.setdefault(fn, event)
                    d.edge_links.append((dist, fn, event))
    return events


def _function_role(d: Deriver, p: Mapping[str, Any], how: str) -> str:
    variables = p.get("Environment", {}).get("Variables", {})
    mode = variables.get("MODE") if isinstance(variables, dict) else None
    if isinstance(mode, str) and mode in graph.ROLES:
        return mode
    image = str(p.get("Code", {}).get("ImageUri", ""))
    for role in graph.ROLES:
        if f"dify-{role}" in image:
            return role
    if how == "authorizer":
        return "authorizer"
    if how.startswith("Lambda@Edge"):
        return "edge"
    purpose = dify_purpose(p.get("Description"))
    if purpose:
        first = purpose[0].split(" ", 1)[0]
        return first if first in graph.ROLES else "function"
    text = f"{p.get('Description', '')} {p.get('Handler', '')}".lower()
    return next((r for r in graph.ROLES if re.search(rf"\b{re.escape(r)}\b", text)), "function")


def dify_purpose(description: Any) -> tuple[str, str] | None:
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


STEPS = (Step(60, functions, ("AWS::Lambda::Function",)),)
