"""Diagram rules for the edge: CloudFront, WAF, API Gateway, custom domains, the routes from the front door
and the users' entry."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from dify_on_aws.diagram import graph
from dify_on_aws.diagram.rules.functions import rest_api_kind
from dify_on_aws.diagram.rules.table import Step
from dify_on_aws.diagram.text import as_list, find, plural, short_paths, summarize
from dify_on_aws.templates import Key

if TYPE_CHECKING:
    from dify_on_aws.diagram.deriver import Deriver


def distributions(d: Deriver) -> None:
    t = d.t
    hosts = host_names(d)
    for key in t.keys_of("AWS::CloudFront::Distribution"):
        config = t.props(key).get("DistributionConfig", {})
        names = hosts.get(key) or ["*.cloudfront.net"]
        details = [f"HTTPS · {summarize(names, 2)}"]
        if config.get("ViewerCertificate", {}).get("AcmCertificateArn"):
            details.append("TLS certificate (ACM, us-east-1)")
        behaviors = [config.get("DefaultCacheBehavior", {}), *as_list(config.get("CacheBehaviors"))]
        events = sorted(
            {str(a.get("EventType")) for b in behaviors for a in as_list(b.get("FunctionAssociations"))}
        )
        if events:
            details.append(f"CloudFront Functions ({', '.join(events)})")
        cached = short_paths(
            str(b.get("PathPattern"))
            for b in behaviors
            if b.get("PathPattern") and b.get("CachePolicyId") not in (None, graph.CACHING_DISABLED)
        )
        if cached:
            details.append(f"cached: {summarize(cached, 2)}")
        d.add(
            graph.Node("cloudfront", graph.CDN, "CloudFront", tuple(details), d.cluster_for(key, graph.AWS)),
            key,
        )


def web_acls(d: Deriver) -> None:
    t = d.t
    for key in t.keys_of("AWS::WAFv2::WebACL"):
        p = t.props(key)
        rules = [r for r in as_list(p.get("Rules")) if isinstance(r, dict)]
        managed = [
            str(r.get("Statement", {}).get("ManagedRuleGroupStatement", {}).get("Name", ""))
            .removeprefix("AWSManagedRules")
            .removesuffix("RuleSet")
            for r in rules
        ]
        details = [plural(len(rules), "rule")]
        if any(m for m in managed):
            details.append(summarize(m for m in managed if m))
        if any("RateBasedStatement" in r.get("Statement", {}) for r in rules):
            details.append("rate limit")
        countries = sorted({str(c) for r in rules for c in as_list(find(r.get("Statement"), "CountryCodes"))})
        if countries:
            details.append(f"countries: {summarize(countries, 4)}")
        if any(find(r.get("Statement"), "IPSetReferenceStatement") for r in rules):
            details.append("IP allow-list")
        if "Block" in p.get("DefaultAction", {}):
            details.append("default: block")
        scope = p.get("Scope")
        cluster = d.cluster_for(key, graph.AWS if scope == "CLOUDFRONT" else graph.REGION)
        d.add(graph.Node("waf", graph.WAF, "AWS WAF", tuple(details), cluster), key)


def api_gateways(d: Deriver) -> None:
    t = d.t
    hosts = host_names(d)
    for key in t.keys_of("AWS::ApiGatewayV2::Api"):
        p = t.props(key)
        protocol = str(p.get("ProtocolType", "HTTP"))
        details = [f"{protocol} API", *hosts.get(key, [])]
        if t.referencing("AWS::ApiGatewayV2::Authorizer", "ApiId", key):
            details.append("Lambda authorizer")
        node = d.add(
            graph.Node("apigw", graph.API_GATEWAY, "API Gateway", tuple(details), d.cluster_for(key)), key
        )
        for stage in t.referencing("AWS::ApiGatewayV2::Stage", "ApiId", key):
            d.node_of[stage] = node.id
    for key in t.keys_of("AWS::ApiGateway::RestApi"):
        kind = (rest_api_kind(d, [key]), *hosts.get(key, []))
        node = d.add(graph.Node("rest_api", graph.API_GATEWAY, "API Gateway", kind, d.cluster_for(key)), key)
        for stage in t.referencing("AWS::ApiGateway::Stage", "RestApiId", key):
            d.node_of[stage] = node.id
    for key in t.keys_of("AWS::ApiGatewayV2::VpcLink"):
        p = t.props(key)
        node = d.add(
            graph.Node("vpc_link", graph.VPC_LINK, "VPC link", (), d.placement(key[0], p.get("SubnetIds"))),
            key,
        )
        d.own_security_groups(node.id, key[0], p.get("SecurityGroupIds"))


def host_names(d: Deriver) -> dict[Key, list[str]]:
    """Route 53 alias records and custom domains that name a resource."""
    t = d.t
    names: dict[Key, list[str]] = defaultdict(list)
    for record in t.keys_of("AWS::Route53::RecordSet"):
        p = t.props(record)
        name = p.get("Name")
        if isinstance(name, str) and p.get("AliasTarget"):
            for target in _through(d, record[0], p.get("AliasTarget")):
                names[target].append(name.rstrip("."))
    for dist in t.keys_of("AWS::CloudFront::Distribution"):
        for alias in as_list(t.props(dist).get("DistributionConfig", {}).get("Aliases")):
            if isinstance(alias, str):
                names[dist].append(alias)
    for domain in t.keys_of("AWS::ApiGatewayV2::DomainName"):
        name = t.props(domain).get("DomainName")
        for mapping in t.referencing("AWS::ApiGatewayV2::ApiMapping", "DomainName", domain):
            for api in t.refs(mapping[0], t.props(mapping).get("ApiId")):
                if isinstance(name, str):
                    names[api].append(name)
    return {k: sorted(set(v)) for k, v in names.items()}


def _through(d: Deriver, stack: str, value: Any, depth: int = 0) -> list[Key]:
    """Referenced resources, following custom domains and mappings to the resource they front."""
    out: list[Key] = []
    for key in d.t.refs(stack, value):
        if d.t.type(key) == "AWS::ApiGatewayV2::DomainName" and depth < 3:
            for mapping in d.t.referencing("AWS::ApiGatewayV2::ApiMapping", "DomainName", key):
                out += d.t.refs(stack, d.t.props(mapping).get("ApiId"))
        out.append(key)
    return out


def routing(d: Deriver) -> None:
    """Front door -> origins / targets, labelled by the routes that lead there."""
    t = d.t
    for dist in t.keys_of("AWS::CloudFront::Distribution"):
        config = t.props(dist).get("DistributionConfig", {})
        src = d.node_of.get(dist, "")
        paths: dict[str, list[str]] = defaultdict(list)
        for behavior in as_list(config.get("CacheBehaviors")):
            paths[str(behavior.get("TargetOriginId"))].append(str(behavior.get("PathPattern", "")))
        default = str(config.get("DefaultCacheBehavior", {}).get("TargetOriginId"))
        for origin in as_list(config.get("Origins")):
            origin_id = str(origin.get("Id"))
            routes = short_paths(paths.get(origin_id, []))
            label = "default" if origin_id == default else ""
            if routes:
                label = summarize([label, *routes] if label else routes)
            if origin.get("VpcOriginConfig"):
                label = f"{label}\nVPC origin" if label else "VPC origin"
            for target in d.resolve(dist[0], origin):
                d.link(src, target, label)
    for dist, fn, event in sorted(set(d.edge_links)):
        if dist in d.node_of and fn in d.node_of:
            d.link(d.node_of[dist], d.node_of[fn], event, dashed=True)


def web_acl_links(d: Deriver) -> dict[str, str]:
    """Protected front-door node -> web ACL node."""
    t = d.t
    protected: dict[str, str] = {}
    for dist in t.keys_of("AWS::CloudFront::Distribution"):
        acl = t.props(dist).get("DistributionConfig", {}).get("WebACLId")
        for waf in d.resolve(dist[0], acl):
            protected[d.node_of[dist]] = waf
    for assoc in t.keys_of("AWS::WAFv2::WebACLAssociation"):
        p = t.props(assoc)
        for waf in d.resolve(assoc[0], p.get("WebACLArn")):
            for target in d.resolve(assoc[0], p.get("ResourceArn")):
                protected[target] = waf
    # A CloudFront web ACL in another stack (us-east-1) protects the distribution through a
    # cross-region reference; when the writing stack is not among the templates the model cannot follow it.
    global_acls = [k for k in t.keys_of("AWS::WAFv2::WebACL") if t.props(k).get("Scope") == "CLOUDFRONT"]
    dists = [d.node_of[k] for k in t.keys_of("AWS::CloudFront::Distribution")]
    unprotected = [n for n in dists if n not in protected]
    if len(global_acls) == 1 and unprotected and d.node_of[global_acls[0]] not in protected.values():
        for dist_node in unprotected:
            protected[dist_node] = d.node_of[global_acls[0]]
    return protected


def entry(d: Deriver) -> None:
    """Users -> (web ACL ->) every entry point that is not itself behind another front door (a private
    REST API is reached only through its VPC endpoint, never from the internet)."""
    entries = [
        n
        for n in d.nodes.values()
        if n.kind in (graph.CDN, graph.API_GATEWAY) and "private REST API" not in n.details
    ]
    entries += [
        n for n in d.nodes.values() if n.kind == graph.LOAD_BALANCER and "internet-facing" in n.details
    ]
    entries += [
        n
        for n in d.nodes.values()
        if n.kind == graph.FUNCTION and any(x.startswith("function URL") for x in n.details)
    ]
    fronted = {e.dst for e in d.edges.values()}
    entries = sorted(n for n in entries if n.id not in fronted)
    private = sorted(
        n
        for n in d.nodes.values()
        if n.kind == graph.LOAD_BALANCER and "internal" in n.details and n.id not in fronted
    )
    if not entries and not private:
        return
    who = "browsers, API clients" if entries else "VPN, Direct Connect, peered VPCs"
    d.add(graph.Node(graph.USERS, graph.USERS, "Users", (who,), ""))
    protected = web_acl_links(d)
    for node in entries:
        waf = protected.get(node.id)
        if waf:
            d.link(graph.USERS, waf, "HTTPS")
            d.link(waf, node.id)
        else:
            d.link(graph.USERS, node.id, "HTTPS")
    for node in private:
        d.link(graph.USERS, node.id, "private network")


STEPS = (
    Step(10, distributions, ("AWS::CloudFront::Distribution",)),
    Step(20, web_acls, ("AWS::WAFv2::WebACL",)),
    Step(
        40, api_gateways, ("AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::VpcLink", "AWS::ApiGateway::RestApi")
    ),
    Step(110, routing, ("AWS::CloudFront::Distribution",)),
    Step(140, entry, ("AWS::WAFv2::WebACLAssociation",)),
)
