"""No secret in plain text in any synthesized template.

`scan_template` walks a CloudFormation template and reports every secret-looking value that would be
readable by anyone who can read the template, the stack's resources or the console:

* literals that look like credentials anywhere in Parameters defaults, Resources properties, Outputs and
  Mappings: private keys, AWS access key IDs, URLs with a password (`rediss://:TOKEN@host`), `password=...`
  style assignments, also inside base64-encoded values;
* dynamic references to secrets (`{{resolve:secretsmanager:...}}`, `{{resolve:ssm-secure:...}}`, also
  when a `Fn::Join` or `Fn::Sub` composes one), except in the write-only properties that exist to take them
  (`WRITE_ONLY_SECRET_PROPERTIES`): there CloudFormation resolves them and never shows the value. In a
  container environment, a Lambda variable, an SSM String parameter or an output they would land in plain
  text;
* secret-looking names carrying a value where values are plain text: ECS container `Environment` and Lambda
  `Environment.Variables` (secrets belong in ECS `Secrets` or, for Lambda, are read at init from Secrets
  Manager), SSM String parameters, template parameters without `NoEcho`, outputs, and resource properties
  such as `MasterUserPassword` given as a literal.

The scanner is a plain function so the configuration sweep (tests/test_sweep.py) reuses it; the tests at the
end plant each kind of secret in small templates and in a real one, so the guard is proven able to fail.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from dify_on_aws.app import SynthResult

from .conftest import EXAMPLES

# Environment and parameter names that hold a secret: tests/test_services.py's rule plus PASSWD,
# PRIVATE_KEY and CREDENTIAL.
SECRET_NAME = re.compile(
    r"PASSWORD|PASSWD|SECRET|TOKEN|_KEY$|API_KEY|BROKER_URL|PRIVATE_KEY|CREDENTIAL", re.I
)
# Names that say where a secret is (its ARN, an SSM parameter name), not the secret; their values are still
# scanned for secret-looking content like every other value.
SECRET_POINTER_NAME = re.compile(r"_(ARN|ARNS|PARAMETER|PARAMETER_NAME|SECRET_ID)$", re.I)
# Resource property keys that hold a secret (MasterUserPassword, AuthToken, SecretString, ApiKey, ...) ...
SECRET_PROPERTY = re.compile(r"password|passwd|secret|token|api_?key|private_?key|access_?key", re.I)
# ... unless the key describes or locates the secret instead (SecretArn, PasswordLength,
# SecretStringTemplate, GenerateSecretString, ExcludePunctuation, KmsKeyId, ...), or is an EC2 instance's
# IMDS setting (MetadataOptions.HttpTokens: "required" or "optional").
NOT_A_SECRET_PROPERTY = re.compile(
    r"(Arn|Arns|Id|Ids|Name|Names|Length|Description|Template|Type|Source|Enabled|Ttl|Version|Location|Path"
    r"|Header|Policy|Rotation|Days)$|^(Generate|Exclude|Require|Include)|^HttpTokens$",
)
# Write-only properties whose purpose is to receive a secret: a dynamic reference there is resolved by
# CloudFormation and never shown (the Celery broker URL secret is composed from one on purpose).
WRITE_ONLY_SECRET_PROPERTIES = frozenset(
    {
        ("AWS::SecretsManager::Secret", "SecretString"),
        ("AWS::RDS::DBCluster", "MasterUserPassword"),
        ("AWS::RDS::DBInstance", "MasterUserPassword"),
        ("AWS::ElastiCache::ReplicationGroup", "AuthToken"),
    }
)

DYNAMIC_SECRET = re.compile(r"\{\{resolve:(?:secretsmanager|ssm-secure):.*?\}\}", re.S)
# What a dynamic reference is replaced with once judged, so a URL composed from one (the broker URL) is
# recognised as such and not reported a second time.
RESOLVED = "\u00abdynamic-reference\u00bb"
PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")),
    ("AWS access key ID", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")),
    (
        "credentials in a URL",
        re.compile(
            r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://(?P<user>[^\s/:@]*):(?P<password>[^\s/@]+)@"
        ),
    ),
    (
        "credential assignment",
        re.compile(
            r"(?<![\w.-])(?P<name>[\w.-]*(?:password|passwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)"
            r"[\w.-]*)(?:\s*=\s*|[\"']\s*:\s*|:\s+)[\"']?(?P<value>[^\s\"',;&{}$<>\u00ab\u00bb]{6,})",
            re.I,
        ),
    ),
)
_BASE64 = re.compile(r"[A-Za-z0-9+/\s]{40,}={0,2}")
# The ARN of a secret or parameter (with ECS's `:json-key:version-stage:version-id` suffix): a reference.
SECRET_REFERENCE = re.compile(
    r"arn:aws[a-z-]*:(?:secretsmanager|ssm):[a-z0-9-]+:\d{12}:(?:secret|parameter)[:/]"
)


@dataclass(frozen=True)
class Finding:
    """One secret-looking value: where it is (template path), what it looks like, a redacted excerpt."""

    stack: str
    where: str
    kind: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.stack}: {self.where}: {self.kind} ({self.excerpt})"


def _redact(text: str) -> str:
    text = text.replace("\n", " ")
    return f"{text[:12]}... ({len(text)} chars)" if len(text) > 12 else text[:3] + "..."


def _placeholder(label: object) -> str:
    return f"\u00ab{label}\u00bb"


def _join(args: Any) -> str:
    if not (isinstance(args, list) and len(args) == 2 and isinstance(args[1], list)):
        return _placeholder("Fn::Join")
    return str(args[0]).join(render(part) or _placeholder("value") for part in args[1])


def _sub(args: Any) -> str:
    template, variables = (args, {}) if isinstance(args, str) else (str(args[0]), dict(args[1]))
    rendered = {name: render(value) or _placeholder(name) for name, value in variables.items()}
    return re.sub(r"\$\{([^}!]+)\}", lambda m: rendered.get(m.group(1), _placeholder(m.group(1))), template)


def _getatt(args: Any) -> str:
    return _placeholder(f"GetAtt {'.'.join(map(str, args)) if isinstance(args, list) else args}")


def _if(args: Any) -> str:
    if not (isinstance(args, list) and len(args) == 3):
        return _placeholder("Fn::If")
    return f"{render(args[1]) or ''}{_placeholder('else')}{render(args[2]) or ''}"


def _inner(args: Any) -> str:
    return render(args) or json.dumps(args)


_RENDER: dict[str, Callable[[Any], str]] = {
    "Ref": lambda args: _placeholder(f"Ref {args}"),
    "Fn::GetAtt": _getatt,
    "Fn::Join": _join,
    "Fn::Sub": _sub,
    "Fn::If": _if,
    "Fn::Base64": _inner,
    "Fn::ToJsonString": _inner,
}


def render(value: Any) -> str | None:
    """A value as the text it becomes at deploy time; intrinsic functions become \u00abplaceholders\u00bb.
    None for values that are not text (numbers, booleans, lists, other objects)."""
    if isinstance(value, str):
        return value
    if not _is_intrinsic(value):
        return None
    ((function, args),) = value.items()
    return _RENDER.get(function, lambda _: _placeholder(function))(args)


def _is_intrinsic(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref"))


def _decoded(text: str) -> str | None:
    """The text a base64 value encodes, when it is base64 of UTF-8 text (configuration files)."""
    if not _BASE64.fullmatch(text):
        return None
    try:
        decoded = base64.b64decode("".join(text.split()), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return decoded if decoded.isprintable() or "\n" in decoded else None


def _looks_random(value: str) -> bool:
    """A value with a digit or a symbol, or a long one: a password, not a word of a sentence."""
    return len(value) >= 16 or not value.isalpha()


def check_text(text: str, *, dynamic_ok: bool = False) -> list[tuple[str, str]]:
    """(kind, matched text) for every secret-looking part of `text`."""
    found: list[tuple[str, str]] = []
    for match in DYNAMIC_SECRET.finditer(text):
        if not dynamic_ok:
            found.append(("secret dynamic reference in plain text", match.group(0)))
    text = DYNAMIC_SECRET.sub(RESOLVED, text)
    for kind, pattern in PATTERNS:
        for match in pattern.finditer(text):
            if kind == "credentials in a URL" and match.group("password") == RESOLVED:
                continue  # composed from a dynamic reference, judged above
            if kind == "credential assignment" and not _looks_random(match.group("value")):
                continue  # prose such as "CODE_EXECUTION_API_KEY = sandbox API_KEY"
            if kind == "credential assignment" and SECRET_REFERENCE.match(match.group("value")):
                continue  # where a secret lives (an [env] secret's ARN for the lambda api), not its value
            found.append((kind, match.group(0)))
    decoded = _decoded(text)
    if decoded is not None:
        found += [(f"{kind} (base64-encoded)", hit) for kind, hit in check_text(decoded)]
    return found


class _Scan:
    def __init__(self, stack: str) -> None:
        self.stack = stack
        self.findings: list[Finding] = []

    def add(self, where: str, kind: str, excerpt: str) -> None:
        finding = Finding(self.stack, where, kind, _redact(excerpt))
        if finding not in self.findings:
            self.findings.append(finding)

    def value(self, where: str, value: Any, *, dynamic_ok: bool = False) -> None:
        """Every string in `value` (compositions rendered whole), and secret-named keys with literals."""
        if isinstance(value, str) or _is_intrinsic(value):
            for kind, hit in check_text(render(value) or "", dynamic_ok=dynamic_ok):
                self.add(where, kind, hit)
        elif isinstance(value, dict):
            for key, item in value.items():
                self.property(f"{where}.{key}", str(key), item, dynamic_ok=dynamic_ok)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.value(f"{where}[{index}]", item, dynamic_ok=dynamic_ok)

    def property(self, where: str, key: str, value: Any, *, dynamic_ok: bool = False) -> None:
        """A property (at any depth): its value, and a literal where the key says a secret belongs."""
        self.value(where, value, dynamic_ok=dynamic_ok)
        if (
            isinstance(value, str)
            and value
            and SECRET_PROPERTY.search(key)
            and not NOT_A_SECRET_PROPERTY.search(key)
            and not DYNAMIC_SECRET.fullmatch(value)
        ):
            self.add(where, "secret-named property with a literal value", value)

    def named(self, where: str, name: str, value: Any) -> None:
        """A plain-text name = value pair: a secret-looking name must not carry a value."""
        if value in ("", None) or not SECRET_NAME.search(name) or SECRET_POINTER_NAME.search(name):
            return
        self.add(where, "secret-named variable with a plain-text value", render(value) or json.dumps(value))


def _resources(template: Mapping[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for logical_id, resource in dict(template.get("Resources", {})).items():
        if isinstance(resource, dict):
            yield logical_id, str(resource.get("Type", "")), dict(resource.get("Properties") or {})


def _snake(camel: str) -> str:
    """OutputName -> OUTPUT_NAME, so output and parameter IDs are judged like variable names."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", camel).upper()


