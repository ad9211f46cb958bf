"""An Application Load Balancer that routes Dify's paths to the api, plugin daemon and web services."""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from constructs import Construct

from dify_on_aws.frontdoor.routing import DEFAULT_ROUTE, ROUTES, Route, path_patterns
from dify_on_aws.nag import acknowledge
from dify_on_aws.roles import Role

_MAX_PATTERNS_PER_RULE = 5  # ALB allows five path values per condition


class DifyLoadBalancer(Construct):
    """ALB with an HTTP listener, or HTTPS plus an HTTP redirect when given a certificate; `route()`
    attaches the services once they exist and `allow_from()` opens the listener ports to a peer."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        vpc: ec2.IVpc,
        internet_facing: bool,
        idle_timeout_seconds: int,
        subnets: ec2.SubnetSelection,
        certificate: acm.ICertificate | None = None,
    ) -> None:
        super().__init__(scope, id_)
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, description="Dify load balancer", allow_all_outbound=False
        )
        self.alb = elbv2.ApplicationLoadBalancer(
            self,
            "Alb",
            vpc=vpc,
            internet_facing=internet_facing,
            security_group=self.security_group,
            idle_timeout=cdk.Duration.seconds(idle_timeout_seconds),
            drop_invalid_header_fields=True,
            vpc_subnets=subnets,
        )
        # The default action (web) is added by route(): everything not routed elsewhere is the web app.
        if certificate is None:
            self.listener = self.alb.add_listener("Http", port=80, open=False)
            self.ports: tuple[int, ...] = (80,)
        else:
            self.listener = self.alb.add_listener(
                "Https",
                port=443,
                certificates=[certificate],
                ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
                open=False,
            )
            self.alb.add_redirect(source_port=80, target_port=443, open=False)
            self.ports = (80, 443)
        # Filled by route(); the dashboard and alarms read their health.
        self.target_groups: list[elbv2.ApplicationTargetGroup] = []
        acknowledge(
            self.alb,
            "AwsSolutions-ELB2",
            "ALB access logs are not enabled yet; CloudFront and container logs record requests.",
        )

    def allow_from(self, peer: ec2.IPeer, description: str) -> None:
        for port in self.ports:
            self.security_group.add_ingress_rule(peer, ec2.Port.tcp(port), description)

    def route(self, services: Mapping[Role, ecs.FargateService]) -> None:
        priority = 10
        # Each role's target group, for request-count scaling (operations/scaling.py).
        self.groups_by_role: dict[Role, elbv2.ApplicationTargetGroup] = {}
        for route in ROUTES:
            group = self._target_group(route, services[route.role])
            self.groups_by_role[route.role] = group
            patterns = path_patterns(route.prefixes)
            for start in range(0, len(patterns), _MAX_PATTERNS_PER_RULE):
                self.listener.add_target_groups(
                    f"{route.role.value}-{start}",
                    priority=priority,
                    conditions=[
                        elbv2.ListenerCondition.path_patterns(
                            patterns[start : start + _MAX_PATTERNS_PER_RULE]
                        )
                    ],
                    target_groups=[group],
                )
                priority += 10
        self.groups_by_role[Role.WEB] = self._target_group(DEFAULT_ROUTE, services[Role.WEB])
        self.listener.add_target_groups("web", target_groups=[self.groups_by_role[Role.WEB]])

    def _target_group(self, route: Route, service: ecs.FargateService) -> elbv2.ApplicationTargetGroup:
        group = elbv2.ApplicationTargetGroup(
            self,
            f"{route.role.value}Targets",
            vpc=self.alb.vpc,
            port=route.port,
            protocol=elbv2.ApplicationProtocol.HTTP,
            target_type=elbv2.TargetType.IP,
            # Long SSE streams end on their own; a quick drain keeps deploys fast.
            deregistration_delay=cdk.Duration.seconds(10),
            health_check=elbv2.HealthCheck(
                path=route.health_path,
                healthy_http_codes="200-399",
                interval=cdk.Duration.seconds(15),
                healthy_threshold_count=2,
                unhealthy_threshold_count=5,
            ),
            targets=[
                service.load_balancer_target(container_name=route.role.value, container_port=route.port)
            ],
        )
        self.target_groups.append(group)
        return group
