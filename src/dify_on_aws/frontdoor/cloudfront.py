"""CloudFront in front of an internal ALB through a VPC origin: HTTPS without a domain, origin not public."""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from constructs import Construct

from dify_on_aws.frontdoor.load_balancer import DifyLoadBalancer
from dify_on_aws.nag import acknowledge
from dify_on_aws.services.environment import Role

# Static Next.js assets carry content hashes in their names, so they may be cached and compressed.
STATIC_PATH = "/_next/static/*"


class CloudFrontFrontDoor(Construct):
    """The default front door. Surface shared by every front door: `url` and `connect(services)`."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        vpc: ec2.IVpc,
        origin_read_timeout_seconds: int,
        idle_timeout_seconds: int,
    ) -> None:
        super().__init__(scope, id_)
        self.load_balancer = DifyLoadBalancer(
            self, "LoadBalancer", vpc=vpc, internet_facing=False, idle_timeout_seconds=idle_timeout_seconds
        )
        # VPC origin ENIs live in the VPC; the internal ALB takes HTTP only from inside it.
        self.load_balancer.security_group.add_ingress_rule(
            ec2.Peer.ipv4(vpc.vpc_cidr_block), ec2.Port.tcp(80), "CloudFront VPC origin (inside the VPC)"
        )
        acknowledge(
            self.load_balancer.security_group,
            "AwsSolutions-EC23",
            "Ingress is the VPC's own CIDR on port 80 (the rule cannot evaluate the CIDR token); the ALB is "
            "internal and has no route from the internet.",
        )
        origin = origins.VpcOrigin.with_application_load_balancer(
            self.load_balancer.alb,
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTP_ONLY,
            http_port=80,
            read_timeout=cdk.Duration.seconds(origin_read_timeout_seconds),
            keepalive_timeout=cdk.Duration.seconds(60),
        )
        dynamic = cloudfront.BehaviorOptions(
            origin=origin,
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
            allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
            cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
            origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER,
            # Compressing would buffer server-sent events; streaming must pass through untouched.
            compress=False,
        )
        static = cloudfront.BehaviorOptions(
            origin=origin,
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
            allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
            cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
            compress=True,
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"Dify ({cdk.Stack.of(self).stack_name})",
            default_behavior=dynamic,
            additional_behaviors={STATIC_PATH: static},
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_ALL,
            # A cached 404 broke new workflows in Dify 1.13.0 (409 on create); never cache errors.
            error_responses=[
                cloudfront.ErrorResponse(http_status=code, ttl=cdk.Duration.seconds(0))
                for code in (403, 404, 500, 502, 503, 504)
            ],
        )
        self.url = f"https://{self.distribution.distribution_domain_name}"
        for rule, reason in (
            ("AwsSolutions-CFR1", "Geo restriction is a business choice; not enabled by default."),
            (
                "AwsSolutions-CFR2",
                "A WAF web ACL needs a us-east-1 stack; offered as an option by a later release.",
            ),
            (
                "AwsSolutions-CFR3",
                "CloudFront standard logs need an ACL-enabled bucket; not enabled by default.",
            ),
            (
                "AwsSolutions-CFR4",
                "With the default *.cloudfront.net certificate CloudFront fixes the viewer TLS policy; "
                "a custom domain sets TLSv1.2_2021.",
            ),
        ):
            acknowledge(self.distribution, rule, reason)

    def connect(self, services: Mapping[Role, ecs.FargateService]) -> None:
        self.load_balancer.route(services)
