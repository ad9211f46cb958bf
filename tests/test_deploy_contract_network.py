"""Deploy contract, network and front doors: rules AWS enforces at deploy or run time that a synthesized
template can break. One test per rule, over every example configuration where the rule applies; each
docstring names its source (AWS documentation title or public issue)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dify_on_aws.app import SynthResult, synthesize
from dify_on_aws.config import ConfigError, DifyConfig, load_config

from .conftest import EXAMPLES, cli_synth, config_of, recorded_zones, zones_key

Resources = dict[str, dict[str, Any]]


def resources(template: dict[str, Any], kind: str) -> Resources:
    return {k: v for k, v in template.get("Resources", {}).items() if v["Type"] == kind}


def main_template(result: SynthResult) -> dict[str, Any]:
    """The regional Dify stack (the last one; the us-east-1 edge stack, when present, comes first)."""
    return result.templates[result.stacks[-1].stack_name]


def examples(results: dict[str, SynthResult]) -> Iterator[tuple[str, DifyConfig, SynthResult]]:
    for path in EXAMPLES:
        yield path.name, load_config(path), results[path.name]


# --- 3. availability zones ----------------------------------------------------------------------------

ZONED = config_of(name="Zoned", account="111111111111", region="ap-northeast-1")


def subnet_zones(template: dict[str, Any]) -> set[str]:
    """Literal zone names of the subnets; `Fn::GetAZs` selections (env-agnostic) as "<GetAZs>"."""
    zones = (s["Properties"]["AvailabilityZone"] for s in resources(template, "AWS::EC2::Subnet").values())
    return {z if isinstance(z, str) else "<GetAZs>" for z in zones}


def test_zones_come_from_the_account_never_guessed(
    example_results: dict[str, SynthResult], synth: Callable[[DifyConfig], SynthResult], tmp_path: Path
) -> None:
    """EC2 "Regions and Zones" (AZ names map to different physical zones per account; new accounts in
    ap-northeast-1 cannot use ap-northeast-1b) and the CDK guide "Context values" (availability-zones lookup
    recorded in cdk.context.json): with account and region, subnets use the configured zones or the
    recorded lookup, and without either synth reports the missing lookup instead of guessing."""
    for name, config, result in examples(example_results):
        zones = subnet_zones(main_template(result))
        if config.network.imported:
            assert zones == set(), f"{name}: an imported VPC's subnets are not the stack's"
        elif config.network.availability_zones:
            assert zones == set(config.network.availability_zones), name
        elif config.account and config.region:
            pytest.fail(f"{name}: examples with account and region name their zones (offline synth)")
        else:
            assert zones == {"<GetAZs>"}, f"{name}: env-agnostic Fn::GetAZs"
    # Without configured zones: the recorded lookup (no `1b` in this account), never <region>a/b/c.
    recorded = recorded_zones(ZONED)
    assert subnet_zones(main_template(synth(ZONED))) == set(
        recorded[zones_key("111111111111", "ap-northeast-1")][:2]
    )
    unrecorded = synthesize(ZONED, tmp_path / "unrecorded", nag=False)
    assert unrecorded.missing_context == [zones_key("111111111111", "ap-northeast-1")]


@pytest.mark.parametrize(
    "environment",
    [{}, {"region": "us-east-1"}, {"account": "111111111111"}],
    ids=["none", "region", "account"],
)
def test_three_zones_need_a_known_environment(environment: dict[str, str]) -> None:
    """Found by the sweep: CDK's Stack.availabilityZones gives an environment-agnostic stack (account or
    region unknown) two zones, so `max_azs = 3` silently built two (and `nat_gateways = 3` two NATs).
    Refused, naming the fix; explicit zones (with region) or account and region make three work."""
    with pytest.raises(ConfigError, match=r"network.max_azs = 3 needs account and region"):
        config_of(**environment, network={"max_azs": 3})
    zones = ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert (
        config_of(region="us-east-1", network={"max_azs": 3, "availability_zones": zones}).network.max_azs
        == 3
    )
    assert config_of(account="111111111111", region="us-east-1", network={"max_azs": 3}).network.max_azs == 3


def test_cli_stops_on_a_missing_zone_lookup(tmp_path: Path) -> None:
    """CDK guide "Context values": a lookup not in cdk.context.json yields dummy values; `dify-on-aws synth`
    must stop (exit 2) and name the lookup instead of writing a template with dummy zones."""
    proc = cli_synth(tmp_path, 'account = "111111111111"\nregion = "ap-northeast-1"\n')
    assert proc.returncode == 2, proc.stderr
    assert "availability-zones:account=111111111111:region=ap-northeast-1" in proc.stderr
    assert "network.availability_zones" in proc.stderr and "Traceback" not in proc.stderr


# --- 4. CloudFront VPC origin -> internal ALB -----------------------------------------------------------


def _ref(value: Any) -> str | None:
    """The logical ID a Ref or Fn::GetAtt points at."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
    return None