def _plain_text_pairs(
    logical_id: str, kind: str, properties: Mapping[str, Any]
) -> Iterator[tuple[str, str, Any]]:
    """(where, name, value) of the name = value pairs a resource exposes in plain text."""
    base = f"Resources.{logical_id}.Properties"
    if kind == "AWS::ECS::TaskDefinition":
        for index, container in enumerate(properties.get("ContainerDefinitions", [])):
            for entry in container.get("Environment", []) if isinstance(container, dict) else []:
                name = str(entry.get("Name", ""))
                yield f"{base}.ContainerDefinitions[{index}].Environment[{name}]", name, entry.get("Value")
    elif kind in ("AWS::Lambda::Function", "AWS::Serverless::Function"):
        variables = dict(dict(properties.get("Environment") or {}).get("Variables") or {})
        for name, value in variables.items():
            yield f"{base}.Environment.Variables.{name}", name, value
    elif kind == "AWS::SSM::Parameter" and properties.get("Type", "String") in ("String", "StringList"):
        label = render(properties.get("Name")) or logical_id
        yield f"{base}.Value", re.sub(r"[^A-Za-z0-9]+", "_", label), properties.get("Value")


def scan_template(template: Mapping[str, Any], stack: str = "template") -> list[Finding]:
    """Every plain-text secret in a CloudFormation template (an empty list when there is none)."""
    scan = _Scan(stack)
    for name, parameter in dict(template.get("Parameters", {})).items():
        if isinstance(parameter, dict) and "Default" in parameter:
            where = f"Parameters.{name}.Default"
            scan.value(where, parameter["Default"])
            if str(parameter.get("NoEcho", "false")).lower() != "true":
                scan.named(where, _snake(name), parameter["Default"])
    for name, mapping in dict(template.get("Mappings", {})).items():
        scan.value(f"Mappings.{name}", mapping)
    for logical_id, kind, properties in _resources(template):
        for key, value in properties.items():
            where = f"Resources.{logical_id}.Properties.{key}"
            scan.property(where, key, value, dynamic_ok=(kind, key) in WRITE_ONLY_SECRET_PROPERTIES)
        for where, name, value in _plain_text_pairs(logical_id, kind, properties):
            scan.named(where, name, value)
    for name, output in dict(template.get("Outputs", {})).items():
        if isinstance(output, dict) and "Value" in output:
            scan.value(f"Outputs.{name}.Value", output["Value"])
            scan.named(f"Outputs.{name}.Value", _snake(name), output["Value"])
    return scan.findings


