"""The one place that maps the configuration to each container's environment variables, as plain data.

Plain values go to `environment` (CloudFormation tokens in a stack, placeholders when only the names matter);
anything secret goes to `secrets` as a reference to one of the stack's own secrets (`SecretField`), which
services/environment.py turns into an ECS secret, so no secret is ever in a template, a task definition or
a parameter. Pairs that must match across services (SECRET_KEY; sandbox key; plugin daemon key; inner API
key) are read from the same secret here.

No CDK import: the config checks read from here which names the stack sets on a role (config/checks.py,
`managed_names`), so `dify-on-aws validate` refuses an `[env]` clash without the jsii start-up, with the very
names a synth sets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypedDict, Unpack

from dify_on_aws.roles import API_IMAGE_ROLES, PORTS, Role
from dify_on_aws.services import dify_contract
from dify_on_aws.services.proxy_settings import (
    AWS_API_HOSTS,
    index_hosts,
    internal_url,
    package_index_environment,
    proxy_environment,
)
from dify_on_aws.services.ssrf_proxy import internal_hosts_environment, squid_container

# S3 key prefixes of the plugin daemon: installed plugins, package cache, media cache, plugin persistence.
PLUGIN_DAEMON_PREFIXES = ("plugin", "plugin_packages", "assets", "persistence")
# Largest plugin package, for the api and worker (downloads, uploads, GitHub installs) and the daemon alike;
# Dify's compose gives all three 50 MiB (the api's own default is 15 MiB).
PLUGIN_MAX_PACKAGE_BYTES = 52428800
# The plugin-debugging address the console shows. Remote installing is off (a raw TCP port no front door
# exposes), so it names that instead of an address: `.invalid` never resolves (RFC 6761).
PLUGIN_DEBUGGING_DISABLED_HOST = "plugin-debugging-disabled.invalid"

# Set on the `lambda` front door's api function after `[env]` (frontdoor/lambda_urls.py, `connect`): Lambda
# Web Adapter's settings, the bootstrap's inputs, the public URLs it fills in at start, one server worker and
# a writable HOME. `[env]` cannot replace them there, not even with override (config/checks.py refuses it;
# tests/test_integrations.py compares the list with the synthesized function).
LAMBDA_API_NAMES = frozenset(
    {
        "AWS_LWA_PORT",
        "AWS_LWA_READINESS_CHECK_PATH",
        "AWS_LWA_INVOKE_MODE",
        "AWS_LWA_ASYNC_INIT",
        "AWS_LWA_AUTHORIZATION_SOURCE",
        "DIFY_PUBLIC_URL_PARAMETER",
        "DIFY_SECRET_ARNS",
        "SERVER_WORKER_AMOUNT",
        "HOME",
        "ENDPOINT_URL_TEMPLATE",
        "CONSOLE_API_URL",
        "CONSOLE_WEB_URL",
        "SERVICE_API_URL",
        "APP_API_URL",
        "APP_WEB_URL",
        "FILES_URL",
        "TRIGGER_URL",
    }
)

# Roles that mail: the worker sends every mail (the `mail` queue); the api decides from MAIL_TYPE whether
# invitations and password resets are mailed or shown as links.
MAIL_ROLES = (Role.API, Role.WORKER)


class StackSecret(StrEnum):
    """The stack's own secrets the containers read."""

    DATABASE = "database"  # {"username", "password"} of the cluster
    CACHE_TOKEN = "cache_token"  # noqa: S105 - the cache's AUTH token (a name, not a secret)
    BROKER_URL = "broker_url"  # Celery's broker URL (it embeds the AUTH token)
    SECRET_KEY = "secret_key"  # noqa: S105 - Dify's SECRET_KEY (a name, not a secret)
    SANDBOX_API_KEY = "sandbox_api_key"
    PLUGIN_DAEMON_KEY = "plugin_daemon_key"
    INNER_API_KEY = "inner_api_key"
    MAIL = "mail"  # {"username", "password"} of SES SMTP


@dataclass(frozen=True)
class SecretField:
    """One of the stack's secrets, or one JSON key of it."""

    secret: StackSecret
    field: str | None = None


@dataclass(frozen=True)
class Endpoints:
    """Where the data layer answers (tokens resolved by CloudFormation)."""

    region: str
    db_host: str
    db_port: int
    db_main: str
    db_plugin: str
    db_vector: str
    redis_host: str
    redis_port: int
    redis_tls: bool
    bucket_name: str


@dataclass(frozen=True)
class Mail:
    """Dify's SMTP client: the sender and the SES SMTP endpoint (credentials: StackSecret.MAIL)."""

    sender: str
    server: str
    port: int


@dataclass(frozen=True)
class Variables:
    environment: dict[str, str]
    secrets: dict[str, SecretField]

    def names(self) -> set[str]:
        return set(self.environment) | set(self.secrets)


