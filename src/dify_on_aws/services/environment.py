"""The containers' environment and secrets as ECS sees them: services/variables.py (the one place that maps
the configuration to each container's variables) with its references to the stack's secrets resolved to
ECS secrets from Secrets Manager, so no secret is ever in a template, a task definition or a parameter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Unpack

from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_secretsmanager as sm

from dify_on_aws.data.database import DatabaseNames
from dify_on_aws.roles import Role
from dify_on_aws.services.variables import Endpoints, Mail, RoleOptions, StackSecret, role_variables


@dataclass(frozen=True)
class DataEndpoints:
    """What the containers need from the data layer (tokens resolved by CloudFormation)."""

    region: str
    db_host: str
    db_port: int
    db_secret: sm.ISecret
    db_names: DatabaseNames
    redis_host: str
    redis_port: int
    redis_tls: bool
    redis_token: sm.ISecret
    broker_url: sm.ISecret
    bucket_name: str

    def endpoints(self) -> Endpoints:
        names = self.db_names
        return Endpoints(
            region=self.region,
            db_host=self.db_host,
            db_port=self.db_port,
            db_main=names.main,
            db_plugin=names.plugin,
            db_vector=names.vector,
            redis_host=self.redis_host,
            redis_port=self.redis_port,
            redis_tls=self.redis_tls,
            bucket_name=self.bucket_name,
        )


@dataclass(frozen=True)
class AppKeys:
    secret_key: sm.ISecret
    sandbox_api_key: sm.ISecret
    plugin_daemon_key: sm.ISecret
    inner_api_key: sm.ISecret


@dataclass(frozen=True)
class ContainerSettings:
    environment: dict[str, str]
    secrets: dict[str, ecs.Secret]

    def names(self) -> set[str]:
        return set(self.environment) | set(self.secrets)

    def updated(self, extra: ContainerSettings) -> ContainerSettings:
        """These settings with `extra`'s on top: a name `extra` sets leaves the other dict."""
        environment = {k: v for k, v in self.environment.items() if k not in extra.secrets}
        secrets = {k: v for k, v in self.secrets.items() if k not in extra.environment}
        return ContainerSettings(environment | extra.environment, secrets | extra.secrets)


@dataclass(frozen=True)
class MailSettings:
    """Dify's SMTP client: the sender, the SES SMTP endpoint and a secret {"username", "password"}."""

    sender: str
    server: str
    port: int
    credentials: sm.ISecret


def container_settings(
    role: Role,
    *,
    data: DataEndpoints,
    keys: AppKeys,
    public_url: str,
    mail: MailSettings | None = None,
    extra: Mapping[Role, ContainerSettings] | None = None,
    **options: Unpack[RoleOptions],
) -> ContainerSettings:
    """Environment and secrets for one role: `role_variables` (services/variables.py; `options`: see
    `RoleOptions`) with the stack's secrets as ECS secrets, then `extra`, the user's own settings per role,
    which win."""
    variables = role_variables(
        role,
        data=data.endpoints(),
        public_url=public_url,
        mail=Mail(mail.sender, mail.server, mail.port) if mail is not None else None,
        **options,
    )
    sources: dict[StackSecret, sm.ISecret] = {
        StackSecret.DATABASE: data.db_secret,
        StackSecret.CACHE_TOKEN: data.redis_token,
        StackSecret.BROKER_URL: data.broker_url,
        StackSecret.SECRET_KEY: keys.secret_key,
        StackSecret.SANDBOX_API_KEY: keys.sandbox_api_key,
        StackSecret.PLUGIN_DAEMON_KEY: keys.plugin_daemon_key,
        StackSecret.INNER_API_KEY: keys.inner_api_key,
        **({StackSecret.MAIL: mail.credentials} if mail is not None else {}),
    }
    settings = ContainerSettings(
        variables.environment,
        {
            name: ecs.Secret.from_secrets_manager(sources[ref.secret], ref.field)
            for name, ref in variables.secrets.items()
        },
    )
    if extra and role in extra:
        settings = settings.updated(extra[role])
    return settings


def sandbox_requirements(packages: Sequence[str]) -> str:
    return "".join(f"{line}\n" for line in packages)


def image_uri(registry: str, repository: str, tag: str) -> str:
    return f"{registry}/{repository}:{tag}"
