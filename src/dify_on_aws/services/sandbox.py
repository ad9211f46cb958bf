"""The sandbox's Python packages without a custom image: an init container writes the requirements file
the sandbox installs at start."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs

from dify_on_aws.services.environment import sandbox_requirements
from dify_on_aws.services.images import BUSYBOX, helper_image
from dify_on_aws.services.service import pull_image

WRITE_REQUIREMENTS = 'printf "%s" "$REQUIREMENTS" > /dependencies/python-requirements.txt'


def add_sandbox_requirements(
    definition: ecs.TaskDefinition,
    sandbox: ecs.ContainerDefinition,
    packages: Sequence[str],
    log_group: logs.ILogGroup,
    *,
    registry: str,
) -> None:
    """The sandbox installs /dependencies/python-requirements.txt at start; a short-lived init container
    writes it into a shared volume, so no custom image has to be built. Busybox comes from the ECR mirror when
    `registry` is one."""
    definition.add_volume(name="dependencies")
    writer = definition.add_container(
        "dependencies",
        image=pull_image(definition, helper_image(BUSYBOX, registry), docker_hub_credentials=None),
        essential=False,
        command=["sh", "-c", WRITE_REQUIREMENTS],
        environment={"REQUIREMENTS": sandbox_requirements(packages)},
        logging=ecs.LogDrivers.aws_logs(stream_prefix="dify", log_group=log_group),
        memory_reservation_mib=32,
    )
    mount = ecs.MountPoint(container_path="/dependencies", source_volume="dependencies", read_only=False)
    writer.add_mount_points(mount)
    sandbox.add_mount_points(mount)
    sandbox.add_container_dependencies(
        ecs.ContainerDependency(container=writer, condition=ecs.ContainerDependencyCondition.COMPLETE)
    )
