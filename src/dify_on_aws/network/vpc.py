"""The VPC every other unit lives in."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from dify_on_aws.nag import acknowledge
from dify_on_aws.network.endpoints import ENDPOINT_PORTS, GATEWAY_SERVICES


class Network(Construct):
    """VPC with public subnets (NAT, internet-facing load balancers) and private subnets with egress; or, when
    `closed`, isolated subnets only: no internet gateway, no NAT, AWS services through VPC endpoints."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        cidr: str,
        max_azs: int,
        nat_gateways: int,
        availability_zones: Sequence[str] | None,
        named_zones: bool,
        flow_logs: bool,
        log_retention: logs.RetentionDays,
        closed: bool = False,
        endpoints: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, id_)
        # Without NAT the private subnets have no route out (data stores only) and tasks run in the
        # public subnets with public IPs, behind security groups that admit nothing from the internet.
        # Closed: no public subnets at all (CDK then creates no internet gateway); everything is isolated.
        self.nat = nat_gateways > 0
        self.closed = closed
        subnets = [ec2.SubnetConfiguration(name="Private", subnet_type=self._private_type(nat_gateways))]
        if not closed:
            subnets.insert(0, ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC))
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(cidr),
            # Explicit zones need no lookup; otherwise the stack's zones (context lookup or Fn::GetAZs).
            max_azs=None if availability_zones else max_azs,
            availability_zones=list(availability_zones) if availability_zones else None,
            nat_gateways=nat_gateways,
            subnet_configuration=subnets,
            # Private DNS names of interface endpoints resolve only with both ("DNS attributes for your
            # VPC", Amazon VPC User Guide); they are CDK's defaults, set here so nothing turns them off.
            enable_dns_hostnames=True,
            enable_dns_support=True,
            restrict_default_security_group=True,
        )
        # AWS services the isolated subnets reach through VPC endpoints (network/endpoints.py).
        self.endpoints = (
            VpcEndpoints(self, "Endpoints", vpc=self.vpc, subnets=self.private_subnets, services=endpoints)
            if endpoints
            else None
        )
        if named_zones:
            acknowledge(
                self.vpc,
                "CloudFormation-Validate::W3010",
                "The stack has an explicit account and region, so it names its zones: network."
                "availability_zones, or the account's zones from CDK's availability-zones lookup.",
            )
        if flow_logs:
            group = logs.LogGroup(
                self, "FlowLogs", retention=log_retention, removal_policy=cdk.RemovalPolicy.DESTROY
            )
            self.vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(group))
        else:
            acknowledge(
                self.vpc,
                "AwsSolutions-VPC7",
                "Flow logs cost per GB ingested and are opt-in: set network.flow_logs = true to enable them.",
            )

    @staticmethod
    def _private_type(nat_gateways: int) -> ec2.SubnetType:
        return ec2.SubnetType.PRIVATE_WITH_EGRESS if nat_gateways else ec2.SubnetType.PRIVATE_ISOLATED

    @property
    def private_subnets(self) -> ec2.SubnetSelection:
        """Data stores, internal load balancers and functions that need no internet."""
        return ec2.SubnetSelection(subnet_type=self._private_type(1 if self.nat else 0))

    @property
    def public_ip(self) -> bool:
        """Whether tasks need a public IP to reach the internet (public subnets without NAT)."""
        return not self.nat and not self.closed

    @property
    def task_subnets(self) -> ec2.SubnetSelection:
        """Where tasks run: private behind NAT (or isolated in a closed network), or public with a public IP
        when there is no NAT."""
        if self.nat or self.closed:
            return self.private_subnets
        return ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC)


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
            "Admits HTTPS from the VPC's own CIDR only (the rule cannot read the CIDR, a reference to the "
            "VPC).",
        )
        for service in services:
            for port in ENDPOINT_PORTS.get(service, ()):
                self.security_group.add_ingress_rule(
                    ec2.Peer.ipv4(vpc.vpc_cidr_block), ec2.Port.tcp(port), f"{service} from the VPC"
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
