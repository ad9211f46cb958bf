"""`[env]`: extra environment variables for Dify's containers, from literals, SSM or Secrets Manager."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from pydantic import Field, field_validator, model_validator

from dify_on_aws.config.base import CrossFieldError, Section, cross_check
from dify_on_aws.config.images import SECRET_ARN
from dify_on_aws.roles import API_IMAGE_ROLES, Role

# Names Dify's components read: upper-case letters, digits and underscores.
_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,254}$")
# SSM parameter names (letters, digits, . - _ and / for hierarchies), given without the ARN.
_PARAMETER = re.compile(r"^/?[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
_KMS_KEY = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]{36}$")
_JSON_KEY = re.compile(r"^[^\s:]{1,256}$")
# Names that hold a secret: a literal value for them is refused (`*_SECRET`, `*_KEY`, `*_PASSWORD`, ...).
SECRET_NAME = re.compile(r"(^|_)(SECRET|KEY|PASSWORD|PASSWD|TOKEN|CREDENTIALS?)$")
# Values that look like credentials whatever their name.
_SECRET_VALUES = (
    ("an AWS access key ID", re.compile(r"(?<![A-Z0-9])(AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY")),
    ("a URL with a password", re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]*:[^\s/@]+@")),
    (
        "an API token",
        re.compile(r"^(sk-|sk_live_|rk_live_|ghp_|gho_|ghs_|github_pat_|glpat-|xox[abpr]-|AIza|hf_)\S{8,}"),
    ),
)
_TOKEN_LIKE = re.compile(r"^[A-Za-z0-9+/=_-]{32,}$")
# Bits per character above which a long token-like value is taken for a key (hex IDs stay below 4).
_ENTROPY_LIMIT = 4.2

# `[env.<role>]` keys and the roles they name; `[env]` itself holds settings for every dify-api role.
ENV_ROLES = {
    "api": Role.API,
    "worker": Role.WORKER,
    "beat": Role.BEAT,
    "migration": Role.MIGRATION,
    "web": Role.WEB,
    "sandbox": Role.SANDBOX,
    "plugin_daemon": Role.PLUGIN_DAEMON,
}
_SECRET_FORMS = (
    '{ secret = "arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-AbCdEf", key = "JSON-KEY" } or '  # noqa: S105
    '{ ssm = "/parameter/name" } (a SecureString)'
)


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def secret_looking(name: str, value: str) -> str | None:
    """Why a literal looks like a secret (its name or its value), or None."""
    if SECRET_NAME.search(name):
        return f"the name {name} holds a secret"
    for what, pattern in _SECRET_VALUES:
        if pattern.search(value):
            return f"the value looks like {what}"
    if _TOKEN_LIKE.fullmatch(value) and _entropy(value) > _ENTROPY_LIMIT:
        return "the value looks like a key (long and random)"
    return None


class EnvSetting(Section):
    """One variable: exactly one of `value`, `ssm` or `secret` (a bare string in TOML is a `value`)."""

    value: str | None = Field(None, description="A literal value (never a secret: it is in the template).")
    ssm: str | None = Field(
        None,
        description="Name of an SSM parameter in the stack's region (String or SecureString), read by ECS "
        "when a task starts.",
    )
    secret: str | None = Field(None, description="Full ARN of a Secrets Manager secret.")
    key: str | None = Field(
        None, description="With `secret`: the JSON key to read (default: the whole value)."
    )
    kms_key: str | None = Field(
        None,
        description="ARN of the customer managed KMS key that encrypts `ssm` (SecureString) or `secret`; the "
        "execution role gets kms:Decrypt on it. Not needed for AWS managed keys.",
    )
    override: bool = Field(
        False,
        description="Replace a variable the stack sets itself (database, cache, URLs, keys, storage, ...); "
        "without it such a name is refused.",
    )

    @model_validator(mode="before")
    @classmethod
    def _bare_string(cls, data: Any) -> Any:
        return {"value": data} if isinstance(data, str) else data

    @field_validator("ssm")
    @classmethod
    def _ssm(cls, value: str | None) -> str | None:
        if value is not None and (not _PARAMETER.fullmatch(value) or len(value) > 2048):
            raise ValueError(f"{value!r} is not an SSM parameter name such as '/dify/github-client-id'")
        return value

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is not None and not SECRET_ARN.fullmatch(value):
            raise ValueError(
                f"{value!r} is not the full ARN of a Secrets Manager secret, e.g. "
                "'arn:aws:secretsmanager:us-east-1:123456789012:secret:dify/github-AbCdEf' (with its "
                "6-character suffix)"
            )
        return value

    @field_validator("key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if value is not None and not _JSON_KEY.fullmatch(value):
            raise ValueError(f"{value!r} is not a JSON key ECS can read (no spaces or ':')")
        return value

    @field_validator("kms_key")
    @classmethod
    def _kms(cls, value: str | None) -> str | None:
        if value is not None and not _KMS_KEY.fullmatch(value):
            raise ValueError(f"{value!r} is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)")
        return value

    @cross_check
    def _one_source(self) -> EnvSetting:
        given = [name for name in ("value", "ssm", "secret") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of value, ssm or secret (found {', '.join(given) or 'none'}), e.g. "
                '"text", { ssm = "/name" } or { secret = "arn:...", key = "json-key" }'
            )
        if self.key is not None and self.secret is None:
            raise ValueError("key (a JSON key) needs secret; remove key or use { secret = ..., key = ... }")
        if self.kms_key is not None and self.value is not None:
            raise ValueError("kms_key needs ssm or secret; a literal value is not encrypted")
        return self

    @property
    def is_literal(self) -> bool:
        return self.value is not None


class EnvConfig(Section):
    """Extra environment variables. `[env]` sets them on every role that runs the dify-api image (api,
    worker, beat and the migration task); `[env.<role>]` on one role only (`api`, `worker`, `beat`,
    `migration`, `web`, `sandbox`, `plugin_daemon`), and wins over `[env]`. Each variable is a literal
    string (`NAME = "text"`; never a secret: literals with secret-like names or values are refused), an
    SSM parameter (`NAME = { ssm = "/name" }`) or a Secrets Manager secret (`NAME = { secret = "arn", key =
    "json-key" }`); parameters and secrets become ECS secrets that only that role's task execution role may
    read. Add `override = true` to replace a variable the stack sets itself. Keys of each variable: `value`,
    `ssm`, `secret`, `key` (JSON key of `secret`), `kms_key` (customer managed key of a SecureString or
    secret), `override`."""

    shared: dict[str, EnvSetting] = Field(
        default_factory=dict,
        description="The variables written directly under `[env]`: set on api, worker, beat and migration.",
    )
    api: dict[str, EnvSetting] = Field(default_factory=dict, description="`[env.api]`.")
    worker: dict[str, EnvSetting] = Field(default_factory=dict, description="`[env.worker]`.")
    beat: dict[str, EnvSetting] = Field(default_factory=dict, description="`[env.beat]`.")
    migration: dict[str, EnvSetting] = Field(default_factory=dict, description="`[env.migration]`.")
    web: dict[str, EnvSetting] = Field(default_factory=dict, description="`[env.web]`.")
    sandbox: dict[str, EnvSetting] = Field(default_factory=dict, description="`[env.sandbox]`.")
    plugin_daemon: dict[str, EnvSetting] = Field(default_factory=dict, description="`[env.plugin_daemon]`.")

    @model_validator(mode="before")
    @classmethod
    def _variables_to_shared(cls, data: Any) -> Any:
        """`[env]`'s own upper-case keys are the shared table; role tables keep their names."""
        if not isinstance(data, dict):
            return data
        shared = {k: v for k, v in data.items() if isinstance(k, str) and _NAME.fullmatch(k)}
        rest = {k: v for k, v in data.items() if k not in shared}
        if shared:
            rest["shared"] = {**rest.get("shared", {}), **shared}
        return rest

    @field_validator(*("shared", *ENV_ROLES), mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        if isinstance(value, dict):
            wrong = [k for k in value if not (isinstance(k, str) and _NAME.fullmatch(k))]
            if wrong:
                raise ValueError(
                    f"{wrong} are not environment variable names (upper-case letters, digits and '_', "
                    "e.g. GITHUB_CLIENT_ID)"
                )
        return value

    @cross_check
    def _no_secret_literals(self) -> EnvConfig:
        problems = []
        for table, name, setting in self.entries():
            reason = secret_looking(name, setting.value) if setting.value is not None else None
            if reason is not None:
                problems.append(
                    f"{table} {name}: a literal value (not shown here) is refused because {reason} "
                    "(literals are plain text in the template); keep it in Secrets Manager or SSM and "
                    f"write {name} = {_SECRET_FORMS}"
                )
        if len(problems) > 1:
            raise CrossFieldError(problems)
        if problems:
            raise ValueError(problems[0])
        return self

    def entries(self) -> Iterator[tuple[str, str, EnvSetting]]:
        """(TOML table, variable name, setting) for every variable."""
        for name, setting in self.shared.items():
            yield "[env]", name, setting
        for key in ENV_ROLES:
            for name, setting in getattr(self, key).items():
                yield f"[env.{key}]", name, setting

    def for_role(self, role: Role) -> dict[str, tuple[str, EnvSetting]]:
        """The variables of one role (name -> (TOML table, setting)); a role table wins over `[env]`."""
        found: dict[str, tuple[str, EnvSetting]] = {}
        if role in API_IMAGE_ROLES:
            found |= {name: ("[env]", setting) for name, setting in self.shared.items()}
        key = next(k for k, r in ENV_ROLES.items() if r is role) if role in ENV_ROLES.values() else None
        if key is not None:
            found |= {name: (f"[env.{key}]", setting) for name, setting in getattr(self, key).items()}
        return found

    def roles(self) -> list[Role]:
        """Roles that get at least one variable."""
        return [role for role in ENV_ROLES.values() if self.for_role(role)]
