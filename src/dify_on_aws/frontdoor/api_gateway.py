"""API Gateway HTTP API with a VPC link to the ECS services through Cloud Map: no load balancer at all.

Cheapest when idle (pay per request), at the cost of API Gateway's limits: responses are buffered (no
streaming), an integration answers within 30 s and a payload is at most 10 MB.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import aws_cdk as cdk
import jsii
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as targets
from aws_cdk import aws_servicediscovery as servicediscovery
from aws_cdk import custom_resources as cr
from constructs import Construct

from dify_on_aws.frontdoor.base import Backends, Domain, FrontDoorClients, warn
from dify_on_aws.frontdoor.routing import DEFAULT_ROUTE, ROUTES
from dify_on_aws.nag import acknowledge
from dify_on_aws.roles import PORTS, Role
from dify_on_aws.runtime_support import acknowledge_provider, python_function

RUNTIME = Path(__file__).parent / "runtime"
INTEGRATION_TIMEOUT_SECONDS = 30
MAX_PAYLOAD_MB = 10
LIMITS = (
    f"no response streaming (answers arrive when complete), requests end after "
    f"{INTEGRATION_TIMEOUT_SECONDS} s, payloads up to {MAX_PAYLOAD_MB} MB"
)
_ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "method": "$context.httpMethod",
    "path": "$context.path",
    "status": "$context.status",
    "latency": "$context.integrationLatency",
    "authorizerError": "$context.authorizer.error",
    "integrationError": "$context.integrationErrorMessage",
}


class ApiGatewayFrontDoor(Construct):
    """Routes equal the ALB's; an IP allow-list is a Lambda authorizer (results not cached)."""

    replaces: frozenset[Role] = frozenset()
    reaches: frozenset[Role] = frozenset()

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        allowed_cidrs: Sequence[str],
        domain: Domain | None,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, id_)
        self.clients = FrontDoorClients()
        self._vpc, self._log_retention = vpc, log_retention
        self.security_group = ec2.SecurityGroup(
            self, "VpcLinkSecurityGroup", vpc=vpc, description="Dify API Gateway VPC link"
        )
        self.vpc_link = apigwv2.VpcLink(
            self, "VpcLink", vpc=vpc, subnets=subnets, security_groups=[self.security_group]
        )
        domain_name = None
        if domain is not None:
            assert domain.certificate is not None
            domain_name = apigwv2.DomainName(
                self, "DomainName", domain_name=domain.name, certificate=domain.certificate
            )
        self.api = apigwv2.HttpApi(
            self,
            "Api",
            description=f"Dify ({cdk.Stack.of(self).stack_name})",
            create_default_stage=False,
            disable_execute_api_endpoint=domain is not None,
        )
        self.access_logs = access_logs = logs.LogGroup(
            self, "AccessLogs", retention=log_retention, removal_policy=cdk.RemovalPolicy.DESTROY
        )
        stage = apigwv2.HttpStage(
            self,
            "Stage",
            http_api=self.api,
            auto_deploy=True,
            access_log_settings=_AccessLogs(access_logs),
            domain_mapping=apigwv2.DomainMappingOptions(domain_name=domain_name) if domain_name else None,
        )
        cfn_stage = stage.node.default_child
        assert isinstance(cfn_stage, apigwv2.CfnStage)
        cfn_stage.stage_name = "$default"
        self.authorizer = self._authorizer(allowed_cidrs, log_retention) if allowed_cidrs else None
        if domain_name is not None and domain is not None and domain.zone is not None:
            route53.ARecord(
                self,
                "Alias",
                zone=domain.zone,
                record_name=domain.name,
                target=route53.RecordTarget.from_alias(
                    targets.ApiGatewayv2DomainProperties(
                        domain_name.regional_domain_name, domain_name.regional_hosted_zone_id
                    )
                ),
            )
        self.url = f"https://{domain.name}" if domain else self.api.api_endpoint
        warn(
            self,
            "api-gateway-limits",
            f"front_door.type = 'api_gateway': {LIMITS}. Chat answers appear at once instead of word by "
            "word, and workflows that run longer fail with 503. Use 'cloudfront' or 'alb' if that matters.",
        )

    def _authorizer(
        self, cidrs: Sequence[str], retention: logs.RetentionDays
    ) -> apigwv2.IHttpRouteAuthorizer:
        handler = python_function(
            self,
            "IpAllowList",
            code_dir=RUNTIME / "ip_authorizer",
            handler="index.handler",
            description="Dify IP allow-list for API Gateway",
            timeout=cdk.Duration.seconds(5),
            log_retention=retention,
            environment={"ALLOWED_CIDRS": ",".join(cidrs)},
        )
        return authorizers.HttpLambdaAuthorizer(
            "IpAllowList",
            handler,
            response_types=[authorizers.HttpLambdaResponseType.SIMPLE],
            # Callers are not identified, so a cached answer would be reused for other source IPs.
            identity_source=[],
            results_cache_ttl=cdk.Duration.seconds(0),
        )

    def connect(self, backends: Backends) -> None:
        roles = [route.role for route in ROUTES] + [DEFAULT_ROUTE.role]
        names = [role.value for role in roles]
        lookup = self._cloud_map_lookup(backends.namespace, names)
        for role in roles:
            service = backends.services[role]
            service.connections.allow_from(
                self.security_group,
                ec2.Port.tcp(PORTS[role]),
                f"API Gateway VPC link to {role.value}",
            )
            # Service Connect registers the tasks only after the service exists.
            lookup.node.add_dependency(service)
        integration = {
            role: integrations.HttpServiceDiscoveryIntegration(
                f"{role.value}Integration",
                servicediscovery.Service.from_service_attributes(
                    self,
                    f"{role.value}CloudMapService",
                    namespace=backends.namespace,
                    service_arn=lookup.get_att_string(f"{role.value}Arn"),
                    service_id=lookup.get_att_string(f"{role.value}Id"),
                    service_name=role.value,
                    dns_record_type=servicediscovery.DnsRecordType.A,
                    routing_policy=servicediscovery.RoutingPolicy.MULTIVALUE,
                ),
                vpc_link=self.vpc_link,
            )
            for role in roles
        }
        for route in ROUTES:
            for prefix in route.prefixes:
                for path in (prefix, f"{prefix}/{{proxy+}}"):
                    self.api.add_routes(
                        path=path,
                        methods=[apigwv2.HttpMethod.ANY],
                        integration=integration[route.role],
                        authorizer=self.authorizer,
                    )
        apigwv2.HttpRoute(
            self,
            "DefaultRoute",
            http_api=self.api,
            route_key=apigwv2.HttpRouteKey.DEFAULT,
            integration=integration[DEFAULT_ROUTE.role],
            authorizer=self.authorizer,
        )
        if self.authorizer is None:
            for child in self.node.find_all():
                if isinstance(child, apigwv2.CfnRoute):
                    acknowledge(
                        child,
                        "AwsSolutions-APIG4",
                        "Dify authenticates its users itself; set front_door.allowed_cidrs for an IP "
                        "allow-list authorizer.",
                    )

    def _cloud_map_lookup(
        self, namespace: servicediscovery.INamespace, names: list[str]
    ) -> cdk.CustomResource:
        handler = python_function(
            self,
            "CloudMapLookup",
            code_dir=RUNTIME / "cloudmap_lookup",
            handler="index.on_event",
            description="Finds the Cloud Map services of ECS Service Connect",
            timeout=cdk.Duration.minutes(1),
            log_retention=self._log_retention,
        )
        handler.add_to_role_policy(
            iam.PolicyStatement(actions=["servicediscovery:ListServices"], resources=["*"])
        )
        assert handler.role is not None
        acknowledge(
            handler.role,
            "AwsSolutions-IAM5[Resource::*]",
            "servicediscovery:ListServices has no resource-level permissions; it only reads service names.",
        )
        provider = cr.Provider(self, "CloudMapLookupProvider", on_event_handler=handler)
        acknowledge_provider(provider, [handler])
        return cdk.CustomResource(
            self,
            "CloudMapServices",
            service_token=provider.service_token,
            resource_type="Custom::DifyCloudMapServices",
            properties={"NamespaceId": namespace.namespace_id, "Names": names},
        )


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogs:
    """JSON access logs (source IP, status, authorizer and integration errors) to a log group."""

    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigwv2.LogGroupLogDestination(log_group)

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> cdk.aws_apigateway.AccessLogFormat:
        return cdk.aws_apigateway.AccessLogFormat.custom(json.dumps(_ACCESS_LOG_FORMAT))
