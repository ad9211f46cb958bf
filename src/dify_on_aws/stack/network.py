"""The network of one deployment, built from `[network]`: a new VPC, or an existing one it only uses."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_logs as logs

from dify_on_aws.config import DifyConfig
from dify_on_aws.network.endpoints import GATEWAY_SERVICES, KNOWLEDGE_ENDPOINTS
from dify_on_aws.network.imported import ImportedVpc
from dify_on_aws.network.vpc import Network, NewVpc
from dify_on_aws.operations.vpc_endpoints import config_endpoint_needs


def build_network(
    stack: cdk.Stack,
    *,
    config: DifyConfig,
    zones: Sequence[str] | None,
    named_zones: bool,
    log_retention: logs.RetentionDays,
) -> Network:
    """`Network` in `stack`, from the config's `vpc_id` (imported) or its new-VPC settings, with the VPC
    endpoints a closed network needs."""
    network = config.network
    if network.vpc_id is not None:
        explicit = network.explicit_subnets
        spec: NewVpc | ImportedVpc = ImportedVpc(
            vpc_id=network.vpc_id,
            cidr=network.cidr if explicit else None,
            availability_zones=tuple(network.availability_zones or ()),
            public_subnet_ids=tuple(network.public_subnet_ids),
            private_subnet_ids=tuple(network.private_subnet_ids),
            isolated_subnet_ids=tuple(network.isolated_subnet_ids),
        )
    else:
        spec = NewVpc(
            cidr=network.cidr,
            max_azs=network.max_azs,
            nat_gateways=network.nat_gateways,
            availability_zones=zones,
            named_zones=named_zones,
            flow_logs=network.flow_logs,
            log_retention=log_retention,
            nat_instance_type=network.nat_instance_type if network.nat == "instance" else None,
            closed=network.closed,
        )
    return Network(stack, "Network", vpc=spec, closed=network.closed, endpoints=endpoint_services(config))


def endpoint_services(config: DifyConfig) -> list[str]:
    """The VPC endpoints the stack creates: those a closed network needs, unless the VPC already has them,
    and the knowledge API's own `execute-api` endpoint in any closed network."""
    if not config.network.closed:
        return []
    own = [need.service for need in KNOWLEDGE_ENDPOINTS] if config.knowledge_bases.ids else []
    if not config.network.endpoints:
        return own
    needs = config_endpoint_needs(config)
    # A gateway endpoint adds routes to the VPC's route tables, which the stack never changes in a VPC it
    # does not own: an imported VPC brings its own S3 gateway endpoint (`validate --vpc-id` checks it).
    owned = config.network.vpc_id is None
    return [need.service for need in needs if owned or need.service not in GATEWAY_SERVICES] + own