def ingress_rules(template: dict[str, Any], group: str) -> list[dict[str, Any]]:
    """Inline and standalone ingress rules of one security group."""
    inline = template["Resources"][group]["Properties"].get("SecurityGroupIngress", [])
    standalone = [
        r["Properties"]
        for r in resources(template, "AWS::EC2::SecurityGroupIngress").values()
        if _ref(r["Properties"]["GroupId"]) == group
    ]
    return [*inline, *standalone]


def test_vpc_origin_alb_admits_cloudfront_origin_facing_prefix_list(
    example_results: dict[str, SynthResult],
) -> None:
    """CloudFront Developer Guide, "Restrict access with VPC origins": the origin's security group must
    admit the VPC origin through the managed prefix list `com.amazonaws.global.cloudfront.origin-facing`
    (or the `CloudFront-VPCOrigins-Service-SG` group); CIDR rules of the subnets do not pass the traffic.
    VPC "Managed prefix lists" / "Amazon VPC quotas": the list weighs about 55 rules against the group's
    inbound rule quota (60), so that group holds that rule alone."""
    checked = 0
    for name, _config, result in examples(example_results):
        template = main_template(result)
        for origin in resources(template, "AWS::CloudFront::VpcOrigin").values():
            alb = _ref(origin["Properties"]["VpcOriginEndpointConfig"]["Arn"])
            assert alb is not None, name
            groups = [_ref(g) for g in template["Resources"][alb]["Properties"]["SecurityGroups"]]
            rules = [(g, r) for g in groups if g for r in ingress_rules(template, g)]
            listed = [(g, r) for g, r in rules if "SourcePrefixListId" in r]
            assert listed, f"{name}: no ingress from CloudFront's origin-facing prefix list"
            for group, rule in listed:
                lookup = template["Resources"][_ref(rule["SourcePrefixListId"]) or ""]
                assert "com.amazonaws.global.cloudfront.origin-facing" in lookup["Properties"]["Create"], name
                assert rule["FromPort"] <= origin["Properties"]["VpcOriginEndpointConfig"]["HTTPPort"]
                assert ingress_rules(template, group) == [rule], (
                    f"{name}: the prefix-list group holds it alone"
                )
            checked += 1
    assert checked, "some example uses a VPC origin"


# --- 7. Lambda@Edge versions ----------------------------------------------------------------------------


def edge_functions(template: dict[str, Any]) -> set[str]:
    """Functions whose role Lambda@Edge may assume (edgelambda.amazonaws.com)."""
    edge_roles = {
        role_id
        for role_id, role in resources(template, "AWS::IAM::Role").items()
        if "edgelambda.amazonaws.com" in str(role["Properties"]["AssumeRolePolicyDocument"])
    }
    return {
        fn_id
        for fn_id, fn in resources(template, "AWS::Lambda::Function").items()
        if _ref(fn["Properties"]["Role"]) in edge_roles
    }


def test_lambda_edge_versions_are_retained(example_results: dict[str, SynthResult]) -> None:
    """CloudFront Developer Guide, "Delete Lambda@Edge functions and replicas": a version cannot be deleted
    while CloudFront replicas still use it, which lasts hours after the distribution moves on, so a stack
    update that deletes the old version fails. Every Lambda@Edge version is retained on replace and delete."""
    checked = 0
    for name, _config, result in examples(example_results):
        for template in result.templates.values():
            functions = edge_functions(template)
            for version in resources(template, "AWS::Lambda::Version").values():
                if _ref(version["Properties"]["FunctionName"]) not in functions:
                    continue
                assert version.get("DeletionPolicy") == "Retain", name
                assert version.get("UpdateReplacePolicy") == "Retain", name
                checked += 1
    assert checked, "some example uses Lambda@Edge"


