"""`[package_index] type = "codeartifact"`: a CodeArtifact repository with public PyPI as its upstream, the
package proxy in front of it, and the plugin daemon and the sandbox installing from the proxy.

The proxy's own behaviour (tokens, pass-through, errors, pip through it) is in
tests/runtime/test_package_proxy.py; who reaches it is in tests/test_reachability.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from dify_on_aws.app import SynthResult
from dify_on_aws.config import ConfigError, DifyConfig
from dify_on_aws.network.endpoints import endpoint_needs
from dify_on_aws.services import package_index

from .conftest import config_of
from .template_queries import ecs_service_role, of_type

NAMESPACE = "difypackages.dify.internal"  # the example's stack name, lower case, + .dify.internal


@pytest.fixture(scope="module")
def body(example_results: Mapping[str, SynthResult]) -> dict[str, Any]:
    (template,) = example_results["package-index.toml"].templates.values()
    return template


def _containers(resources: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        c["Name"]: c
        for task in of_type(resources, "AWS::ECS::TaskDefinition").values()
        for c in task["Properties"]["ContainerDefinitions"]
    }


def _environment(container: Mapping[str, Any]) -> dict[str, Any]:
    return {e["Name"]: e["Value"] for e in container.get("Environment", [])}


def _logical_id(resources: Mapping[str, Any], kind: str) -> str:
    (lid,) = of_type(resources, kind)
    return lid


def test_one_repository_with_an_external_connection_to_public_pypi(body: dict[str, Any]) -> None:
    """A repository can have one external connection (CodeArtifact: "Connect a CodeArtifact repository to a
    public repository"); `public:pypi` is PyPI's name. The repository is in the stack's domain."""
    template = Template.from_json(body)
    template.resource_count_is("AWS::CodeArtifact::Domain", 1)
    template.resource_count_is("AWS::CodeArtifact::Repository", 1)
    domain = _logical_id(body["Resources"], "AWS::CodeArtifact::Domain")
    template.has_resource_properties(
        "AWS::CodeArtifact::Repository",
        {
            "ExternalConnections": ["public:pypi"],
            "DomainName": {"Fn::GetAtt": [domain, "Name"]},
            "DomainOwner": {"Fn::GetAtt": [domain, "Owner"]},
        },
    )
    template.has_resource_properties("AWS::CodeArtifact::Domain", {"DomainName": "difypackages-packages"})


def _proxy_policy(resources: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The statements of the package proxy's task role."""
    containers = _containers(resources)
    assert package_index.NAME in containers
    (task,) = [
        t
        for t in of_type(resources, "AWS::ECS::TaskDefinition").values()
        if t["Properties"]["ContainerDefinitions"][0]["Name"] == package_index.NAME
    ]
    role = task["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in of_type(resources, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_proxy_role_may_read_this_repository_only(body: dict[str, Any]) -> None:
    """GetAuthorizationToken on the domain, ReadFromRepository on the repository, and
    sts:GetServiceBearerToken for CodeArtifact only (GetAuthorizationToken API reference: "This API requires
    the codeartifact:GetAuthorizationToken and sts:GetServiceBearerToken permissions")."""
    resources = body["Resources"]
    domain = _logical_id(resources, "AWS::CodeArtifact::Domain")
    repository = _logical_id(resources, "AWS::CodeArtifact::Repository")
    statements = {
        str(s["Action"]): s for s in _proxy_policy(resources) if "ssmmessages" not in str(s["Action"])
    }
    assert statements["codeartifact:GetAuthorizationToken"]["Resource"] == {"Fn::GetAtt": [domain, "Arn"]}
    assert statements["codeartifact:ReadFromRepository"]["Resource"] == {"Fn::GetAtt": [repository, "Arn"]}
    bearer = statements["sts:GetServiceBearerToken"]
    assert bearer["Condition"] == {"StringEquals": {"sts:AWSServiceName": "codeartifact.amazonaws.com"}}
    assert set(statements) == {
        "codeartifact:GetAuthorizationToken",
        "codeartifact:ReadFromRepository",
        "sts:GetServiceBearerToken",
    }


def test_no_other_role_touches_codeartifact(body: dict[str, Any]) -> None:
    """Only the proxy holds CodeArtifact permissions: the daemon and the sandbox (which runs user code)
    get none and never see a token."""
    proxy = _proxy_policy(body["Resources"])
    for policy in of_type(body["Resources"], "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if "codeartifact" in str(statement["Action"]) or "GetServiceBearerToken" in str(
                statement["Action"]
            ):
                assert statement in proxy


def test_daemon_and_sandbox_install_from_the_proxy(body: dict[str, Any]) -> None:
    containers = _containers(body["Resources"])
    url = f"http://package-index.{NAMESPACE}:8080/simple/"
    daemon = _environment(containers["plugin-daemon"])
    sandbox = _environment(containers["sandbox"])
    assert daemon["PIP_MIRROR_URL"] == sandbox["PIP_MIRROR_URL"] == url
    assert sandbox["PIP_TRUSTED_HOST"] == f"package-index.{NAMESPACE}:8080"
    for env in (daemon, sandbox):
        assert f"package-index.{NAMESPACE}" in env["NO_PROXY"].split(",")
        assert env["no_proxy"] == env["NO_PROXY"]


def test_the_proxy_has_a_private_dns_name_in_the_cluster_namespace(body: dict[str, Any]) -> None:
    template = Template.from_json(body)
    namespace = _logical_id(body["Resources"], "AWS::ServiceDiscovery::PrivateDnsNamespace")
    template.has_resource_properties("AWS::ServiceDiscovery::PrivateDnsNamespace", {"Name": NAMESPACE})
    template.has_resource_properties(
        "AWS::ServiceDiscovery::Service",
        {
            "Name": package_index.NAME,
            "NamespaceId": {"Fn::GetAtt": [namespace, "Id"]},
            "DnsConfig": Match.object_like({"DnsRecords": [{"TTL": 10, "Type": "A"}]}),
        },
    )


def test_the_proxy_runs_its_source_on_a_stock_python_image(body: dict[str, Any]) -> None:
    """No image is built: `python3 -c` runs the source from the environment (it holds no secret)."""
    proxy = _containers(body["Resources"])[package_index.NAME]
    assert proxy["Image"] == "public.ecr.aws/docker/library/python:3.13-slim"
    assert proxy["EntryPoint"] == list(package_index.ENTRY_POINT)
    env = _environment(proxy)
    assert env[package_index.SOURCE_VARIABLE] == package_index.SOURCE.read_text(encoding="utf-8")
    assert proxy["PortMappings"] == [{"ContainerPort": 8080, "Name": "package-index", "Protocol": "tcp"}]
    assert proxy["HealthCheck"]["Command"] == list(package_index.HEALTH_CHECK)
    assert "Secrets" not in proxy


def test_the_proxy_task_definition_fits_ecs_size_limit(body: dict[str, Any]) -> None:
    """The source travels in the task definition, which ECS caps at 64 KiB (Amazon ECS service quotas,
    "Task definition size"); keep the proxy well under half of it."""
    (task,) = [
        t["Properties"]
        for t in of_type(body["Resources"], "AWS::ECS::TaskDefinition").values()
        if t["Properties"]["ContainerDefinitions"][0]["Name"] == package_index.NAME
    ]
    assert len(json.dumps(task)) < 32 * 1024


def test_daemon_and_sandbox_start_after_the_proxy(body: dict[str, Any]) -> None:
    """Both install packages at start: their ECS services are created once the proxy's is stable."""
    resources = body["Resources"]
    services = {
        ecs_service_role(resources, s): lid for lid, s in of_type(resources, "AWS::ECS::Service").items()
    }
    for client in ("plugin-daemon", "sandbox"):
        assert services[package_index.NAME] in resources[services[client]].get("DependsOn", []), client


def test_the_proxy_egress_is_https_only(body: dict[str, Any]) -> None:
    resources = body["Resources"]
    (group,) = [
        g for g in of_type(resources, "AWS::EC2::SecurityGroup").values()
        if g["Properties"]["GroupDescription"] == "Dify package-index (egress restricted)"
    ]  # fmt: skip
    assert [
        (r["IpProtocol"], r["FromPort"], r["ToPort"]) for r in group["Properties"]["SecurityGroupEgress"]
    ] == [("tcp", 443, 443)]


def test_without_a_package_index_nothing_changes(template: Template, default_result: SynthResult) -> None:
    template.resource_count_is("AWS::CodeArtifact::Domain", 0)
    template.resource_count_is("AWS::CodeArtifact::Repository", 0)
    (body,) = default_result.templates.values()
    containers = _containers(body["Resources"])
    assert package_index.NAME not in containers
    for name in ("plugin-daemon", "sandbox"):
        assert not {"PIP_MIRROR_URL", "PIP_TRUSTED_HOST"} & set(_environment(containers[name]))


def test_one_task_gets_the_index_too(synth: Callable[[DifyConfig], SynthResult]) -> None:
    """With every role in one task, its daemon and sandbox containers install from the proxy, which
    stays a service of its own (its task role is the only one with CodeArtifact access)."""
    config = config_of(
        name="Lean",
        services={"layout": "single_task"},
        cache={"engine": "container"},
        front_door={"type": "api_gateway"},
        package_index={"type": "codeartifact"},
    )
    (body,) = synth(config).templates.values()
    containers = _containers(body["Resources"])
    url = "http://package-index.lean.dify.internal:8080/simple/"
    for name in ("plugin-daemon", "sandbox"):
        env = _environment(containers[name])
        assert env["PIP_MIRROR_URL"] == url
        assert "package-index.lean.dify.internal" in env["NO_PROXY"].split(",")


@pytest.mark.parametrize("name", ["D", "Dify", "Dify-", "A234567890123456789012345678901-", "x9"])
def test_every_instance_name_makes_a_valid_domain_name(name: str) -> None:
    """CreateDomain: a domain name is 2-50 characters of [a-z0-9-], starting with a letter and ending with a
    letter or digit; every valid `name` (a letter, then up to 31 letters, digits and '-') gives one."""
    domain = package_index.domain_name(config_of(name=name).name)
    assert re.fullmatch(package_index.DOMAIN_PATTERN, domain), domain


def test_a_closed_network_needs_the_two_codeartifact_endpoints() -> None:
    """CodeArtifact "Create VPC endpoints for CodeArtifact": `codeartifact.api` (GetAuthorizationToken) and
    `codeartifact.repositories` (package managers; private DNS required); the S3 gateway endpoint is "not
    needed when using Python" packages. The closed-network endpoint list takes these names."""
    needs = endpoint_needs(bedrock=False, package_index=True)
    assert {"codeartifact.api", "codeartifact.repositories"} <= {need.service for need in needs}
    assert "codeartifact.api" not in {need.service for need in endpoint_needs(bedrock=False)}


def test_a_bad_proxy_image_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"package_index\.proxy_image"):
        config_of(package_index={"type": "codeartifact", "proxy_image": "not an image"})
    with pytest.raises(ConfigError, match=r"package_index\.type"):
        config_of(package_index={"type": "nexus"})
