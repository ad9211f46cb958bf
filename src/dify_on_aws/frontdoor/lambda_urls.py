"""CloudFront in front of Lambda function URLs that run the unmodified Dify api and web images.

Lambda Web Adapter turns Lambda invocations into HTTP requests to the image's own server. The api URL
streams responses; both URLs use IAM auth and are reached only through CloudFront Origin Access Control,
with a Lambda@Edge function that adds the body hash OAC needs for POST/PUT. Worker, beat, sandbox and the
plugin daemon stay on ECS; so does one api service, for the plugin daemon's calls back into Dify (function
URLs need SigV4, which the daemon cannot sign).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from dify_on_aws.frontdoor.base import Backends, Domain, FrontDoorClients, warn
from dify_on_aws.frontdoor.cdn import STATIC_PATH, DifyDistribution, dynamic_behavior, static_behavior
from dify_on_aws.frontdoor.routing import ROUTES, path_patterns
from dify_on_aws.frontdoor.runtime.edge_signer.index import PRESERVED_AUTHORIZATION_HEADER
from dify_on_aws.frontdoor.runtime.lambda_bootstrap.bootstrap import PUBLIC_URL_VARIABLES
from dify_on_aws.nag import acknowledge
from dify_on_aws.runtime_support import BASIC_EXECUTION_ROLE
from dify_on_aws.services.environment import PORTS, ContainerSettings, Role

IMAGE_DIR = Path(__file__).parent / "runtime" / "lambda_bootstrap"
API_ENTRYPOINT = ("python", "/opt/dify-lambda/bootstrap.py", "/bin/bash", "/entrypoint.sh")
WEB_MEMORY_MIB = 1024
# CloudFront hands at most this much of a request body to Lambda@Edge; the signer answers 413 above it.
MAX_BODY_BYTES = 1024 * 1024
VPC_ACCESS_ROLE = (
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AWSLambdaVPCAccessExecutionRole]"
)


def adapter_environment(port: int, *, streaming: bool, readiness_path: str) -> dict[str, str]:
    """Lambda Web Adapter settings: the app's port, readiness check, streaming and async init."""
    return {
        "AWS_LWA_PORT": str(port),
        "AWS_LWA_READINESS_CHECK_PATH": readiness_path,
        "AWS_LWA_INVOKE_MODE": "response_stream" if streaming else "buffered",
        # Dify's start-up takes longer than Lambda's 10 s init phase; the adapter waits in the first request.
        "AWS_LWA_ASYNC_INIT": "true",
        # The edge function moved the viewer's Authorization header here; the adapter puts it back.
        "AWS_LWA_AUTHORIZATION_SOURCE": PRESERVED_AUTHORIZATION_HEADER,
    }


