"""An existing VPC the stack uses but does not own: described by subnet IDs (offline), or looked up.

Nothing here creates a resource: no routes, NAT, flow logs or default security group changes. What the
stack adds to such a VPC is its own security groups (and, when asked, its own VPC endpoints)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

# CDK warns for every imported subnet without a route table ID; the stack never reads or changes routes.
_NO_ROUTE_TABLE = "@aws-cdk/aws-ec2:noSubnetRouteTableId"


@dataclass(frozen=True)
class ImportedVpc:
    """An existing VPC. Without subnet IDs it is looked up (`ec2.Vpc.from_lookup`: the stack needs an
    account and region, and the result is recorded in cdk.context.json); with them it is described offline,
    one subnet per zone of `availability_zones` in each list, and `cidr` its primary IPv4 CIDR."""

    vpc_id: str
    cidr: str | None = None
    availability_zones: Sequence[str] = ()
    public_subnet_ids: Sequence[str] = ()
    private_subnet_ids: Sequence[str] = ()
    isolated_subnet_ids: Sequence[str] = ()

    @property
    def looked_up(self) -> bool:
        return not (self.public_subnet_ids or self.private_subnet_ids or self.isolated_subnet_ids)


def import_vpc(scope: Construct, spec: ImportedVpc) -> ec2.IVpc:
    """The VPC as CDK sees it: subnets grouped as public, private (with egress) and isolated."""
    if spec.looked_up:
        # Private/public/isolated come from each subnet's routes (or its aws-cdk:subnet-type tag).
        return ec2.Vpc.from_lookup(scope, "Vpc", vpc_id=spec.vpc_id)
    vpc = ec2.Vpc.from_vpc_attributes(
        scope,
        "Vpc",
        vpc_id=spec.vpc_id,
        vpc_cidr_block=spec.cidr,
        availability_zones=list(spec.availability_zones),
        public_subnet_ids=list(spec.public_subnet_ids) or None,
        private_subnet_ids=list(spec.private_subnet_ids) or None,
        isolated_subnet_ids=list(spec.isolated_subnet_ids) or None,
    )
    cdk.Annotations.of(vpc).acknowledge_warning(
        _NO_ROUTE_TABLE, "The stack adds no routes to an imported VPC, so it never reads a route table."
    )
    return vpc
