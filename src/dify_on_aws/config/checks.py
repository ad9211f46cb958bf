"""Checks between config sections that concern the network, the front door and the integrations: each
raises ValueError (or CrossFieldError with several problems) naming the key, the value and the fix.
DifyConfig runs them all and reports every problem (config/model.py, `_across_sections`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from dify_on_aws.config.base import CrossFieldError
from dify_on_aws.config.env import ENV_ROLES
from dify_on_aws.config.front_door import CLOUDFRONT_FRONT_DOORS
from dify_on_aws.config.knowledge import reachability_problem
from dify_on_aws.roles import Role
from dify_on_aws.services.images import ecr_repository, parse_image
from dify_on_aws.services.variables import LAMBDA_API_NAMES, Endpoints, Mail, role_variables

if TYPE_CHECKING:
    from dify_on_aws.config.model import DifyConfig


def closed_network(config: DifyConfig) -> None:
    """A closed network reaches nothing outside the VPC but AWS services behind VPC endpoints."""
    if not config.network.closed:
        return
    door = config.front_door
    problems: list[str] = []
    if door.type != "alb" or not door.internal:
        # CloudFront VPC origins need an internet gateway in the VPC; Lambda function URLs and API
        # Gateway HTTP APIs are public endpoints.
        problems.append(
            f"network.closed = true needs an internal front door, not front_door.type = '{door.type}'"
            f"{'' if door.type != 'alb' else ' without internal = true'}; set front_door.type = 'alb' "
            "and front_door.internal = true"
        )
    mirror = f"123456789012.dkr.ecr.{config.region or 'us-east-1'}.amazonaws.com"
    squid = parse_image(config.ssrf_proxy.image)
    images = {
        "images.registry": (config.images.registry, f"{config.images.registry}/dify-api:x", "langgenius"),
        "ssrf_proxy.image": (
            config.ssrf_proxy.image,
            config.ssrf_proxy.image,
            f"{squid.repository}:{squid.tag}",
        ),
    }
    if config.package_index.type != "none":
        proxy = parse_image(config.package_index.proxy_image)
        images["package_index.proxy_image"] = (
            config.package_index.proxy_image,
            config.package_index.proxy_image,
            f"{proxy.repository}:{proxy.tag}",
        )
    for key, (value, reference, example) in images.items():
        if ecr_repository(reference) is None:
            problems.append(
                f"network.closed = true pulls images only from Amazon ECR, but {key} = {value!r} is not "
                "an ECR registry; copy the images with `dify-on-aws mirror-images` and set "
                f"{key} to the mirror, e.g. '{mirror}/{example}'"
            )
    if config.images.docker_hub_secret_arn is not None:
        problems.append(
            "images.docker_hub_secret_arn is for Docker Hub pulls, which a closed network cannot make; "
            "remove it"
        )
    if not config.network.endpoints and config.network.vpc_id is None:
        problems.append(
            "network.endpoints = false leaves the new closed VPC without a way to reach AWS services; "
            "remove it (it is for an imported VPC that already has its endpoints)"
        )
    if problems:
        raise CrossFieldError(problems)


def nat_for_rotation(config: DifyConfig) -> None:
    # In a closed network the rotation function reaches Secrets Manager through its VPC endpoint.
    if config.network.closed:
        return
    if not config.network.egress and config.database.rotation_days is not None:
        raise ValueError(
            "database.rotation_days runs a rotation function in the VPC that needs NAT to reach Secrets "
            "Manager; set network.nat_gateways >= 1 or remove rotation_days"
        )


def nat_for_queue_scaling(config: DifyConfig) -> None:
    if config.network.egress or not config.services.worker.queue_scaling:
        return
    if config.network.closed:
        # Also an imported closed VPC (whose nat_gateways keeps its default): no endpoint serves CloudWatch.
        raise ValueError(
            "services.worker.queue_scaling runs a function in the VPC that publishes the queue depth to "
            "CloudWatch, which a closed network does not reach (it has no CloudWatch monitoring endpoint); "
            "remove queue_scaling (max_count still scales the worker on CPU)"
        )
    raise ValueError(
        "services.worker.queue_scaling runs a function in the VPC that needs NAT to reach Secrets "
        "Manager and CloudWatch; set network.nat_gateways >= 1 or remove queue_scaling"
    )


def nat_for_lambda(config: DifyConfig) -> None:
    if not config.network.egress and config.front_door.type == "lambda":
        raise ValueError(
            "front_door.type = 'lambda' runs the api function in the VPC, where it needs NAT to reach "
            "Secrets Manager and model APIs; set network.nat_gateways >= 1 or choose another front door"
        )


def front_door_environment(config: DifyConfig) -> None:
    door = config.front_door
    missing = [key for key in ("account", "region") if getattr(config, key) is None]
    if not missing:
        if (
            door.certificate_arn is not None
            and door.type not in CLOUDFRONT_FRONT_DOORS
            and f":acm:{config.region}:" not in door.certificate_arn
        ):
            raise ValueError(
                f"front_door.certificate_arn must be in region {config.region} for type = '{door.type}'"
            )
        return
    needs = ", ".join(missing)
    if door.needs_edge_stack():
        reason = "Lambda@Edge" if door.type == "lambda" else "the WAF web ACL or certificate in us-east-1"
        raise ValueError(
            f"front_door.type = '{door.type}' with these settings needs {reason}, which is deployed as a "
            f"second stack with cross-region references; set {needs}"
        )
    if door.hosted_zone is not None and door.hosted_zone_id is None:
        raise ValueError(
            f"front_door.hosted_zone {door.hosted_zone!r} is looked up in Route 53, which needs {needs}; "
            "set them, or set front_door.hosted_zone_id to skip the lookup"
        )


def zones(config: DifyConfig) -> None:
    net = config.network
    zones = net.availability_zones
    if zones is None and not net.imported and net.max_azs > 2 and None in (config.account, config.region):
        # CDK's Stack.availabilityZones: an environment-agnostic stack gets two zones (Fn::GetAZs 0 and 1).
        raise ValueError(
            f"network.max_azs = {net.max_azs} needs account and region: without them the template is "
            "environment-agnostic and CDK spreads the VPC over two zones only; set account and region, "
            "or region and network.availability_zones, or max_azs = 2"
        )
    if zones is not None:
        if config.region is None:
            raise ValueError("network.availability_zones needs region; set region or remove the zones")
        wrong = [z for z in zones if not z.startswith(config.region)]
        if wrong:
            raise ValueError(f"network.availability_zones {wrong} are not in region {config.region}")


def imported_vpc(config: DifyConfig) -> None:
    net = config.network
    if not net.imported:
        return
    missing = [key for key in ("account", "region") if getattr(config, key) is None]
    if not net.explicit_subnets and missing:
        raise ValueError(
            f"network.vpc_id {net.vpc_id!r} alone is looked up in EC2, which needs {', '.join(missing)}; "
            "set them, or describe the VPC offline with network.private_subnet_ids (and the other "
            "subnet IDs, availability_zones and cidr)"
        )
    door = config.front_door
    if net.explicit_subnets and not net.public_subnet_ids and door.type == "alb" and not door.internal:
        raise ValueError(
            "front_door.type = 'alb' is internet-facing and needs public subnets, but the imported VPC "
            "has no network.public_subnet_ids; add them, set front_door.internal = true, or choose a "
            "front door that needs none (cloudfront, api_gateway)"
        )


def env_on_lambda(config: DifyConfig) -> None:
    if config.front_door.type != "lambda":
        return
    if config.env.web:
        raise ValueError(
            "[env.web] with front_door.type = 'lambda': the web role runs as a Lambda function there, "
            "which these settings do not reach; remove [env.web] or choose another front door"
        )
    ssm = [name for name, (_, setting) in config.env.for_role(Role.API).items() if setting.ssm is not None]
    if ssm:
        raise ValueError(
            f"{ssm} come from SSM, but front_door.type = 'lambda' runs the api as a Lambda function that "
            'reads only Secrets Manager secrets at start; use { secret = "arn:..." } for them'
        )


# Stand-ins for what only CloudFormation knows: the names a role gets never depend on these values.
_PLACEHOLDER_DATA = Endpoints(
    region="REGION",
    db_host="database",
    db_port=5432,
    db_main="dify",
    db_plugin="dify_plugin",
    db_vector="dify_vector",
    redis_host="cache",
    redis_port=6379,
    redis_tls=True,
    bucket_name="bucket",
)


def managed_names(config: DifyConfig, role: Role) -> set[str]:
    """The names the stack sets itself on `role` under `config` (what `[env]` may replace only with
    `override = true`): services/variables.py, `role_variables`, with the config's choices and placeholders
    for what CloudFormation resolves (tests/test_integrations.py compares them with every synthesized
    container)."""
    svc = config.services
    data = replace(
        _PLACEHOLDER_DATA,
        region=config.region or _PLACEHOLDER_DATA.region,
        # The cache container of the task (cache.engine = 'container') has no TLS; ElastiCache has.
        redis_tls=config.cache.engine != "container",
    )
    return role_variables(
        role,
        data=data,
        public_url="https://front-door.invalid",
        sandbox_allow_all_syscalls=svc.sandbox_allow_all_syscalls,
        packed=svc.layout == "single_task",
        release=config.images.contract_release(),
        mail=Mail("sender", "smtp", config.email.smtp_port) if config.email.domain is not None else None,
        internet=not config.network.closed,
        package_index="http://package-index.invalid/simple/" if config.package_index.type != "none" else None,
        # The knowledge API's private name (stack/integrations.py), in a closed network only.
        squid_hosts=("knowledge.invalid",) if config.network.closed and config.knowledge_bases.ids else (),
    ).names()


# Roles as `[env.<key>]` names them (plugin_daemon, not the container's plugin-daemon).
_TABLE_KEYS = {role: key for key, role in ENV_ROLES.items()}


def env_managed(config: DifyConfig) -> None:
    """Refuse an `[env]` variable the stack sets itself on that role (`managed_names`: the names a synth
    sets) unless it says `override = true`, naming the table, the key and the roles."""
    env = config.env
    clashes: dict[tuple[str, str], list[str]] = {}
    on_lambda = LAMBDA_API_NAMES if config.front_door.type == "lambda" else frozenset()
    for role in env.roles():
        own = managed_names(config, role)
        for name, (table, setting) in sorted(env.for_role(role).items()):
            if role is Role.API and name in on_lambda:
                continue  # _lambda_api_clashes
            if name in own and not setting.override:
                clashes.setdefault((table, name), []).append(_TABLE_KEYS[role])
    problems = _lambda_api_clashes(config)
    problems += [
        f"{table} {name}: the stack sets {name} itself on the {', '.join(roles)} role"
        f"{'s' if len(roles) > 1 else ''} (from the database, cache, front door, keys, storage or e-mail "
        f"settings); remove it, or add override = true to replace it: {name} = {{ value = ..., override = "
        "true }"
        for (table, name), roles in clashes.items()
    ]
    if problems:
        raise CrossFieldError(problems)


def _lambda_api_clashes(config: DifyConfig) -> list[str]:
    """`[env]` names the `lambda` front door's api function sets after `[env]` (LAMBDA_API_NAMES): an
    override would be silently lost there, so even `override = true` is refused."""
    if config.front_door.type != "lambda":
        return []
    return [
        f"{table} {name}: with front_door.type = 'lambda' the api function sets {name} itself (Lambda Web "
        "Adapter, its start-up script and the public URLs), after [env], so no value can replace it there; "
        f"remove it{' or move it to [env.<role>] for the other roles' if table == '[env]' else ''}"
        for name, (table, _) in sorted(config.env.for_role(Role.API).items())
        if name in LAMBDA_API_NAMES
    ]


def knowledge_api_reachable(config: DifyConfig) -> None:
    problem = reachability_problem(
        enabled=bool(config.knowledge_bases.ids),
        nat_gateways=1 if config.network.egress else 0,
        closed=config.network.closed,
        allowed_domains=config.ssrf_proxy.allowed_domains,
        region=config.region,
    )
    if problem:
        raise ValueError(problem)


CROSS_SECTION_CHECKS: tuple[Callable[[DifyConfig], None], ...] = (
    closed_network,
    nat_for_rotation,
    nat_for_queue_scaling,
    nat_for_lambda,
    front_door_environment,
    zones,
    imported_vpc,
    env_on_lambda,
    env_managed,
    knowledge_api_reachable,
)
