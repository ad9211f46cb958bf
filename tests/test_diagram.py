"""`dify-on-aws diagram`: the architecture derived from synthesized templates, its DOT text, the SVG and
PNG rendered by Graphviz, and the committed diagrams in docs/diagrams/ staying in sync with the code.

Rendering needs Graphviz `dot` (scripts/install-graphviz.sh); those tests skip without it, unless
DIFY_REQUIRE_GRAPHVIZ=1 (CI) turns the skip into a failure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from dify_on_aws.app import SynthResult
from dify_on_aws.config import DifyConfig, load_config
from dify_on_aws.diagram import command, model, render
from dify_on_aws.diagram.model import Architecture, derive

from .conftest import ROOT

DIFY_ROLES = ("api", "worker", "beat", "web", "sandbox", "plugin-daemon")
DIAGRAMS = ROOT / "docs" / "diagrams"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
Template = dict[str, Any]


@pytest.fixture
def needs_dot() -> None:
    if render.find_dot() is None:
        message = "graphviz `dot` not installed (scripts/install-graphviz.sh)"
        if os.environ.get("DIFY_REQUIRE_GRAPHVIZ") == "1":
            pytest.fail(f"DIFY_REQUIRE_GRAPHVIZ=1 but {message}")
        pytest.skip(message)


@pytest.fixture(scope="module")
def default_example(synth: Callable[[DifyConfig], SynthResult]) -> tuple[DifyConfig, SynthResult]:
    config = load_config(ROOT / "examples" / "default.toml")
    return config, synth(config)


@pytest.fixture(scope="module")
def default_arch(default_example: tuple[DifyConfig, SynthResult]) -> Architecture:
    config, result = default_example
    return derive(result.templates, title=command.title_of(config), region=config.region)


# --- hand-made templates in the shapes each front door synthesizes -----------------------------------


def ref(lid: str) -> dict[str, Any]:
    return {"Ref": lid}


def att(lid: str, attr: str = "Arn") -> dict[str, Any]:
    return {"Fn::GetAtt": [lid, attr]}


def r(kind: str, **props: Any) -> Template:
    return {"Type": kind, "Properties": props}


def network() -> Template:
    """A VPC with one public subnet (internet gateway, NAT) and one private subnet (default route to NAT)."""
    return {
        "Vpc": r("AWS::EC2::VPC", CidrBlock="10.0.0.0/16"),
        "Igw": r("AWS::EC2::InternetGateway"),
        "PubSubnet": r("AWS::EC2::Subnet", VpcId=ref("Vpc"), MapPublicIpOnLaunch=True),
        "PrivSubnet": r("AWS::EC2::Subnet", VpcId=ref("Vpc")),
        "PubTable": r("AWS::EC2::RouteTable", VpcId=ref("Vpc")),
        "PrivTable": r("AWS::EC2::RouteTable", VpcId=ref("Vpc")),
        "PubRoute": r(
            "AWS::EC2::Route",
            RouteTableId=ref("PubTable"),
            DestinationCidrBlock="0.0.0.0/0",
            GatewayId=ref("Igw"),
        ),
        "PrivRoute": r(
            "AWS::EC2::Route",
            RouteTableId=ref("PrivTable"),
            DestinationCidrBlock="0.0.0.0/0",
            NatGatewayId=ref("Nat"),
        ),
        "PubAssoc": r(
            "AWS::EC2::SubnetRouteTableAssociation", SubnetId=ref("PubSubnet"), RouteTableId=ref("PubTable")
        ),
        "PrivAssoc": r(
            "AWS::EC2::SubnetRouteTableAssociation", SubnetId=ref("PrivSubnet"), RouteTableId=ref("PrivTable")
        ),
        "Nat": r("AWS::EC2::NatGateway", SubnetId=ref("PubSubnet")),
    }


def ecs_service(
    prefix: str,
    role: str,
    *,
    sg: str | None = None,
    spot: bool = False,
    target_group: str | None = None,
    registry: str | None = None,
    cpu: str = "1024",
    memory: str = "2048",
) -> Template:
    """A task definition whose essential container is named after the role, and its service."""
    service: dict[str, Any] = {
        "TaskDefinition": ref(f"{prefix}Task"),
        "DesiredCount": 2,
        "NetworkConfiguration": {
            "AwsvpcConfiguration": {
                "AssignPublicIp": "DISABLED",
                "Subnets": [ref("PrivSubnet")],
                "SecurityGroups": [att(sg, "GroupId")] if sg else [],
            }
        },
        "CapacityProviderStrategy": [
            {"CapacityProvider": "FARGATE_SPOT" if spot else "FARGATE", "Weight": 1}
        ],
    }
    if target_group:
        service["LoadBalancers"] = [{"ContainerName": role, "TargetGroupArn": ref(target_group)}]
    if registry:
        service["ServiceRegistries"] = [{"RegistryArn": att(registry)}]
    containers = [
        {"Name": role, "Essential": True, "Image": f"docker.io/langgenius/dify-{role}:9.9.9"},
        {"Name": "dependencies", "Essential": False, "Image": "busybox"},
    ]
    return {
        f"{prefix}Task": r(
            "AWS::ECS::TaskDefinition",
            Cpu=cpu,
            Memory=memory,
            RuntimePlatform={"CpuArchitecture": "ARM64"},
            ContainerDefinitions=containers,
        ),
        f"{prefix}Service": r("AWS::ECS::Service", **service),
    }


def sg_rule(to: str, source: str, port: int) -> Template:
    return r(
        "AWS::EC2::SecurityGroupIngress",
        GroupId=att(to, "GroupId"),
        SourceSecurityGroupId=att(source, "GroupId"),
        FromPort=port,
        ToPort=port,
        IpProtocol="tcp",
    )


def provider_function() -> Template:
    """A custom-resource handler, which the diagram must leave out."""
    return {
        "ProviderFn": r("AWS::Lambda::Function", Handler="framework.onEvent", Runtime="nodejs22.x"),
        "CustomThing": r("Custom::Lookup", ServiceToken=att("ProviderFn")),
    }


def alb_template() -> Template:
    resources: Template = {
        **network(),
        "AlbSg": r(
            "AWS::EC2::SecurityGroup", SecurityGroupIngress=[{"CidrIp": "203.0.113.0/24", "FromPort": 443}]
        ),
        "ApiSg": r("AWS::EC2::SecurityGroup"),
        "WebSg": r("AWS::EC2::SecurityGroup"),
        "Alb": r(
            "AWS::ElasticLoadBalancingV2::LoadBalancer",
            Scheme="internet-facing",
            Type="application",
            Subnets=[ref("PubSubnet")],
            SecurityGroups=[att("AlbSg", "GroupId")],
        ),
        "Https": r(
            "AWS::ElasticLoadBalancingV2::Listener",
            LoadBalancerArn=ref("Alb"),
            Port=443,
            Protocol="HTTPS",
            Certificates=[{"CertificateArn": ref("Cert")}],
            DefaultActions=[{"Type": "forward", "TargetGroupArn": ref("WebTargets")}],
        ),
        "ApiRule": r(
            "AWS::ElasticLoadBalancingV2::ListenerRule",
            ListenerArn=ref("Https"),
            Priority=10,
            Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*", "/v1/*"]}}],
            Actions=[{"Type": "forward", "TargetGroupArn": ref("ApiTargets")}],
        ),
        "Cert": r("AWS::CertificateManager::Certificate", DomainName="dify.example.com"),
        "Record": r(
            "AWS::Route53::RecordSet",
            Name="dify.example.com.",
            Type="A",
            AliasTarget={
                "DNSName": att("Alb", "DNSName"),
                "HostedZoneId": att("Alb", "CanonicalHostedZoneID"),
            },
        ),
        "ApiTargets": r("AWS::ElasticLoadBalancingV2::TargetGroup", Port=5001, TargetType="ip"),
        "WebTargets": r("AWS::ElasticLoadBalancingV2::TargetGroup", Port=3000, TargetType="ip"),
        "ApiFromAlb": sg_rule("ApiSg", "AlbSg", 5001),
        "WebFromAlb": sg_rule("WebSg", "AlbSg", 3000),
        **ecs_service("Api", "api", sg="ApiSg", target_group="ApiTargets"),
        **ecs_service("Web", "web", sg="WebSg", target_group="WebTargets", cpu="256", memory="512"),
        **provider_function(),
    }
    return {"Resources": resources}


def api_gateway_template() -> Template:
    resources: Template = {
        **network(),
        "LinkSg": r("AWS::EC2::SecurityGroup"),
        "ApiSg": r("AWS::EC2::SecurityGroup"),
        "ApiFromLink": sg_rule("ApiSg", "LinkSg", 5001),
        "HttpApi": r("AWS::ApiGatewayV2::Api", ProtocolType="HTTP", Name="Api"),
        "Stage": r("AWS::ApiGatewayV2::Stage", ApiId=ref("HttpApi"), StageName="$default", AutoDeploy=True),
        "Link": r(
            "AWS::ApiGatewayV2::VpcLink",
            SubnetIds=[ref("PrivSubnet")],
            SecurityGroupIds=[att("LinkSg", "GroupId")],
        ),
        "ApiCloudMap": r("AWS::ServiceDiscovery::Service", Name="api"),
        "ApiIntegration": r(
            "AWS::ApiGatewayV2::Integration",
            ApiId=ref("HttpApi"),
            ConnectionType="VPC_LINK",
            ConnectionId=ref("Link"),
            IntegrationType="HTTP_PROXY",
            IntegrationMethod="ANY",
            IntegrationUri=att("ApiCloudMap"),
        ),
        # An integration whose URI comes from a lookup custom resource, matched by attribute name.
        "WebIntegration": r(
            "AWS::ApiGatewayV2::Integration",
            ApiId=ref("HttpApi"),
            ConnectionType="VPC_LINK",
            ConnectionId=ref("Link"),
            IntegrationType="HTTP_PROXY",
            IntegrationUri=att("CustomThing", "webArn"),
        ),
        "ApiRoute": r(
            "AWS::ApiGatewayV2::Route",
            ApiId=ref("HttpApi"),
            RouteKey="ANY /console/api/{proxy+}",
            AuthorizationType="CUSTOM",
            AuthorizerId=ref("Authorizer"),
            Target={"Fn::Join": ["", ["integrations/", ref("ApiIntegration")]]},
        ),
        "DefaultRoute": r(
            "AWS::ApiGatewayV2::Route",
            ApiId=ref("HttpApi"),
            RouteKey="$default",
            Target={"Fn::Join": ["", ["integrations/", ref("WebIntegration")]]},
        ),
        "AuthFn": r(
            "AWS::Lambda::Function",
            Handler="index.handler",
            Description="IP allow-list",
            MemorySize=256,
            Architectures=["arm64"],
        ),
        "Authorizer": r(
            "AWS::ApiGatewayV2::Authorizer",
            ApiId=ref("HttpApi"),
            AuthorizerType="REQUEST",
            AuthorizerUri={
                "Fn::Join": ["", ["arn:aws:apigateway:lambda:path/functions/", att("AuthFn"), "/invocations"]]
            },
        ),
        **ecs_service("Api", "api", sg="ApiSg", registry="ApiCloudMap"),
        **ecs_service("Web", "web"),
        **provider_function(),
    }
    return {"Resources": resources}


def lambda_templates() -> dict[str, Template]:
    """A main stack (CloudFront -> function URLs) and a us-east-1 edge stack (Lambda@Edge, WAF)."""

    def url_origin(origin_id: str, url: str) -> dict[str, Any]:
        domain = {"Fn::Select": [2, {"Fn::Split": ["/", att(url, "FunctionUrl")]}]}
        return {"Id": origin_id, "DomainName": domain, "OriginAccessControlId": att("Oac", "Id")}

    association = {
        "EventType": "origin-request",
        "LambdaFunctionARN": att("ExportsReader", "/cdk/exports/signer"),
    }
    main: Template = {
        **network(),
        "Distribution": r(
            "AWS::CloudFront::Distribution",
            DistributionConfig={
                "Origins": [url_origin("web", "WebUrl"), url_origin("api", "ApiUrl")],
                "DefaultCacheBehavior": {
                    "TargetOriginId": "web",
                    "LambdaFunctionAssociations": [association],
                },
                "CacheBehaviors": [
                    {
                        "PathPattern": "/console/api/*",
                        "TargetOriginId": "api",
                        "CachePolicyId": model.CACHING_DISABLED,
                    },
                    {
                        "PathPattern": "/_next/static/*",
                        "TargetOriginId": "web",
                        "CachePolicyId": "managed-optimized",
                    },
                ],
                "WebACLId": att("ExportsReader", "/cdk/exports/acl"),
            },
        ),
        "Oac": r("AWS::CloudFront::OriginAccessControl"),
        "ExportsReader": r("Custom::CrossRegionExportReader", ServiceToken=att("ProviderFn")),
        "ApiFn": r(
            "AWS::Lambda::Function",
            PackageType="Image",
            MemorySize=2048,
            Environment={"Variables": {"MODE": "api", "S3_BUCKET_NAME": ref("Files")}},
            VpcConfig={"SubnetIds": [ref("PrivSubnet")], "SecurityGroupIds": [att("ApiFnSg", "GroupId")]},
        ),
        "ApiFnSg": r("AWS::EC2::SecurityGroup"),
        "WebFn": r("AWS::Lambda::Function", PackageType="Image", Description="Dify web (Lambda Web Adapter)"),
        "ApiUrl": r("AWS::Lambda::Url", AuthType="AWS_IAM", TargetFunctionArn=att("ApiFn")),
        "WebUrl": r("AWS::Lambda::Url", AuthType="AWS_IAM", TargetFunctionArn=att("WebFn")),
        "Files": r("AWS::S3::Bucket", VersioningConfiguration={"Status": "Enabled"}),
        **provider_function(),
    }
    edge: Template = {
        "Signer": r("AWS::Lambda::Function", Handler="index.handler", MemorySize=128),
        "SignerVersion": r("AWS::Lambda::Version", FunctionName=ref("Signer")),
        "WebAcl": r(
            "AWS::WAFv2::WebACL",
            Scope="CLOUDFRONT",
            DefaultAction={"Block": {}},
            Rules=[{"Name": "allow", "Statement": {"GeoMatchStatement": {"CountryCodes": ["JP"]}}}],
        ),
        "ExportWriterFn": r("AWS::Lambda::Function", Handler="__entrypoint__.handler"),
    }
    return {"Dify": {"Resources": main}, "Dify-Edge": {"Resources": edge}}


def proxy_template() -> Template:
    """Services without security groups or IAM roles: Dify's own wiring is the fallback."""
    resources: Template = {
        **network(),
        **ecs_service("Api", "api", spot=True),
        **ecs_service("Worker", "worker"),
        **ecs_service("Sandbox", "sandbox"),
        **ecs_service("Proxy", "ssrf-proxy", cpu="256", memory="512"),
        **ecs_service("Plugin", "plugin-daemon"),
        "Db": r("AWS::RDS::DBCluster", Engine="aurora-postgresql", EngineVersion="16.8"),
        "Cache": r(
            "AWS::ElastiCache::ReplicationGroup",
            Engine="valkey",
            EngineVersion="8.0",
            CacheNodeType="cache.t4g.micro",
            NumCacheClusters=2,
            MultiAZEnabled=True,
        ),
        "Files": r("AWS::S3::Bucket"),
        "Logs": r("AWS::S3::Bucket"),
    }
    resources["Files"]["Properties"]["LoggingConfiguration"] = {"DestinationBucketName": ref("Logs")}
    return {"Resources": resources}


