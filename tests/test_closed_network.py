"""`network.closed`: no internet gateway, NAT or public subnet; every AWS service the deployment talks to from
inside the VPC has a VPC endpoint, and the list is derived again here from the synthesized template (IAM
actions of task and execution roles and of functions in the VPC, image URIs, log drivers), so a service
added later without its endpoint fails this test; images from ECR only; the marketplace off."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from aws_cdk.assertions import Template

from dify_on_aws.app import SynthResult
from dify_on_aws.config import ConfigError, DifyConfig, load_config
from dify_on_aws.network.endpoints import GATEWAY_SERVICES, KNOWLEDGE_ENDPOINTS, NO_PRIVATE_DNS
from dify_on_aws.operations.vpc_endpoints import required_endpoints
from dify_on_aws.services.images import ecr_repository

from .conftest import ROOT, config_of
from .template_queries import Resources, as_list, of_type, role_statements
from .test_dify_contract import around_the_proxy

CLOSED_EXAMPLE = ROOT / "examples" / "closed-network.toml"
ECR_MIRROR = "111111111111.dkr.ecr.eu-central-1.amazonaws.com"

# Which VPC endpoint serves an IAM action's API ("AWS services that integrate with AWS PrivateLink", and
# each service's endpoint page). An action whose service is not listed fails the derivation: add the
# service's endpoint name here and to network/endpoints.py.
ECR_PULL = {"ecr.api", "ecr.dkr", "s3"}  # "Amazon ECR interface VPC endpoints": layers are in S3
ACTION_ENDPOINTS: dict[str, set[str]] = {
    "ecr": ECR_PULL,
    "s3": {"s3"},
    "logs": {"logs"},
    "secretsmanager": {"secretsmanager"},
    "ssmmessages": {"ssmmessages"},
    "ssm": {"ssm"},
    "kms": {"kms"},
    "sts": {"sts"},
    "cloudwatch": {"monitoring"},
    "ecs": {"ecs"},
    "lambda": {"lambda"},
    "servicediscovery": {"servicediscovery"},
    "rds-data": {"rds-data"},
    "elasticfilesystem": {"elasticfilesystem"},
    "sqs": {"sqs"},
    # IAM database authentication: the token is signed locally, nothing is called.
    "rds-db": set(),
    # The package proxy: GetAuthorizationToken on the API endpoint, package reads on the repositories one.
    "codeartifact": {"codeartifact.api", "codeartifact.repositories"},
}
# Permissions checked by another service's call, never called themselves: CodeArtifact's
# GetAuthorizationToken requires sts:GetServiceBearerToken of its caller ("CodeArtifact authentication and
# tokens"), so no STS endpoint is used.
NOT_CALLED = {"sts:GetServiceBearerToken"}
# Bedrock's APIs are split over three endpoints by action.
BEDROCK_RUNTIME = ("InvokeModel", "Converse", "ApplyGuardrail", "CountTokens")
BEDROCK_AGENT_RUNTIME = ("Retrieve", "Rerank", "InvokeAgent", "InvokeFlow")


def endpoints_for_action(action: str) -> set[str]:
    if action in NOT_CALLED:
        return set()
    service, _, name = action.partition(":")
    if service == "bedrock":
        if name.startswith(BEDROCK_RUNTIME):
            return {"bedrock-runtime"}
        if name.startswith(BEDROCK_AGENT_RUNTIME):
            return {"bedrock-agent-runtime"}
        return {"bedrock"}
    assert service in ACTION_ENDPOINTS, f"no VPC endpoint known for {action}: add it to ACTION_ENDPOINTS"
    return ACTION_ENDPOINTS[service]


def _assumed_by(role: Mapping[str, Any], principal: str) -> bool:
    statements = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    return any(principal in as_list(s.get("Principal", {}).get("Service", [])) for s in statements)


def in_vpc_roles(resources: Resources) -> set[str]:
    """Roles whose calls leave from inside the VPC: ECS task and execution roles, and the roles of Lambda
    functions with a VpcConfig (functions outside the VPC use AWS's public endpoints)."""
    roles = {
        rid
        for rid, role in of_type(resources, "AWS::IAM::Role").items()
        if _assumed_by(role, "ecs-tasks.amazonaws.com")
    }
    for function in of_type(resources, "AWS::Lambda::Function").values():
        if function["Properties"].get("VpcConfig"):
            roles.add(function["Properties"]["Role"]["Fn::GetAtt"][0])
    return roles


def _execution_roles(resources: Resources) -> set[str]:
    return {
        task["Properties"]["ExecutionRoleArn"]["Fn::GetAtt"][0]
        for task in of_type(resources, "AWS::ECS::TaskDefinition").values()
        if "ExecutionRoleArn" in task["Properties"]
    }


def derived_endpoints(resources: Resources) -> set[str]:
    """Every endpoint the template's VPC traffic needs, from IAM actions, images and log drivers."""
    needed: set[str] = set()
    execution = _execution_roles(resources)
    for role in in_vpc_roles(resources):
        for statement in role_statements(resources, role):
            for action in as_list(statement["Action"]):
                if role in execution and action == "kms:Decrypt":
                    # A customer managed key of an [env] secret or parameter: Secrets Manager and Parameter
                    # Store decrypt with it on the caller's behalf (kms:ViaService), not through the VPC.
                    continue
                needed |= endpoints_for_action(action)
    for task in of_type(resources, "AWS::ECS::TaskDefinition").values():
        for container in task["Properties"]["ContainerDefinitions"]:
            image = container["Image"]
            assert isinstance(image, str), image
            assert ecr_repository(image) is not None, f"{container['Name']} pulls {image} from outside ECR"
            needed |= ECR_PULL
            if container.get("LogConfiguration", {}).get("LogDriver") == "awslogs":
                needed.add("logs")
            if container.get("Secrets"):
                needed.add("secretsmanager")
    # Secrets Manager's hosted rotation (a Serverless application) runs its function in the VPC.
    for app in of_type(resources, "AWS::Serverless::Application").values():
        if app["Properties"].get("Parameters", {}).get("vpcSubnetIds"):
            needed.add("secretsmanager")
    # A private REST API is reachable only through an execute-api interface endpoint ("Private REST APIs in
    # API Gateway").
    for api in of_type(resources, "AWS::ApiGateway::RestApi").values():
        if "PRIVATE" in api["Properties"].get("EndpointConfiguration", {}).get("Types", []):
            needed.add("execute-api")
    return needed


def _service_of(endpoint: Mapping[str, Any]) -> str:
    """`com.amazonaws.<region>.<service>` (literal or Fn::Join with AWS::Region) -> `<service>`."""
    name = endpoint["ServiceName"]
    if isinstance(name, dict):
        name = "".join(p if isinstance(p, str) else "<region>" for p in name["Fn::Join"][1])
    assert name.startswith("com.amazonaws."), name
    return str(name).removeprefix("com.amazonaws.").split(".", 1)[1]


def endpoints_of(resources: Resources) -> dict[str, Mapping[str, Any]]:
    return {
        _service_of(e["Properties"]): e["Properties"]
        for e in of_type(resources, "AWS::EC2::VPCEndpoint").values()
    }


@pytest.fixture(scope="session")
def closed(synth: Callable[[DifyConfig], SynthResult]) -> Resources:
    (body,) = synth(load_config(CLOSED_EXAMPLE)).templates.values()
    resources: Resources = body["Resources"]
    return resources


@pytest.fixture(scope="session")
def closed_rotation(synth: Callable[[DifyConfig], SynthResult]) -> Resources:
    data = {**CLOSED, "database": {"rotation_days": 30}, "services": {"bedrock": False}}
    (body,) = synth(config_of(**data)).templates.values()
    resources: Resources = body["Resources"]
    return resources


def assert_no_way_out(resources: Resources) -> None:
    """No internet gateway, NAT, Elastic IP, instance, function URL or public subnet, no route to 0.0.0.0/0,
    no public IP on a task, internal load balancers only (the sweep checks every closed configuration so)."""
    for kind in (
        "AWS::EC2::InternetGateway",
        "AWS::EC2::VPCGatewayAttachment",
        "AWS::EC2::NatGateway",
        "AWS::EC2::EIP",
        "AWS::EC2::EgressOnlyInternetGateway",
        "AWS::EC2::Instance",
        "AWS::Lambda::Url",
    ):
        assert of_type(resources, kind) == {}, kind
    for route in of_type(resources, "AWS::EC2::Route").values():
        props = route["Properties"]
        assert props.get("DestinationCidrBlock") != "0.0.0.0/0", props
        assert not {"GatewayId", "NatGatewayId", "InstanceId"} & set(props), props
    for subnet in of_type(resources, "AWS::EC2::Subnet").values():
        assert subnet["Properties"].get("MapPublicIpOnLaunch", False) is False
    for service in of_type(resources, "AWS::ECS::Service").values():
        network = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert network["AssignPublicIp"] == "DISABLED"
    for alb in of_type(resources, "AWS::ElasticLoadBalancingV2::LoadBalancer").values():
        assert alb["Properties"]["Scheme"] == "internal"


def test_no_way_to_the_internet(closed: Resources) -> None:
    """No internet gateway, NAT, Elastic IP or public subnet, no route to 0.0.0.0/0, no public IP on a task,
    an internal load balancer."""
    assert_no_way_out(closed)
    assert len(of_type(closed, "AWS::ElasticLoadBalancingV2::LoadBalancer")) == 1


def test_every_needed_endpoint_is_there_and_no_other(closed: Resources) -> None:
    """Derived from the template: an action, image or log driver without its endpoint fails here; an
    endpoint nothing uses (billed per hour and zone) fails too."""
    assert set(endpoints_of(closed)) == derived_endpoints(closed)


def test_rotation_in_a_closed_network_reaches_secrets_manager(closed_rotation: Resources) -> None:
    """The hosted rotation function runs in the VPC and calls Secrets Manager ("Set up automatic rotation
    ... network access": the function needs a route to the Secrets Manager endpoint)."""
    assert of_type(closed_rotation, "AWS::Serverless::Application")
    assert set(endpoints_of(closed_rotation)) == derived_endpoints(closed_rotation)
    assert not {"bedrock", "bedrock-runtime", "bedrock-agent-runtime"} & set(endpoints_of(closed_rotation))


KMS_KEY = "arn:aws:kms:eu-central-1:111111111111:key/0b2c6f1e-1d3c-4d5e-9f00-123456789abc"


@pytest.mark.parametrize(
    ("changes", "present", "absent"),
    [
        (
            {"env": {"sandbox": {"PIP_INDEX": {"ssm": "/dify/pip", "kms_key": KMS_KEY}}}},
            {"ssm"},
            {"kms"},
        ),
        ({"services": {"execute_command": False}}, set(), {"ssmmessages", "ssm"}),
    ],
    ids=["env-ssm", "no-exec"],
)
def test_endpoints_follow_env_parameters_and_ecs_exec(
    synth: Callable[[DifyConfig], SynthResult],
    changes: dict[str, dict[str, object]],
    present: set[str],
    absent: set[str],
) -> None:
    """Found by the sweep. `[env]` `{ ssm = ... }` values are read by Fargate through the task's network at
    start, which in a closed network needs the Systems Manager endpoint ("Amazon ECS interface VPC
    endpoints": Parameter Store secrets); tasks would fail to start without it. With
    `services.execute_command = false` nothing opens ssmmessages channels, and the endpoint only cost money.
    A `kms_key` needs no KMS endpoint (Parameter Store decrypts on AWS's side). `validate --vpc-id` asks for
    the same list."""
    config = config_of(**_with(**changes))
    (body,) = synth(config).templates.values()
    resources: Resources = body["Resources"]
    created = set(endpoints_of(resources))
    assert created == derived_endpoints(resources)
    assert present <= created and not absent & created
    assert set(required_endpoints(config)) == created


def test_validate_lists_what_the_template_needs(closed: Resources) -> None:
    """`validate --vpc-id` checks an imported VPC for exactly the endpoints the stack would create, but for
    the knowledge API's own, which the stack always creates."""
    own = {need.service for need in KNOWLEDGE_ENDPOINTS}
    assert own <= derived_endpoints(closed)
    assert set(required_endpoints(load_config(CLOSED_EXAMPLE))) == derived_endpoints(closed) - own


def test_interface_endpoints_resolve_privately_and_admit_https_from_the_vpc(closed: Resources) -> None:
    """Private DNS makes the SDKs' default hostnames resolve to the endpoint; it needs the VPC's
    enableDnsHostnames and enableDnsSupport ("Access an AWS service using an interface VPC endpoint",
    AWS PrivateLink Guide: DNS attributes). Not for execute-api: with private DNS the VPC could no longer
    reach public APIs ("Invoke a private API", warning), and the knowledge API is called by its alias name.
    The endpoints' group admits HTTPS from the VPC only."""
    (vpc_id, vpc), *_ = of_type(closed, "AWS::EC2::VPC").items()
    assert vpc["Properties"]["EnableDnsHostnames"] is True
    assert vpc["Properties"]["EnableDnsSupport"] is True
    groups: set[str] = set()
    for service, endpoint in endpoints_of(closed).items():
        if service in GATEWAY_SERVICES:
            assert endpoint["VpcEndpointType"] == "Gateway"
            continue
        assert endpoint["VpcEndpointType"] == "Interface"
        assert endpoint["PrivateDnsEnabled"] is (service not in NO_PRIVATE_DNS), service
        groups |= {g["Fn::GetAtt"][0] for g in endpoint["SecurityGroupIds"]}
    (group,) = groups
    (rule,) = closed[group]["Properties"]["SecurityGroupIngress"]
    assert {k: v for k, v in rule.items() if k != "Description"} == {
        "CidrIp": {"Fn::GetAtt": [vpc_id, "CidrBlock"]},
        "FromPort": 443,
        "IpProtocol": "tcp",
        "ToPort": 443,
    }


def test_the_s3_gateway_endpoint_serves_every_subnet(closed: Resources) -> None:
    """ECR image layers come from S3: a gateway endpoint works only for subnets whose route tables it is
    attached to ("Gateway endpoints for Amazon S3"; "Amazon ECR interface VPC endpoints": create the S3
    gateway endpoint for layers)."""
    (s3,) = [e for s, e in endpoints_of(closed).items() if s == "s3"]
    tables = {t["Ref"] for t in s3["RouteTableIds"]}
    associated = {
        a["Properties"]["RouteTableId"]["Ref"]
        for a in of_type(closed, "AWS::EC2::SubnetRouteTableAssociation").values()
    }
    assert tables == associated


def _environment(resources: Resources, container: str) -> dict[str, str]:
    for task in of_type(resources, "AWS::ECS::TaskDefinition").values():
        for definition in task["Properties"]["ContainerDefinitions"]:
            if definition["Name"] == container:
                return {e["Name"]: e["Value"] for e in definition.get("Environment", [])}
    raise AssertionError(container)


def test_marketplace_off_and_signatures_checked(closed: Resources, template: Template) -> None:
    """Dify's api reads MARKETPLACE_ENABLED (api/configs/feature MarketplaceConfig) and the beat's plugin
    upgrade check fetches the marketplace manifest (schedule/check_upgradable_plugin_task.py,
    ENABLE_CHECK_UPGRADABLE_PLUGIN_TASK); the daemon keeps FORCE_VERIFYING_SIGNATURE on
    (internal/types/app/config.go), so only signed uploaded packages install."""
    for role in ("api", "worker", "beat"):
        env = _environment(closed, role)
        assert env["MARKETPLACE_ENABLED"] == "false", role
        assert env["ENABLE_CHECK_UPGRADABLE_PLUGIN_TASK"] == "false", role
    assert _environment(closed, "plugin-daemon")["FORCE_VERIFYING_SIGNATURE"] == "true"
    default = template.to_json()["Resources"]
    assert _environment(default, "api")["MARKETPLACE_ENABLED"] == "true"
    assert "ENABLE_CHECK_UPGRADABLE_PLUGIN_TASK" not in _environment(default, "api")


def test_plugins_reach_bedrock_endpoints_around_the_ssrf_proxy(closed: Resources, template: Template) -> None:
    """Plugins inherit the daemon's proxy variables (internal/types/app/config.go HTTP_PROXY, HTTPS_PROXY,
    NO_PROXY). In a closed network an AWS API name resolves to an interface endpoint inside the VPC CIDR,
    which the SSRF proxy denies, so AWS API calls (Bedrock) must go around it; elsewhere they stay on it."""
    url = "https://bedrock-runtime.eu-central-1.amazonaws.com/model/x/invoke"
    daemon = _environment(closed, "plugin-daemon")
    assert around_the_proxy(daemon["NO_PROXY"], url)
    assert daemon["no_proxy"] == daemon["NO_PROXY"]
    assert not around_the_proxy(daemon["NO_PROXY"], "https://example.com/")
    assert not around_the_proxy(_environment(closed, "sandbox")["NO_PROXY"], url)
    default = _environment(template.to_json()["Resources"], "plugin-daemon")
    assert not around_the_proxy(default["NO_PROXY"], url)


def test_sandbox_requirements_written_by_an_image_from_the_mirror(closed: Resources) -> None:
    """Public ECR (busybox) is unreachable without internet: the writer's busybox comes from the ECR mirror
    that `dify-on-aws mirror-images` fills (services/images.py helper_image)."""
    writers = [
        containers["dependencies"]
        for task in of_type(closed, "AWS::ECS::TaskDefinition").values()
        if "dependencies"
        in (containers := {c["Name"]: c for c in task["Properties"]["ContainerDefinitions"]})
    ]
    assert writers
    for writer in writers:
        image = json.dumps(writer["Image"])
        assert "111111111111" in image and "busybox" in image, image
        assert "public.ecr.aws" not in image


def test_mail_in_a_closed_network_goes_through_the_ses_smtp_endpoint(
    synth: Callable[[DifyConfig], SynthResult],
) -> None:
    """SES SMTP from isolated subnets needs the `email-smtp` interface endpoint, which answers on 465 and
    587 ("Amazon SES and VPC endpoints", SES Developer Guide): the endpoints' group admits both from the
    VPC."""
    (body,) = synth(config_of(**{**CLOSED, "email": {"domain": "example.com"}})).templates.values()
    resources: Resources = body["Resources"]
    assert "email-smtp" in endpoints_of(resources)
    group_ids = [g for e in endpoints_of(resources).values() for g in e.get("SecurityGroupIds", [])]
    ports = {
        (rule["FromPort"], rule["ToPort"])
        for logical_id, group in of_type(resources, "AWS::EC2::SecurityGroup").items()
        if {"Fn::GetAtt": [logical_id, "GroupId"]} in group_ids
        for rule in group["Properties"].get("SecurityGroupIngress", [])
    }
    assert {(443, 443), (465, 465), (587, 587)} <= ports, ports


# --- validation ----------------------------------------------------------------------------------------

CLOSED = {
    "region": "eu-central-1",
    "network": {"closed": True},
    "images": {"registry": f"{ECR_MIRROR}/langgenius"},
    "ssrf_proxy": {"image": f"{ECR_MIRROR}/ubuntu/squid:6.6-24.04_beta"},
    "front_door": {"type": "alb", "internal": True},
}


def _with(**changes: dict[str, object]) -> dict[str, object]:
    data: dict[str, object] = {k: dict(v) if isinstance(v, dict) else v for k, v in CLOSED.items()}
    for key, value in changes.items():
        section = data.setdefault(key, {})
        assert isinstance(section, dict)
        section.update(value)
    return data


def _error(data: dict[str, object]) -> str:
    with pytest.raises(ConfigError) as info:
        config_of(**data)
    return str(info.value)


def test_a_closed_config_is_valid_and_has_no_nat() -> None:
    config = config_of(**CLOSED)
    assert config.network.nat_gateways == 0


@pytest.mark.parametrize("spelled", ["true", "yes", 1])
def test_closed_spelled_as_the_field_accepts_it_has_no_nat_either(spelled: object) -> None:
    """Found by the sweep: `closed = "true"` (a string the boolean field accepts) kept the default of one NAT
    gateway and was refused with "nat_gateways = 1 cannot work; remove nat_gateways", a key never written.
    The default of 0 must follow every spelling the field takes for true."""
    config = config_of(**_with(network={"closed": spelled}))
    assert config.network.closed is True
    assert config.network.nat_gateways == 0


def test_the_valkey_container_comes_from_the_mirror_when_closed() -> None:
    """Valkey inside the task is pulled from the ECR mirror like every other image (services/images.py
    helper_image; `mirror-images` copies it), so the in-task cache works in a closed network."""
    config_of(**_with(cache={"engine": "container"}, services={"layout": "single_task"}))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"front_door": {"type": "cloudfront", "internal": False}}, "front_door.type = 'cloudfront'"),
        ({"front_door": {"type": "api_gateway", "internal": False}}, "front_door.type = 'api_gateway'"),
        ({"front_door": {"type": "alb", "internal": False}}, "without internal = true"),
        ({"images": {"registry": "docker.io/langgenius"}}, "images.registry = 'docker.io/langgenius'"),
        (
            {"ssrf_proxy": {"image": "public.ecr.aws/ubuntu/squid:6.6-24.04_beta"}},
            "'123456789012.dkr.ecr.eu-central-1.amazonaws.com/ubuntu/squid:6.6-24.04_beta'",
        ),
        ({"network": {"nat_gateways": 1}}, "nat_gateways = 1"),
        ({"network": {"endpoints": False}}, "network.endpoints = false"),
    ],
)
def test_what_cannot_work_closed_is_rejected(changes: dict[str, dict[str, object]], expected: str) -> None:
    message = _error(_with(**changes))
    assert expected in message
    assert "set" in message or "remove" in message


