"""A Python package index inside the VPC: AWS CodeArtifact with an external connection to public PyPI, and
a small package proxy (an ECS service) that serves it as a plain PEP 503 index on a fixed internal URL.

Why a proxy: CodeArtifact wants an authorization token on every request, and a token lives at most 12 hours
(GetAuthorizationToken, `durationSeconds`), so an index URL with a token in it (`https://aws:<token>@...`)
stops working half a day after a deployment. The proxy's task role gets tokens itself and renews them
before they expire (runtime/package_proxy/index.py); the plugin daemon and the sandbox only ever see
`http://package-index.<namespace>:8080/simple/`. The upstream fetch from PyPI happens on AWS's side, so in
a closed network the proxy needs only the `codeartifact.api` and `codeartifact.repositories` endpoints.

The proxy's code is not built into an image: the container runs a stock Python image with
`python3 -c`, and the source travels in an environment variable (it holds no secret).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_codeartifact as codeartifact
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct

from dify_on_aws.nag import acknowledge
from dify_on_aws.services.service import ContainerSpec, DifyService, TaskSpec, dns_record

SOURCE = Path(__file__).parent / "runtime" / "package_proxy" / "index.py"
NAME = "package-index"
PORT = 8080
# The public repository CodeArtifact fetches from (CreateRepository / AssociateExternalConnection).
PYPI = "public:pypi"
# What a closed network needs for the proxy to work (CodeArtifact "Create VPC endpoints for CodeArtifact": the
# API for GetAuthorizationToken, the repositories endpoint for the packages, the latter with private DNS on;
# "Create the Amazon S3 gateway endpoint": "not needed when using Python ... package formats").
# CodeArtifact domain names: [a-z][a-z0-9\-]{0,48}[a-z0-9] (CreateDomain API reference).
DOMAIN_PATTERN = r"[a-z][a-z0-9\-]{0,48}[a-z0-9]"


def domain_name(instance: str) -> str:
    """The stack's CodeArtifact domain: unique per account and region like the instance name."""
    return f"{instance.lower()}-packages"


# The container gets its code in this variable and runs it with `python3 -c`.
SOURCE_VARIABLE = "PACKAGE_PROXY_SOURCE"
ENTRY_POINT = (
    "python3",
    "-c",
    f"import os; exec(compile(os.environ['{SOURCE_VARIABLE}'], 'package_proxy.py', 'exec'))",
)
HEALTH_CHECK = (
    "CMD",
    "python3",
    "-c",
    f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{PORT}/health', timeout=5)",
)
# The proxy is small: it streams files through and keeps one token.
CPU, MEMORY_MIB = 256, 512


def index_host(namespace: str) -> str:
    """The proxy's private DNS name (a Cloud Map A record in the cluster's namespace)."""
    return f"{NAME}.{namespace}"


def index_url(namespace: str) -> str:
    """What pip and uv are given: `-i <this>`."""
    return f"http://{index_host(namespace)}:{PORT}/simple/"


def proxy_environment(
    *, api_endpoint: str, repository_endpoint: str, domain: str, owner: str, region: str
) -> dict[str, str]:
    """The proxy container's environment (its code, and where its repository is)."""
    return {
        SOURCE_VARIABLE: SOURCE.read_text(encoding="utf-8"),
        "CODEARTIFACT_API_ENDPOINT": api_endpoint,
        "CODEARTIFACT_REPOSITORY_ENDPOINT": repository_endpoint,
        "CODEARTIFACT_DOMAIN": domain,
        "CODEARTIFACT_DOMAIN_OWNER": owner,
        "AWS_REGION": region,
        "PORT": str(PORT),
        "PYTHONUNBUFFERED": "1",
    }


