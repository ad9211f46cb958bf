"""An existing VPC (`network.vpc_id`): described by subnet IDs it synthesizes offline, alone it is looked up;
either way the stack adds nothing to the VPC but its own security groups, and puts every resource into the
subnets the config names. Invalid combinations are config errors naming key, value and fix."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from dify_on_aws.app import SynthResult, synthesize
from dify_on_aws.config import ConfigError, DifyConfig, load_config

from .conftest import ROOT, cli_synth, config_of, recorded_vpc, vpc_key
from .test_services import containers, env, res

EXAMPLE = load_config(ROOT / "examples" / "imported-vpc.toml")
VPC_ID = "vpc-0a1b2c3d4e5f60718"
PUBLIC = ["subnet-0a1b2c3d4e5f60021", "subnet-0a1b2c3d4e5f60022"]
PRIVATE = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"]
ISOLATED = ["subnet-0a1b2c3d4e5f60011", "subnet-0a1b2c3d4e5f60012"]
ZONES = ["ap-northeast-1a", "ap-northeast-1c"]
# What only the owner of a VPC creates; the stack must create none of it in a VPC it imports.
OWNER_ONLY = (
    "AWS::EC2::VPC",
    "AWS::EC2::Subnet",
    "AWS::EC2::RouteTable",
    "AWS::EC2::Route",
    "AWS::EC2::SubnetRouteTableAssociation",
    "AWS::EC2::InternetGateway",
    "AWS::EC2::VPCGatewayAttachment",
    "AWS::EC2::NatGateway",
    "AWS::EC2::EIP",
    "AWS::EC2::Instance",
    "AWS::EC2::FlowLog",
    "AWS::EC2::NetworkAcl",
    "Custom::VpcRestrictDefaultSG",
)


def network(**fields: Any) -> dict[str, Any]:
    return {
        "vpc_id": VPC_ID,
        "cidr": "10.40.0.0/16",
        "availability_zones": ZONES,
        "private_subnet_ids": PRIVATE,
        **fields,
    }


PUBLIC_ALB = config_of(
    name="ImportedAlb",
    region="ap-northeast-1",
    network=network(public_subnet_ids=PUBLIC),
    front_door={"type": "alb"},
)
LOOKED_UP = config_of(name="LookedUp", account="111111111111", region="us-east-1", network={"vpc_id": VPC_ID})


def template(result: SynthResult) -> Template:
    (body,) = result.templates.values()
    return Template.from_json(body)


def service_subnets(t: Template) -> set[str]:
    return {
        subnet
        for service in res(t, "AWS::ECS::Service").values()
        for subnet in service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"]
    }


def data_subnets(t: Template) -> tuple[list[str], list[str]]:
    (db,) = res(t, "AWS::RDS::DBSubnetGroup").values()
    (cache,) = res(t, "AWS::ElastiCache::SubnetGroup").values()
    return db["Properties"]["SubnetIds"], cache["Properties"]["SubnetIds"]


@pytest.fixture(scope="module")
def imported(synth: Callable[[DifyConfig], SynthResult]) -> Template:
    return template(synth(EXAMPLE))


def test_an_imported_vpc_is_never_modified(
    imported: Template, synth: Callable[[DifyConfig], SynthResult]
) -> None:
    """VPC User Guide, "Default security group" and "Route tables" (they belong to the VPC and its owner)
    and the CDK `Vpc.fromVpcAttributes` reference (an imported VPC is referenced, not created): no route,
    table, gateway, NAT, flow log, network ACL or default-security-group change, offline or looked up."""
    for t in (imported, template(synth(PUBLIC_ALB)), template(synth(LOOKED_UP))):
        for kind in OWNER_ONLY:
            assert res(t, kind) == {}, kind
        groups = res(t, "AWS::EC2::SecurityGroup").values()
        assert groups and {g["Properties"]["VpcId"] for g in groups} <= {VPC_ID}


def test_tasks_run_in_the_private_subnets_and_data_stores_in_the_isolated_ones(imported: Template) -> None:
    """RDS User Guide, "Working with a DB instance in a VPC" (a DB subnet group needs subnets in at least two
    Availability Zones) and ElastiCache "Subnets and subnet groups": the database and cache groups hold the
    isolated subnets of both zones; tasks run in the private subnets, which have the route out, without
    public IPs."""
    assert service_subnets(imported) == set(PRIVATE)
    for service in res(imported, "AWS::ECS::Service").values():
        assert service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == (
            "DISABLED"
        )
    assert data_subnets(imported) == (ISOLATED, ISOLATED)
    (alb,) = res(imported, "AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    assert alb["Properties"]["Scheme"] == "internal" and alb["Properties"]["Subnets"] == PRIVATE


def test_without_isolated_subnets_data_stores_share_the_private_ones_and_the_alb_is_public(
    synth: Callable[[DifyConfig], SynthResult],
) -> None:
    t = template(synth(PUBLIC_ALB))
    assert data_subnets(t) == (PRIVATE, PRIVATE)
    (alb,) = res(t, "AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    assert alb["Properties"]["Scheme"] == "internet-facing" and alb["Properties"]["Subnets"] == PUBLIC


def test_the_ssrf_proxy_denies_the_imported_vpc(imported: Template) -> None:
    """The proxy must never reach the VPC it runs in (services/ssrf_proxy.py): its deny list holds the
    imported VPC's CIDR, which CDK cannot read offline and the config therefore names."""
    (_, _, proxy) = containers(imported)["ssrf-proxy"]
    conf = base64.b64decode(env(proxy)["SQUID_CONFIG_B64"]).decode()
    assert "10.40.0.0/16" in conf