def _mail(mail: Mail) -> Variables:
    """Dify's `smtp` mail type (api/extensions/ext_mail.py): port 465 is TLS from the first byte
    (SMTP_USE_TLS without SMTP_OPPORTUNISTIC_TLS: SMTP_SSL), 587 is STARTTLS (both flags)."""
    env = {
        "MAIL_TYPE": "smtp",
        "MAIL_DEFAULT_SEND_FROM": mail.sender,
        "SMTP_SERVER": mail.server,
        "SMTP_PORT": str(mail.port),
        "SMTP_USE_TLS": "true",
        "SMTP_OPPORTUNISTIC_TLS": str(mail.port == 587).lower(),
    }
    secrets = {
        "SMTP_USERNAME": SecretField(StackSecret.MAIL, "username"),
        "SMTP_PASSWORD": SecretField(StackSecret.MAIL, "password"),
    }
    return Variables(env, secrets)


def _api_image(
    role: Role,
    *,
    data: Endpoints,
    public_url: str,
    packed: bool,
    hosts: Mapping[Role, str] | None,
    release: str,
    internet: bool,
) -> Variables:
    env = {
        "MODE": role.value,
        # Migrations run once per deployment as their own task (the migration gate), never at start.
        "MIGRATION_ENABLED": "true" if role is Role.MIGRATION else "false",
        "DEBUG": "false",
        "LOG_LEVEL": "INFO",
        "DEPLOY_ENV": "PRODUCTION",
        # No API explorer on a production api (Dify's compose turns it off too), no usage analytics.
        "SWAGGER_UI_ENABLED": "false",
        "SCARF_NO_ANALYTICS": "true",
        # Browser-facing URLs all point at the front door.
        "CONSOLE_API_URL": public_url,
        "CONSOLE_WEB_URL": public_url,
        "SERVICE_API_URL": public_url,
        "APP_WEB_URL": public_url,
        "FILES_URL": public_url,
        "TRIGGER_URL": public_url,
        "ENDPOINT_URL_TEMPLATE": f"{public_url}/e/{{hook_id}}",
        "INTERNAL_FILES_URL": internal_url(Role.API, packed=packed, hosts=hosts),
        # Database; pre-ping and a short recycle survive Aurora pauses and failovers.
        "DB_HOST": data.db_host,
        "DB_PORT": str(data.db_port),
        "DB_DATABASE": data.db_main,
        "SQLALCHEMY_POOL_PRE_PING": "true",
        "SQLALCHEMY_POOL_RECYCLE": "300",
        "VECTOR_STORE": "pgvector",
        "PGVECTOR_HOST": data.db_host,
        # Dify's code default is 5433; the cluster listens on the database port.
        "PGVECTOR_PORT": str(data.db_port),
        "PGVECTOR_DATABASE": data.db_vector,
        # Redis over TLS; Celery broker DB 1 (URL in a secret since it embeds the AUTH token).
        "REDIS_HOST": data.redis_host,
        "REDIS_PORT": str(data.redis_port),
        "REDIS_DB": "0",
        "REDIS_USE_SSL": str(data.redis_tls).lower(),
        **({"REDIS_SSL_CERT_REQS": "CERT_OPTIONAL"} if data.redis_tls else {}),
        # Broker TLS follows from the rediss:// scheme of CELERY_BROKER_URL (Dify derives BROKER_USE_SSL).
        "CELERY_BACKEND": "redis",
        # Files in S3 through the task role; no access keys anywhere.
        "STORAGE_TYPE": "s3",
        "S3_BUCKET_NAME": data.bucket_name,
        "S3_REGION": data.region,
        "S3_USE_AWS_MANAGED_IAM": "true",
        "CODE_EXECUTION_ENDPOINT": internal_url(Role.SANDBOX, packed=packed, hosts=hosts),
        "PLUGIN_DAEMON_URL": internal_url(Role.PLUGIN_DAEMON, packed=packed, hosts=hosts),
        "PLUGIN_DAEMON_TIMEOUT": "600.0",
        "PLUGIN_MAX_PACKAGE_SIZE": str(PLUGIN_MAX_PACKAGE_BYTES),
        "PLUGIN_REMOTE_INSTALL_HOST": PLUGIN_DEBUGGING_DISABLED_HOST,
        # Without the internet (a closed network) the marketplace is unreachable: plugins come as uploaded
        # packages (the daemon still verifies their signatures), and the beat's upgrade check, which
        # fetches the marketplace's plugin manifest, stays off.
        "MARKETPLACE_ENABLED": str(internet).lower(),
        **({} if internet else {"ENABLE_CHECK_UPGRADABLE_PLUGIN_TASK": "false"}),
        # URLs that users type (HTTP-request node, tools, remote files) are fetched through the SSRF proxy.
        "SSRF_PROXY_HTTP_URL": internal_url(Role.SSRF_PROXY, packed=packed, hosts=hosts),
        "SSRF_PROXY_HTTPS_URL": internal_url(Role.SSRF_PROXY, packed=packed, hosts=hosts),
    }
    if role is Role.WORKER:
        # Every queue something sends to has a consumer: the entrypoint's default list misses some of them.
        env["CELERY_QUEUES"] = ",".join(dify_contract.load(release).worker_queues())
    if role is Role.API:
        env |= {
            "SERVER_WORKER_AMOUNT": "1",
            # gevent connections: each open SSE stream holds one.
            "SERVER_WORKER_CONNECTIONS": "100",
            "GUNICORN_TIMEOUT": "360",
        }
    secrets = {
        "DB_USERNAME": SecretField(StackSecret.DATABASE, "username"),
        "DB_PASSWORD": SecretField(StackSecret.DATABASE, "password"),
        "PGVECTOR_USER": SecretField(StackSecret.DATABASE, "username"),
        "PGVECTOR_PASSWORD": SecretField(StackSecret.DATABASE, "password"),
        "REDIS_PASSWORD": SecretField(StackSecret.CACHE_TOKEN),
        "CELERY_BROKER_URL": SecretField(StackSecret.BROKER_URL),
        "SECRET_KEY": SecretField(StackSecret.SECRET_KEY),
        "CODE_EXECUTION_API_KEY": SecretField(StackSecret.SANDBOX_API_KEY),
        "PLUGIN_DAEMON_KEY": SecretField(StackSecret.PLUGIN_DAEMON_KEY),
        "INNER_API_KEY_FOR_PLUGIN": SecretField(StackSecret.INNER_API_KEY),
    }
    return Variables(env, secrets)


