"""Valkey as a container of the single Dify task (`cache.engine = "container"`): the container the task
runs for the data layer's ContainerCache (its password secret and port)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ecs as ecs

from dify_on_aws.data.cache import ContainerCache
from dify_on_aws.services.images import VALKEY_IMAGE, helper_image
from dify_on_aws.services.service import ContainerSpec


def valkey_container(cache: ContainerCache, *, registry: str) -> ContainerSpec:
    """The container to add to the task (multi-architecture image; from the ECR mirror when `registry` is
    one)."""
    # No persistence: a restart starts empty, which Dify tolerates (cache and broker only).
    command = (
        f'exec valkey-server --bind 127.0.0.1 --port {cache.port} --requirepass "$VALKEY_PASSWORD" '
        '--save "" --appendonly no --maxmemory 256mb --maxmemory-policy noeviction'
    )
    return ContainerSpec(
        name="valkey",
        image=helper_image(VALKEY_IMAGE, registry),
        environment={},
        secrets={"VALKEY_PASSWORD": ecs.Secret.from_secrets_manager(cache.auth_token)},
        entry_point=["sh", "-c"],
        command=[command],
        health_check=ecs.HealthCheck(
            command=[
                "CMD-SHELL",
                'valkey-cli --no-auth-warning -a "$VALKEY_PASSWORD" ping | grep -q PONG || exit 1',
            ],
            interval=cdk.Duration.seconds(30),
            timeout=cdk.Duration.seconds(5),
            retries=3,
            start_period=cdk.Duration.seconds(10),
        ),
    )