def edge_set(arch: Architecture) -> set[tuple[str, str]]:
    pairs = {(e.src, e.dst) for e in arch.edges}
    return pairs | {(e.dst, e.src) for e in arch.edges if e.both}


def role_node(arch: Architecture, role: str, kind: str = model.SERVICE) -> str:
    (node,) = [n for n in arch.with_role(role) if n.kind == kind]
    return node.id


# --- the default configuration -----------------------------------------------------------------------


def test_default_has_every_dify_role_and_data_store(default_arch: Architecture) -> None:
    arch = default_arch
    assert set(DIFY_ROLES) <= arch.roles()
    for role in DIFY_ROLES:
        node = arch.nodes[role_node(arch, role)]
        assert node.cluster == model.PRIVATE, role
        assert any("vCPU" in d and "GB" in d for d in node.details), node
    (db,) = arch.of_kind(model.DATABASE)
    assert "Aurora PostgreSQL" in db.title
    assert any("ACU" in d for d in db.details)
    (cache,) = arch.of_kind(model.CACHE)
    assert "Valkey" in cache.title
    assert [b.title for b in arch.of_kind(model.BUCKET)] == ["S3 files bucket"]
    assert len(arch.of_kind(model.LOG_BUCKET)) == 1
    (cdn,) = arch.of_kind(model.CDN)
    assert cdn.title == "CloudFront"
    (alb,) = arch.of_kind(model.LOAD_BALANCER)
    assert "internal" in alb.details
    assert alb.cluster == model.PRIVATE
    (nat,) = arch.of_kind(model.NAT)
    assert nat.cluster == model.PUBLIC
    (secrets,) = arch.of_kind(model.SECRETS)
    assert re.fullmatch(r"\d+ secrets", secrets.details[0])
    # Custom-resource handlers (database init, migration, log retention) are not part of the picture.
    assert arch.of_kind(model.FUNCTION) == []


