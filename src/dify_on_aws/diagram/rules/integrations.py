"""Diagram rules for what Dify is wired to beside its own roles: e-mail through Amazon SES, the knowledge-base
External Knowledge API (reached through the SSRF proxy, in front of Bedrock), and the package index
(CodeArtifact behind the in-VPC package proxy).

Each is found in the templates, not in the configuration: an SES identity and the containers whose SMTP
server is an SES SMTP endpoint; the function marked by its knowledge-base variable and what fronts it (a
function URL, or a REST API that integrates it and the execute-api VPC endpoint before that); a CodeArtifact
repository, its external connection and the task roles IAM lets read it (`flows.permission_flows`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from dify_on_aws.diagram import graph
from dify_on_aws.diagram.rules.functions import knowledge_bases
from dify_on_aws.diagram.rules.table import Step
from dify_on_aws.diagram.text import as_list, slug, strings, summarize
from dify_on_aws.templates import Key

if TYPE_CHECKING:
    from dify_on_aws.diagram.deriver import Deriver

# SES's SMTP interface, email-smtp.<region>.amazonaws.com (SES "Connecting to an Amazon SES SMTP endpoint";
# services/mail.py smtp_endpoint, a test keeps the two in step). The region may be a deploy-time value.
_SES_SMTP = re.compile(r"^email-smtp\..+\.amazonaws\.com$")
# CodeArtifact's public upstreams (AssociateExternalConnection) -> (title, host).
_UPSTREAMS = {"public:pypi": ("PyPI", "pypi.org")}
# Dify's roles that call the External Knowledge API (through the SSRF proxy when there is one).
_KNOWLEDGE_CLIENTS = ("api", "worker")


def mail_identities(d: Deriver) -> None:
    """Amazon SES: its domain identities, or only the SMTP endpoint that containers name."""
    t = d.t
    identities = t.keys_of("AWS::SES::EmailIdentity")
    if not identities and not list(_smtp_senders(d)):
        return
    names, details = [], []
    for key in identities:
        p = t.props(key)
        names.append(" ".join(strings(p.get("EmailIdentity"))))
        if p.get("DkimSigningAttributes") or p.get("DkimAttributes", {}).get("SigningEnabled") is True:
            details.append("Easy DKIM")
        mail_from = p.get("MailFromAttributes", {}).get("MailFromDomain")
        if isinstance(mail_from, str):
            details.append(f"MAIL FROM {mail_from}")
    names = [n for n in names if n]
    head = f"identity {summarize(names, 2)}" if names else "SMTP interface"
    d.add(
        graph.Node("ses", graph.AWS_SERVICE, "Amazon SES", (head, *dict.fromkeys(details)), graph.REGION),
        *identities,
    )


def mail_flows(d: Deriver) -> None:
    """Container or function -> SES, for each whose SMTP server is an SES SMTP endpoint."""
    if "ses" not in d.nodes:
        return
    for node_id, port in sorted(set(_smtp_senders(d))):
        d.link(node_id, "ses", f"SMTP :{port}" if port else "SMTP")


def _smtp_senders(d: Deriver) -> Iterator[tuple[str, str]]:
    """(drawn node, SMTP port) of every container and function that sends mail through SES."""
    t = d.t
    for task in t.keys_of("AWS::ECS::TaskDefinition"):
        node = d.node_of.get(task)
        for container in as_list(t.props(task).get("ContainerDefinitions")):
            if not isinstance(container, Mapping) or node is None:
                continue
            env = {
                str(v.get("Name")): v.get("Value")
                for v in as_list(container.get("Environment"))
                if isinstance(v, Mapping)
            }
            if _is_ses(env.get("SMTP_SERVER")):
                name = str(container.get("Name"))
                yield d.task_containers.get((node, name), node), _text(env.get("SMTP_PORT"))
    for fn in t.keys_of("AWS::Lambda::Function"):
        variables = t.props(fn).get("Environment", {}).get("Variables", {})
        if fn in d.node_of and isinstance(variables, Mapping) and _is_ses(variables.get("SMTP_SERVER")):
            yield d.node_of[fn], _text(variables.get("SMTP_PORT"))


def _is_ses(value: Any) -> bool:
    return bool(_SES_SMTP.match("".join(strings(value))))


def _text(value: Any) -> str:
    return str(value) if isinstance(value, str | int) else ""


def package_repositories(d: Deriver) -> None:
    """AWS CodeArtifact (its domains and repositories as one node) and the public upstreams it fetches
    from on AWS's side."""
    t = d.t
    repositories = t.keys_of("AWS::CodeArtifact::Repository")
    if not repositories:
        return
    names = [str(t.props(k).get("RepositoryName", "")) for k in repositories]
    upstreams = sorted({str(c) for k in repositories for c in as_list(t.props(k).get("ExternalConnections"))})
    details = [f"repository {summarize(names, 2)}"] if any(names) else []
    node = d.add(
        graph.Node("codeartifact", graph.AWS_SERVICE, "AWS CodeArtifact", tuple(details), graph.REGION),
        *repositories,
        *t.keys_of("AWS::CodeArtifact::Domain"),
    )
    for connection in upstreams:
        title, host = _UPSTREAMS.get(connection, (connection.removeprefix("public:"), ""))
        upstream = d.add(
            graph.Node(f"upstream_{slug(title)}", graph.EXTERNAL, title, (host,), graph.INTERNET)
        )
        d.link(node.id, upstream.id, "upstream", dashed=True)


