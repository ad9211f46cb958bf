"""The VPC every other unit lives in: one the stack creates, or an existing one it only uses; in a closed
network isolated subnets only, with VPC endpoints for the AWS services."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from dify_on_aws.nag import acknowledge
from dify_on_aws.network.endpoints import ENDPOINT_PORTS, GATEWAY_SERVICES, NO_PRIVATE_DNS
from dify_on_aws.network.imported import ImportedVpc, import_vpc
from dify_on_aws.network.nat import harden, nat_instances

PUBLIC = ec2.SubnetType.PUBLIC


@dataclass(frozen=True)
class NewVpc:
    """A VPC the stack creates and owns: public subnets (NAT, internet-facing load balancers) and private
    subnets, with egress through `nat_gateways` NAT gateways (or NAT instances of `nat_instance_type`), or
    isolated when there is no NAT."""

    cidr: str
    max_azs: int
    nat_gateways: int
    availability_zones: Sequence[str] | None
    named_zones: bool
    flow_logs: bool
    log_retention: logs.RetentionDays
    nat_instance_type: str | None = None
    closed: bool = False  # isolated subnets only: no public subnet, so no internet gateway and no NAT


class Network(Construct):
    """The VPC, and the single place that decides which subnets each kind of resource goes into."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        vpc: NewVpc | ImportedVpc,
        closed: bool = False,
        endpoints: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, id_)
        # `nat`: the private subnets route to the internet. An imported VPC's private subnets are assumed
        # to (its own NAT, proxy or transit gateway): tasks pull images and call model APIs from there,
        # unless the network is closed (AWS services only, through endpoints).
        self.owned = isinstance(vpc, NewVpc)
        self.closed = closed
        self._cidr = vpc.cidr
        if isinstance(vpc, NewVpc):
            self.nat = vpc.nat_gateways > 0
            self.vpc: ec2.IVpc = self._create(vpc)
        else:
            self.nat = not closed
            self.vpc = import_vpc(self, vpc)
        # AWS services the isolated subnets reach through VPC endpoints (network/endpoints.py).
        self.endpoints = (
            VpcEndpoints(self, "Endpoints", vpc=self.vpc, subnets=self.private_subnets, services=endpoints)
            if endpoints
            else None
        )

    def _create(self, spec: NewVpc) -> ec2.Vpc:
        # Without NAT the private subnets have no route out (data stores only) and tasks run in the public
        # subnets with public IPs, behind security groups that admit nothing from the internet.
        provider = nat_instances(spec.nat_instance_type) if spec.nat_instance_type and self.nat else None
        zones = spec.availability_zones
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(spec.cidr),
            # Explicit zones need no lookup; otherwise the stack's zones (context lookup or Fn::GetAZs).
            max_azs=None if zones else spec.max_azs,
            availability_zones=list(zones) if zones else None,
            nat_gateways=spec.nat_gateways,
            nat_gateway_provider=provider,
            subnet_configuration=[
                *(
                    []
                    if spec.closed
                    else [ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC)]
                ),
                ec2.SubnetConfiguration(name="Private", subnet_type=self._private_type),
            ],
            # Private DNS names of interface endpoints resolve only with both ("DNS attributes for your
            # VPC", Amazon VPC User Guide); they are CDK's defaults, set here so nothing turns them off.
            enable_dns_hostnames=True,
            enable_dns_support=True,
            restrict_default_security_group=True,
        )
        if provider is not None:
            harden(provider, vpc=vpc, vpc_cidr=spec.cidr)
        if spec.named_zones:
            acknowledge(
                vpc,
                "CloudFormation-Validate::W3010",
                "The stack has an explicit account and region, so it names its zones: network."
                "availability_zones, or the account's zones from CDK's availability-zones lookup.",
            )
        if spec.flow_logs:
            group = logs.LogGroup(
                self, "FlowLogs", retention=spec.log_retention, removal_policy=cdk.RemovalPolicy.DESTROY
            )
            vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(group))
        else:
            acknowledge(
                vpc,
                "AwsSolutions-VPC7",
                "Flow logs cost per GB ingested and are opt-in: set network.flow_logs = true to enable them.",
            )
        return vpc

    @property
    def _private_type(self) -> ec2.SubnetType:
        # An imported VPC's private subnets are typed "with egress" by CDK whatever their routes.
        egress = self.nat or not self.owned
        return ec2.SubnetType.PRIVATE_WITH_EGRESS if egress else ec2.SubnetType.PRIVATE_ISOLATED

    @property
    def cidr(self) -> str:
        """The VPC's primary IPv4 CIDR as text: configured, or looked up. A lookup not yet recorded yields
        CDK's placeholder, normalized here so the first synth can report the missing lookup."""
        return self._cidr or str(ipaddress.ip_network(self.vpc.vpc_cidr_block, strict=False))

    @property
    def private_subnets(self) -> ec2.SubnetSelection:
        """Internal load balancers, VPC links and functions: private subnets (with egress when there is a
        route out, isolated otherwise)."""
        return ec2.SubnetSelection(subnet_type=self._private_type)

    @property
    def data_subnets(self) -> ec2.SubnetSelection:
        """The database and the cache: an imported VPC's isolated subnets when it has some, else the private
        subnets."""
        if not self.owned and self.vpc.isolated_subnets:
            return ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        return self.private_subnets

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
    """Interface endpoints (private DNS on, except NO_PRIVATE_DNS) in the isolated subnets behind one security
    group that admits HTTPS from the VPC only, and gateway endpoints on the subnets' route tables."""

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
                    private_dns_enabled=service not in NO_PRIVATE_DNS,
                    open=False,
                )


def _construct_id(service: str) -> str:
    return "".join(part.title() for part in service.replace("-", ".").split("."))