def test_default_edges(default_arch: Architecture) -> None:
    arch = default_arch
    pairs = edge_set(arch)
    api, web, plugin = (role_node(arch, r) for r in ("api", "web", "plugin-daemon"))
    worker, sandbox, beat = (role_node(arch, r) for r in ("worker", "sandbox", "beat"))
    assert ("users", "cloudfront") in pairs
    edge = arch.edge("cloudfront", "alb")
    assert edge is not None
    assert "VPC origin" in edge.label
    for target in (api, web, plugin):
        assert ("alb", target) in pairs
    assert "/console/api" in (arch.edge("alb", api) or model.Edge("", "")).label
    for src in (api, worker):
        for dst in ("database", "cache", "s3_files", sandbox, plugin):
            assert (src, dst) in pairs, (src, dst)
    assert (beat, "cache") in pairs
    assert (beat, "s3_files") not in pairs  # beat's role has no S3 permission
    both = arch.edge(api, plugin)
    assert both is not None
    assert both.both
    assert (plugin, "bedrock") in pairs
    assert ("nat", "model_apis") in pairs
    assert ("nat", "marketplace") in pairs
    assert (plugin, "nat") in pairs
    assert (sandbox, "nat") not in pairs
    assert ("s3_files", "s3_logs") in pairs


def test_default_dot_has_the_network_boundaries(default_arch: Architecture) -> None:
    text = render.to_dot(default_arch)
    for cluster in ("aws", "region", "vpc", "public", "private", "internet"):
        assert f'subgraph "cluster_{cluster}"' in text, cluster
    assert 'subgraph "cluster_edge"' not in text
    assert "cluster_isolated" not in text  # empty clusters are left out
    for role in DIFY_ROLES:
        assert f"<b>{role}</b>" in text


def test_region_in_cluster_label(default_example: tuple[DifyConfig, SynthResult]) -> None:
    _, result = default_example
    assert "Region eu-west-3" in render.to_dot(derive(result.templates, region="eu-west-3"))
    assert "Region (deployment region)" in render.to_dot(derive(result.templates))


# --- front door shapes -------------------------------------------------------------------------------


def test_internet_facing_alb() -> None:
    arch = derive({"Dify": alb_template()})
    (alb,) = arch.of_kind(model.LOAD_BALANCER)
    assert alb.cluster == model.PUBLIC
    assert "internet-facing" in alb.details
    assert "dify.example.com" in alb.details
    assert "TLS certificate (ACM)" in alb.details
    assert "allow-list: 1 range" in alb.details
    api, web = role_node(arch, "api"), role_node(arch, "web")
    assert arch.nodes[api].cluster == model.PRIVATE
    assert arch.edge("users", "alb") is not None
    assert (arch.edge("alb", api) or model.Edge("", "")).label == "/api, /v1"
    assert (arch.edge("alb", web) or model.Edge("", "")).label == "default"
    assert arch.of_kind(model.CDN) == []
    assert arch.of_kind(model.FUNCTION) == []


