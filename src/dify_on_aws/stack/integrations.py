"""What users wire in beside Dify's own settings: e-mail through SES (`[email]`) and extra environment
variables (`[env]`), turned into settings for `container_settings`, and the knowledge API's private name,
which the SSRF proxy must let through (`squid_hosts`)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import aws_cdk as cdk
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as sm
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from dify_on_aws.config import DifyConfig
from dify_on_aws.config.env import EnvConfig, EnvSetting
from dify_on_aws.frontdoor.edge import EdgeStack
from dify_on_aws.frontdoor.factory import front_door_zone
from dify_on_aws.roles import Role
from dify_on_aws.services.environment import ContainerSettings, MailSettings
from dify_on_aws.services.knowledge import KnowledgeApi
from dify_on_aws.services.mail import SesMail
from dify_on_aws.services.variables import MAIL_ROLES


@dataclass(frozen=True)
class Integrations:
    """What `[email]`, `[env]` and a private knowledge API add: the SES mail unit (or None), the extra
    settings per role, and the names the SSRF proxy lets through to VPC addresses."""

    mail: SesMail | None
    extra: dict[Role, ContainerSettings]
    internal_hosts: tuple[str, ...] = ()

    @property
    def mail_settings(self) -> MailSettings | None:
        return self.mail.settings if self.mail is not None else None

    def wait_for_mail(self, services: Mapping[Role, ecs.FargateService]) -> None:
        """Tasks read the SMTP secret when they start: the mailing services start after it is written."""
        if self.mail is not None:
            for role in MAIL_ROLES:
                if role in services:
                    services[role].node.add_dependency(self.mail.resource)


def build_integrations(
    stack: cdk.Stack,
    *,
    config: DifyConfig,
    edge: EdgeStack | None,
    secret_removal: cdk.RemovalPolicy,
    log_retention: logs.RetentionDays,
    knowledge: KnowledgeApi | None = None,
) -> Integrations:
    """SES, then `[env]` as settings (the config refused `[env]` names the stack sets itself unless they say
    `override = true`: config/checks.py, `env_managed`)."""
    mail = build_mail(
        stack, config=config, edge=edge, secret_removal=secret_removal, log_retention=log_retention
    )
    # A private knowledge API resolves to the VPC endpoint's addresses, which Squid denies but for its name.
    hosts = (knowledge.host,) if knowledge is not None and knowledge.private else ()
    return Integrations(mail, extra_settings(stack, config.env), hosts)


def build_mail(
    stack: cdk.Stack,
    *,
    config: DifyConfig,
    edge: EdgeStack | None,
    secret_removal: cdk.RemovalPolicy,
    log_retention: logs.RetentionDays,
) -> SesMail | None:
    """SES for `[email]`; its records go into the front door's zone when the mail domain is inside it."""
    email = config.email
    if email.domain is None:
        return None
    zone_name = config.front_door.hosted_zone
    inside = zone_name is not None and (email.domain == zone_name or email.domain.endswith(f".{zone_name}"))
    zone = front_door_zone(stack, door=config.front_door, edge=edge) if inside else None
    if zone is None:
        cdk.Annotations.of(stack).add_info(
            f"email.domain {email.domain} is not in a Route 53 zone of this stack: create the DKIM and MAIL "
            "FROM records printed as the Mail* outputs after the deployment, then SES verifies the domain."
        )
    return SesMail(
        stack,
        "Mail",
        domain=email.domain,
        mail_from_domain=email.mail_from_domain(),
        sender=email.sender_address(),
        port=email.smtp_port,
        zone=zone,
        secret_removal=secret_removal,
        log_retention=log_retention,
    )


def extra_settings(scope: Construct, env: EnvConfig) -> dict[Role, ContainerSettings]:
    """`[env]` per role: literals as environment values, parameters and secrets as ECS secrets (ECS grants
    their read to the task execution role of the container that names them, and nothing else)."""
    roles = env.roles()
    if not roles:
        return {}
    holder = Construct(scope, "ExtraSettings")
    references: dict[tuple[str | None, ...], ecs.Secret] = {}
    found: dict[Role, ContainerSettings] = {}
    for role in roles:
        environment: dict[str, str] = {}
        secrets: dict[str, ecs.Secret] = {}
        for name, (_, setting) in sorted(env.for_role(role).items()):
            if setting.value is not None:
                environment[name] = setting.value
                continue
            source = (setting.ssm, setting.secret, setting.key, setting.kms_key)
            if source not in references:
                references[source] = _reference(holder, setting)
            secrets[name] = references[source]
        found[role] = ContainerSettings(environment, secrets)
    return found


def _reference(holder: Construct, setting: EnvSetting) -> ecs.Secret:
    """An imported parameter or secret (no resource, no value in the template) as an ECS secret."""
    where = setting.ssm or setting.secret or ""
    id_ = hashlib.sha256(f"{where}|{setting.kms_key}".encode()).hexdigest()[:12]
    # One import per secret: entries may read different JSON keys of the same secret.
    known = holder.node.try_find_child(f"Secret{id_}")
    if known is not None:
        return ecs.Secret.from_secrets_manager(cast(sm.ISecret, known), setting.key)
    key = kms.Key.from_key_arn(holder, f"Key{id_}", setting.kms_key) if setting.kms_key else None
    if setting.ssm is not None:
        # The secure-string import only builds an ARN (and a dynamic reference nobody reads); the plain
        # import would add a template parameter that resolves the value, which SecureStrings cannot.
        parameter = ssm.StringParameter.from_secure_string_parameter_attributes(
            holder, f"Parameter{id_}", parameter_name=setting.ssm, encryption_key=key
        )
        return ecs.Secret.from_ssm_parameter(parameter)
    secret = sm.Secret.from_secret_attributes(
        holder, f"Secret{id_}", secret_complete_arn=setting.secret, encryption_key=key
    )
    return ecs.Secret.from_secrets_manager(secret, setting.key)