def _web(public_url: str) -> Variables:
    env = {
        "CONSOLE_API_URL": public_url,
        "APP_API_URL": public_url,
        "MARKETPLACE_API_URL": "https://marketplace.dify.ai",
        "MARKETPLACE_URL": "https://marketplace.dify.ai",
        "NEXT_TELEMETRY_DISABLED": "1",
        # The browser aborts a generation after this; slow models need longer than the 60 s default.
        "TEXT_GENERATION_TIMEOUT_MS": "600000",
        "HOSTNAME": "0.0.0.0",  # noqa: S104 - Next.js must listen on the task's interface
        "PORT": str(PORTS[Role.WEB]),
    }
    return Variables(env, {})


def _sandbox(*, allow_all_syscalls: bool, packed: bool, package_index: str | None) -> Variables:
    env = {
        "GIN_MODE": "release",
        # The image's conf/config.yaml says debug: true; the sandbox lets DEBUG override it.
        "DEBUG": "false",
        "WORKER_TIMEOUT": "15",
        "ENABLE_NETWORK": "true",
        # Sandboxed code reaches the network only through the SSRF proxy (and its egress rules say so).
        **proxy_environment(packed=packed, bypass=index_hosts(package_index)),
        **package_index_environment(package_index, trusted_host=True),
        "SANDBOX_PORT": str(PORTS[Role.SANDBOX]),
    }
    if allow_all_syscalls:
        env["ALLOWED_SYSCALLS"] = ",".join(str(n) for n in range(457))
    return Variables(env, {"API_KEY": SecretField(StackSecret.SANDBOX_API_KEY)})


