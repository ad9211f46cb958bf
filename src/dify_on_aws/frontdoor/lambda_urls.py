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
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from dify_on_aws.frontdoor.adapter import FunctionNetwork, adapter_environment, adapter_function
from dify_on_aws.frontdoor.base import Backends, Domain, FrontDoorClients, global_name, warn
from dify_on_aws.frontdoor.cdn import DifyDistribution, dynamic_behavior
from dify_on_aws.frontdoor.routing import ROUTES, path_patterns
from dify_on_aws.frontdoor.runtime.edge_signer.index import PRESERVED_AUTHORIZATION_HEADER
from dify_on_aws.frontdoor.runtime.lambda_bootstrap.bootstrap import PUBLIC_URL_VARIABLES
from dify_on_aws.roles import PORTS, Role
from dify_on_aws.services.environment import ContainerSettings

IMAGE_DIR = Path(__file__).parent / "runtime" / "lambda_bootstrap"
# Function URLs route by their own host name, so the viewer's Host header must not be forwarded.
HOST_FROM_ORIGIN = cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER
API_ENTRYPOINT = ("python", "/opt/dify-lambda/bootstrap.py", "/bin/bash", "/entrypoint.sh")
WEB_MEMORY_MIB = 1024
# CloudFront hands at most this much of a request body to Lambda@Edge; the signer answers 413 above it.
MAX_BODY_BYTES = 1024 * 1024


class LambdaFrontDoor(Construct):
    """Web runs on Lambda only; the api on Lambda for users and on ECS for the plugin daemon."""

    replaces: frozenset[Role] = frozenset({Role.WEB})
    # The api function calls these (and hands the api's own URL to the plugin daemon) outside Service
    # Connect, whose names resolve only inside tasks of the namespace: they get private DNS names too.
    reaches: frozenset[Role] = frozenset({Role.API, Role.SANDBOX, Role.PLUGIN_DAEMON, Role.SSRF_PROXY})

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
        web_env |= _adapter(PORTS[Role.WEB], streaming=False, readiness_path="/")
        web_env["PM2_HOME"] = "/tmp/.pm2"  # noqa: S108 - only /tmp is writable on Lambda
        self.web = self._function(
            "Web", image=web_image, memory=WEB_MEMORY_MIB, environment=web_env, entrypoint=None, in_vpc=False
        )
        web_origin = self._origin("Web", self._url(self.web, streaming=False))
        self.cdn = DifyDistribution(
            self,
            "Cdn",
            origin=web_origin,
            origin_request_policy=HOST_FROM_ORIGIN,
            domain=domain,
            edge_lambdas=self._edge,
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
        network = None
        if in_vpc:
            security_group = ec2.SecurityGroup(
                self, f"{id_}SecurityGroup", vpc=self._vpc, description=f"Dify {id_.lower()} function"
            )
            network = FunctionNetwork(self._vpc, self._subnets, security_group)
        return adapter_function(
            self,
            id_,
            directory=IMAGE_DIR,
            architecture=self._architecture,
            memory_mib=memory,
            timeout=self._timeout,
            environment=environment,
            description=f"Dify {id_.lower()} (Lambda Web Adapter)",
            log_retention=self._retention,
            network=network,
            build_args={"BASE_IMAGE": image},
            entrypoint=entrypoint,
        )

    def _url(self, function: lambda_.Function, *, streaming: bool) -> lambda_.FunctionUrl:
        target: lambda_.Function | lambda_.Alias = function
        if self._provisioned and streaming:
            target = function.add_alias("live", provisioned_concurrent_executions=self._provisioned)
        return target.add_function_url(
            auth_type=lambda_.FunctionUrlAuthType.AWS_IAM,
            invoke_mode=lambda_.InvokeMode.RESPONSE_STREAM if streaming else lambda_.InvokeMode.BUFFERED,
        )

    def _origin(self, id_: str, url: lambda_.FunctionUrl) -> cloudfront.IOrigin:
        access = cloudfront.FunctionUrlOriginAccessControl(
            self,
            f"{id_}AccessControl",
            origin_access_control_name=global_name(self, f"{id_.lower()}-oac"),
            signing=cloudfront.Signing.SIGV4_ALWAYS,
        )
        return origins.FunctionUrlOrigin.with_origin_access_control(
            url, origin_access_control=access, read_timeout=self._read_timeout
        )

    def connect(self, backends: Backends) -> None:
        settings = backends.settings(Role.API)
        environment = dict(settings.environment)
        for name in PUBLIC_URL_VARIABLES:
            environment[name] = ""
        environment["ENDPOINT_URL_TEMPLATE"] = ""
        environment |= _adapter(PORTS[Role.API], streaming=True, readiness_path="/health")
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
        api_origin = self._origin("Api", self._url(self.api, streaming=True))
        api = dynamic_behavior(api_origin, origin_request_policy=HOST_FROM_ORIGIN, edge_lambdas=self._edge)
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


def _adapter(port: int, *, streaming: bool, readiness_path: str) -> dict[str, str]:
    # Dify starts slower than Lambda's init phase (async init), and the edge function moved the viewer's
    # Authorization header aside for the adapter to restore.
    return adapter_environment(
        port,
        streaming=streaming,
        readiness_path=readiness_path,
        async_init=True,
        authorization_source=PRESERVED_AUTHORIZATION_HEADER,
    )
