"""CloudFront in front of an internal ALB through a VPC origin: HTTPS without a domain, origin not public."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from dify_on_aws.frontdoor.base import Backends, Domain, FrontDoorClients
from dify_on_aws.frontdoor.cdn import DifyDistribution
from dify_on_aws.frontdoor.load_balancer import DifyLoadBalancer
from dify_on_aws.nag import acknowledge
from dify_on_aws.services.environment import Role


class CloudFrontFrontDoor(Construct):
    """The default front door."""

    replaces: frozenset[Role] = frozenset()

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        origin_read_timeout_seconds: int,
        idle_timeout_seconds: int,
        domain: Domain | None = None,
        web_acl_arn: str | None = None,
    ) -> None:
        super().__init__(scope, id_)
        self.clients = FrontDoorClients()
        self.load_balancer = DifyLoadBalancer(
            self,
            "LoadBalancer",
            vpc=vpc,
            internet_facing=False,
            idle_timeout_seconds=idle_timeout_seconds,
            subnets=subnets,
        )
        # CloudFront places the VPC origin's network interfaces in the ALB's subnets; the internal ALB takes
        # HTTP only from those subnets (their security group is created by CloudFront after deployment).
        for subnet in vpc.select_subnets(
            subnet_type=subnets.subnet_type, subnet_group_name=subnets.subnet_group_name
        ).subnets:
            self.load_balancer.allow_from(
                ec2.Peer.ipv4(subnet.ipv4_cidr_block), "CloudFront VPC origin (the ALB's subnets)"
            )
        acknowledge(
            self.load_balancer.security_group,
            "AwsSolutions-EC23",
            "Ingress is the ALB's own private subnets on port 80 (the rule cannot evaluate the CIDR tokens); "
            "the ALB is internal and has no route from the internet.",
        )
        origin = origins.VpcOrigin.with_application_load_balancer(
            self.load_balancer.alb,
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTP_ONLY,
            http_port=80,
            read_timeout=cdk.Duration.seconds(origin_read_timeout_seconds),
            keepalive_timeout=cdk.Duration.seconds(60),
        )
        self.cdn = DifyDistribution(
            self,
            "Cdn",
            origin=origin,
            origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER,
            domain=domain,
            web_acl_arn=web_acl_arn,
        )
        self.distribution = self.cdn.distribution
        self.url = self.cdn.url

    def connect(self, backends: Backends) -> None:
        self.load_balancer.route(backends.services)