def test_mirror_images_is_named_for_non_ecr_images() -> None:
    assert "dify-on-aws mirror-images" in _error(_with(images={"registry": "docker.io/langgenius"}))


IMPORTED_CLOSED = {
    "closed": True,
    "vpc_id": "vpc-0a1b2c3d4e5f60718",
    "cidr": "10.40.0.0/16",
    "availability_zones": ["eu-central-1a", "eu-central-1b"],
    "private_subnet_ids": ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"],
}


@pytest.mark.parametrize("network", [{"closed": True}, IMPORTED_CLOSED], ids=["new", "imported"])
def test_queue_scaling_is_refused_closed(network: dict[str, object]) -> None:
    """Found by the sweep: an imported closed VPC keeps nat_gateways at its default, so queue scaling passed
    the NAT check, and its publisher function (in the VPC) calls cloudwatch:PutMetricData, for which a closed
    network has no endpoint (`monitoring` is not among network/endpoints.py's needs): the metric would never
    arrive and the worker never scale. A new closed VPC was refused with "set network.nat_gateways >= 1",
    which a closed network forbids."""
    worker = {"cpu": 512, "memory_mib": 2048, "max_count": 4, "queue_scaling": True}
    message = _error({**CLOSED, "network": network, "services": {"worker": worker}})
    assert "services.worker.queue_scaling" in message and "closed network" in message
    assert "nat_gateways >= 1" not in message


