"""What every front door shares: the small surface the stack uses, and the pieces they have in common."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct, IConstruct

from dify_on_aws.roles import Role
from dify_on_aws.services.environment import ContainerSettings


@dataclass(frozen=True)
class FrontDoorFacts:
    """What users compare front doors by; each front door module states its own from its settings."""

    streaming: bool
    longest_request: str
    largest_upload: str
    cold_start: str
    fixed_cost_drivers: str


@dataclass(frozen=True)
class Backends:
    """What a front door may need from the Dify services once they exist."""

    services: Mapping[Role, ecs.FargateService]
    namespace: servicediscovery.INamespace
    # Environment and secrets of a role, for front doors that run a role themselves (Lambda).
    settings: Callable[[Role], ContainerSettings]


@dataclass(frozen=True)
class Domain:
    """A custom domain: the name, the Route 53 zone (when records are managed) and the certificate."""

    name: str
    zone: route53.IHostedZone | None
    certificate: acm.ICertificate | None


@dataclass
class FrontDoorClients:
    """Compute the front door runs itself that must reach Dify's data and services like the api does."""

    api: list[ec2.IConnectable] = field(default_factory=list)
    grantees: list[iam.IGrantable] = field(default_factory=list)


class FrontDoor(Protocol):
    """Every front door: the public URL, the roles it runs itself, and `connect` to the ECS services."""

    url: str
    # Roles served by the front door's own compute, so they need no ECS service (Lambda runs web).
    replaces: frozenset[Role]
    # Roles the front door's own compute calls directly, outside Service Connect (private DNS names).
    reaches: frozenset[Role]
    clients: FrontDoorClients

    def connect(self, backends: Backends) -> None: ...


def hosted_zone(scope: Construct, id_: str, *, name: str, zone_id: str | None) -> route53.IHostedZone:
    """The public zone: from its ID when given (no lookup), else looked up (needs account and region)."""
    if zone_id is not None:
        return route53.PublicHostedZone.from_hosted_zone_attributes(
            scope, id_, hosted_zone_id=zone_id, zone_name=name
        )
    return route53.HostedZone.from_lookup(scope, id_, domain_name=name, private_zone=False)


def global_name(scope: IConstruct, suffix: str) -> str:
    """A name CloudFront keeps account-wide (origin access control, VPC origin): the stack name plus its
    region, so one `name` deployed in two regions does not clash (at most 32 + 1 + 14 + 1 + suffix)."""
    stack = cdk.Stack.of(scope)
    return f"{stack.stack_name}-{stack.region}-{suffix}"


def warn(scope: IConstruct, code: str, message: str) -> None:
    """A synth-time warning that `dify-on-aws synth` prints and tests can find."""
    cdk.Annotations.of(scope).add_warning_v2(f"dify:{code}", message)


def peers(cidrs: Sequence[str]) -> list[ec2.IPeer]:
    return [ec2.Peer.ipv6(c) if ":" in c else ec2.Peer.ipv4(c) for c in cidrs]