# --- 8. names that are global or live in us-east-1 ------------------------------------------------------


def _text(value: Any) -> str:
    """A name as text; pseudo parameters of Fn::Join show as ${AWS::...}."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return "${" + str(value["Ref"]) + "}"
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_text(p) for p in parts)
    return str(value)


def global_names(result: SynthResult) -> set[str]:
    """Names CloudFront keeps account-wide (origin access controls, VPC origins) and the names of the
    us-east-1 edge stack and the functions in it, shared by every region an instance may run in."""
    names: set[str] = set()
    for stack in result.stacks:
        template = result.templates[stack.stack_name]
        for oac in resources(template, "AWS::CloudFront::OriginAccessControl").values():
            names.add(_text(oac["Properties"]["OriginAccessControlConfig"]["Name"]))
        for origin in resources(template, "AWS::CloudFront::VpcOrigin").values():
            names.add(_text(origin["Properties"]["VpcOriginEndpointConfig"]["Name"]))
        if stack is not result.stacks[-1]:
            names.add(stack.stack_name)
            for fn in resources(template, "AWS::Lambda::Function").values():
                if "FunctionName" in fn["Properties"]:
                    names.add(_text(fn["Properties"]["FunctionName"]))
    return names


def test_global_names_include_the_region(
    example_results: dict[str, SynthResult], synth: Callable[[DifyConfig], SynthResult]
) -> None:
    """CloudFront Developer Guide, "Quotas" and the CreateOriginAccessControl / CreateVpcOrigin API
    references (names are unique per account, CloudFront being global); CloudFormation "Stack name" and
    Lambda "Function name" (unique per account and region, and the edge stack and its functions all live in
    us-east-1): one `name` deployed in two regions must not collide, so those names carry the region."""
    checked = 0
    for name, config, result in examples(example_results):
        region = config.region or "${AWS::Region}"
        for global_name in global_names(result):
            assert region in global_name, f"{name}: {global_name} lacks the region"
            checked += 1
    assert checked, "some example has global names"
    for door in ({"type": "lambda"}, {"type": "cloudfront", "allowed_cidrs": ["192.0.2.0/24"]}):
        tokyo, ireland = (
            global_names(synth(config_of(account="111111111111", region=r, front_door=door)))
            for r in ("ap-northeast-1", "eu-west-1")
        )
        assert tokyo and not tokyo & ireland, door


# --- 9. IPv6 allow-list entries on an IPv4-only ALB -----------------------------------------------------


def test_ipv4_only_alb_has_no_ipv6_rules(example_results: dict[str, SynthResult]) -> None:
    """Elastic Load Balancing User Guide, "IP address types for your Application Load Balancer": an `ipv4`
    load balancer (the default, and the only type a VPC without IPv6 CIDRs allows) never receives IPv6
    clients, so IPv6 rules in its security group admit nobody. They are rejected at validation, naming the
    key, the value and the fix, and no such rule is synthesized."""
    checked = 0
    for name, _config, result in examples(example_results):
        template = main_template(result)
        for alb in resources(template, "AWS::ElasticLoadBalancingV2::LoadBalancer").values():
            if alb["Properties"].get("IpAddressType", "ipv4") != "ipv4":
                continue
            for group in alb["Properties"]["SecurityGroups"]:
                rules = ingress_rules(template, _ref(group) or "")
                assert not [r for r in rules if "CidrIpv6" in r], name
            checked += 1
    assert checked, "some example has an ALB"
    with pytest.raises(ConfigError) as info:
        config_of(front_door={"type": "alb", "allowed_cidrs": ["203.0.113.0/24", "2001:db8::/32"]})
    (problem,) = info.value.problems
    assert "front_door" in problem and "'2001:db8::/32'" in problem and "IPv4-only" in problem
    assert "type = 'cloudfront'" in problem


# --- 5. what Lambda functions can resolve ---------------------------------------------------------------


def service_connect_names(template: dict[str, Any]) -> set[str]:
    """Names that exist only inside tasks of ECS services in the Service Connect namespace."""
    names: set[str] = set()
    for service in resources(template, "AWS::ECS::Service").values():
        config = service["Properties"].get("ServiceConnectConfiguration") or {}
        for entry in config.get("Services", []):
            names |= {str(entry.get("PortName")), str(entry.get("DiscoveryName", entry.get("PortName")))}
            names |= {str(alias["DnsName"]) for alias in entry.get("ClientAliases", []) if "DnsName" in alias}
    return names


def _hosts(value: str) -> set[str]:
    return {host for host in re.findall(r"https?://([A-Za-z0-9.-]+)", value)}


def test_lambda_environments_hold_no_service_connect_names(example_results: dict[str, SynthResult]) -> None:
    """ECS Developer Guide, "Service Connect" (it only interconnects Amazon ECS services; client aliases
    resolve inside tasks of the namespace through the Service Connect proxy) and aws/containers-roadmap#1960
    (Lambda cannot use Service Connect names): a function's environment may hold only names it can resolve,
    here Cloud Map A records in the cluster's private DNS namespace that the VPC resolver answers."""
    checked = 0
    for name, _config, result in examples(example_results):
        template = main_template(result)
        forbidden = service_connect_names(template)
        namespaces = [
            n["Properties"]["Name"]
            for n in resources(template, "AWS::ServiceDiscovery::PrivateDnsNamespace").values()
        ]
        registered = {
            f"{s['Properties']['Name']}.{namespace}"
            for s in resources(template, "AWS::ServiceDiscovery::Service").values()
            if s["Properties"].get("DnsConfig", {}).get("DnsRecords")
            for namespace in namespaces
        }
        for fn_id, fn in resources(template, "AWS::Lambda::Function").items():
            variables = fn["Properties"].get("Environment", {}).get("Variables", {})
            for key, value in variables.items():
                if not isinstance(value, str):
                    continue
                for host in _hosts(value):
                    assert host not in forbidden, f"{name}: {fn_id} {key}={value} is a Service Connect name"
                    if host.endswith(tuple(namespaces)):
                        assert host in registered, f"{name}: {fn_id} {key}: {host} has no DNS record"
                        checked += 1
    assert checked, "some example's function calls Dify roles by private DNS name"