def test_api_gateway_with_vpc_link_and_authorizer() -> None:
    arch = derive({"Dify": api_gateway_template()})
    (api_gw,) = arch.of_kind(model.API_GATEWAY)
    assert "HTTP API" in api_gw.details
    assert "Lambda authorizer" in api_gw.details
    (link,) = arch.of_kind(model.VPC_LINK)
    assert link.cluster == model.PRIVATE
    (authorizer,) = arch.of_kind(model.FUNCTION)  # the provider function is left out
    assert authorizer.title == "Lambda authorizer"
    assert "IP allow-list" in authorizer.details
    api, web = role_node(arch, "api"), role_node(arch, "web")
    assert arch.edge("users", api_gw.id) is not None
    assert arch.edge(api_gw.id, link.id) is not None
    assert (arch.edge(link.id, api) or model.Edge("", "")).label == "/console/api"
    assert (arch.edge(link.id, web) or model.Edge("", "")).label == "default"
    auth = arch.edge(api_gw.id, authorizer.id)
    assert auth is not None
    assert auth.dashed


def test_lambda_function_urls_behind_cloudfront_with_edge_stack() -> None:
    arch = derive(lambda_templates())
    api, web = role_node(arch, "api", model.FUNCTION), role_node(arch, "web", model.FUNCTION)
    assert arch.nodes[api].title == "Lambda: api"
    assert arch.nodes[api].cluster == model.PRIVATE  # VpcConfig
    assert arch.nodes[web].cluster == model.REGION
    assert "function URL (IAM auth)" in arch.nodes[web].details
    (edge_fn,) = [n for n in arch.of_kind(model.FUNCTION) if n.title == "Lambda@Edge"]
    assert edge_fn.cluster == model.EDGE
    assert "origin-request" in edge_fn.details
    assert len(arch.of_kind(model.FUNCTION)) == 3  # providers and the export writer are left out
    (waf,) = arch.of_kind(model.WAF)
    assert waf.cluster == model.EDGE
    assert "countries: JP" in waf.details
    pairs = edge_set(arch)
    assert ("users", waf.id) in pairs
    assert (waf.id, "cloudfront") in pairs
    assert ("users", "cloudfront") not in pairs
    assert (arch.edge("cloudfront", web) or model.Edge("", "")).label == "default, /_next/static"
    assert (arch.edge("cloudfront", api) or model.Edge("", "")).label == "/console/api"
    assert (arch.edge("cloudfront", edge_fn.id) or model.Edge("", "")).dashed
    # Function URLs behind CloudFront are not entry points of their own.
    assert ("users", web) not in pairs
    (cdn,) = arch.of_kind(model.CDN)
    assert "cached: /_next/static" in cdn.details
    text = render.to_dot(arch)
    assert "us-east-1 (edge stack: Dify-Edge)" in text


def test_ssrf_proxy_and_fallback_wiring() -> None:
    arch = derive({"Dify": proxy_template()})
    pairs = edge_set(arch)
    api, worker, sandbox = (role_node(arch, r) for r in ("api", "worker", "sandbox"))
    proxy, plugin = role_node(arch, "ssrf-proxy"), role_node(arch, "plugin-daemon")
    for client in (api, worker, sandbox):
        assert (client, proxy) in pairs
        assert (client, "nat") not in pairs
    assert (proxy, "nat") in pairs
    assert (plugin, "nat") in pairs
    assert ("nat", "model_apis") in pairs
    for src in (api, worker):
        # No *BUCKET* variable names the bucket here, so it is a plain "S3 bucket".
        for dst in ("database", "cache", "s3_bucket", sandbox, plugin):
            assert (src, dst) in pairs, (src, dst)
    assert "Fargate Spot" in arch.nodes[api].details[-1]
    assert "2 tasks" in arch.nodes[api].details[-1]
    assert arch.nodes[proxy].details[1] == "0.25 vCPU · 0.5 GB · arm64"
    assert arch.nodes[api].details[0] == "dify-api:9.9.9"
    (cache,) = arch.of_kind(model.CACHE)
    assert "multi-AZ failover" in cache.details
    assert any("\N{MULTIPLICATION SIGN} 2" in d for d in cache.details)
    # The bucket another bucket logs into is drawn small, not as a data store.
    assert [b.id for b in arch.of_kind(model.LOG_BUCKET)] == ["s3_logs"]
    assert "bedrock" not in arch.nodes  # no IAM policy grants bedrock:*
    assert "users" not in arch.nodes  # no front door at all


# --- one task with every role (services.layout = "single_task") ------------------------------------


def task_parts(arch: Architecture) -> tuple[model.Node, dict[str, model.Node]]:
    """The one task box, and what is drawn inside it by role (the cache by kind)."""
    (task,) = arch.of_kind(model.TASK)
    inside = {n.role or n.kind: n for n in arch.inside(task.id)}
    assert all(n.cluster == task.id for n in inside.values())
    return task, inside


def assert_one_task_with_every_role(arch: Architecture) -> tuple[model.Node, dict[str, model.Node]]:
    task, inside = task_parts(arch)
    assert task.title == "Dify task (every role)"
    assert task.cluster == model.PUBLIC
    assert task.details[:3] == ("1 vCPU · 4 GB · arm64", "1 task · Fargate Spot", "public IP, inbound closed")
    assert set(inside) == {*model.ROLES, model.CACHE}  # the non-essential init container is left out
    assert {n.kind for r, n in inside.items() if r in model.ROLES} == {model.CONTAINER}
    assert arch.of_kind(model.SERVICE) == []
    # Valkey runs in the task: no ElastiCache.
    (cache,) = arch.of_kind(model.CACHE)
    assert cache == inside[model.CACHE]
    assert cache.title == "Valkey (container, in-task)"
    assert "valkey:8.0-alpine" in cache.details[0]
    # No NAT gateway: the task leaves through its own public IP; the task as a whole reaches the data.
    assert "nat" not in arch.nodes
    pairs = edge_set(arch)
    for dst in ("database", "s3_files", "bedrock", "model_apis", "marketplace"):
        assert (task.id, dst) in pairs, dst
    # Between the containers of one task nothing is drawn (localhost), and no container has edges of
    # its own to the data stores.
    members = {n.id for n in inside.values()}
    assert not [e for e in arch.edges if e.src in members and (e.dst in members or e.dst == "database")]
    return task, inside