def scan_result(result: SynthResult) -> list[Finding]:
    """Every plain-text secret in every template of a synthesis."""
    return [finding for stack, body in result.templates.items() for finding in scan_template(body, stack)]


# --- the examples -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [p.name for p in EXAMPLES])
def test_no_plain_text_secret_in_any_template(example_results: dict[str, SynthResult], name: str) -> None:
    findings = scan_result(example_results[name])
    assert findings == [], "\n".join(map(str, findings))


def test_the_scan_reaches_every_plain_text_location(example_results: dict[str, SynthResult]) -> None:
    """The examples have every kind of location the scan treats specially, so a clean scan means something."""
    kinds = {
        resource["Type"]
        for result in example_results.values()
        for body in result.templates.values()
        for resource in body["Resources"].values()
    }
    assert {"AWS::ECS::TaskDefinition", "AWS::Lambda::Function", "AWS::SSM::Parameter"} <= kinds
    assert {
        "AWS::SecretsManager::Secret",
        "AWS::RDS::DBCluster",
        "AWS::ElastiCache::ReplicationGroup",
    } <= kinds
    for result in example_results.values():
        (main,) = [body for stack, body in result.templates.items() if not stack.endswith("-Edge")]
        assert main["Outputs"] and main["Parameters"]


# --- the scanner can fail -----------------------------------------------------------------------------

