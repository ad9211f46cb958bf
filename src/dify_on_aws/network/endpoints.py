"""VPC endpoints of a closed network: every AWS service the deployment talks to from inside the VPC.

The list follows from what runs in the VPC (tests/test_closed_network.py derives it again from the synthesized
template: the IAM actions of task and execution roles and of functions in the VPC, image URIs, log drivers):

- Fargate pulls images from ECR through the task's network interface: `ecr.api` (token, manifests),
  `ecr.dkr` (registry API) and S3, where ECR keeps the layers ("Amazon ECR interface VPC endpoints",
  Amazon ECR User Guide). S3 is a gateway endpoint (no hourly charge) and also serves Dify's bucket.
- `logs`: the awslogs driver of every container. `secretsmanager`: the containers' secrets, read by the
  execution role at start, and the database password rotation function. `ssmmessages`: ECS Exec sessions
  (`services.execute_command`). `ssm`: `[env]` values from Parameter Store, read at task start.
- `email-smtp`, with `[email]`: Dify mails through SES SMTP (port 465 or 587, admitted by the endpoints'
  group).
- `codeartifact.api` and `codeartifact.repositories`, with `[package_index]`: the package proxy's token and
  reads ("CodeArtifact and interface VPC endpoints"; private DNS on for the repositories endpoint).
- Bedrock, when enabled: `bedrock-runtime` (InvokeModel), `bedrock-agent-runtime` (Rerank, Retrieve) and
  `bedrock` (model and inference profile listing).
- `execute-api`, with `[knowledge_bases]`: the knowledge API is a private REST API there, which only an
  API Gateway interface endpoint reaches ("Private REST APIs in API Gateway"). The stack always creates this
  one itself (also with `endpoints = false`), with private DNS off: it is reached by the API's Route 53 alias
  name (`<api-id>-<vpce-id>.execute-api...`), and private DNS on would send every `execute-api` name in the
  VPC to it, cutting off public APIs ("Invoke a private API": private DNS warning) and conflicting with an
  `execute-api` endpoint an imported VPC may already have.

Not needed: the `ecs`, `ecs-agent` and `ecs-telemetry` endpoints (Fargate tasks reach the ECS control plane
without them: "Amazon ECS interface VPC endpoints", Fargate considerations); STS (tasks get credentials from
the ECS credential endpoint, not AssumeRoleWithWebIdentity); `ssm` without SSM parameters in `[env]`,
`ec2messages` (no EC2 instances); functions outside the VPC (custom resources) use AWS's public endpoints.

Pure data and a read-only check (no CDK: `dify-on-aws validate` stays free of the jsii start-up); the
construct that creates the endpoints is `network.vpc.VpcEndpoints`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GATEWAY_SERVICES = frozenset({"s3", "dynamodb"})


@dataclass(frozen=True)
class EndpointNeed:
    """One endpoint (its service name after `com.amazonaws.<region>.`) and why the deployment needs it."""

    service: str
    reason: str


BASE_ENDPOINTS = (
    EndpointNeed("ecr.api", "image pulls: ECR authorization token and image manifests"),
    EndpointNeed("ecr.dkr", "image pulls: the ECR Docker registry API"),
    EndpointNeed("s3", "image layers (ECR stores them in S3) and Dify's bucket (gateway endpoint)"),
    EndpointNeed("logs", "the awslogs log driver of every container"),
    EndpointNeed("secretsmanager", "container secrets at task start; database password rotation"),
)
EXEC_ENDPOINTS = (EndpointNeed("ssmmessages", "ECS Exec sessions into running tasks"),)
# Fargate reads a container's SSM parameters (`[env]` `{ ssm = ... }`) through the task's network interface
# at start ("Amazon ECS interface VPC endpoints": Systems Manager endpoint for Parameter Store secrets). A
# customer managed key needs no `kms` endpoint: Parameter Store and Secrets Manager decrypt on AWS's side.
SSM_ENDPOINTS = (EndpointNeed("ssm", "[env] values from SSM Parameter Store, read by ECS at task start"),)
BEDROCK_ENDPOINTS = (
    EndpointNeed("bedrock-runtime", "Bedrock models (InvokeModel) from the plugin daemon"),
    EndpointNeed("bedrock-agent-runtime", "Bedrock Rerank, Retrieve and RetrieveAndGenerate"),
    EndpointNeed("bedrock", "Bedrock model and inference profile listing"),
)


EMAIL_ENDPOINTS = (
    EndpointNeed("email-smtp", "Dify's mail through SES SMTP ([email]) from the api and the worker"),
)
KNOWLEDGE_ENDPOINTS = (
    EndpointNeed("execute-api", "Dify's calls to the knowledge API (a private REST API), via the SSRF proxy"),
)
# Interface endpoints created with private DNS off (why: the module docstring, `execute-api`).
NO_PRIVATE_DNS = frozenset({"execute-api"})

# Endpoints answering on more than HTTPS: SES SMTP takes TLS on 465 and STARTTLS on 587 ("Amazon SES and
# VPC endpoints", SES Developer Guide).
ENDPOINT_PORTS: Mapping[str, tuple[int, ...]] = {"email-smtp": (465, 587)}


PACKAGE_INDEX_ENDPOINTS = (
    EndpointNeed("codeartifact.api", "the package proxy's CodeArtifact token ([package_index])"),
    EndpointNeed("codeartifact.repositories", "the package proxy's reads of the PyPI repository"),
)


def endpoint_needs(
    *,
    bedrock: bool,
    email: bool = False,
    package_index: bool = False,
    execute_command: bool = True,
    ssm_parameters: bool = False,
) -> tuple[EndpointNeed, ...]:
    """The endpoints a closed deployment needs from the VPC, with the reason for each (not those the stack
    always creates itself: KNOWLEDGE_ENDPOINTS)."""
    return (
        BASE_ENDPOINTS
        + (EXEC_ENDPOINTS if execute_command else ())
        + (SSM_ENDPOINTS if ssm_parameters else ())
        + (BEDROCK_ENDPOINTS if bedrock else ())
        + (EMAIL_ENDPOINTS if email else ())
        + (PACKAGE_INDEX_ENDPOINTS if package_index else ())
    )


def service_name(region: str, service: str) -> str:
    """The full endpoint service name, e.g. `com.amazonaws.us-east-1.ecr.api`."""
    return f"com.amazonaws.{region}.{service}"


def missing_endpoints(ec2_client: Any, *, vpc_id: str, region: str, required: Iterable[str]) -> list[str]:
    """The required endpoint services (short names, e.g. `ecr.api`) that `vpc_id` has no usable endpoint
    for: DescribeVpcEndpoints, every page, endpoints in state `available` (or `pending`), interface
    endpoints with private DNS on (without it the SDKs' default names do not resolve to the endpoint)."""
    present: set[str] = set()
    paginator = ec2_client.get_paginator("describe_vpc_endpoints")
    pages = paginator.paginate(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
    for page in pages:
        for endpoint in page.get("VpcEndpoints", []):
            if not _usable(endpoint):
                continue
            present.add(str(endpoint.get("ServiceName", "")))
    return [s for s in required if service_name(region, s) not in present]


def _usable(endpoint: Mapping[str, Any]) -> bool:
    if str(endpoint.get("State", "")).lower() not in ("available", "pending", "pendingacceptance"):
        return False
    if endpoint.get("VpcEndpointType") == "Interface":
        return bool(endpoint.get("PrivateDnsEnabled"))
    return True