def test_a_looked_up_vpc_uses_the_recorded_lookup(
    synth: Callable[[DifyConfig], SynthResult], tmp_path: Path
) -> None:
    """CDK guide "Context values" and `Vpc.fromLookup` (needs an explicit account and region; the result is
    recorded in cdk.context.json): with the recorded lookup the looked-up subnets are used; without it synth
    reports exactly the missing lookup instead of writing a template with placeholder subnets."""
    t = template(synth(LOOKED_UP))
    (recorded,) = recorded_vpc(LOOKED_UP).values()
    groups = {g["type"]: [s["subnetId"] for s in g["subnets"]] for g in recorded["subnetGroups"]}
    assert service_subnets(t) == set(groups["Private"])
    assert data_subnets(t) == (groups["Isolated"], groups["Isolated"])
    (_, _, proxy) = containers(t)["ssrf-proxy"]
    assert recorded["vpcCidrBlock"] in base64.b64decode(env(proxy)["SQUID_CONFIG_B64"]).decode()
    missing = synthesize(LOOKED_UP, tmp_path / "missing", nag=False)
    assert missing.missing_context == [vpc_key("111111111111", "us-east-1", VPC_ID)]


def test_cli_stops_on_a_missing_vpc_lookup(tmp_path: Path) -> None:
    proc = cli_synth(
        tmp_path, f'account = "111111111111"\nregion = "us-east-1"\n[network]\nvpc_id = "{VPC_ID}"\n'
    )
    assert proc.returncode == 2, proc.stderr
    assert f"vpc-provider:account=111111111111:filter.vpc-id={VPC_ID}" in proc.stderr
    assert "network.private_subnet_ids" in proc.stderr and "Traceback" not in proc.stderr


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config_of(**data)
    return info.value.problems


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"region": "ap-northeast-1", "network": network(nat_gateways=2, flow_logs=True, max_azs=3)},
            [
                "nat_gateways = 2 cannot be used with vpc_id",
                "max_azs = 3 cannot be used with vpc_id",
                "flow_logs = true cannot be used with vpc_id",
            ],
        ),
        (
            {"region": "ap-northeast-1", "network": network(nat="instance", nat_instance_type="t4g.micro")},
            ["nat = 'instance' cannot be used with vpc_id", "nat_instance_type = 't4g.micro' cannot be used"],
        ),
        (
            {"region": "ap-northeast-1", "network": network(availability_zones=ZONES[:1])},
            ["needs availability_zones", "private_subnet_ids lists 2 subnets but availability_zones lists 1"],
        ),
        (
            {"region": "ap-northeast-1", "network": network(isolated_subnet_ids=ISOLATED[:1])},
            ["isolated_subnet_ids lists 1 subnets but availability_zones lists 2 zones"],
        ),
        (
            {
                "region": "ap-northeast-1",
                "network": network(private_subnet_ids=[], isolated_subnet_ids=ISOLATED),
            },
            ["needs private_subnet_ids"],
        ),
        (
            {"region": "ap-northeast-1", "network": network(isolated_subnet_ids=PRIVATE)},
            ["a subnet is listed under two of"],
        ),
        (
            {"region": "ap-northeast-1", "network": {k: v for k, v in network().items() if k != "cidr"}},
            ["needs cidr: the VPC's primary IPv4 CIDR"],
        ),
        ({"network": network(vpc_id="vpc-12")}, ["network.vpc_id = 'vpc-12': must be a VPC ID"]),
        (
            {"region": "ap-northeast-1", "network": network(private_subnet_ids=["subnet-1", PRIVATE[0]])},
            ["network.private_subnet_ids = ['subnet-1', ", "are not subnet IDs"],
        ),
        ({"network": {"private_subnet_ids": PRIVATE}}, ["describe an existing VPC; set vpc_id"]),
        ({"network": {"vpc_id": VPC_ID}}, ["alone is looked up in EC2, which needs account, region"]),
        (
            {
                "account": "111111111111",
                "region": "us-east-1",
                "network": {"vpc_id": VPC_ID, "cidr": "10.1.0.0/16"},
            },
            ["cidr = '10.1.0.0/16' with vpc_id alone: the lookup reads it"],
        ),
        (
            {"region": "ap-northeast-1", "network": network(), "front_door": {"type": "alb"}},
            ["front_door.type = 'alb' is internet-facing and needs public subnets"],
        ),
    ],
)
def test_what_cannot_work_with_the_given_vpc_is_a_config_error(
    data: dict[str, Any], expected: list[str]
) -> None:
    found = " | ".join(problems(data))
    for part in expected:
        assert part in found, (part, found)