BROKER_URL_JOIN = {
    "Fn::Join": [
        "",
        [
            "rediss://:{{resolve:secretsmanager:",
            {"Ref": "CacheAuthToken"},
            ":SecretString:::}}@",
            {"Fn::GetAtt": ["Cache", "PrimaryEndPoint.Address"]},
            ":6379/1",
        ],
    ]
}
DYNAMIC = (
    "{{resolve:secretsmanager:arn:aws:secretsmanager:us-east-1:111111111111:secret:db:SecretString:password}}"
)
PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx\n-----END RSA PRIVATE KEY-----"
ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"


def _task(*environment: tuple[str, Any], **container: Any) -> dict[str, Any]:
    return {
        "Resources": {
            "Task": {
                "Type": "AWS::ECS::TaskDefinition",
                "Properties": {
                    "ContainerDefinitions": [
                        {
                            "Name": "api",
                            "Environment": [{"Name": n, "Value": v} for n, v in environment],
                            **container,
                        }
                    ]
                },
            }
        }
    }


def _function(**variables: Any) -> dict[str, Any]:
    return {
        "Resources": {
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"Environment": {"Variables": variables}}}
        }
    }


def _resource(kind: str, **properties: Any) -> dict[str, Any]:
    return {"Resources": {"Thing": {"Type": kind, "Properties": properties}}}


