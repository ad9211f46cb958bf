"""The lean front door: CloudFront -> a Lambda function URL (response streaming) running nginx under
Lambda Web Adapter -> the single Dify task, found by private DNS. No load balancer, nothing billed when
idle, streaming intact. Limits: request bodies up to Lambda's 6 MB payload, and the function URL itself is
public (authentication is Dify's own; allow-lists are not offered because the URL bypasses CloudFront).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from dify_on_aws.frontdoor.adapter import FunctionNetwork, adapter_environment, adapter_function
from dify_on_aws.frontdoor.base import Backends, Domain, FrontDoorClients, warn
from dify_on_aws.frontdoor.cdn import DifyDistribution
from dify_on_aws.frontdoor.routing import DEFAULT_ROUTE, ROUTES, Route
from dify_on_aws.roles import PORTS, Role

IMAGE_DIR = Path(__file__).parent / "runtime" / "lambda_proxy"
PROXY_PORT = 8080
READY_PATH = "/__proxy_ready"
# Lambda's payload limit for a request through a function URL.
MAX_BODY_MB = 6
PROXY_MEMORY_MIB = 256


def nginx_config(*, upstream: str, resolver: str, timeout_seconds: int) -> str:
    """Dify's path routing (frontdoor/routing.py) as nginx locations. The upstream is resolved per request
    (a variable with `resolver`) because the task's address changes with every replacement."""

    def location(route: Route, prefix: str) -> list[str]:
        target = f"http://$upstream:{route.port}"
        if prefix == "/":
            return [f"    location / {{ proxy_pass {target}; }}"]
        # `/v1` and `/v1/...`, never `/v1beta`, like the ALB rules.
        return [
            f"    location = {prefix} {{ proxy_pass {target}; }}",
            f"    location {prefix}/ {{ proxy_pass {target}; }}",
        ]

    locations = [line for route in ROUTES for prefix in route.prefixes for line in location(route, prefix)]
    locations += location(DEFAULT_ROUTE, "/")
    return "\n".join(
        [
            "worker_processes 1;",
            "pid /tmp/nginx.pid;",
            "error_log stderr warn;",
            "events { worker_connections 512; }",
            "http {",
            "  access_log off;",
            "  client_body_temp_path /tmp/client_body;",
            "  proxy_temp_path /tmp/proxy;",
            "  fastcgi_temp_path /tmp/fastcgi;",
            "  uwsgi_temp_path /tmp/uwsgi;",
            "  scgi_temp_path /tmp/scgi;",
            f"  client_max_body_size {MAX_BODY_MB}m;",
            f"  resolver {resolver} valid=10s ipv6=off;",
            "  server {",
            f"    listen 127.0.0.1:{PROXY_PORT};",
            f"    set $upstream {upstream};",
            "    # Server-sent events must pass through as they are produced.",
            "    proxy_buffering off;",
            "    proxy_request_buffering off;",
            "    proxy_http_version 1.1;",
            '    proxy_set_header Connection "";',
            "    proxy_set_header X-Forwarded-Proto https;",
            f"    proxy_read_timeout {timeout_seconds}s;",
            f"    proxy_send_timeout {timeout_seconds}s;",
            f"    location = {READY_PATH} {{ return 200 'ok'; }}",
            *locations,
            "  }",
            "}",
            "",
        ]
    )


class LambdaProxyFrontDoor(Construct):
    """Needs `services.layout = 'single_task'`: the task registers as one DNS name in the VPC."""

    replaces: frozenset[Role] = frozenset()
    reaches: frozenset[Role] = frozenset()

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        upstream: str,
        resolver: str,
        architecture: lambda_.Architecture,
        timeout_seconds: int,
        origin_read_timeout_seconds: int,
        domain: Domain | None,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, id_)
        self.clients = FrontDoorClients()
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, description="Dify proxy function", allow_all_outbound=False
        )
        config = nginx_config(upstream=upstream, resolver=resolver, timeout_seconds=timeout_seconds)
        self.function = adapter_function(
            self,
            "Proxy",
            directory=IMAGE_DIR,
            architecture=architecture,
            memory_mib=PROXY_MEMORY_MIB,
            timeout=cdk.Duration.seconds(timeout_seconds),
            environment={
                "NGINX_CONF_B64": base64.b64encode(config.encode()).decode("ascii"),
                **adapter_environment(PROXY_PORT, streaming=True, readiness_path=READY_PATH),
            },
            description="Dify reverse proxy (nginx, Lambda Web Adapter)",
            log_retention=log_retention,
            network=FunctionNetwork(vpc, subnets, self.security_group),
        )
        url = self.function.add_function_url(
            auth_type=lambda_.FunctionUrlAuthType.NONE, invoke_mode=lambda_.InvokeMode.RESPONSE_STREAM
        )
        origin = origins.FunctionUrlOrigin(
            url, read_timeout=cdk.Duration.seconds(min(origin_read_timeout_seconds, timeout_seconds))
        )
        self.cdn = DifyDistribution(
            self,
            "Cdn",
            origin=origin,
            # Function URLs route by their own host name, so the viewer's Host header must not be forwarded.
            origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
            domain=domain,
            web_acl_arn=None,
        )
        self.distribution = self.cdn.distribution
        self.url = self.cdn.url
        warn(
            self,
            "lambda-proxy-limits",
            f"front_door.type = 'lambda_proxy': request bodies are limited to {MAX_BODY_MB} MB (Lambda), and "
            "the function URL is public (Dify's own login protects it; no IP allow-lists).",
        )

    def connect(self, backends: Backends) -> None:
        task = backends.services[Role.API]
        for port in _ports():
            task.connections.allow_from(self.security_group, ec2.Port.tcp(port), "Dify proxy function")


def _ports() -> Sequence[int]:
    return sorted({route.port for route in (*ROUTES, DEFAULT_ROUTE)} | {PORTS[Role.WEB]})