class LambdaFrontDoor(Construct):
    """Web runs on Lambda only; the api on Lambda for users and on ECS for the plugin daemon."""

    replaces: frozenset[Role] = frozenset({Role.WEB})

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        api_image: str,
        web_image: str,
        web_settings: ContainerSettings,
        architecture: lambda_.Architecture,
        memory_mib: int,
        timeout_seconds: int,
        provisioned_concurrency: int,
        origin_read_timeout_seconds: int,
        signer: lambda_.IVersion,
        domain: Domain | None,
        web_acl_arn: str | None,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, id_)
        self.clients = FrontDoorClients()
        self._vpc, self._subnets, self._api_image = vpc, subnets, api_image
        self._architecture, self._memory, self._provisioned = (
            architecture,
            memory_mib,
            provisioned_concurrency,
        )
        self._timeout = cdk.Duration.seconds(timeout_seconds)
        self._read_timeout = cdk.Duration.seconds(min(origin_read_timeout_seconds, timeout_seconds))
        self._retention = log_retention
        self._edge = [
            cloudfront.EdgeLambda(
                event_type=cloudfront.LambdaEdgeEventType.ORIGIN_REQUEST,
                function_version=signer,
                include_body=True,
            )
        ]
        # Web needs no secrets and no VPC: its pages call the api from the browser, same origin.
        web_env = {**web_settings.environment, "CONSOLE_API_URL": "", "APP_API_URL": ""}
        web_env |= adapter_environment(PORTS[Role.WEB], streaming=False, readiness_path="/")
        web_env["PM2_HOME"] = "/tmp/.pm2"  # noqa: S108 - only /tmp is writable on Lambda
        self.web = self._function(
            "Web", image=web_image, memory=WEB_MEMORY_MIB, environment=web_env, entrypoint=None, in_vpc=False
        )
        web_origin = self._origin(self._url(self.web, streaming=False))
        self.cdn = DifyDistribution(
            self,
            "Cdn",
            default_behavior=self._behavior(web_origin),
            additional_behaviors={STATIC_PATH: static_behavior(web_origin, edge_lambdas=self._edge)},
            domain=domain,
            web_acl_arn=web_acl_arn,
        )
        self.distribution = self.cdn.distribution
        self.url = self.cdn.url
        # The api function cannot take the distribution's URL in its environment (CloudFront already
        # depends on the function), so it reads the URL from this parameter when it starts.
        self.url_parameter_name = f"/dify/{cdk.Stack.of(self).stack_name}/public-url"
        ssm.StringParameter(
            self,
            "PublicUrl",
            parameter_name=self.url_parameter_name,
            string_value=self.url,
            description="Dify public URL, read by the api function at start",
        )
        warn(
            self,
            "lambda-limits",
            "front_door.type = 'lambda': the first request after idle waits for Dify to start (cold start, "
            f"tens of seconds; set front_door.provisioned_concurrency to avoid it), request bodies are "
            f"limited to {MAX_BODY_BYTES // 1024 // 1024} MB (Lambda@Edge) so large uploads fail with 413, "
            "and plugin endpoints (/e) are not exposed.",
        )

    def _function(
        self,
        id_: str,
        *,
        image: str,
        memory: int,
        environment: Mapping[str, str],
        entrypoint: tuple[str, ...] | None,
        in_vpc: bool,
    ) -> lambda_.DockerImageFunction:
        log_group = logs.LogGroup(
            self, f"{id_}Logs", retention=self._retention, removal_policy=cdk.RemovalPolicy.DESTROY
        )
        security_group = None
        if in_vpc:
            security_group = ec2.SecurityGroup(
                self, f"{id_}SecurityGroup", vpc=self._vpc, description=f"Dify {id_.lower()} function"
            )
        platform = (
            ecr_assets.Platform.LINUX_ARM64
            if self._architecture == lambda_.Architecture.ARM_64
            else ecr_assets.Platform.LINUX_AMD64
        )
        function = lambda_.DockerImageFunction(
            self,
            id_,
            code=lambda_.DockerImageCode.from_image_asset(
                str(IMAGE_DIR),
                build_args={"BASE_IMAGE": image},
                platform=platform,
                entrypoint=list(entrypoint) if entrypoint else None,
                exclude=["__pycache__", "*.pyc", "__init__.py"],
            ),
            architecture=self._architecture,
            memory_size=memory,
            timeout=self._timeout,
            environment=dict(environment),
            log_group=log_group,
            vpc=self._vpc if in_vpc else None,
            vpc_subnets=self._subnets if in_vpc else None,
            security_groups=[security_group] if security_group else None,
            description=f"Dify {id_.lower()} (Lambda Web Adapter)",
        )
        assert function.role is not None
        acknowledge(function.role, BASIC_EXECUTION_ROLE, "Lambda's standard logging policy.")
        if in_vpc:
            acknowledge(
                function.role, VPC_ACCESS_ROLE, "Lambda's standard policy for VPC network interfaces."
            )
        return function

    def _url(self, function: lambda_.Function, *, streaming: bool) -> lambda_.FunctionUrl:
        target: lambda_.Function | lambda_.Alias = function
        if self._provisioned and streaming:
            target = function.add_alias("live", provisioned_concurrent_executions=self._provisioned)
        return target.add_function_url(
            auth_type=lambda_.FunctionUrlAuthType.AWS_IAM,
            invoke_mode=lambda_.InvokeMode.RESPONSE_STREAM if streaming else lambda_.InvokeMode.BUFFERED,
        )

    def _origin(self, url: lambda_.FunctionUrl) -> cloudfront.IOrigin:
        return origins.FunctionUrlOrigin.with_origin_access_control(url, read_timeout=self._read_timeout)

    def _behavior(self, origin: cloudfront.IOrigin) -> cloudfront.BehaviorOptions:
        # Function URLs route by their own host name, so the viewer's Host header must not be forwarded.
        return dynamic_behavior(
            origin,
            origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
            edge_lambdas=self._edge,
        )

    def connect(self, backends: Backends) -> None:
        settings = backends.settings(Role.API)
        environment = dict(settings.environment)
        for name in PUBLIC_URL_VARIABLES:
            environment[name] = ""
        environment["ENDPOINT_URL_TEMPLATE"] = ""
        environment |= adapter_environment(PORTS[Role.API], streaming=True, readiness_path="/health")
        environment |= {
            "DIFY_PUBLIC_URL_PARAMETER": self.url_parameter_name,
            # Only ARNs: the bootstrap reads the values from Secrets Manager when the function starts.
            "DIFY_SECRET_ARNS": cdk.Stack.of(self).to_json_string(
                {name: secret.arn for name, secret in sorted(settings.secrets.items())}
            ),
            "SERVER_WORKER_AMOUNT": "1",
            "HOME": "/tmp",  # noqa: S108 - only /tmp is writable on Lambda
        }
        self.api = self._function(
            "Api",
            image=self._api_image,
            memory=self._memory,
            environment=environment,
            entrypoint=API_ENTRYPOINT,
            in_vpc=True,
        )
        for secret in settings.secrets.values():
            secret.grant_read(self.api)
        # Built from the name, not the parameter, to keep CloudFront -> function -> parameter acyclic.
        self.api.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ssm:GetParameter"],
                resources=[
                    cdk.Stack.of(self).format_arn(
                        service="ssm", resource="parameter", resource_name=self.url_parameter_name.lstrip("/")
                    )
                ],
            )
        )
        self.clients.api.append(self.api)
        self.clients.grantees.append(self.api)
        api_origin = self._origin(self._url(self.api, streaming=True))
        api = self._behavior(api_origin)
        for route in ROUTES:
            if route.role is not Role.API:
                continue
            for pattern in path_patterns(route.prefixes):
                self.distribution.add_behavior(
                    pattern,
                    api_origin,
                    viewer_protocol_policy=api.viewer_protocol_policy,
                    allowed_methods=api.allowed_methods,
                    cache_policy=api.cache_policy,
                    origin_request_policy=api.origin_request_policy,
                    compress=api.compress,
                    edge_lambdas=api.edge_lambdas,
                )
