"""NAT instances (`network.nat = "instance"`): what AWS requires of an instance that does NAT, how it is
reached (Session Manager, never SSH), what it costs and how it is drawn."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Template

from dify_on_aws.app import SynthResult
from dify_on_aws.config import ConfigError, DifyConfig, load_config
from dify_on_aws.cost.estimate import estimate
from dify_on_aws.cost.model import Usage
from dify_on_aws.diagram import graph
from dify_on_aws.diagram.model import derive

from .conftest import ROOT, config_of
from .template_queries import role_statements
from .test_services import res

EXAMPLE = load_config(ROOT / "examples" / "nat-instance.toml")
TWO = config_of(
    name="TwoNats", network={"nat": "instance", "nat_gateways": 2, "nat_instance_type": "t3.micro"}
)


@pytest.fixture(scope="module")
def result(synth: Callable[[DifyConfig], SynthResult]) -> SynthResult:
    return synth(EXAMPLE)


@pytest.fixture(scope="module")
def body(result: SynthResult) -> dict[str, Any]:
    (template,) = result.templates.values()
    return template


def instances(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return res(Template.from_json(body), "AWS::EC2::Instance")


def test_nat_instances_replace_nat_gateways_and_take_the_private_routes(body: dict[str, Any]) -> None:
    """VPC User Guide, "NAT instances": private subnets send 0.0.0.0/0 to the instance, and a NAT instance
    must have its source/destination check turned off (it forwards traffic neither from nor to itself)."""
    t = Template.from_json(body)
    assert res(t, "AWS::EC2::NatGateway") == {} and res(t, "AWS::EC2::EIP") == {}
    (nat_id, nat), *_ = instances(body).items()
    assert nat["Properties"]["SourceDestCheck"] is False
    assert nat["Properties"]["InstanceType"] == "t4g.nano"
    to_nat = [
        r for r in res(t, "AWS::EC2::Route").values() if r["Properties"].get("InstanceId") == {"Ref": nat_id}
    ]
    assert len(to_nat) == 2 and {r["Properties"]["DestinationCidrBlock"] for r in to_nat} == {"0.0.0.0/0"}


def test_the_instance_starts_after_its_route_to_the_internet(body: dict[str, Any]) -> None:
    """Its user data installs iptables from the Amazon Linux repositories at first boot (CDK
    NatInstanceProviderV2.DEFAULT_USER_DATA_COMMANDS), through the internet gateway: CloudFormation must
    create the public subnets' default routes before the instance, or the first boot finds no way out."""
    t = Template.from_json(body)
    public_routes = {rid for rid, r in res(t, "AWS::EC2::Route").items() if "GatewayId" in r["Properties"]}
    (nat,) = instances(body).values()
    assert public_routes and public_routes <= set(nat["DependsOn"])


def test_reached_through_session_manager_never_ssh(body: dict[str, Any]) -> None:
    """Systems Manager User Guide, "Configure instance permissions" (AmazonSSMManagedInstanceCore on the
    instance profile) and EC2 "Use IMDSv2" (HttpTokens required): no key pair, IMDSv2 only, and the
    Amazon Linux 2023 image of the instance's architecture from AWS's public SSM parameter."""
    (nat,) = instances(body).values()
    props = nat["Properties"]
    assert "KeyName" not in props
    assert props["MetadataOptions"]["HttpTokens"] == "required"
    image = props["ImageId"]["Ref"]
    assert body["Parameters"][image]["Default"].startswith("/aws/service/ami-amazon-linux-latest/al2023-")
    assert body["Parameters"][image]["Default"].endswith("-arm64")
    (mapping,) = props["BlockDeviceMappings"]
    assert mapping["Ebs"]["Encrypted"] is True
    profile = body["Resources"][props["IamInstanceProfile"]["Ref"]]["Properties"]
    (role_ref,) = profile["Roles"]
    role = body["Resources"][role_ref["Ref"]]["Properties"]
    assert any("AmazonSSMManagedInstanceCore" in str(arn) for arn in role["ManagedPolicyArns"])
    assert role_statements(body["Resources"], role_ref["Ref"]) == []


def test_its_security_group_admits_only_the_vpc(body: dict[str, Any]) -> None:
    """VPC User Guide, "NAT instances" (the security group admits traffic from the private subnets): here
    the VPC CIDR only, no SSH from anywhere, all egress to the internet."""
    (nat,) = instances(body).values()
    (group_ref,) = nat["Properties"]["SecurityGroupIds"]
    group = body["Resources"][group_ref["Fn::GetAtt"][0]]["Properties"]
    assert [(r["CidrIp"], r["IpProtocol"]) for r in group["SecurityGroupIngress"]] == [("10.0.0.0/16", "-1")]
    standalone = [
        r
        for r in res(Template.from_json(body), "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == group_ref
    ]
    assert standalone == []
    assert [r["CidrIp"] for r in group["SecurityGroupEgress"]] == ["0.0.0.0/0"]


def test_one_instance_per_nat_and_x86_types_get_the_x86_image(
    synth: Callable[[DifyConfig], SynthResult],
) -> None:
    (body,) = synth(TWO).templates.values()
    found = instances(body)
    assert len(found) == 2
    for nat in found.values():
        assert nat["Properties"]["InstanceType"] == "t3.micro"
        assert body["Parameters"][nat["Properties"]["ImageId"]["Ref"]]["Default"].endswith("-x86_64")


def test_nat_settings_are_checked() -> None:
    for data, part in (
        ({"nat": "instance", "nat_gateways": 0}, "nat = 'instance' with nat_gateways = 0"),
        ({"nat_instance_type": "t4g.micro"}, "applies only to NAT instances; set nat = 'instance'"),
        ({"nat": "instance", "nat_instance_type": "nano"}, "must be an EC2 instance type"),
        ({"nat": "box"}, "network.nat = 'box': not allowed"),
    ):
        with pytest.raises(ConfigError) as info:
            config_of(network=data)
        assert part in " ".join(info.value.problems), (data, info.value.problems)


def test_cost_prices_the_instance_and_its_address_but_no_data_processing(body: dict[str, Any]) -> None:
    """EC2 On-Demand pricing (per instance-hour) and VPC pricing (a NAT gateway bills per hour and per GB
    processed; a NAT instance bills as an instance plus its public IPv4 address, nothing per GB)."""
    result = estimate({"DifyNatInstance": body}, usage=Usage(nat_gb=1000))
    (hours,) = [line for line in result.lines if line.dimension == "ec2.t4g_nano.hour"]
    assert hours.monthly == pytest.approx(730 * 0.0042)
    assert "NAT instance for 2 route(s): no per-GB processing charge" in hours.note
    assert "unlimited CPU credits" in hours.note
    assert [line.resource for line in result.lines if line.dimension == "vpc.public_ipv4.hour"] == [
        hours.resource
    ]
    assert not [line for line in result.lines if line.dimension.startswith("nat_gateway.")]
    assert not result.unknown and not result.unpriced


def test_the_diagram_shows_the_nat_instance_in_a_public_subnet(body: dict[str, Any]) -> None:
    arch = derive({"DifyNatInstance": body})
    nat = arch.nodes["nat"]
    assert nat.title == "NAT instance (t4g.nano)" and nat.cluster == graph.PUBLIC
    assert arch.nodes["svc_api"].cluster == graph.PRIVATE
    assert any(edge.src == "nat" and edge.dst == "model_apis" for edge in arch.edges)