class PackageIndex(Construct):
    """CodeArtifact domain and PyPI repository, and the package proxy service in front of them."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        domain_name: str,
        cluster: ecs.ICluster,
        namespace: servicediscovery.INamespace,
        image: str,
        architecture: ecs.CpuArchitecture,
        capacity: Sequence[ecs.CapacityProviderStrategy],
        subnets: ec2.SubnetSelection,
        public_ip: bool,
        log_group: logs.ILogGroup,
        execute_command: bool,
    ) -> None:
        super().__init__(scope, id_)
        # Only a cache of public packages: deleting it with the stack loses nothing that PyPI does not have.
        self.domain = codeartifact.CfnDomain(self, "Domain", domain_name=domain_name)
        self.domain.apply_removal_policy(cdk.RemovalPolicy.DESTROY)
        self.repository = codeartifact.CfnRepository(
            self,
            "Repository",
            domain_name=self.domain.attr_name,
            domain_owner=self.domain.attr_owner,
            repository_name="pypi",
            description="Public PyPI for Dify's plugin daemon and sandbox (through the package proxy)",
            # One external connection per repository (CodeArtifact quota).
            external_connections=[PYPI],
        )
        self.repository.apply_removal_policy(cdk.RemovalPolicy.DESTROY)
        suffix = cdk.Aws.URL_SUFFIX
        region = cdk.Aws.REGION
        repository_endpoint = (
            f"https://{self.domain.attr_name}-{self.domain.attr_owner}.d.codeartifact.{region}.{suffix}"
            f"/pypi/{self.repository.attr_name}/"
        )
        self.url = index_url(namespace.namespace_name)
        self.host = index_host(namespace.namespace_name)
        container = ContainerSpec(
            name=NAME,
            image=image,
            environment=proxy_environment(
                api_endpoint=f"https://codeartifact.{region}.{suffix}",
                repository_endpoint=repository_endpoint,
                domain=self.domain.attr_name,
                owner=self.domain.attr_owner,
                region=region,
            ),
            secrets={},
            port=PORT,
            health_check=ecs.HealthCheck(
                command=list(HEALTH_CHECK),
                interval=cdk.Duration.seconds(30),
                timeout=cdk.Duration.seconds(10),
                retries=3,
                start_period=cdk.Duration.seconds(30),
            ),
            entry_point=ENTRY_POINT,
        )
        self.service = DifyService(
            self,
            "Proxy",
            cluster=cluster,
            task=TaskSpec(CPU, MEMORY_MIB, architecture),
            container=container,
            desired_count=1,
            capacity=capacity,
            subnets=subnets,
            public_ip=public_ip,
            log_group=log_group,
            service_connect=False,
            execute_command=execute_command,
            allow_all_outbound=False,
            cloud_map=dns_record(namespace, NAME),
        )
        self.connections = self.service.connections
        self.connections.security_groups[0].add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "CodeArtifact (or its VPC endpoints), image pull, logs"
        )
        self._grant(self.service.task_definition)

    def _grant(self, definition: ecs.TaskDefinition) -> None:
        """Tokens for the domain, reads from the repository, and the STS bearer token GetAuthorizationToken
        needs (CodeArtifact: "This API requires the codeartifact:GetAuthorizationToken and
        sts:GetServiceBearerToken permissions")."""
        definition.add_to_task_role_policy(
            iam.PolicyStatement(
                actions=["codeartifact:GetAuthorizationToken"], resources=[self.domain.attr_arn]
            )
        )
        definition.add_to_task_role_policy(
            iam.PolicyStatement(
                actions=["codeartifact:ReadFromRepository"], resources=[self.repository.attr_arn]
            )
        )
        definition.add_to_task_role_policy(
            iam.PolicyStatement(
                actions=["sts:GetServiceBearerToken"],
                resources=["*"],
                conditions={"StringEquals": {"sts:AWSServiceName": "codeartifact.amazonaws.com"}},
            )
        )
        acknowledge(
            definition,
            "AwsSolutions-IAM5[Resource::*]",
            "sts:GetServiceBearerToken has no resource ARN (limited to codeartifact.amazonaws.com by its "
            "condition); ECS Exec's ssmmessages channels have none either.",
        )
