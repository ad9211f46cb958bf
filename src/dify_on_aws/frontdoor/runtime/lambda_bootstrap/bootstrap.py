"""Entrypoint prefix for the unmodified Dify api image on AWS Lambda (with Lambda Web Adapter).

Usage: ``python bootstrap.py /bin/bash /entrypoint.sh``. Lambda has no ECS-style ``secrets`` for container
images, so the function's environment carries only references and this script resolves them before it
replaces itself with the real entrypoint:

* ``DIFY_SECRET_ARNS``: a JSON object ``{"ENV_NAME": "<secret reference>"}`` where a reference has the ECS
  ``valueFrom`` format, ``arn:<partition>:secretsmanager:<region>:<account>:secret:<name>`` for the whole
  SecretString, optionally followed by ``:<json-key>:<version-stage>:<version-id>`` (each may be empty).
* ``DIFY_PUBLIC_URL_PARAMETER`` (optional): an SSM String parameter holding the public base URL. It is
  set in every ``PUBLIC_URL_VARIABLES`` entry and in ``ENDPOINT_URL_TEMPLATE``, overriding whatever the
  environment holds: the function leaves them empty on purpose, as the URL (a CloudFront domain) only
  exists after the function does.

Any failure exits with status 1 and one line on stderr naming the variable and the reference, never a
secret value. Only the standard library and boto3 (which the Dify api image ships) are used.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ENV_SECRET_ARNS = "DIFY_SECRET_ARNS"  # noqa: S105  (a variable name, not a secret)
ENV_PUBLIC_URL_PARAMETER = "DIFY_PUBLIC_URL_PARAMETER"
CONTROL_VARIABLES = (ENV_SECRET_ARNS, ENV_PUBLIC_URL_PARAMETER)
PUBLIC_URL_VARIABLES = (
    "CONSOLE_API_URL",
    "CONSOLE_WEB_URL",
    "SERVICE_API_URL",
    "APP_API_URL",
    "APP_WEB_URL",
    "FILES_URL",
    "TRIGGER_URL",
)
ENDPOINT_URL_TEMPLATE_VARIABLE = "ENDPOINT_URL_TEMPLATE"
ENDPOINT_PATH = "/e/{hook_id}"

# Names allow /_+=.@- and, for secrets that services manage (RDS: "rds!cluster-<id>"), '!'.
_SECRET_ARN = re.compile(
    r"arn:(?P<partition>aws|aws-cn|aws-us-gov):secretsmanager:(?P<region>[a-z0-9-]+):\d{12}:secret:"
    r"[A-Za-z0-9/_+=.@!-]+"
)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

SecretsClientFactory = Callable[[str], Any]
SsmClientFactory = Callable[[], Any]


class BootstrapError(RuntimeError):
    """A one-line, secret-free reason to refuse to start."""


@dataclass(frozen=True)
class SecretRef:
    arn: str
    region: str
    json_key: str | None = None
    version_stage: str | None = None
    version_id: str | None = None

    @property
    def fetch_key(self) -> tuple[str, str | None, str | None]:
        return (self.arn, self.version_stage, self.version_id)


def parse_secret_ref(reference: str) -> SecretRef:
    """Split an ECS-style secret reference; raise ValueError when it is not one."""
    # Secret names cannot contain ':', so the ARN is always the first seven fields.
    parts = reference.split(":")
    arn = ":".join(parts[:7])
    match = _SECRET_ARN.fullmatch(arn)
    if match is None or len(parts) > 10:
        raise ValueError("not a Secrets Manager secret ARN, optionally followed by :json-key:stage:id")
    extra = [*parts[7:], "", "", ""][:3]
    json_key, version_stage, version_id = (value or None for value in extra)
    return SecretRef(arn, match["region"], json_key, version_stage, version_id)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _secret_map(raw: str) -> dict[str, str]:
    try:
        mapping = json.loads(raw)
    except ValueError:
        raise BootstrapError(f"{ENV_SECRET_ARNS} is not valid JSON") from None
    if not isinstance(mapping, dict):
        raise BootstrapError(f"{ENV_SECRET_ARNS} must be a JSON object of variable name to secret ARN")
    for name, reference in mapping.items():
        if not _ENV_NAME.fullmatch(name):
            raise BootstrapError(f"{ENV_SECRET_ARNS}: {name!r} is not a valid environment variable name")
        if not isinstance(reference, str):
            raise BootstrapError(f"{ENV_SECRET_ARNS}: the reference for {name} is not a string")
    return mapping


def _json_value_to_str(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    # Nested objects and arrays are passed on as compact JSON for the app to parse.
    return json.dumps(value, separators=(",", ":"))


def _extract(name: str, ref: SecretRef, reference: str, secret_string: str) -> str:
    if ref.json_key is None:
        return secret_string
    try:
        document = json.loads(secret_string)
    except ValueError:
        document = None
    # The parse error is deliberately dropped: its text may quote part of the secret.
    if not isinstance(document, dict):
        raise BootstrapError(
            f"{name}: secret {reference} is not a JSON object, so key {ref.json_key!r} cannot be read"
        )
    if ref.json_key not in document:
        raise BootstrapError(f"{name}: JSON key {ref.json_key!r} not found in secret {reference}")
    value = document[ref.json_key]
    if value is None:
        raise BootstrapError(f"{name}: JSON key {ref.json_key!r} is null in secret {reference}")
    return _json_value_to_str(value)


def _resolve_secrets(raw: str, secrets_client_factory: SecretsClientFactory) -> dict[str, str]:
    clients: dict[str, Any] = {}
    fetched: dict[tuple[str, str | None, str | None], str] = {}
    resolved: dict[str, str] = {}
    for name, reference in _secret_map(raw).items():
        try:
            ref = parse_secret_ref(reference)
        except ValueError as exc:
            raise BootstrapError(f"{name}: invalid secret reference {reference!r}: {exc}") from None
        if ref.fetch_key not in fetched:
            if ref.region not in clients:
                clients[ref.region] = secrets_client_factory(ref.region)
            request: dict[str, str] = {"SecretId": ref.arn}
            if ref.version_stage:
                request["VersionStage"] = ref.version_stage
            if ref.version_id:
                request["VersionId"] = ref.version_id
            try:
                response = clients[ref.region].get_secret_value(**request)
            except Exception as exc:
                # botocore messages name the operation, error code and ARN; none of them hold the value.
                reason = _one_line(f"{type(exc).__name__}: {exc}")
                raise BootstrapError(f"{name}: cannot read secret {reference}: {reason}") from None
            secret_string = response.get("SecretString")
            if not isinstance(secret_string, str):
                raise BootstrapError(f"{name}: secret {reference} has no SecretString (binary secret?)")
            fetched[ref.fetch_key] = secret_string
        resolved[name] = _extract(name, ref, reference, fetched[ref.fetch_key])
    return resolved


def _resolve_public_url(parameter: str, ssm_client_factory: SsmClientFactory) -> dict[str, str]:
    try:
        response = ssm_client_factory().get_parameter(Name=parameter)
        value = response["Parameter"]["Value"]
    except Exception as exc:
        reason = _one_line(f"{type(exc).__name__}: {exc}")
        raise BootstrapError(
            f"{ENV_PUBLIC_URL_PARAMETER}: cannot read parameter {parameter}: {reason}"
        ) from None
    url = str(value).strip().rstrip("/")
    if not url.startswith(("https://", "http://")):
        raise BootstrapError(
            f"{ENV_PUBLIC_URL_PARAMETER}: parameter {parameter} does not hold an http(s) URL"
        )
    resolved = dict.fromkeys(PUBLIC_URL_VARIABLES, url)
    resolved[ENDPOINT_URL_TEMPLATE_VARIABLE] = url + ENDPOINT_PATH
    return resolved


def resolve(
    environ: Mapping[str, str],
    *,
    secrets_client_factory: SecretsClientFactory,
    ssm_client_factory: SsmClientFactory,
) -> dict[str, str]:
    """The variables to add to ``environ``; clients are only created when a reference needs them."""
    resolved: dict[str, str] = {}
    secret_arns = environ.get(ENV_SECRET_ARNS, "").strip()
    if secret_arns:
        resolved.update(_resolve_secrets(secret_arns, secrets_client_factory))
    parameter = environ.get(ENV_PUBLIC_URL_PARAMETER, "").strip()
    if parameter:
        resolved.update(_resolve_public_url(parameter, ssm_client_factory))
    return resolved


def build_environment(environ: Mapping[str, str], resolved: Mapping[str, str]) -> dict[str, str]:
    env = {**environ, **resolved}
    for name in CONTROL_VARIABLES:
        env.pop(name, None)
    return env


def _boto3_secrets_client(region: str) -> Any:
    import boto3  # noqa: PLC0415  (lazy: a start without secrets pays no import cost)

    return boto3.client("secretsmanager", region_name=region)


def _boto3_ssm_client() -> Any:
    import boto3  # noqa: PLC0415

    # The function's own region (AWS_REGION), where the stack created the parameter.
    return boto3.client("ssm")


def main(
    argv: Sequence[str],
    *,
    environ: Mapping[str, str] | None = None,
    secrets_client_factory: SecretsClientFactory = _boto3_secrets_client,
    ssm_client_factory: SsmClientFactory = _boto3_ssm_client,
) -> int:
    """Resolve and exec ``argv[1:]``; returns only on failure."""
    if len(argv) < 2:
        print("usage: bootstrap.py COMMAND [ARG...]", file=sys.stderr)
        return 2
    source = os.environ if environ is None else environ
    try:
        resolved = resolve(
            source, secrets_client_factory=secrets_client_factory, ssm_client_factory=ssm_client_factory
        )
    except BootstrapError as exc:
        print(f"dify-bootstrap: error: {exc}", file=sys.stderr)
        return 1
    if resolved:
        print(f"dify-bootstrap: set {', '.join(sorted(resolved))}", file=sys.stderr)
    env = build_environment(source, resolved)
    sys.stderr.flush()
    sys.stdout.flush()
    try:
        # An explicit environment, rather than mutating os.environ, keeps this process's state untouched.
        os.execvpe(argv[1], list(argv[1:]), env)  # noqa: S606  (running the given entrypoint is the point)
    except OSError as exc:
        print(f"dify-bootstrap: error: cannot run {argv[1]}: {exc.strerror or exc}", file=sys.stderr)
        return 127
    return 0  # not reached: exec replaced the process (tests stub it out)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