def test_lean_single_task_behind_the_lambda_proxy(example_results: dict[str, SynthResult]) -> None:
    arch = derive(example_results["lean.toml"].templates)
    task, inside = assert_one_task_with_every_role(arch)
    assert "Cloud Map: dify.difylean.dify.internal" in task.details
    assert inside["api"].details == ("dify-api:1.13.3 · :5001",)
    (proxy,) = arch.of_kind(model.FUNCTION)
    assert proxy.title == "Lambda: reverse proxy (nginx)"
    assert proxy.role == ""  # not the Dify "web" role, although its description says "Web Adapter"
    assert "Lambda Web Adapter" in proxy.details
    assert "function URL · streaming · public URL" in proxy.details
    assert proxy.cluster == model.ISOLATED
    pairs = edge_set(arch)
    assert ("users", "cloudfront") in pairs
    assert ("cloudfront", proxy.id) in pairs
    assert ("users", proxy.id) not in pairs  # behind CloudFront
    for role, port in (("api", 5001), ("web", 3000), ("plugin-daemon", 5002)):
        assert (arch.edge(proxy.id, inside[role].id) or model.Edge("", "")).label == f":{port}", role
    assert (proxy.id, task.id) not in pairs
    text = render.to_dot(arch)
    assert "compound=true" in text
    assert f'subgraph "cluster_{task.id}"' in text
    assert "<b>Dify task (every role)</b>" in text
    assert f'"{task.id}" [' not in text  # drawn as the box, not as a node
    assert f'ltail="cluster_{task.id}"' in text


def test_budget_single_task_behind_api_gateway(example_results: dict[str, SynthResult]) -> None:
    arch = derive(example_results["budget.toml"].templates)
    task, inside = assert_one_task_with_every_role(arch)
    assert "Service Connect: difybudget.dify.internal" in task.details
    assert inside["api"].details == ("dify-api:1.13.3 · api:5001",)
    assert inside["plugin-daemon"].details[0].endswith("plugin-daemon:5002")
    assert arch.of_kind(model.FUNCTION) == []
    (api_gw,) = arch.of_kind(model.API_GATEWAY)
    (link,) = arch.of_kind(model.VPC_LINK)
    pairs = edge_set(arch)
    assert ("users", api_gw.id) in pairs
    assert (api_gw.id, link.id) in pairs
    # The integrations name Cloud Map services of Service Connect: each reaches its container.
    assert "/console/api" in (arch.edge(link.id, inside["api"].id) or model.Edge("", "")).label
    assert (arch.edge(link.id, inside["plugin-daemon"].id) or model.Edge("", "")).label == "/e"
    assert (arch.edge(link.id, inside["web"].id) or model.Edge("", "")).label == "default"
    assert (link.id, task.id) not in pairs


