"""An ALB straight to the services: internet-facing (TLS with a domain) or internal to the VPC."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as targets
from constructs import Construct

from dify_on_aws.frontdoor.base import Backends, Domain, FrontDoorClients, peers, warn
from dify_on_aws.frontdoor.load_balancer import DifyLoadBalancer
from dify_on_aws.nag import acknowledge
from dify_on_aws.roles import Role


class AlbFrontDoor(Construct):
    """Allow-lists are security group rules; without a domain the ALB serves plain HTTP (with a warning)."""

    replaces: frozenset[Role] = frozenset()
    reaches: frozenset[Role] = frozenset()

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        internal: bool,
        idle_timeout_seconds: int,
        allowed_cidrs: Sequence[str],
        domain: Domain | None,
    ) -> None:
        super().__init__(scope, id_)
        self.clients = FrontDoorClients()
        certificate = domain.certificate if domain else None
        self.load_balancer = DifyLoadBalancer(
            self,
            "LoadBalancer",
            vpc=vpc,
            internet_facing=not internal,
            idle_timeout_seconds=idle_timeout_seconds,
            subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC) if not internal else subnets,
            certificate=certificate,
        )
        alb = self.load_balancer.alb
        if allowed_cidrs:
            sources = peers(allowed_cidrs)
        elif internal:
            sources = [ec2.Peer.ipv4(vpc.vpc_cidr_block)]
        else:
            # The load balancer is IPv4-only: an IPv6 rule would admit nobody.
            sources = [ec2.Peer.any_ipv4()]
        for peer in sources:
            self.load_balancer.allow_from(peer, "Dify users")
        if not allowed_cidrs:
            acknowledge(
                self.load_balancer.security_group,
                "AwsSolutions-EC23",
                "Dify is a web application for its users; set front_door.allowed_cidrs to restrict it"
                + (" (internal: the VPC CIDR only)." if internal else "."),
            )
        if domain is not None and domain.zone is not None:
            route53.ARecord(
                self,
                "Alias",
                zone=domain.zone,
                record_name=domain.name,
                target=route53.RecordTarget.from_alias(targets.LoadBalancerTarget(alb)),
            )
        scheme = "https" if certificate else "http"
        host = domain.name if domain else alb.load_balancer_dns_name
        self.url = f"{scheme}://{host}"
        if certificate is None:
            warn(
                self,
                "alb-plain-http",
                "front_door.type = 'alb' without a domain serves plain HTTP: passwords and API keys cross "
                "the network unencrypted. Set front_door.domain with hosted_zone or certificate_arn.",
            )

    def connect(self, backends: Backends) -> None:
        self.load_balancer.route(backends.services)