# --- 6. Service Connect: providers before clients -------------------------------------------------------


def _references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        target = _ref(value)
        if target is not None:
            yield target
        for item in value.values():
            yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def created_after(template: dict[str, Any], logical_id: str) -> set[str]:
    """Every resource CloudFormation creates before `logical_id` (DependsOn and references, transitively)."""
    found: set[str] = set()
    todo = [logical_id]
    while todo:
        body = template["Resources"].get(todo.pop(), {})
        depends = body.get("DependsOn", [])
        for target in [
            *([depends] if isinstance(depends, str) else depends),
            *_references(body.get("Properties")),
        ]:
            if target in template["Resources"] and target not in found:
                found.add(target)
                todo.append(target)
    return found


def service_connect_calls(template: dict[str, Any]) -> set[tuple[str, str]]:
    """(client, provider) service pairs: the client's containers hold the provider's Service Connect URL."""
    urls: dict[str, str] = {}
    for sid, service in resources(template, "AWS::ECS::Service").items():
        for entry in (service["Properties"].get("ServiceConnectConfiguration") or {}).get("Services", []):
            for alias in entry.get("ClientAliases", []):
                urls[f"http://{alias['DnsName']}:{alias['Port']}"] = sid
    calls: set[tuple[str, str]] = set()
    for sid, service in resources(template, "AWS::ECS::Service").items():
        if not (service["Properties"].get("ServiceConnectConfiguration") or {}).get("Enabled"):
            continue
        task = template["Resources"][_ref(service["Properties"]["TaskDefinition"]) or ""]
        values = [
            str(variable["Value"])
            for container in task["Properties"]["ContainerDefinitions"]
            for variable in container.get("Environment", [])
        ]
        calls |= {(sid, p) for url, p in urls.items() if p != sid and any(url in v for v in values)}
    return calls