def _plugin_daemon(data: Endpoints, *, packed: bool, internet: bool, package_index: str | None) -> Variables:
    env = {
        "SERVER_PORT": str(PORTS[Role.PLUGIN_DAEMON]),
        "DIFY_INNER_API_URL": internal_url(Role.API, packed=packed),
        "PLATFORM": "local",
        "DB_HOST": data.db_host,
        "DB_PORT": str(data.db_port),
        "DB_DATABASE": data.db_plugin,
        # The cluster enforces TLS (rds.force_ssl); the daemon accepts only disable|require.
        "DB_SSL_MODE": "require",
        "REDIS_HOST": data.redis_host,
        "REDIS_PORT": str(data.redis_port),
        "REDIS_USE_SSL": str(data.redis_tls).lower(),
        "PLUGIN_STORAGE_TYPE": "aws_s3",
        "PLUGIN_STORAGE_OSS_BUCKET": data.bucket_name,
        "S3_USE_AWS": "true",
        "S3_USE_AWS_MANAGED_IAM": "true",
        "S3_USE_PATH_STYLE": "false",
        "S3_ENDPOINT": f"https://s3.{data.region}.amazonaws.com",
        "AWS_REGION": data.region,
        # Every place the daemon keeps objects, set explicitly: its task role may touch only these prefixes.
        "PLUGIN_INSTALLED_PATH": PLUGIN_DAEMON_PREFIXES[0],
        "PLUGIN_PACKAGE_CACHE_PATH": PLUGIN_DAEMON_PREFIXES[1],
        "PLUGIN_MEDIA_CACHE_PATH": PLUGIN_DAEMON_PREFIXES[2],
        "PERSISTENCE_STORAGE_PATH": PLUGIN_DAEMON_PREFIXES[3],
        "PLUGIN_WORKING_PATH": "/app/storage/cwd",
        "FORCE_VERIFYING_SIGNATURE": "true",
        # Remote debugging is a raw TCP port; it is not exposed by any front door.
        "PLUGIN_REMOTE_INSTALLING_ENABLED": "false",
        "PLUGIN_MAX_EXECUTION_TIMEOUT": "600",
        # Dify's 120 s assumes a full core; the default daemon has half a vCPU (config/services.py).
        "PYTHON_ENV_INIT_TIMEOUT": "300",
        "MAX_PLUGIN_PACKAGE_SIZE": str(PLUGIN_MAX_PACKAGE_BYTES),
        # Plugins fetch what users and models ask for; only internal names and Dify's files bypass the proxy.
        # uv gets HTTP_PROXY, HTTPS_PROXY and NO_PROXY from the daemon's configuration, so the package
        # index is reached around the proxy (which denies the VPC), and so are AWS APIs in a closed network.
        **proxy_environment(
            packed=packed,
            reaches_api=True,
            bypass=[*index_hosts(package_index), *([] if internet else [AWS_API_HOSTS])],
        ),
        **package_index_environment(package_index, trusted_host=False),
    }
    secrets = {
        "SERVER_KEY": SecretField(StackSecret.PLUGIN_DAEMON_KEY),
        "DIFY_INNER_API_KEY": SecretField(StackSecret.INNER_API_KEY),
        "DB_USERNAME": SecretField(StackSecret.DATABASE, "username"),
        "DB_PASSWORD": SecretField(StackSecret.DATABASE, "password"),
        "REDIS_PASSWORD": SecretField(StackSecret.CACHE_TOKEN),
    }
    return Variables(env, secrets)


class RoleOptions(TypedDict, total=False):
    """What shapes a role's variables besides the data layer, the front door's URL and mail (defaults in
    `role_variables`)."""

    # Every system call allowed in the sandbox (default False).
    sandbox_allow_all_syscalls: bool
    # The SSRF proxy's rendered configuration (default "").
    squid_conf: str
    # Names the SSRF proxy lets through to VPC addresses, for a configuration that reads them (default
    # none): the knowledge API's private name in a closed network.
    squid_hosts: Sequence[str]
    # Every role in one task, reaching the others on localhost (default False).
    packed: bool
    # The Dify release, whose contract names the queues the worker consumes (default: the default release).
    release: str
    # Private DNS names of other roles, for callers outside Service Connect (default: none).
    hosts: Mapping[Role, str] | None
    # Whether the internet is reachable (default True); without it (a closed network) the plugin
    # marketplace is off and AWS API calls go to the VPC endpoints around the SSRF proxy.
    internet: bool
    # The simple-index URL the sandbox and the plugin daemon install Python packages from (default None:
    # PyPI).
    package_index: str | None


def role_variables(
    role: Role, *, data: Endpoints, public_url: str, mail: Mail | None = None, **options: Unpack[RoleOptions]
) -> Variables:
    """The stack's own variables of one role (`mail`: SES for the roles that mail)."""
    packed = options.get("packed", False)
    internet = options.get("internet", True)
    package_index = options.get("package_index")
    hosts = options.get("hosts")
    release = options.get("release", dify_contract.DEFAULT_RELEASE)
    sandbox_allow_all_syscalls = options.get("sandbox_allow_all_syscalls", False)
    squid_conf = options.get("squid_conf", "")
    if role is Role.SSRF_PROXY:
        squid_hosts = options.get("squid_hosts", ())
        names = internal_hosts_environment(squid_hosts) if squid_hosts else {}
        found = Variables({**squid_container(squid_conf).environment, **names}, {})
    elif role in API_IMAGE_ROLES:
        found = _api_image(
            role,
            data=data,
            public_url=public_url,
            packed=packed,
            hosts=hosts,
            release=release,
            internet=internet,
        )
    elif role is Role.WEB:
        found = _web(public_url)
    elif role is Role.SANDBOX:
        found = _sandbox(
            allow_all_syscalls=sandbox_allow_all_syscalls, packed=packed, package_index=package_index
        )
    else:
        found = _plugin_daemon(data, packed=packed, internet=internet, package_index=package_index)
    if mail is not None and role in MAIL_ROLES:
        extra = _mail(mail)
        found = Variables(found.environment | extra.environment, found.secrets | extra.secrets)
    return found