def test_an_imported_vpc_may_have_any_cidr_aws_allows() -> None:
    """VPC User Guide, "VPC CIDR blocks": a VPC's IPv4 CIDR is a /16 to /28, not necessarily RFC 1918; the
    /16-to-/22 private rule applies only to a VPC the stack creates."""
    base = {"region": "ap-northeast-1"}
    assert config_of(**base, network=network(cidr="100.64.8.0/24")).network.cidr == "100.64.8.0/24"
    assert "/16 to /28" in " ".join(problems({**base, "network": network(cidr="10.0.0.0/29")}))
    assert "must be a private" in " ".join(problems({"network": {"cidr": "100.64.0.0/16"}}))


def test_an_imported_vpc_counts_as_egress_for_functions_in_it() -> None:
    """Tasks and functions in the private subnets are assumed to reach the internet through the VPC's own
    egress: the checks that demand a NAT gateway of a new VPC do not fire."""
    config = config_of(region="ap-northeast-1", network=network(), database={"rotation_days": 30})
    assert config.network.egress and config.network.nat_gateways == 1


def test_a_dumped_config_parses_again() -> None:
    """Tools that re-parse a config from its dump (the cost command's front-door comparison, the sweep)
    give every key explicitly; checks compare with the defaults, so the dump stays valid."""
    for config in (EXAMPLE, LOOKED_UP, config_of(network={"nat": "instance"})):
        assert config_of(**config.model_dump()) == config
