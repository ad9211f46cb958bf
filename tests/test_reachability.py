"""Who may open a connection to the database, the cache, the sandbox, the plugin daemon, the SSRF proxy and
the package index, for every example: the expected sources are written out here, and the template's
security-group ingress (inline and AWS::EC2::SecurityGroupIngress) is resolved to the roles that own the
source groups.

A source is the role of an ECS service ("api", "worker", ..., or "single-task" when every role shares one
task), "migration" for the migration task, and otherwise the source group's description. Data stores must
be reachable only from what runs Dify's code against them; the sandbox (user code) only from its callers;
the SSRF proxy only from the roles that fetch user URLs; the package index (`[package_index]`) only from the
roles that install Python packages; nothing may reach a target it has no reason to."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from dify_on_aws.app import SynthResult
from dify_on_aws.config import DifyConfig

from .conftest import EXAMPLES, config_of
from .template_queries import database_sources, ecs_service_role, of_type, sources

# The ports the targets listen on (Dify's defaults: docker/docker-compose-template.yaml).
POSTGRES, VALKEY, SANDBOX, PLUGIN_DAEMON, SSRF_PROXY = 5432, 6379, 8194, 5002, 3128
# The package proxy (services/package_index.py).
PACKAGE_INDEX = 8080

DIFY_DATA_CLIENTS = {"api", "worker", "beat", "plugin-daemon", "migration"}


QUEUE_DEPTH = "Dify queue depth function"


def split(
    front_door: str | None,
    api_function: str | None = None,
    *,
    queue_depth: bool = False,
    package_index: bool = False,
) -> dict[str, set[str] | None]:
    """One ECS service per role. `front_door` reaches the plugin daemon's endpoint routes (/e/);
    `api_function` is the api running as a Lambda function beside the api service; `queue_depth`: the
    worker scales on its queue, whose depth a function reads from the cache (the broker); `package_index`:
    the package proxy runs (None: there is none)."""
    extra = {api_function} if api_function else set()
    return {
        "database": DIFY_DATA_CLIENTS | extra,
        "cache": DIFY_DATA_CLIENTS | extra | ({QUEUE_DEPTH} if queue_depth else set()),
        "sandbox": {"api", "worker"} | extra,
        "plugin-daemon": {"api", "worker"} | extra | ({front_door} if front_door else set()),
        "ssrf-proxy": {"api", "worker", "sandbox", "plugin-daemon"} | extra,
        "package-index": {"sandbox", "plugin-daemon"} if package_index else None,
    }


def single_task(front_door: str, *, package_index: bool = False) -> dict[str, set[str] | None]:
    """Every role in one task with the cache inside it: roles talk over localhost, so only the front door
    reaches the task, and only on the web, api and plugin-daemon ports."""
    return {
        "database": {"single-task", "migration"},
        "cache": None,  # no managed cache: Valkey is a container bound to 127.0.0.1
        "sandbox": set(),
        "plugin-daemon": {front_door},
        "ssrf-proxy": set(),
        "package-index": {"single-task"} if package_index else None,
    }


LOAD_BALANCER = "Dify load balancer"
EXPECTED: dict[str, dict[str, set[str] | None]] = {
    "alb-internal.toml": split(LOAD_BALANCER),
    "alb.toml": split(LOAD_BALANCER),
    "api-gateway.toml": split("Dify API Gateway VPC link"),
    "budget.toml": single_task("Dify API Gateway VPC link"),
    "cloudfront-domain.toml": split(LOAD_BALANCER),
    "closed-network.toml": split(LOAD_BALANCER, package_index=True),
    "default.toml": split(LOAD_BALANCER),
    "ecr-mirror.toml": split(LOAD_BALANCER),
    "ephemeral.toml": split(LOAD_BALANCER),
    "lambda.toml": split(None, api_function="Dify api function"),
    "lean.toml": single_task("Dify proxy function"),
    "production.toml": split(LOAD_BALANCER, queue_depth=True),
    "imported-vpc.toml": split(LOAD_BALANCER),
    "nat-instance.toml": split(LOAD_BALANCER),
    "package-index.toml": split(LOAD_BALANCER, package_index=True),
}


def reachability(result: SynthResult) -> dict[str, set[str] | None]:
    (resources,) = [
        body["Resources"]
        for body in result.templates.values()
        if of_type(body["Resources"], "AWS::RDS::DBCluster")
    ]
    found: dict[str, set[str] | None] = dict.fromkeys(EXPECTED["default.toml"])
    found["database"] = database_sources(resources, POSTGRES)
    for cache in of_type(resources, "AWS::ElastiCache::ReplicationGroup").values():
        found["cache"] = sources(resources, cache["Properties"]["SecurityGroupIds"], VALKEY)
    ports = {
        "sandbox": SANDBOX,
        "plugin-daemon": PLUGIN_DAEMON,
        "ssrf-proxy": SSRF_PROXY,
        "package-index": PACKAGE_INDEX,
    }
    for service in of_type(resources, "AWS::ECS::Service").values():
        task = resources[service["Properties"]["TaskDefinition"]["Ref"]]["Properties"]
        groups = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"]
        for container in task["ContainerDefinitions"]:
            if container["Name"] in ports:
                found[container["Name"]] = sources(resources, groups, ports[container["Name"]])
    return found


def test_the_table_covers_every_example() -> None:
    assert set(EXPECTED) == {path.name for path in EXAMPLES}


@pytest.mark.parametrize("name", [path.name for path in EXAMPLES])
def test_who_reaches_what(example_results: Mapping[str, SynthResult], name: str) -> None:
    assert reachability(example_results[name]) == EXPECTED[name]


def test_rotation_function_reaches_only_the_database(synth: Callable[[DifyConfig], SynthResult]) -> None:
    """Single-user rotation logs in to change the password (Secrets Manager rotation function template
    SecretsManagerRDSPostgreSQLRotationSingleUser); it needs the database and nothing else here."""
    expected = split(LOAD_BALANCER)
    assert isinstance(expected["database"], set)
    expected["database"] = expected["database"] | {"Dify database password rotation function"}
    assert reachability(synth(config_of(database={"rotation_days": 30}))) == expected


def test_only_the_installers_reach_the_package_index_in_one_task(
    synth: Callable[[DifyConfig], SynthResult],
) -> None:
    """With every role in one task, that task (daemon and sandbox inside it) is the only client."""
    config = config_of(
        services={"layout": "single_task"},
        cache={"engine": "container"},
        front_door={"type": "api_gateway"},
        package_index={"type": "codeartifact"},
    )
    assert reachability(synth(config)) == single_task("Dify API Gateway VPC link", package_index=True)


def test_service_roles_are_named_by_their_container(example_results: Mapping[str, SynthResult]) -> None:
    """The resolver names every ECS service of the default layout after one Dify role."""
    (body,) = example_results["default.toml"].templates.values()
    resources: dict[str, Any] = body["Resources"]
    roles = {ecs_service_role(resources, s) for s in of_type(resources, "AWS::ECS::Service").values()}
    assert roles == {"api", "worker", "beat", "web", "sandbox", "plugin-daemon", "ssrf-proxy"}
