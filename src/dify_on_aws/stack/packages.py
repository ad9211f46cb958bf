"""The in-VPC Python package index (`[package_index]`), built beside the Dify services it serves."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dify_on_aws.config import DifyConfig
from dify_on_aws.services.package_index import PackageIndex, domain_name
from dify_on_aws.stack.fargate import capacity_strategy, cpu_architecture

if TYPE_CHECKING:
    from dify_on_aws.stack.dify_stack import DifyStack


def build_package_index(stack: DifyStack, config: DifyConfig) -> PackageIndex | None:
    """CodeArtifact and the package proxy the sandbox and the plugin daemon install from, in the Dify
    cluster's subnets and private DNS namespace; None for `type = "none"` (PyPI over the internet)."""
    if config.package_index.type == "none":
        return None
    svc = config.services
    return PackageIndex(
        stack,
        "PackageIndex",
        domain_name=domain_name(config.name),
        cluster=stack.dify.cluster,
        namespace=stack.dify.namespace,
        image=config.package_index.proxy_image,
        architecture=cpu_architecture(svc.architecture),
        capacity=capacity_strategy(svc.spot, svc.on_demand_base),
        subnets=stack.network.task_subnets,
        public_ip=stack.network.public_ip,
        log_group=stack.dify.log_group,
        execute_command=svc.execute_command,
    )