def rolled_once_after(template: dict[str, Any], early: str, late: str) -> bool:
    """A custom resource that, on create only, forces a new deployment of `early` after `late` exists."""
    for rid, body in template["Resources"].items():
        create = json.dumps(body.get("Properties", {}).get("Create", ""))
        if (
            body["Type"].startswith("Custom::")
            and "updateService" in create
            and "forceNewDeployment" in create
            and early in create
            and "Update" not in body["Properties"]
            and late in created_after(template, rid)
        ):
            return True
    return False


def test_service_connect_providers_start_before_their_clients(
    example_results: dict[str, SynthResult],
) -> None:
    """ECS Developer Guide, "Service Connect concepts": existing tasks can't resolve and connect to an
    endpoint created after they started (aws/containers-roadmap#2692; start order matters). Each ECS service
    is created after the services whose Service Connect URLs it holds (CloudFormation waits for a new service
    to be stable); of a pair that calls each other, the one created first is redeployed once after the other
    exists, on stack creation only."""
    checked = 0
    for name, _config, result in examples(example_results):
        template = main_template(result)
        calls = service_connect_calls(template)
        for client, provider in calls:
            if provider in created_after(template, client):
                checked += 1
                continue
            assert client in created_after(template, provider), (
                f"{name}: {client} may start before {provider}"
            )
            assert rolled_once_after(template, client, provider), f"{name}: {client} never learns {provider}"
    assert checked, "some example uses Service Connect between services"


# --- the migration task's capacity provider ------------------------------------------------------------


def test_migration_waits_for_the_capacity_provider_association(
    example_results: dict[str, SynthResult],
) -> None:
    """ECS RunTask ("capacityProviderStrategy": a capacity provider must be associated with the cluster
    before a task can use it) and AWS::ECS::ClusterCapacityProviderAssociations: the migration custom
    resource starts a FARGATE task, so it must depend on the association, or the first RunTask can race it."""
    for name, _config, result in examples(example_results):
        template = main_template(result)
        (association,) = resources(template, "AWS::ECS::ClusterCapacityProviderAssociations")
        for gate_id, gate in resources(template, "Custom::DifyMigration").items():
            assert association in gate.get("DependsOn", []), f"{name}: {gate_id}"


# --- 5. Cloud Map DNS records next to Service Connect --------------------------------------------------


def test_dns_records_beside_service_connect_can_be_created(example_results: dict[str, SynthResult]) -> None:
    """ECS API "ServiceRegistry" (one registry per service), Cloud Map "DnsConfig" (A records need a DNS
    namespace, not an HTTP one) and aws/aws-cdk#26524 (a registry named like the Service Connect endpoint
    clashes with the service Service Connect creates): every registered service keeps one registry, in the
    private DNS namespace, under a name no Service Connect endpoint of the stack uses."""
    checked = 0
    for name, _config, result in examples(example_results):
        template = main_template(result)
        every = template["Resources"]
        connect_names = {
            str(alias.get("DnsName") or svc.get("DiscoveryName") or svc.get("PortName"))
            for service in resources(template, "AWS::ECS::Service").values()
            for svc in service["Properties"].get("ServiceConnectConfiguration", {}).get("Services", [])
            for alias in svc.get("ClientAliases", [{}])
        } | {
            str(svc.get("PortName"))
            for service in resources(template, "AWS::ECS::Service").values()
            for svc in service["Properties"].get("ServiceConnectConfiguration", {}).get("Services", [])
        }
        for sid, service in resources(template, "AWS::ECS::Service").items():
            registries = service["Properties"].get("ServiceRegistries", [])
            if not registries:
                continue
            assert len(registries) == 1, f"{name}: {sid}"
            (registry,) = registries
            cloud_map = every[registry["RegistryArn"]["Fn::GetAtt"][0]]["Properties"]
            assert cloud_map["Name"] not in connect_names, f"{name}: {sid} registers {cloud_map['Name']}"
            assert {r["Type"] for r in cloud_map["DnsConfig"]["DnsRecords"]} == {"A"}, f"{name}: {sid}"
            namespace = cloud_map["DnsConfig"]["NamespaceId"]["Fn::GetAtt"][0]
            assert every[namespace]["Type"] == "AWS::ServiceDiscovery::PrivateDnsNamespace", f"{name}: {sid}"
            checked += 1
    assert checked > 0, "no example registers DNS records: the test would pass vacuously"