def test_endpoints_option_needs_a_closed_network() -> None:
    assert "endpoints = false only applies to a closed network" in _error({"network": {"endpoints": False}})


def test_rotation_is_allowed_closed_but_not_without_nat_when_open() -> None:
    assert config_of(**_with(database={"rotation_days": 30})).database.rotation_days == 30
    assert "needs NAT" in _error({"network": {"nat_gateways": 0}, "database": {"rotation_days": 30}})


def test_an_imported_closed_vpc_gets_endpoints_and_no_way_out(
    synth: Callable[[DifyConfig], SynthResult],
) -> None:
    """`network.closed` with an imported VPC (described offline): nothing of the VPC is created or changed,
    the stack adds only its endpoints (in the imported private subnets) and its own groups, and the tasks
    run in those subnets without public IPs."""
    network = IMPORTED_CLOSED
    config = config_of(**{**CLOSED, "network": network})
    assert not config.network.egress
    (body,) = synth(config).templates.values()
    resources: Resources = body["Resources"]
    for kind in ("AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::NatGateway", "AWS::EC2::InternetGateway"):
        assert not of_type(resources, kind), kind
    # Interface endpoints only: a gateway endpoint would add routes to the imported VPC's route tables.
    assert set(endpoints_of(resources)) == set(required_endpoints(config)) - GATEWAY_SERVICES
    for endpoint in endpoints_of(resources).values():
        if endpoint.get("VpcEndpointType") == "Interface":
            assert endpoint["SubnetIds"] == network["private_subnet_ids"]
    for service in of_type(resources, "AWS::ECS::Service").values():
        vpc = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert vpc["AssignPublicIp"] == "DISABLED" and vpc["Subnets"] == network["private_subnet_ids"]