def knowledge_flows(d: Deriver) -> None:
    """Dify's api and worker (through the SSRF proxy) -> the External Knowledge API's front -> its
    function: a function URL over NAT, or an execute-api VPC endpoint before a private REST API."""
    t = d.t
    callers = _knowledge_callers(d)
    url_functions = {
        fn
        for url in t.keys_of("AWS::Lambda::Url")
        for fn in d.functions_in(url[0], t.props(url).get("TargetFunctionArn"))
    }
    for fn in t.keys_of("AWS::Lambda::Function"):
        if fn not in d.node_of or knowledge_bases(t.props(fn)) is None:
            continue
        node = d.node_of[fn]
        for api in _integrating_apis(d, fn):
            endpoints = _execute_api_endpoints(d, api)
            for caller in callers:
                for endpoint in endpoints:
                    d.link(caller, endpoint, "HTTPS (execute-api)")
                if not endpoints:
                    d.link(caller, d.node_of[api], "HTTPS")
            for endpoint in endpoints:
                d.link(endpoint, d.node_of[api])
        if fn in url_functions:
            for caller in callers:
                if "nat" in d.nodes and d.nodes[caller].cluster != graph.PUBLIC:
                    d.link(caller, "nat")
                    d.link("nat", node, "HTTPS (function URL)")
                else:
                    d.link(caller, node, "HTTPS (function URL)")


def _knowledge_callers(d: Deriver) -> list[str]:
    """The SSRF proxy (Dify sends external-knowledge requests through it), or the task it runs in; without
    one, the api and worker themselves."""
    proxies = [n.id for n in d.nodes.values() if n.role == "ssrf-proxy" and n.kind != graph.CONTAINER]
    proxies += [task for task, roles in d.task_roles.items() if "ssrf-proxy" in roles]
    if proxies:
        return sorted(proxies)
    clients = {
        n.cluster if n.cluster in d.task_roles else n.id
        for n in d.nodes.values()
        if n.role in _KNOWLEDGE_CLIENTS and n.kind in (graph.SERVICE, graph.FUNCTION, graph.CONTAINER)
    }
    return sorted(clients)


def _integrating_apis(d: Deriver, fn: Key) -> list[Key]:
    """Drawn REST APIs with a method that integrates the function."""
    t = d.t
    apis: set[Key] = set()
    for method in t.keys_of("AWS::ApiGateway::Method"):
        p = t.props(method)
        if fn in d.functions_in(method[0], p.get("Integration", {}).get("Uri")):
            apis.update(k for k in t.refs(method[0], p.get("RestApiId")) if k in d.node_of)
    return sorted(apis)


def _execute_api_endpoints(d: Deriver, api: Key) -> list[str]:
    """The drawn VPC endpoints a REST API names, else every drawn execute-api interface endpoint."""
    t = d.t
    config = t.props(api).get("EndpointConfiguration", {})
    named = [k for k in t.refs(api[0], config.get("VpcEndpointIds")) if k in d.node_of]
    if not named:
        named = [
            k
            for k in t.keys_of("AWS::EC2::VPCEndpoint")
            if k in d.node_of and "".join(strings(t.props(k).get("ServiceName"))).endswith(".execute-api")
        ]
    return sorted({d.node_of[k] for k in named})


STEPS = (
    Step(92, mail_identities, ("AWS::SES::EmailIdentity",)),
    Step(94, package_repositories, ("AWS::CodeArtifact::Repository", "AWS::CodeArtifact::Domain")),
    Step(135, knowledge_flows, ("AWS::Lambda::Url",)),
    Step(165, mail_flows),
)
