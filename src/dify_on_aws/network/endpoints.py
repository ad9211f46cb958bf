"""VPC endpoints of a closed network: every AWS service the deployment talks to from inside the VPC.

The list follows from what runs in the VPC (tests/test_closed_network.py derives it again from the synthesized
template: the IAM actions of task and execution roles and of functions in the VPC, image URIs, log drivers):

- Fargate pulls images from ECR through the task's network interface: `ecr.api` (token, manifests),
  `ecr.dkr` (registry API) and S3, where ECR keeps the layers ("Amazon ECR interface VPC endpoints",
  Amazon ECR User Guide). S3 is a gateway endpoint (no hourly charge) and also serves Dify's bucket.
- `logs`: the awslogs driver of every container. `secretsmanager`: the containers' secrets, read by the
  execution role at start, and the database password rotation function. `ssmmessages`: ECS Exec sessions.
- Bedrock, when enabled: `bedrock-runtime` (InvokeModel), `bedrock-agent-runtime` (Rerank, Retrieve) and
  `bedrock` (model and inference profile listing).

Not needed: the `ecs`, `ecs-agent` and `ecs-telemetry` endpoints (Fargate tasks reach the ECS control plane
without them: "Amazon ECS interface VPC endpoints", Fargate considerations); STS (tasks get credentials from
the ECS credential endpoint, not AssumeRoleWithWebIdentity); `ssm` and `ec2messages` (no SSM parameters,
no EC2 instances); functions outside the VPC (custom resources) use AWS's public endpoints.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from dify_on_aws.nag import acknowledge

GATEWAY_SERVICES = frozenset({"s3", "dynamodb"})


@dataclass(frozen=True)
class EndpointNeed:
    """One endpoint (its service name after `com.amazonaws.<region>.`) and why the deployment needs it."""

    service: str
    reason: str


BASE_ENDPOINTS = (
    EndpointNeed("ecr.api", "image pulls: ECR authorization token and image manifests"),
    EndpointNeed("ecr.dkr", "image pulls: the ECR Docker registry API"),
    EndpointNeed("s3", "image layers (ECR stores them in S3) and Dify's bucket (gateway endpoint)"),
    EndpointNeed("logs", "the awslogs log driver of every container"),
    EndpointNeed("secretsmanager", "container secrets at task start; database password rotation"),
    EndpointNeed("ssmmessages", "ECS Exec sessions into running tasks"),
)
BEDROCK_ENDPOINTS = (
    EndpointNeed("bedrock-runtime", "Bedrock models (InvokeModel) from the plugin daemon"),
    EndpointNeed("bedrock-agent-runtime", "Bedrock Rerank, Retrieve and RetrieveAndGenerate"),
    EndpointNeed("bedrock", "Bedrock model and inference profile listing"),
)


def endpoint_needs(*, bedrock: bool) -> tuple[EndpointNeed, ...]:
    """The endpoints a closed deployment needs, with the reason for each."""
    return BASE_ENDPOINTS + (BEDROCK_ENDPOINTS if bedrock else ())


def service_name(region: str, service: str) -> str:
    """The full endpoint service name, e.g. `com.amazonaws.us-east-1.ecr.api`."""
    return f"com.amazonaws.{region}.{service}"


class VpcEndpoints(Construct):
    """Interface endpoints (private DNS on) in the isolated subnets behind one security group that admits
    HTTPS from the VPC only, and gateway endpoints on the subnets' route tables."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        services: Sequence[str],
    ) -> None:
        super().__init__(scope, id_)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="Dify VPC endpoints",
            allow_all_outbound=False,
        )
        # An endpoint only answers; its group needs no egress (CDK then adds a rule that matches nothing).
        self.security_group.add_ingress_rule(
            ec2.Peer.ipv4(vpc.vpc_cidr_block), ec2.Port.tcp(443), "HTTPS from the VPC to AWS services"
        )
        acknowledge(
            self.security_group,
            "AwsSolutions-EC23",
            "Admits HTTPS from the VPC's own CIDR only (the rule cannot read the CIDR, a reference to the VPC).",
        )
        self.endpoints: dict[str, ec2.GatewayVpcEndpoint | ec2.InterfaceVpcEndpoint] = {}
        for service in services:
            name = _construct_id(service)
            if service in GATEWAY_SERVICES:
                self.endpoints[service] = ec2.GatewayVpcEndpoint(
                    self, name, vpc=vpc, service=ec2.GatewayVpcEndpointAwsService(service), subnets=[subnets]
                )
            else:
                self.endpoints[service] = ec2.InterfaceVpcEndpoint(
                    self,
                    name,
                    vpc=vpc,
                    service=ec2.InterfaceVpcEndpointAwsService(service),
                    subnets=subnets,
                    security_groups=[self.security_group],
                    private_dns_enabled=True,
                    open=False,
                )


def _construct_id(service: str) -> str:
    return "".join(part.title() for part in service.replace("-", ".").split("."))


def missing_endpoints(ec2_client: Any, *, vpc_id: str, region: str, required: Iterable[str]) -> list[str]:
    """The required endpoint services (short names, e.g. `ecr.api`) that `vpc_id` has no usable endpoint
    for: DescribeVpcEndpoints, every page, endpoints in state `available` (or `pending`), interface
    endpoints with private DNS on (without it the SDKs' default names do not resolve to the endpoint)."""
    present: set[str] = set()
    paginator = ec2_client.get_paginator("describe_vpc_endpoints")
    pages = paginator.paginate(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
    for page in pages:
        for endpoint in page.get("VpcEndpoints", []):
            if not _usable(endpoint):
                continue
            present.add(str(endpoint.get("ServiceName", "")))
    return [s for s in required if service_name(region, s) not in present]


def _usable(endpoint: Mapping[str, Any]) -> bool:
    if str(endpoint.get("State", "")).lower() not in ("available", "pending", "pendingacceptance"):
        return False
    if endpoint.get("VpcEndpointType") == "Interface":
        return bool(endpoint.get("PrivateDnsEnabled"))
    return True