def single_task_template() -> Template:
    """An internet-facing ALB forwarding to two containers of one task with a public IP; a Redis
    container; a database without security groups (so Dify's own wiring applies)."""
    containers = [
        {"Name": name, "Image": f"docker.io/langgenius/dify-{image}:9.9.9", "PortMappings": ports}
        for name, image, ports in (
            ("api", "api", [{"ContainerPort": 5001, "Name": "api"}]),
            ("worker", "api", []),
            ("web", "web", [{"ContainerPort": 3000, "Name": "web"}]),
        )
    ]
    containers.append({"Name": "cache", "Image": "public.ecr.aws/docker/library/redis:7"})
    resources: Template = {
        **network(),
        "AlbSg": r("AWS::EC2::SecurityGroup"),
        "TaskSg": r("AWS::EC2::SecurityGroup", SecurityGroupIngress=[{"CidrIp": "198.51.100.0/24"}]),
        "Alb": r(
            "AWS::ElasticLoadBalancingV2::LoadBalancer",
            Scheme="internet-facing",
            Subnets=[ref("PubSubnet")],
            SecurityGroups=[att("AlbSg", "GroupId")],
        ),
        "Listener": r(
            "AWS::ElasticLoadBalancingV2::Listener",
            LoadBalancerArn=ref("Alb"),
            Port=80,
            Protocol="HTTP",
            DefaultActions=[{"Type": "forward", "TargetGroupArn": ref("WebTargets")}],
        ),
        "ApiRule": r(
            "AWS::ElasticLoadBalancingV2::ListenerRule",
            ListenerArn=ref("Listener"),
            Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/console/api/*"]}}],
            Actions=[{"Type": "forward", "TargetGroupArn": ref("ApiTargets")}],
        ),
        "ApiTargets": r("AWS::ElasticLoadBalancingV2::TargetGroup", Port=5001, TargetType="ip"),
        "WebTargets": r("AWS::ElasticLoadBalancingV2::TargetGroup", Port=3000, TargetType="ip"),
        "TaskFromAlb": sg_rule("TaskSg", "AlbSg", 5001),
        "Database": r("AWS::RDS::DBCluster", Engine="aurora-postgresql"),
        "Task": r(
            "AWS::ECS::TaskDefinition",
            Cpu="2048",
            Memory="8192",
            ContainerDefinitions=containers,
        ),
        "Service": r(
            "AWS::ECS::Service",
            TaskDefinition=ref("Task"),
            DesiredCount=1,
            LaunchType="FARGATE",
            NetworkConfiguration={
                "AwsvpcConfiguration": {
                    "AssignPublicIp": "ENABLED",
                    "Subnets": [ref("PubSubnet")],
                    "SecurityGroups": [att("TaskSg", "GroupId")],
                }
            },
            LoadBalancers=[
                {"ContainerName": "api", "ContainerPort": 5001, "TargetGroupArn": ref("ApiTargets")},
                {"ContainerName": "web", "ContainerPort": 3000, "TargetGroupArn": ref("WebTargets")},
            ],
        ),
    }
    return {"Resources": resources}


def test_single_task_shape_by_hand(needs_dot: None) -> None:
    arch = derive({"Dify": single_task_template()})
    task, inside = task_parts(arch)
    assert task.title == "Dify task (api, worker, web)"
    assert task.details == ("2 vCPU · 8 GB", "1 task · Fargate", "public IP, inbound open to 1 range")
    assert inside[model.CACHE].title == "Redis (container, in-task)"
    # Target groups reach the container the service names for them.
    assert (arch.edge("alb", inside["api"].id) or model.Edge("", "")).label == "/console/api"
    assert (arch.edge("alb", inside["web"].id) or model.Edge("", "")).label == "default"
    # Without security groups on the database, Dify's wiring applies to the task as a whole, never to
    # the in-task cache from outside it.
    pairs = edge_set(arch)
    assert (task.id, "database") in pairs
    assert (task.id, inside[model.CACHE].id) not in pairs
    svg = render.render(render.to_dot(arch), "svg").decode("utf-8")
    labels = {t.text for t in ElementTree.fromstring(svg).iter() if t.tag.endswith("text")}  # noqa: S314
    assert {"Dify task (api, worker, web)", "api", "worker", "web", "Redis (container, in-task)"} <= labels


# --- what Dify is wired to: SES mail, the External Knowledge API, the package index -------------------


def test_mail_through_ses(example_results: dict[str, SynthResult]) -> None:
    """`[email]`: the SES identity, and the api and worker sending SMTP to it (their SMTP_SERVER is the
    SES SMTP endpoint, SES "Connecting to an Amazon SES SMTP endpoint"); no other role mails."""
    for example, port in (("production.toml", 587), ("cloudfront-domain.toml", 465)):
        arch = derive(example_results[example].templates)
        ses = arch.nodes["ses"]
        assert (ses.kind, ses.title, ses.cluster) == (model.AWS_SERVICE, "Amazon SES", model.REGION)
        assert ses.details == ("identity example.com", "Easy DKIM", "MAIL FROM mail.example.com")
        senders = {e.src for e in arch.edges if e.dst == "ses"}
        assert senders == {role_node(arch, "api"), role_node(arch, "worker")}, example
        assert {e.label for e in arch.edges if e.dst == "ses"} == {f"SMTP :{port}"}
    assert "ses" not in derive(example_results["default.toml"].templates).nodes


def test_ses_smtp_endpoint_pattern_follows_the_mail_construct() -> None:
    from dify_on_aws.diagram.rules import integrations  # noqa: PLC0415
    from dify_on_aws.services.mail import smtp_endpoint  # noqa: PLC0415

    assert integrations._is_ses(smtp_endpoint("eu-west-1"))
    # The region of a stack without one is a deploy-time value: the endpoint is then a join.
    assert integrations._is_ses({"Fn::Join": ["", ["email-smtp.", ref("AWS::Region"), ".amazonaws.com"]]})
    assert not integrations._is_ses("smtp.example.com")


def test_knowledge_api_behind_its_function_url(example_results: dict[str, SynthResult]) -> None:
    """`[knowledge_bases] ids`: Dify's api and worker reach the External Knowledge API through the SSRF
    proxy (api core/helper/ssrf_proxy.py), which leaves over NAT to the public function URL; the function
    retrieves from Bedrock. Nobody on the internet is drawn calling it."""
    arch = derive(example_results["production.toml"].templates)
    fn = arch.nodes["fn_knowledge_api"]
    assert fn.title == "Lambda: External Knowledge API"
    assert fn.details[:2] == ("2 knowledge bases: EXAMPLEKB1, EXAMPLEKB2", "function URL · public URL")
    proxy = role_node(arch, "ssrf-proxy")
    pairs = edge_set(arch)
    for client in ("api", "worker"):
        assert (role_node(arch, client), proxy) in pairs
    assert (proxy, "nat") in pairs
    assert (arch.edge("nat", fn.id) or model.Edge("", "")).label == "HTTPS (function URL)"
    assert (arch.edge(fn.id, "bedrock") or model.Edge("", "")).label == "Retrieve"
    assert "knowledge bases" in arch.nodes["bedrock"].details
    assert ("users", fn.id) not in pairs
    assert "fn_knowledge_api" not in derive(example_results["default.toml"].templates).nodes


def knowledge_rest_api(*, name_endpoint: bool) -> Template:
    """The External Knowledge API as a closed network has it: a PRIVATE REST API (reached through an
    execute-api interface endpoint) whose POST /retrieval is a Lambda proxy integration of the function."""
    config: dict[str, Any] = {"Types": ["PRIVATE"]}
    if name_endpoint:
        config["VpcEndpointIds"] = [ref("ExecuteApi")]
    invocation = {
        "Fn::Join": [
            "",
            [
                "arn:aws:apigateway:eu-central-1:lambda:path/2015-03-31/functions/",
                att("KnowledgeFn"),
                "/invocations",
            ],
        ]
    }
    resources: Template = {
        **network(),
        **ecs_service("Api", "api"),
        **ecs_service("Worker", "worker"),
        **ecs_service("Proxy", "ssrf-proxy", cpu="256", memory="512"),
        "ExecuteApi": r(
            "AWS::EC2::VPCEndpoint",
            VpcEndpointType="Interface",
            PrivateDnsEnabled=True,
            ServiceName={"Fn::Join": ["", ["com.amazonaws.", ref("AWS::Region"), ".execute-api"]]},
        ),
        "Logs": r("AWS::EC2::VPCEndpoint", VpcEndpointType="Interface", ServiceName="com.amazonaws.x.logs"),
        "KnowledgeRole": r("AWS::IAM::Role"),
        "KnowledgePolicy": r(
            "AWS::IAM::Policy",
            Roles=[ref("KnowledgeRole")],
            PolicyDocument={
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "bedrock:Retrieve",
                        "Resource": "arn:aws:bedrock:eu-central-1:111111111111:knowledge-base/KB1",
                    }
                ]
            },
        ),
        "KnowledgeFn": r(
            "AWS::Lambda::Function",
            Description="Dify External Knowledge API over Amazon Bedrock knowledge bases (Retrieve)",
            Role=att("KnowledgeRole"),
            MemorySize=256,
            Environment={"Variables": {"DIFY_KNOWLEDGE_BASES": '["KB1"]'}},
        ),
        "KnowledgeApi": r("AWS::ApiGateway::RestApi", Name="knowledge", EndpointConfiguration=config),
        "Retrieval": r(
            "AWS::ApiGateway::Resource",
            RestApiId=ref("KnowledgeApi"),
            ParentId=att("KnowledgeApi", "RootResourceId"),
            PathPart="retrieval",
        ),
        "RetrievalPost": r(
            "AWS::ApiGateway::Method",
            RestApiId=ref("KnowledgeApi"),
            ResourceId=ref("Retrieval"),
            HttpMethod="POST",
            AuthorizationType="NONE",
            Integration={"Type": "AWS_PROXY", "IntegrationHttpMethod": "POST", "Uri": invocation},
        ),
        "Stage": r("AWS::ApiGateway::Stage", RestApiId=ref("KnowledgeApi"), StageName="prod"),
    }
    return {"Resources": resources}


@pytest.mark.parametrize("name_endpoint", [True, False], ids=["named-endpoint", "endpoint-by-service"])
def test_knowledge_api_behind_a_private_rest_api(name_endpoint: bool) -> None:
    """In a closed network the function is fronted by an API Gateway PRIVATE REST API instead ("Private
    REST APIs in API Gateway": reachable only through an execute-api interface VPC endpoint): the SSRF
    proxy -> the endpoint -> the API -> its function, with no function URL, no NAT hop, no internet entry."""
    arch = derive({"Dify": knowledge_rest_api(name_endpoint=name_endpoint)})
    fn = arch.nodes["fn_knowledge_api"]
    assert fn.details[:2] == ("1 knowledge base: KB1", "private REST API integration")
    (api,) = arch.of_kind(model.API_GATEWAY)
    assert (api.title, api.details, api.cluster) == ("API Gateway", ("private REST API",), model.REGION)
    proxy = role_node(arch, "ssrf-proxy")
    assert (arch.edge(proxy, "vpc_endpoints") or model.Edge("", "")).label == "HTTPS (execute-api)"
    assert arch.edge("vpc_endpoints", api.id) is not None
    assert (arch.edge(api.id, fn.id) or model.Edge("", "")).label == "/retrieval"
    assert (arch.edge(fn.id, "bedrock") or model.Edge("", "")).label == "Retrieve"
    pairs = edge_set(arch)
    assert ("nat", fn.id) not in pairs
    assert ("users", api.id) not in pairs
    assert "users" not in arch.nodes


def test_knowledge_api_without_an_ssrf_proxy_is_called_by_api_and_worker() -> None:
    """Without an SSRF proxy the api and worker call the API themselves; a REST API method on the root
    resource, or a greedy {proxy+} one, is drawn as '/'."""
    body = knowledge_rest_api(name_endpoint=True)
    resources = body["Resources"]
    for key in ("ProxyTask", "ProxyService"):
        del resources[key]
    resources["RetrievalPost"]["Properties"]["ResourceId"] = att("KnowledgeApi", "RootResourceId")
    arch = derive({"Dify": body})
    (api,) = arch.of_kind(model.API_GATEWAY)
    for client in ("api", "worker"):
        assert arch.edge(role_node(arch, client), "vpc_endpoints") is not None
    assert (arch.edge(api.id, "fn_knowledge_api") or model.Edge("", "")).label == "/"


def test_knowledge_variable_follows_the_knowledge_construct() -> None:
    from dify_on_aws.diagram.rules import functions  # noqa: PLC0415
    from dify_on_aws.services.knowledge import ENV_KNOWLEDGE_BASES  # noqa: PLC0415

    assert functions.KNOWLEDGE_BASES_VARIABLE == ENV_KNOWLEDGE_BASES


def test_package_proxy_in_front_of_codeartifact(example_results: dict[str, SynthResult]) -> None:
    """`[package_index] type = "codeartifact"`: the sandbox and the plugin daemon install from the package
    proxy (its security group admits them), the proxy reads CodeArtifact (its task role's
    codeartifact:GetAuthorizationToken and ReadFromRepository), which fetches from PyPI on AWS's side."""
    for example in ("package-index.toml", "closed-network.toml"):
        arch = derive(example_results[example].templates)
        proxy = role_node(arch, "package-index")
        assert arch.nodes[proxy].cluster in (model.PRIVATE, model.ISOLATED)
        for client in ("sandbox", "plugin-daemon"):
            assert (arch.edge(role_node(arch, client), proxy) or model.Edge("", "")).label == ":8080"
        codeartifact = arch.nodes["codeartifact"]
        assert (codeartifact.title, codeartifact.details) == ("AWS CodeArtifact", ("repository pypi",))
        assert codeartifact.cluster == model.REGION
        assert arch.edge(proxy, "codeartifact") is not None
        assert {e.src for e in arch.edges if e.dst == "codeartifact"} == {proxy}
        upstream = arch.edge("codeartifact", "upstream_pypi")
        assert upstream is not None
        assert upstream.dashed
        assert arch.nodes["upstream_pypi"].cluster == model.INTERNET
    assert "codeartifact" not in derive(example_results["default.toml"].templates).nodes


def test_function_purpose_from_its_description() -> None:
    purpose = model._dify_purpose
    assert purpose("Dify reverse proxy (nginx, Lambda Web Adapter)") == (
        "reverse proxy (nginx)",
        "Lambda Web Adapter",
    )
    assert purpose("Dify api (Lambda Web Adapter)") == ("api (Lambda Web Adapter)", "")
    assert purpose("Dify image resizer") == ("image resizer", "")
    assert purpose("Dify: allow-list and rate limit") is None
    assert purpose("Starts the Dify migration task") is None
    assert purpose(None) is None


# --- DOT text and rendering --------------------------------------------------------------------------


def test_dot_is_deterministic(default_example: tuple[DifyConfig, SynthResult]) -> None:
    _, result = default_example
    first = render.to_dot(derive(result.templates, title="t"))
    second = render.to_dot(derive(result.templates, title="t"))
    assert first == second
    # Neither the order of stacks nor the order of resources in a template changes the text.
    stacks = lambda_templates()
    shuffled = {
        name: {"Resources": dict(reversed(list(body["Resources"].items())))}
        for name, body in reversed(list(stacks.items()))
    }
    assert render.to_dot(derive(stacks, title="t")) == render.to_dot(derive(shuffled, title="t"))


def test_dot_digest_and_escaping() -> None:
    arch = derive({"Dify": alb_template()}, title='A <b>"quoted"</b> & title')
    text = render.to_dot(arch, source="dify-on-aws diagram --config x.toml")
    assert "&lt;b&gt;&quot;quoted&quot;&lt;/b&gt; &amp; title" in text
    assert text.startswith("// Generated by `dify-on-aws diagram`")
    assert "// source: dify-on-aws diagram --config x.toml" in text
    digest = render.digest_of(text)
    assert digest is not None
    assert len(digest) == 16
    assert render.digest_of(render.to_dot(derive({"Dify": alb_template()}, title="other"))) != digest


def test_render_svg_and_png(needs_dot: None, default_arch: Architecture, tmp_path: Path) -> None:
    text = render.to_dot(default_arch)
    written = render.write_diagram(text, tmp_path / "sub" / "default")
    assert [p.name for p in written] == ["default.dot", "default.svg", "default.png"]
    assert written[2].read_bytes().startswith(PNG_MAGIC)
    svg = written[1].read_text(encoding="utf-8")
    root = ElementTree.fromstring(svg)  # noqa: S314 - our own Graphviz output
    assert root.tag.endswith("svg")
    labels = {t.text for t in root.iter() if t.tag.endswith("text")}
    for role in DIFY_ROLES:
        assert role in labels, role
    assert {"CloudFront", "Aurora PostgreSQL", "ElastiCache Valkey", "S3 files bucket"} <= labels
    assert render.digest_of(svg) == render.digest_of(text)
    # Self-contained: no external images or links.
    assert "<image" not in svg
    assert 'xlink:href="http' not in svg


def test_render_every_front_door_shape(needs_dot: None) -> None:
    for templates in ({"Dify": alb_template()}, {"Dify": api_gateway_template()}, lambda_templates()):
        svg = render.render(render.to_dot(derive(templates)), "svg").decode("utf-8")
        ElementTree.fromstring(svg)  # noqa: S314 - our own Graphviz output


def test_odd_templates_still_draw(needs_dot: None) -> None:
    odd: dict[str, Template] = {
        "Empty": {},
        "Odd": {
            "Resources": {
                "NotAResource": "x",
                "Bucket": {"Type": "AWS::S3::Bucket"},
                "Service": {"Type": "AWS::ECS::Service"},
                "Integration": r("AWS::ApiGatewayV2::Integration", ApiId=ref("Missing")),
            }
        },
    }
    arch = derive(odd)
    assert sorted(n.kind for n in arch.nodes.values()) == [model.BUCKET, model.SERVICE]
    assert all("" not in n.details for n in arch.nodes.values())
    render.render(render.to_dot(arch), "svg")
    render.render(render.to_dot(derive({})), "svg")


def test_missing_dot_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(render, "find_dot", lambda: None)
    text = render.to_dot(derive({"Dify": alb_template()}))
    with pytest.raises(render.GraphvizNotFoundError, match=r"graphviz `dot` not found: run scripts/install"):
        render.write_diagram(text, tmp_path / "d")
    assert (tmp_path / "d.dot").read_text(encoding="utf-8") == text  # the DOT is written first
    assert not (tmp_path / "d.svg").exists()
    with pytest.raises(ValueError, match="unsupported format"):
        render.render(text, "pdf")


# --- the command -------------------------------------------------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    root = argparse.ArgumentParser(prog="dify-on-aws")
    sub = root.add_subparsers(dest="command", required=True)
    command.add_diagram_parser(sub)
    return root.parse_args(["diagram", *argv])


def write_template(tmp_path: Path, name: str, body: Template) -> Path:
    path = tmp_path / f"{name}.template.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    return path


def test_command_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIFY_CONFIG", raising=False)
    args = parse()
    assert args.func is command.run
    assert args.template is None
    assert args.out is None


def test_command_renders_templates(
    needs_dot: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "out").mkdir()
    for name, body in lambda_templates().items():
        write_template(tmp_path / "out", name, body)
    assert command.run(parse("--template", str(tmp_path / "out"), "--out", str(tmp_path / "d" / "x"))) == 0
    assert (tmp_path / "d" / "x.png").read_bytes().startswith(PNG_MAGIC)
    dot = (tmp_path / "d" / "x.dot").read_text(encoding="utf-8")
    assert "Dify on AWS: Dify + Dify-Edge" in dot
    assert f"--template {tmp_path / 'out'}" in dot
    assert "wrote" in capsys.readouterr().out


def test_command_without_dot(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(render, "find_dot", lambda: None)
    template = write_template(tmp_path, "Dify", alb_template())
    assert (
        command.run(parse("--template", str(template), "--out", str(tmp_path / "x"))) == command.EXIT_RENDER
    )
    assert "graphviz `dot` not found" in capsys.readouterr().err
    assert (tmp_path / "x.dot").is_file()


def test_command_rejects_bad_templates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert command.run(parse("--template", str(tmp_path / "missing.json"))) == command.EXIT_RENDER
    assert "not found" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text('{"no": "resources"}', encoding="utf-8")
    assert command.run(parse("--template", str(tmp_path / "bad.json"))) == command.EXIT_RENDER
    assert "not a CloudFormation template" in capsys.readouterr().err


def test_command_synthesizes_a_config(
    needs_dot: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    default_example: tuple[DifyConfig, SynthResult],
) -> None:
    config, result = default_example

    def fake_synthesize(cfg: DifyConfig, outdir: str | Path, *, nag: bool = True) -> SynthResult:
        assert cfg == config
        assert not nag
        return result

    monkeypatch.setattr("dify_on_aws.app.synthesize", fake_synthesize)
    monkeypatch.chdir(ROOT)
    out = tmp_path / "default"
    assert command.run(parse("--config", "examples/default.toml", "--out", str(out))) == 0
    text = out.with_suffix(".dot").read_text(encoding="utf-8")
    assert text == command.dot_for(config, result.templates, "examples/default.toml")
    assert "// source: dify-on-aws diagram --config examples/default.toml" in text


def test_command_config_errors_propagate(tmp_path: Path) -> None:
    from dify_on_aws.config import ConfigError  # noqa: PLC0415

    bad = tmp_path / "bad.toml"
    bad.write_text('removal_policy = "nope"\n', encoding="utf-8")
    with pytest.raises(ConfigError):
        command.run(parse("--config", str(bad)))


# --- the committed diagrams --------------------------------------------------------------------------

COMMITTED = sorted(DIAGRAMS.glob("*.dot"))


def test_default_diagram_is_committed() -> None:
    assert (DIAGRAMS / "default.dot").is_file(), "run: dify-on-aws diagram --config examples/default.toml"


@pytest.mark.parametrize("dot_file", COMMITTED, ids=[p.stem for p in COMMITTED])
def test_committed_diagram_is_current(dot_file: Path, synth: Callable[[DifyConfig], SynthResult]) -> None:
    """Each committed DOT matches what its recorded command draws today, and its SVG and PNG were
    rendered from that DOT. Regenerate with the command in the file's `// source:` line."""
    text = dot_file.read_text(encoding="utf-8")
    found = re.search(r"^// source: dify-on-aws diagram --config (\S+)$", text, re.MULTILINE)
    assert found, f"{dot_file.name}: no `// source: dify-on-aws diagram --config PATH` line"
    config_path = found.group(1)
    config = load_config(ROOT / config_path)
    current = command.dot_for(config, synth(config).templates, config_path)
    assert text == current, f"{dot_file.name} is stale: run `dify-on-aws diagram --config {config_path}`"
    svg = dot_file.with_suffix(".svg").read_text(encoding="utf-8")
    assert render.digest_of(svg) == render.digest_of(text), (
        f"{dot_file.stem}.svg was not rendered from the .dot"
    )
    assert dot_file.with_suffix(".png").read_bytes().startswith(PNG_MAGIC)


def test_install_script_is_idempotent(needs_dot: None) -> None:
    script = ROOT / "scripts" / "install-graphviz.sh"
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "already installed" in proc.stdout


def test_command_draws_only_the_stacks_of_the_last_synth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17: a cloud assembly folder (cdk.out) is drawn from the stacks its manifest.json lists
    (artifacts of type aws:cloudformation:stack), not from templates left by earlier synths."""
    for name, body in lambda_templates().items():
        write_template(tmp_path, name, body)
    write_template(tmp_path, "DifyProd", {"Resources": {}})  # left by an earlier synth
    artifacts = {
        name: {"type": "aws:cloudformation:stack", "properties": {"templateFile": f"{name}.template.json"}}
        for name in lambda_templates()
    }
    (tmp_path / "manifest.json").write_text(json.dumps({"artifacts": artifacts}), encoding="utf-8")
    drawn: list[str] = []

    def write(text: str, prefix: str) -> list[Path]:
        drawn.append(text)
        return []

    monkeypatch.setattr(command, "write_diagram", write)
    assert command.run(parse("--template", str(tmp_path), "--out", str(tmp_path / "x"))) == 0
    assert "Dify on AWS: Dify + Dify-Edge" in drawn[0]
    assert "DifyProd" not in drawn[0]
