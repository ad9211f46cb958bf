"""One factory from the `[front_door]` config section to a front door construct (and its domain)."""

from __future__ import annotations

import ipaddress
from typing import cast

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from constructs import Construct

from dify_on_aws.config.model import CLOUDFRONT_FRONT_DOORS, FrontDoorConfig
from dify_on_aws.frontdoor.alb import AlbFrontDoor
from dify_on_aws.frontdoor.api_gateway import ApiGatewayFrontDoor
from dify_on_aws.frontdoor.base import Domain, FrontDoor, hosted_zone
from dify_on_aws.frontdoor.cloudfront import CloudFrontFrontDoor
from dify_on_aws.frontdoor.edge import EDGE_REGION, EdgeSettings, EdgeStack
from dify_on_aws.frontdoor.lambda_proxy import LambdaProxyFrontDoor
from dify_on_aws.frontdoor.lambda_urls import LambdaFrontDoor
from dify_on_aws.services.environment import ContainerSettings

FRONT_DOOR_ID = "FrontDoor"
ZONE_ID = "Zone"


def build_front_door(
    stack: cdk.Stack,
    *,
    door: FrontDoorConfig,
    edge: EdgeStack | None,
    vpc: ec2.IVpc,
    subnets: ec2.SubnetSelection,
    vpc_cidr: str,
    arm64: bool,
    dns_namespace: str,
    api_image: str,
    web_image: str,
    web_settings: ContainerSettings,
    log_retention: logs.RetentionDays,
) -> FrontDoor:
    """The front door `door.type` names, built in `stack` (its domain's zone and certificate too)."""
    domain = build_domain(stack, door=door, edge=edge)
    web_acl = edge.web_acl_arn if edge else None
    functions = lambda_.Architecture.ARM_64 if arm64 else lambda_.Architecture.X86_64
    if door.type == "alb":
        return AlbFrontDoor(
            stack,
            FRONT_DOOR_ID,
            vpc=vpc,
            subnets=subnets,
            internal=door.internal,
            idle_timeout_seconds=door.idle_timeout_seconds,
            allowed_cidrs=door.allowed_cidrs,
            domain=domain,
        )
    if door.type == "api_gateway":
        return ApiGatewayFrontDoor(
            stack,
            FRONT_DOOR_ID,
            vpc=vpc,
            subnets=subnets,
            allowed_cidrs=door.allowed_cidrs,
            domain=domain,
            log_retention=log_retention,
        )
    if door.type == "lambda_proxy":
        return LambdaProxyFrontDoor(
            stack,
            FRONT_DOOR_ID,
            vpc=vpc,
            subnets=subnets,
            upstream=f"dify.{dns_namespace}",
            # The VPC's DNS resolver (base address + 2) answers for the private namespace.
            resolver=str(ipaddress.ip_network(vpc_cidr)[2]),
            architecture=functions,
            timeout_seconds=door.function_timeout_seconds,
            origin_read_timeout_seconds=door.origin_read_timeout_seconds,
            domain=domain,
            log_retention=log_retention,
        )
    if door.type == "lambda":
        assert edge is not None and edge.signer is not None
        return LambdaFrontDoor(
            stack,
            FRONT_DOOR_ID,
            vpc=vpc,
            subnets=subnets,
            api_image=api_image,
            web_image=web_image,
            web_settings=web_settings,
            architecture=functions,
            memory_mib=door.function_memory_mib,
            timeout_seconds=door.function_timeout_seconds,
            provisioned_concurrency=door.provisioned_concurrency,
            origin_read_timeout_seconds=door.origin_read_timeout_seconds,
            signer=edge.signer,
            domain=domain,
            web_acl_arn=web_acl,
            log_retention=log_retention,
        )
    return CloudFrontFrontDoor(
        stack,
        FRONT_DOOR_ID,
        vpc=vpc,
        subnets=subnets,
        origin_read_timeout_seconds=door.origin_read_timeout_seconds,
        idle_timeout_seconds=door.idle_timeout_seconds,
        domain=domain,
        web_acl_arn=web_acl,
    )


def build_domain(stack: cdk.Stack, *, door: FrontDoorConfig, edge: EdgeStack | None) -> Domain | None:
    """The custom domain: its zone (looked up once), and a certificate imported, created here (regional
    front doors) or created by the us-east-1 edge stack (CloudFront)."""
    if door.domain is None:
        return None
    zone = front_door_zone(stack, door=door, edge=edge)
    certificate: acm.ICertificate | None
    if door.certificate_arn is not None:
        certificate = acm.Certificate.from_certificate_arn(stack, "Certificate", door.certificate_arn)
    elif door.type in CLOUDFRONT_FRONT_DOORS:
        assert edge is not None
        certificate = edge.certificate
    else:
        assert zone is not None
        certificate = acm.Certificate(
            stack,
            "Certificate",
            domain_name=door.domain,
            validation=acm.CertificateValidation.from_dns(zone),
        )
    return Domain(door.domain, zone, certificate)


def front_door_zone(
    stack: cdk.Stack, *, door: FrontDoorConfig, edge: EdgeStack | None
) -> route53.IHostedZone | None:
    """The front door's Route 53 zone (`hosted_zone`), made once per stack and shared by whoever writes
    records into it (the domain's alias, SES's DKIM and MAIL FROM records)."""
    if door.hosted_zone is None:
        return None
    existing = stack.node.try_find_child(ZONE_ID)
    if existing is not None:
        return cast(route53.IHostedZone, existing)
    if edge is not None and edge.zone is not None:
        # Reuse the edge stack's lookup result (a literal ID), not a cross-region reference.
        return route53.PublicHostedZone.from_hosted_zone_attributes(
            stack, ZONE_ID, hosted_zone_id=edge.zone.hosted_zone_id, zone_name=door.hosted_zone
        )
    return hosted_zone(stack, ZONE_ID, name=door.hosted_zone, zone_id=door.hosted_zone_id)


def build_edge_stack(
    scope: Construct, *, instance: str, account: str | None, region: str | None, door: FrontDoorConfig
) -> EdgeStack:
    """The us-east-1 stack for a CloudFront front door's certificate, WAF and Lambda@Edge, beside the Dify
    stack in `scope` (config validation guarantees account and region when it is needed). One per instance
    and region: the same instance name may run in two regions."""
    return EdgeStack(
        scope,
        f"{instance}-{region}-Edge",
        settings=EdgeSettings(
            domain=door.domain,
            zone_name=door.hosted_zone,
            zone_id=door.hosted_zone_id,
            create_certificate=door.domain is not None and door.certificate_arn is None,
            allowed_cidrs=door.allowed_cidrs,
            allowed_countries=door.allowed_countries,
            edge_signer=door.type == "lambda",
            managed_rules=door.waf_managed_rules,
            rate_limit=door.waf_rate_limit,
        ),
        env=cdk.Environment(account=account, region=EDGE_REGION),
        cross_region_references=True,
        description=f"Dify {instance}: CloudFront certificate, WAF and Lambda@Edge (us-east-1)",
    )