PLANTED: dict[str, tuple[dict[str, Any], str, str]] = {
    # case: (template, kind of finding, where)
    "env password literal": (
        _task(("DB_PASSWORD", "hunter2hunter2")),
        "secret-named variable",
        "Environment[DB_PASSWORD]",
    ),
    "env secret as a Ref": (
        _task(("SECRET_KEY", {"Ref": "SecretKey"})),
        "secret-named variable",
        "Environment[SECRET_KEY]",
    ),
    "env broker url composed from a dynamic reference": (
        _task(("CELERY_BROKER_URL", BROKER_URL_JOIN)),
        "secret dynamic reference",
        "Environment[0].Value",
    ),
    "env innocent name, token in a rediss url": (
        _task(("CACHE_LOCATION", "rediss://:s3cr3tt0ken@cache.internal:6379/0")),
        "credentials in a URL",
        "Environment[0].Value",
    ),
    "env postgres url with user and password": (
        _task(("SQLALCHEMY_URL", "postgresql://dify:pa55word@db:5432/dify")),
        "credentials in a URL",
        "Environment[0].Value",
    ),
    "env base64 config holding a password": (
        _task(("APP_CONFIG_B64", base64.b64encode(b"[db]\nhost = db\npassword = hunter2hunter2\n").decode())),
        "credential assignment (base64-encoded)",
        "Environment[0].Value",
    ),
    "container command with a password flag": (
        _task(Command=["serve", "--admin-password=hunter2hunter2"]),
        "credential assignment",
        "Command[1]",
    ),
    "lambda api key": (
        _function(OPENAI_API_KEY="sk-proj-abcdefghijklmnop"),
        "secret-named variable",
        "OPENAI_API_KEY",
    ),
    "lambda dynamic reference": (
        _function(DB_HOST_AND_PASSWORD=DYNAMIC),
        "secret dynamic reference",
        "Variables",
    ),
    "lambda url with credentials": (
        _function(DATABASE_URL="postgres://admin:pw123456@db.internal/dify"),
        "credentials in a URL",
        "DATABASE_URL",
    ),
    "ssm string parameter with a dynamic reference": (
        _resource("AWS::SSM::Parameter", Type="String", Name="/dify/db-endpoint", Value=DYNAMIC),
        "secret dynamic reference",
        "Properties.Value",
    ),
    "ssm string parameter holding a private key": (
        _resource("AWS::SSM::Parameter", Type="String", Name="/dify/tls", Value=PRIVATE_KEY),
        "private key",
        "Properties.Value",
    ),
    "ssm string parameter named like a token": (
        _resource("AWS::SSM::Parameter", Type="String", Name="/dify/admin-token", Value="abcdefabcdef"),
        "secret-named variable",
        "Properties.Value",
    ),
    "parameter default access key": (
        {"Parameters": {"Deployer": {"Type": "String", "Default": ACCESS_KEY}}},
        "AWS access key ID",
        "Parameters.Deployer.Default",
    ),
    "parameter default password without NoEcho": (
        {"Parameters": {"AdminPassword": {"Type": "String", "Default": "changeme123"}}},
        "secret-named variable",
        "Parameters.AdminPassword.Default",
    ),
    "output composed dynamic reference": (
        {"Outputs": {"Broker": {"Value": BROKER_URL_JOIN}}},
        "secret dynamic reference",
        "Outputs.Broker.Value",
    ),
    "output postgres url": (
        {"Outputs": {"Db": {"Value": "postgresql://dify_admin:topsecret1@db:5432/dify"}}},
        "credentials in a URL",
        "Outputs.Db.Value",
    ),
    "output named like a password": (
        {"Outputs": {"AdminPassword": {"Value": {"Fn::GetAtt": ["Gen", "Value"]}}}},
        "secret-named variable",
        "Outputs.AdminPassword.Value",
    ),
    "database master password literal": (
        _resource("AWS::RDS::DBCluster", MasterUsername="dify", MasterUserPassword="hunter2hunter2"),
        "secret-named property",
        "MasterUserPassword",
    ),
    "secret string literal": (
        _resource("AWS::SecretsManager::Secret", SecretString="hunter2hunter2"),
        "secret-named property",
        "SecretString",
    ),
    "secret string with a password url": (
        _resource("AWS::SecretsManager::Secret", SecretString="rediss://:plaintexttoken@cache:6379/1"),
        "credentials in a URL",
        "SecretString",
    ),
    "private key in inline code": (
        _resource("AWS::Lambda::Function", Code={"ZipFile": f"KEY = '''{PRIVATE_KEY}'''"}),
        "private key",
        "Code.ZipFile",
    ),
    "session access key in a header": (
        _resource(
            "AWS::CloudFront::Distribution",
            DistributionConfig={
                "Origins": [
                    {"OriginCustomHeaders": [{"HeaderName": "X-K", "HeaderValue": "ASIAY34FZKBOKMUTVV7A"}]}
                ]
            },
        ),
        "AWS access key ID",
        "HeaderValue",
    ),
    "dynamic reference in a custom resource property": (
        _resource("Custom::Thing", Token={"Fn::Sub": "{{resolve:secretsmanager:${Secret}:SecretString:::}}"}),
        "secret dynamic reference",
        "Properties.Token",
    ),
    "json password in a sub": (
        _resource("Custom::Thing", Settings={"Fn::Sub": '{"user": "dify", "password": "hunter2hunter2"}'}),
        "credential assignment",
        "Properties.Settings",
    ),
}


