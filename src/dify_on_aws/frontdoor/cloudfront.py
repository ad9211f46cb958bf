"""CloudFront in front of an internal ALB through a VPC origin: HTTPS without a domain, origin not public."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_ec2 as ec2
from aws_cdk import custom_resources as cr
from constructs import Construct

from dify_on_aws.frontdoor.base import Backends, Domain, FrontDoorClients, global_name
from dify_on_aws.frontdoor.cdn import DifyDistribution
from dify_on_aws.frontdoor.load_balancer import DifyLoadBalancer
from dify_on_aws.nag import acknowledge
from dify_on_aws.roles import Role

# The AWS-managed prefix list of CloudFront's origin-facing addresses; its ID differs per region.
ORIGIN_FACING_PREFIX_LIST = "com.amazonaws.global.cloudfront.origin-facing"


class CloudFrontFrontDoor(Construct):
    """The default front door."""

    replaces: frozenset[Role] = frozenset()
    reaches: frozenset[Role] = frozenset()

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
        # VPC-origin traffic passes only rules that name CloudFront's origin-facing prefix list (or the
        # service security group CloudFront creates); CIDR rules of the ALB's subnets do not. The list
        # weighs about 55 rules against the group's inbound quota (60), so this group holds that rule only (a
        # second prefix-list rule, say for port 443, would not fit).
        self.load_balancer.allow_from(
            ec2.Peer.prefix_list(origin_facing_prefix_list(self)), "CloudFront VPC origin (origin-facing)"
        )
        origin = origins.VpcOrigin.with_application_load_balancer(
            self.load_balancer.alb,
            vpc_origin_name=global_name(self, "vpc-origin"),
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


def origin_facing_prefix_list(scope: Construct) -> str:
    """The ID of CloudFront's origin-facing prefix list in the stack's region, looked up at deploy time
    (ec2:DescribeManagedPrefixLists), so synth needs no AWS lookup."""
    call = cr.AwsSdkCall(
        service="EC2",
        action="describeManagedPrefixLists",
        parameters={"Filters": [{"Name": "prefix-list-name", "Values": [ORIGIN_FACING_PREFIX_LIST]}]},
        physical_resource_id=cr.PhysicalResourceId.of(ORIGIN_FACING_PREFIX_LIST),
        output_paths=["PrefixLists.0.PrefixListId"],
    )
    lookup = cr.AwsCustomResource(
        scope,
        "OriginFacingPrefixList",
        on_create=call,
        on_update=call,
        # The action has no resource-level permissions.
        policy=cr.AwsCustomResourcePolicy.from_sdk_calls(resources=cr.AwsCustomResourcePolicy.ANY_RESOURCE),
        install_latest_aws_sdk=False,
    )
    acknowledge(
        lookup,
        "AwsSolutions-IAM5[Resource::*]",
        "ec2:DescribeManagedPrefixLists has no resource-level permissions; the call only reads.",
    )
    return lookup.get_response_field("PrefixLists.0.PrefixListId")
