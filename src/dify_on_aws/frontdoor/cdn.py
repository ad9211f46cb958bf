"""The CloudFront distribution shared by the `cloudfront` and `lambda` front doors."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as targets
from constructs import Construct

from dify_on_aws.frontdoor.base import Domain
from dify_on_aws.nag import acknowledge

# Static Next.js assets carry content hashes in their names, so they may be cached and compressed.
STATIC_PATH = "/_next/static/*"
NEVER_CACHED_ERRORS = (403, 404, 500, 502, 503, 504)


def dynamic_behavior(
    origin: cloudfront.IOrigin,
    *,
    origin_request_policy: cloudfront.IOriginRequestPolicy,
    edge_lambdas: list[cloudfront.EdgeLambda] | None = None,
) -> cloudfront.BehaviorOptions:
    return cloudfront.BehaviorOptions(
        origin=origin,
        viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
        cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
        origin_request_policy=origin_request_policy,
        # Compressing would buffer server-sent events; streaming must pass through untouched.
        compress=False,
        edge_lambdas=edge_lambdas,
    )


def static_behavior(
    origin: cloudfront.IOrigin, *, edge_lambdas: list[cloudfront.EdgeLambda] | None = None
) -> cloudfront.BehaviorOptions:
    return cloudfront.BehaviorOptions(
        origin=origin,
        viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
        compress=True,
        edge_lambdas=edge_lambdas,
    )


class DifyDistribution(Construct):
    """Distribution with Dify's dynamic default behavior and cached static assets on one origin, Dify's
    error caching rules, an optional custom domain (alias records when the zone is managed) and an optional
    WAF web ACL (created in us-east-1 by the edge stack). Front doors add further behaviors themselves."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        origin: cloudfront.IOrigin,
        origin_request_policy: cloudfront.IOriginRequestPolicy,
        domain: Domain | None,
        web_acl_arn: str | None,
        edge_lambdas: list[cloudfront.EdgeLambda] | None = None,
    ) -> None:
        super().__init__(scope, id_)
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"Dify ({cdk.Stack.of(self).stack_name})",
            default_behavior=dynamic_behavior(
                origin, origin_request_policy=origin_request_policy, edge_lambdas=edge_lambdas
            ),
            additional_behaviors={STATIC_PATH: static_behavior(origin, edge_lambdas=edge_lambdas)},
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_ALL,
            domain_names=[domain.name] if domain else None,
            certificate=domain.certificate if domain else None,
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            web_acl_id=web_acl_arn,
            # A cached 404 broke new workflows in Dify 1.13.0 (409 on create); never cache errors.
            error_responses=[
                cloudfront.ErrorResponse(http_status=code, ttl=cdk.Duration.seconds(0))
                for code in NEVER_CACHED_ERRORS
            ],
        )
        self.url = f"https://{domain.name if domain else self.distribution.distribution_domain_name}"
        if domain is not None and domain.zone is not None:
            target = route53.RecordTarget.from_alias(targets.CloudFrontTarget(self.distribution))
            route53.ARecord(self, "Alias", zone=domain.zone, record_name=domain.name, target=target)
            route53.AaaaRecord(self, "AliasIpv6", zone=domain.zone, record_name=domain.name, target=target)
        acks = [
            ("AwsSolutions-CFR1", "Country allow-lists are enforced by the WAF web ACL when configured."),
            ("AwsSolutions-CFR3", "CloudFront standard logs need an ACL-enabled bucket; not enabled."),
        ]
        if web_acl_arn is None:
            acks.append(
                (
                    "AwsSolutions-CFR2",
                    "No WAF by default (about $6/month fixed); set front_door.allowed_cidrs or "
                    "allowed_countries to add one in us-east-1.",
                )
            )
        if domain is None:
            acks.append(
                (
                    "AwsSolutions-CFR4",
                    "With the default *.cloudfront.net certificate CloudFront fixes the viewer TLS policy; "
                    "a custom domain sets TLSv1.2_2021.",
                )
            )
        for rule, reason in acks:
            acknowledge(self.distribution, rule, reason)