@pytest.mark.parametrize("case", sorted(PLANTED))
def test_scanner_reports_a_planted_secret(case: str) -> None:
    template, kind, where = PLANTED[case]
    findings = scan_template(template, "Planted")
    assert any(kind in f.kind and where in f.where for f in findings), (case, [str(f) for f in findings])


def test_findings_never_show_the_secret() -> None:
    (finding,) = scan_template(_task(("DB_PASSWORD", "hunter2hunter2-and-more")), "Planted")
    assert "hunter2hunter2-and-more" not in str(finding)


CLEAN: dict[str, dict[str, Any]] = {
    "broker url secret composed from dynamic references": _resource(
        "AWS::SecretsManager::Secret", SecretString=BROKER_URL_JOIN
    ),
    "generated secret": _resource(
        "AWS::SecretsManager::Secret",
        GenerateSecretString={
            "GenerateStringKey": "password",
            "PasswordLength": 30,
            "SecretStringTemplate": "{}",
        },
    ),
    "master password from a dynamic reference": _resource(
        "AWS::RDS::DBCluster",
        MasterUserPassword={
            "Fn::Join": ["", ["{{resolve:secretsmanager:", {"Ref": "S"}, ":SecretString:password::}}"]]
        },
    ),
    "auth token from a dynamic reference": _resource(
        "AWS::ElastiCache::ReplicationGroup", AuthToken=DYNAMIC.replace(":password", ":")
    ),
    "ecs secret reference and plain settings": _task(
        ("DB_HOST", {"Fn::GetAtt": ["Db", "Endpoint.Address"]}),
        ("SSRF_PROXY_HTTP_URL", "http://ssrf-proxy:3128"),
        ("DIFY_SECRET_ARNS", {"Fn::Join": ["", ['{"SECRET_KEY":"', {"Ref": "SecretKey"}, '"}']]}),
        ("SECRET_KEY_UNUSED", ""),
        Secrets=[{"Name": "DB_PASSWORD", "ValueFrom": {"Ref": "DbSecret"}}],
    ),
    "iam actions and ssm (not secure) references": _resource(
        "Custom::CrossRegionExportReader",
        ReaderProps={"imports": {"/cdk/exports/x": "{{resolve:ssm:/cdk/exports/x}}"}},
        Actions=["secretsmanager:GetSecretValue", "rds-data:BeginTransaction"],
    ),
    "secret arn output": {"Outputs": {"DatabaseSecretArn": {"Value": {"Ref": "DbSecretAttachment"}}}},
    # Found by the sweep: an [env] secret with the lambda front door is named by its literal ARN in the api
    # function's DIFY_SECRET_ARNS, which the scan took for a credential assignment.
    "env secret arns for the lambda api": _resource(
        "AWS::Lambda::Function",
        Environment={
            "Variables": {
                "DIFY_SECRET_ARNS": {
                    "Fn::Join": [
                        "",
                        [
                            '{"SECRET_KEY":"',
                            {"Ref": "SecretKey"},
                            '","RESEND_API_KEY":"arn:aws:secretsmanager:eu-west-1:111111111111:secret:'
                            'dify/mail-AbCdEf:resend::"}',
                        ],
                    ]
                }
            }
        },
    ),
}


@pytest.mark.parametrize("case", sorted(CLEAN))
def test_scanner_accepts_references_and_settings(case: str) -> None:
    findings = scan_template(CLEAN[case], "Clean")
    assert findings == [], [str(f) for f in findings]


def test_scanner_finds_a_secret_planted_in_a_real_template(example_results: dict[str, SynthResult]) -> None:
    """The walk reaches the real structures: one planted variable in a real task definition is reported."""
    body = copy.deepcopy(next(iter(example_results["default.toml"].templates.values())))
    (task_id, task) = next(
        (tid, r) for tid, r in body["Resources"].items() if r["Type"] == "AWS::ECS::TaskDefinition"
    )
    task["Properties"]["ContainerDefinitions"][0]["Environment"].append(
        {"Name": "REDIS_PASSWORD", "Value": "plain-text-password"}
    )
    findings = scan_template(body, "Dify")
    assert [f.where for f in findings] == [
        f"Resources.{task_id}.Properties.ContainerDefinitions[0].Environment[REDIS_PASSWORD]"
    ]
