"""`[email]` (Amazon SES for Dify's mails) and `[env]` (extra settings per role): what the templates hold,
who may read which secret, and which configurations are refused.

Sources: SES "Easy DKIM" (three CNAME records), "Setting up a custom MAIL FROM domain" (an MX record to
feedback-smtp.<region>.amazonses.com and an SPF TXT record), "Obtaining Amazon SES SMTP credentials" (the
username is an access key ID, the password derived per region), "Connecting to an Amazon SES SMTP endpoint"
(email-smtp.<region>.amazonaws.com, 465 TLS wrapper or 587 STARTTLS); Dify api/extensions/ext_mail.py and
api/configs/feature (MAIL_TYPE, MAIL_DEFAULT_SEND_FROM, SMTP_*; SMTP_USE_TLS without
SMTP_OPPORTUNISTIC_TLS is implicit TLS); ECS "Pass sensitive data to an Amazon ECS container" (the task
execution role reads `secrets` from Secrets Manager and SSM: secretsmanager:GetSecretValue,
ssm:GetParameters, and kms:Decrypt for a customer managed key).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from dify_on_aws.app import SynthResult, build_app
from dify_on_aws.config import ConfigError, DifyConfig, load_config
from dify_on_aws.config.checks import managed_names
from dify_on_aws.config.env import ENV_ROLES, SECRET_NAME
from dify_on_aws.frontdoor.runtime.lambda_bootstrap import bootstrap
from dify_on_aws.roles import Role
from dify_on_aws.services.variables import LAMBDA_API_NAMES
from dify_on_aws.templates.intrinsics import direct_target, referenced_ids

from .conftest import EXAMPLES, ROOT, cli_synth, config_of
from .template_queries import of_type, role_statements

ZONED = "cloudfront-domain.toml"  # [email] inside the front door's zone, [env] with a secret and SSM
UNZONED = "production.toml"  # [email] without a zone, port 587
GITHUB_SECRET = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:dify/github-AbCdEf"
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/01234567-89ab-cdef-0123-456789abcdef"
BASE = {"name": "Envs", "account": "123456789012", "region": "us-east-1",
        "network": {"availability_zones": ["us-east-1a", "us-east-1b"]}}  # fmt: skip


@pytest.fixture(scope="module")
def example_results(synth: Callable[[DifyConfig], SynthResult]) -> dict[str, SynthResult]:
    """Only the two examples these tests read (the same cached synth as conftest's fixture)."""
    return {name: synth(load_config(ROOT / "examples" / name)) for name in (ZONED, UNZONED)}


def _main(result: SynthResult) -> dict[str, Any]:
    return next(t for name, t in result.templates.items() if not name.endswith("-Edge"))


def _resources(result: SynthResult) -> Mapping[str, Mapping[str, Any]]:
    resources: Mapping[str, Mapping[str, Any]] = _main(result)["Resources"]
    return resources


def containers(resources: Mapping[str, Mapping[str, Any]]) -> dict[str, tuple[str, Mapping[str, Any]]]:
    """Container name -> (execution role ID, container definition), for every task definition."""
    found = {}
    for task in of_type(resources, "AWS::ECS::TaskDefinition").values():
        role = direct_target(task["Properties"]["ExecutionRoleArn"])
        assert role is not None
        for container in task["Properties"]["ContainerDefinitions"]:
            found[container["Name"]] = (role, container)
    return found


def env_of(container: Mapping[str, Any]) -> dict[str, str]:
    return {e["Name"]: e["Value"] for e in container.get("Environment", [])}


def secrets_of(container: Mapping[str, Any]) -> dict[str, Any]:
    return {e["Name"]: e["ValueFrom"] for e in container.get("Secrets", [])}


def readers(resources: Mapping[str, Mapping[str, Any]], action: str, target: str) -> set[str]:
    """Roles whose policies allow `action` on a resource that is (or references) `target`."""
    found = set()
    for role in of_type(resources, "AWS::IAM::Role"):
        for statement in role_statements(resources, role):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            text = json.dumps(statement.get("Resource"))
            if action in actions and (target in referenced_ids(statement.get("Resource")) or target in text):
                found.add(role)
    return found


def _smtp_secret(resources: Mapping[str, Mapping[str, Any]]) -> str:
    (secret,) = [
        rid
        for rid, r in of_type(resources, "AWS::SecretsManager::Secret").items()
        if "SES SMTP" in r["Properties"].get("Description", "")
    ]
    return secret


# --- [email] ------------------------------------------------------------------------------------------


def test_ses_identity_with_easy_dkim_and_mail_from(example_results: dict[str, SynthResult]) -> None:
    """SES "Easy DKIM" (2048-bit keys) and "custom MAIL FROM domain" (`mail.<domain>` by default)."""
    template = Template.from_json(_main(example_results[ZONED]))
    template.has_resource_properties(
        "AWS::SES::EmailIdentity",
        {
            "EmailIdentity": "example.com",
            "DkimAttributes": {"SigningEnabled": True},
            "DkimSigningAttributes": {"NextSigningKeyLength": "RSA_2048_BIT"},
            "MailFromAttributes": {"MailFromDomain": "mail.example.com"},
        },
    )


def test_dkim_and_mail_from_records_go_into_the_zone(example_results: dict[str, SynthResult]) -> None:
    """Easy DKIM publishes three CNAMEs (token name -> token value); MAIL FROM needs an MX to
    feedback-smtp.<region>.amazonses.com and an SPF TXT record that includes amazonses.com."""
    resources = _resources(example_results[ZONED])
    (identity,) = of_type(resources, "AWS::SES::EmailIdentity")
    records = of_type(resources, "AWS::Route53::RecordSet").values()
    cnames = [r["Properties"] for r in records if r["Properties"]["Type"] == "CNAME"]
    assert sorted(json.dumps(c["Name"]) for c in cnames) == [
        json.dumps({"Fn::GetAtt": [identity, f"DkimDNSTokenName{n}"]}) for n in (1, 2, 3)
    ]
    for cname in cnames:
        n = cname["Name"]["Fn::GetAtt"][1][-1]
        assert cname["ResourceRecords"] == [{"Fn::GetAtt": [identity, f"DkimDNSTokenValue{n}"]}]
        assert cname["HostedZoneId"] == "Z0123456789ABCDEFGHIJ"
    by_type = {
        r["Properties"]["Type"]: r["Properties"] for r in records if r["Properties"]["Type"] != "CNAME"
    }
    assert by_type["MX"]["Name"] == "mail.example.com."
    assert by_type["MX"]["ResourceRecords"] == ["10 feedback-smtp.eu-west-1.amazonses.com"]
    assert by_type["TXT"]["Name"] == "mail.example.com."
    assert by_type["TXT"]["ResourceRecords"] == ['"v=spf1 include:amazonses.com ~all"']


def test_records_are_printed_without_a_zone(example_results: dict[str, SynthResult]) -> None:
    template = _main(example_results[UNZONED])
    kinds = {
        r["Properties"]["Type"] for r in of_type(template["Resources"], "AWS::Route53::RecordSet").values()
    }
    assert not kinds & {"CNAME", "MX", "TXT"}
    outputs = template["Outputs"]
    dkim = [o for o in outputs.values() if "DKIM record" in o.get("Description", "")]
    assert len(dkim) == 3
    values = [json.dumps(o["Value"]) for o in outputs.values()]
    assert any("mail.example.com MX 10 feedback-smtp.us-east-1.amazonses.com" in v for v in values)
    assert any("mail.example.com TXT" in v and "include:amazonses.com" in v for v in values)


def test_smtp_user_may_only_send_raw_mail_from_the_sender(example_results: dict[str, SynthResult]) -> None:
    """SMTP sends through ses:SendRawEmail; the ses:FromAddress condition key holds the sender."""
    resources = _resources(example_results[ZONED])
    (user,) = of_type(resources, "AWS::IAM::User")
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in of_type(resources, "AWS::IAM::Policy").values()
        if user in referenced_ids(p["Properties"].get("Users", []))
    ]
    assert policies == [
        [
            {
                "Action": "ses:SendRawEmail",
                "Condition": {"StringEquals": {"ses:FromAddress": "dify@example.com"}},
                "Effect": "Allow",
                "Resource": {
                    "Fn::Join": [
                        "",
                        ["arn:", {"Ref": "AWS::Partition"}, ":ses:", {"Ref": "AWS::Region"}, ":",
                         {"Ref": "AWS::AccountId"}, ":identity/*"],
                    ]
                },
            }
        ]
    ]  # fmt: skip
    assert "Policies" not in resources[user]["Properties"]
    assert "ManagedPolicyArns" not in resources[user]["Properties"]


@pytest.mark.parametrize(("example", "port", "starttls"), [(ZONED, "465", "false"), (UNZONED, "587", "true")])
def test_dify_mail_settings_on_api_and_worker_only(
    example_results: dict[str, SynthResult], example: str, port: str, starttls: str
) -> None:
    """ext_mail.py: MAIL_TYPE=smtp needs SMTP_SERVER and SMTP_PORT; SMTP_USE_TLS alone is SMTP_SSL (465),
    with SMTP_OPPORTUNISTIC_TLS it is STARTTLS (587)."""
    resources = _resources(example_results[example])
    secret = _smtp_secret(resources)
    mailing = {}
    for name, (_, container) in containers(resources).items():
        env, secrets = env_of(container), secrets_of(container)
        if "MAIL_TYPE" in env:
            mailing[name] = container
            assert env["MAIL_TYPE"] == "smtp"
            assert env["SMTP_SERVER"].startswith("email-smtp.") and env["SMTP_SERVER"].endswith(
                ".amazonaws.com"
            )
            assert (env["SMTP_PORT"], env["SMTP_USE_TLS"], env["SMTP_OPPORTUNISTIC_TLS"]) == (
                port,
                "true",
                starttls,
            )
            assert env["MAIL_DEFAULT_SEND_FROM"].endswith("@example.com")
            assert "SMTP_PASSWORD" not in env and "SMTP_USERNAME" not in env
            for variable, field in (("SMTP_USERNAME", "username"), ("SMTP_PASSWORD", "password")):
                assert secrets[variable] == {"Fn::Join": ["", [{"Ref": secret}, f":{field}::"]]}
        else:
            assert not {"SMTP_PASSWORD", "SMTP_USERNAME"} & set(secrets), name
    assert sorted(mailing) == ["api", "worker"]


def test_smtp_secret_is_read_only_by_the_api_and_worker_execution_roles(
    example_results: dict[str, SynthResult],
) -> None:
    resources = _resources(example_results[ZONED])
    secret = _smtp_secret(resources)
    roles = containers(resources)
    assert readers(resources, "secretsmanager:GetSecretValue", secret) == {
        roles["api"][0],
        roles["worker"][0],
    }
    # The credentials function may only write it, and create or delete the user's keys.
    (writer,) = readers(resources, "secretsmanager:PutSecretValue", secret)
    assert writer not in (roles["api"][0], roles["worker"][0])


def test_no_smtp_password_in_the_template(example_results: dict[str, SynthResult]) -> None:
    """The password exists only in Secrets Manager: the secret is created without a value the template
    knows, and the custom resource gets names only (and answers with a fingerprint, see its tests)."""
    resources = _resources(example_results[ZONED])
    secret = resources[_smtp_secret(resources)]["Properties"]
    assert "SecretString" not in secret
    (resource,) = of_type(resources, "Custom::DifySmtpCredentials").values()
    assert set(resource["Properties"]) == {"ServiceToken", "UserName", "SecretArn", "Region"}
    assert not of_type(resources, "AWS::IAM::AccessKey")
    assert "SMTP_PASSWORD" not in json.dumps([env_of(c) for _, c in containers(resources).values()])


def test_mailing_services_start_after_the_credentials_exist(example_results: dict[str, SynthResult]) -> None:
    resources = _resources(example_results[ZONED])
    (credentials,) = of_type(resources, "Custom::DifySmtpCredentials")
    services = of_type(resources, "AWS::ECS::Service")
    waiting = [sid for sid, s in services.items() if credentials in s.get("DependsOn", [])]
    names = sorted(json.dumps(services[s]["Properties"]["TaskDefinition"]) for s in waiting)
    assert len(waiting) == 2 and all("Api" in n or "Worker" in n for n in names)


def test_no_mail_without_a_domain(template: Template) -> None:
    template.resource_count_is("AWS::SES::EmailIdentity", 0)
    template.resource_count_is("Custom::DifySmtpCredentials", 0)


# --- [env] --------------------------------------------------------------------------------------------


def test_env_reaches_the_roles_it_names(example_results: dict[str, SynthResult]) -> None:
    resources = _resources(example_results[ZONED])
    found = containers(resources)
    for name, (_, container) in found.items():
        env, secrets = env_of(container), secrets_of(container)
        shared = name in ("api", "worker", "beat", "migration")
        assert (env.get("LOG_OUTPUT_FORMAT") == "json") is shared, name
        assert ("GITHUB_CLIENT_SECRET" in secrets) is (name == "api"), name
        assert ("PIP_MIRROR_URL" in secrets) is (name == "plugin-daemon"), name
    api = secrets_of(found["api"][1])
    assert api["GITHUB_CLIENT_SECRET"] == f"{GITHUB_SECRET}:client_secret::"
    assert env_of(found["api"][1])["GITHUB_CLIENT_ID"] == "Iv1.0123456789abcdef"
    assert "eu-west-1:111111111111:parameter/dify/pip-mirror-url" in json.dumps(
        secrets_of(found["plugin-daemon"][1])["PIP_MIRROR_URL"]
    )


def test_env_secrets_are_read_only_by_their_roles_execution_role(
    example_results: dict[str, SynthResult],
) -> None:
    resources = _resources(example_results[ZONED])
    found = containers(resources)
    assert readers(resources, "secretsmanager:GetSecretValue", GITHUB_SECRET) == {found["api"][0]}
    assert readers(resources, "ssm:GetParameters", "parameter/dify/pip-mirror-url") == {
        found["plugin-daemon"][0]
    }


@pytest.fixture(scope="session")
def overridden(synth: Callable[[DifyConfig], SynthResult]) -> Mapping[str, Mapping[str, Any]]:
    config = config_of(
        **BASE,
        env={
            "LOG_LEVEL": {"value": "DEBUG", "override": True},
            "worker": {
                "SECRET_KEY": {"ssm": "/dify/secret-key", "kms_key": KMS_KEY, "override": True},
                "NOTION_INTERNAL_SECRET": {
                    "secret": GITHUB_SECRET.replace("eu-west-1:111111111111", "us-east-1:123456789012")
                },
            },
        },
    )
    return _resources(synth(config))


def test_override_replaces_a_managed_setting_and_moves_it(
    overridden: Mapping[str, Mapping[str, Any]],
) -> None:
    found = containers(overridden)
    assert env_of(found["api"][1])["LOG_LEVEL"] == "DEBUG"
    worker_env, worker_secrets = env_of(found["worker"][1]), secrets_of(found["worker"][1])
    assert "parameter/dify/secret-key" in json.dumps(worker_secrets["SECRET_KEY"])
    assert "SECRET_KEY" not in worker_env
    # The other roles keep the stack's own key.
    assert "parameter/" not in json.dumps(secrets_of(found["api"][1])["SECRET_KEY"])


def test_several_json_keys_of_one_secret(synth: Callable[[DifyConfig], SynthResult]) -> None:
    """Found by the sweep: two entries reading the same secret (its whole value and one JSON key, as in
    ECS's `valueFrom` "arn:...:secret:name-AbCdEf:json-key::") failed synth with "There is already a
    Construct with name 'Secret...'". Each gets its own ECS secret from one import."""
    config = config_of(
        **BASE,
        env={
            "worker": {
                "GITHUB_CLIENT_SECRET": {"secret": GITHUB_SECRET, "key": "client_secret"},
                "GITHUB_CLIENT_ID_SECRET": {"secret": GITHUB_SECRET, "key": "client_id"},
                "NOTION_INTERNAL_SECRET": {"secret": GITHUB_SECRET},
            }
        },
    )
    worker = secrets_of(containers(_resources(synth(config)))["worker"][1])
    assert worker["GITHUB_CLIENT_SECRET"] == f"{GITHUB_SECRET}:client_secret::"
    assert worker["GITHUB_CLIENT_ID_SECRET"] == f"{GITHUB_SECRET}:client_id::"
    assert worker["NOTION_INTERNAL_SECRET"] == GITHUB_SECRET


def test_customer_managed_key_decrypt_only_for_that_role(overridden: Mapping[str, Mapping[str, Any]]) -> None:
    """SecureString parameters with a customer managed key need kms:Decrypt on the execution role (ECS)."""
    found = containers(overridden)
    assert readers(overridden, "kms:Decrypt", KMS_KEY) == {found["worker"][0]}


# --- validation ---------------------------------------------------------------------------------------


def _problems(**data: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        config_of(**data)
    return "\n".join(caught.value.problems)


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("GITHUB_CLIENT_SECRET", "not-very-secret", "the name GITHUB_CLIENT_SECRET holds a secret"),
        ("OPENAI_API_KEY", "hunter2-value", "holds a secret"),
        ("NOTION_TOKEN", "hunter2-value", "holds a secret"),
        ("SMTP_PASSWORD", "hunter2-value", "holds a secret"),
        ("UPSTREAM", "AKIAIOSFODNN7EXAMPLE", "AWS access key ID"),
        ("UPSTREAM", "sk-proj-0123456789abcdefghij", "API token"),
        ("UPSTREAM", "postgresql://dify:hunter2@db:5432/dify", "URL with a password"),
        ("UPSTREAM", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "long and random"),
    ],
)
def test_secret_looking_literals_are_refused(name: str, value: str, reason: str) -> None:
    for env in ({name: value}, {"worker": {name: value}}):
        problems = _problems(env=env)
        assert (
            name in problems and reason in problems and "{ secret = " in problems and "{ ssm = " in problems
        )
        assert value not in problems.replace(f"{name} ", "")


@pytest.mark.parametrize(
    "value", ["https://llm.internal.example.com/v1", "Iv1.0123456789abcdef", "true", "0123456789abcdef" * 2]
)
def test_ordinary_literals_pass(value: str) -> None:
    assert config_of(env={"api": {"UPSTREAM_URL": value}}).env.api["UPSTREAM_URL"].value == value


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"X": {"ssm": "/a", "value": "b"}}, "exactly one of value, ssm or secret"),
        ({"X": {}}, "exactly one of value, ssm or secret"),
        ({"X": {"value": "a", "key": "k"}}, "key (a JSON key) needs secret"),
        ({"X": {"value": "a", "kms_key": KMS_KEY}}, "kms_key needs ssm or secret"),
        ({"X": {"secret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:partial"}}, "6-character"),
        ({"X": {"ssm": "has space"}}, "not an SSM parameter name"),
        ({"X": {"ssm": "/a", "kms_key": "alias/mine"}}, "not a KMS key ARN"),
        ({"wroker": {"X": "a"}}, "env.wroker: unknown key"),
        ({"api": {"lower_case": "a"}}, "not environment variable names"),
        ({"ssrf_proxy": {"X": "a"}}, "env.ssrf_proxy: unknown key"),
    ],
)
def test_bad_env_entries_name_the_key_and_the_fix(env: dict[str, Any], says: str) -> None:
    assert says in _problems(env=env)


def test_lambda_front_door_refuses_what_its_functions_cannot_read() -> None:
    lam = {**BASE, "front_door": {"type": "lambda"}}
    assert "reads only Secrets Manager secrets" in _problems(**lam, env={"X": {"ssm": "/a"}})
    assert "[env.web]" in _problems(**lam, env={"web": {"X": "a"}})


def test_email_sender_must_be_in_the_domain() -> None:
    assert "not in domain 'example.com'" in _problems(email={"domain": "example.com", "sender": "a@b.org"})
    assert "set domain" in _problems(email={"sender": "a@example.com"})
    assert "one lower-case DNS label" in _problems(
        email={"domain": "example.com", "mail_from_subdomain": "a.b"}
    )


def _closed(**extra: Any) -> dict[str, Any]:
    """examples/closed-network.toml (a closed network with a package index) with `extra` on top."""
    with (ROOT / "examples" / "closed-network.toml").open("rb") as file:
        return {**tomllib.load(file), **extra}


PACKAGE_INDEX = {"type": "codeartifact", "proxy_image": "docker.io/library/python:3.13-slim"}


@pytest.mark.parametrize(
    ("data", "key", "role"),
    [
        ({"env": {"DB_HOST": "db.example.com"}}, "DB_HOST", "api"),
        ({"env": {"worker": {"CELERY_QUEUES": "dataset"}}}, "CELERY_QUEUES", "worker"),
        ({"env": {"SECRET_KEY": {"ssm": "/k"}}}, "SECRET_KEY", "api"),
        (
            {"env": {"plugin_daemon": {"S3_ENDPOINT": "https://s3.example.com"}}},
            "S3_ENDPOINT",
            "plugin_daemon",
        ),
        ({"env": {"web": {"CONSOLE_API_URL": "https://x.example.com"}}}, "CONSOLE_API_URL", "web"),
        (
            {"env": {"api": {"MAIL_TYPE": "resend"}}, "email": {"domain": "example.com"}},
            "MAIL_TYPE",
            "api",
        ),
        # Set only in a closed network, with a package index, or with the cache of the task: names the
        # check at synth missed before it read them from the same place as the containers.
        (
            _closed(env={"beat": {"ENABLE_CHECK_UPGRADABLE_PLUGIN_TASK": "true"}}),
            "ENABLE_CHECK_UPGRADABLE_PLUGIN_TASK",
            "beat",
        ),
        (
            {"package_index": PACKAGE_INDEX, "env": {"sandbox": {"PIP_TRUSTED_HOST": "pypi.example.com"}}},
            "PIP_TRUSTED_HOST",
            "sandbox",
        ),
        (
            {
                "package_index": PACKAGE_INDEX,
                "env": {"plugin_daemon": {"PIP_MIRROR_URL": "https://x/simple"}},
            },
            "PIP_MIRROR_URL",
            "plugin_daemon",
        ),
    ],
)
def test_settings_the_stack_manages_need_override(data: dict[str, Any], key: str, role: str) -> None:
    """The managed set is what services/variables.py emits for the role under the config (MAIL_TYPE only
    with [email], PIP_MIRROR_URL only with [package_index]); the config itself refuses the clash."""
    with pytest.raises(ConfigError) as caught:
        config_of(**data)
    (problem,) = caught.value.problems
    assert f" {key}: the stack sets {key} itself on the " in problem and f" {role}" in problem
    assert "override = true" in problem


def test_names_the_stack_sets_only_under_some_configs_are_free_elsewhere() -> None:
    """Without a package index, outside a closed network and with ElastiCache's TLS, these are the user's."""
    config_of(env={"sandbox": {"PIP_MIRROR_URL": "https://pypi.example.com/simple"}})
    config_of(env={"beat": {"ENABLE_CHECK_UPGRADABLE_PLUGIN_TASK": "false"}})
    config_of(
        env={"REDIS_SSL_CERT_REQS": "CERT_REQUIRED"},
        cache={"engine": "container"},
        services={"layout": "single_task"},
    )
    with pytest.raises(ConfigError, match="REDIS_SSL_CERT_REQS itself"):
        config_of(env={"REDIS_SSL_CERT_REQS": "CERT_REQUIRED"})


def _validate(tmp_path: Path, toml: str) -> subprocess.CompletedProcess[str]:
    """`dify-on-aws validate` on a config with this text, reporting whether it loaded the CDK (jsii)."""
    config = tmp_path / "config.toml"
    config.write_text(toml, encoding="utf-8")
    script = (
        "import sys\nfrom dify_on_aws.cli import main\ncode = main(['validate', '--config', sys.argv[1]])\n"
        "print('aws_cdk loaded' if 'aws_cdk' in sys.modules else 'no aws_cdk')\nsys.exit(code)"
    )
    return subprocess.run(
        [sys.executable, "-c", script, str(config)], capture_output=True, text=True, check=False, cwd=tmp_path
    )


CLASH = '[env.worker]\nCELERY_BROKER_URL = "redis://example:6379/1"\n'


@pytest.mark.parametrize("command", ["validate", "synth"])
def test_cli_reports_a_managed_setting_as_a_config_error(tmp_path: Path, command: str) -> None:
    """validate and synth refuse the same clash with the same line and exit 2, validate without the CDK."""
    proc = _validate(tmp_path, CLASH) if command == "validate" else cli_synth(tmp_path, CLASH)
    assert proc.returncode == 2, proc.stderr
    assert (
        "[env.worker] CELERY_BROKER_URL: the stack sets CELERY_BROKER_URL itself on the worker role "
        "(from the database, cache, front door, keys, storage or e-mail settings); remove it, or add "
        "override = true to replace it: CELERY_BROKER_URL = { value = ..., override = true }"
    ) in proc.stderr
    assert "Traceback" not in proc.stderr
    if command == "validate":
        assert proc.stdout.strip() == "no aws_cdk"


def test_validate_accepts_an_explicit_override(tmp_path: Path) -> None:
    proc = _validate(
        tmp_path,
        '[env]\nLOG_LEVEL = { value = "DEBUG", override = true }\n'
        '[env.worker]\nSECRET_KEY = { ssm = "/dify/secret-key", override = true }\n',
    )
    assert proc.returncode == 0, proc.stderr
    assert "valid configuration" in proc.stdout and "no aws_cdk" in proc.stdout


# --- the managed names agree with the synthesized containers ------------------------------------------

EVERY_ROLE_ENV = {
    "UPSTREAM_URL": "https://llm.example.com/v1",
    "LOG_LEVEL": {"value": "DEBUG", "override": True},
    **{key: {"EXTRA_SETTING": "on"} for key in ENV_ROLES},
}
AGREEMENT_CONFIGS: dict[str, Callable[[], DifyConfig]] = {
    **{path.name: partial(load_config, path) for path in EXAMPLES},
    "single-task-email-index": lambda: config_of(
        **BASE,
        services={"layout": "single_task", "sandbox_allow_all_syscalls": True},
        email={"domain": "example.com", "smtp_port": 587},
        package_index=PACKAGE_INDEX,
        env=EVERY_ROLE_ENV,
    ),
    "closed-single-task-email": lambda: config_of(
        **_closed(
            services={"layout": "single_task"},
            cache={"engine": "container"},
            email={"domain": "dify.corp.example"},
            env=EVERY_ROLE_ENV,
        )
    ),
}


@pytest.mark.parametrize("name", sorted(AGREEMENT_CONFIGS))
def test_managed_names_are_what_the_containers_get(
    synth: Callable[[DifyConfig], SynthResult], name: str
) -> None:
    """What `validate` takes for the stack's own names of a role (`managed_names`, no CDK) is exactly what
    the synthesized container of that role holds besides the config's `[env]` for it: every role with a
    container, on every example and on single-task, [email], package-index and closed-network configs."""
    config = AGREEMENT_CONFIGS[name]()
    checked = set()
    for result_template in synth(config).templates.values():
        for task in of_type(result_template.get("Resources", {}), "AWS::ECS::TaskDefinition").values():
            for container in task["Properties"]["ContainerDefinitions"]:
                role = next((r for r in ENV_ROLES.values() if r.value == container["Name"]), None)
                if role is None:
                    continue
                held = set(env_of(container)) | set(secrets_of(container))
                assert held == managed_names(config, role) | set(config.env.for_role(role)), role
                checked.add(role)
    assert checked >= set(ENV_ROLES.values()) - {Role.WEB}


def test_mail_settings_are_free_without_email() -> None:
    config = config_of(env={"api": {"MAIL_TYPE": "resend", "RESEND_API_KEY": {"ssm": "/dify/resend"}}})
    build_app(config, nag=False)


def test_secret_name_rule_matches_the_brief() -> None:
    for name in ("X_SECRET", "X_KEY", "X_PASSWORD", "X_TOKEN", "SECRET", "API_KEY"):
        assert SECRET_NAME.search(name), name
    for name in ("X_TOKENS", "KEYCLOAK_URL", "X_KEYS_PATH", "GITHUB_CLIENT_ID"):
        assert not SECRET_NAME.search(name), name


# --- the `lambda` front door's api function -------------------------------------------------------------

LAMBDA_EXAMPLE = ROOT / "examples" / "lambda.toml"


def _lambda(env: dict[str, Any]) -> dict[str, Any]:
    data = tomllib.loads(LAMBDA_EXAMPLE.read_text())
    return {**data, "env": env}


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"api": {"HOME": {"value": "/home/dify", "override": True}}}, "[env.api] HOME"),
        ({"AWS_LWA_PORT": "8080"}, "[env] AWS_LWA_PORT"),
        ({"api": {"CONSOLE_API_URL": {"value": "https://x.example", "override": True}}}, "CONSOLE_API_URL"),
    ],
)
def test_names_the_lambda_api_function_sets_cannot_be_replaced(env: dict[str, Any], fragment: str) -> None:
    """frontdoor/lambda_urls.py sets these on the api function after `[env]`: an override would be lost
    without a word, so the config refuses them, override or not, once each."""
    with pytest.raises(ConfigError) as caught:
        config_of(**_lambda(env))
    message = str(caught.value)
    assert fragment in message and "front_door.type = 'lambda'" in message
    assert [line for line in message.splitlines() if fragment in line] == [message.splitlines()[1]]
    # Elsewhere the same names are the stack's to override (or free).
    config_of(**{**_lambda(env), "front_door": {"type": "alb"}})


def test_the_lambda_api_function_holds_only_names_validate_knows(
    synth: Callable[[DifyConfig], SynthResult],
) -> None:
    """Every variable of the api function is one the config check knows: the Lambda's own
    (LAMBDA_API_NAMES, all of them set), the stack's for the api role, or the config's `[env]`."""
    config = config_of(**_lambda({"api": {"EXTRA_SETTING": "on"}, "UPSTREAM_URL": "https://llm.example.com"}))
    (body,) = [b for name, b in synth(config).templates.items() if "Edge" not in name]
    functions = [
        f["Properties"]["Environment"]["Variables"]
        for f in of_type(body["Resources"], "AWS::Lambda::Function").values()
        if "DIFY_SECRET_ARNS" in f["Properties"].get("Environment", {}).get("Variables", {})
    ]
    (variables,) = functions
    assert set(variables) >= LAMBDA_API_NAMES
    assert set(variables) - LAMBDA_API_NAMES <= managed_names(config, Role.API) | set(
        config.env.for_role(Role.API)
    )
    assert variables["EXTRA_SETTING"] == "on"


def test_lambda_names_cover_what_the_bootstrap_reads() -> None:
    """The bootstrap (shipped alone, so it keeps its own copy) fills in the public URLs and reads its
    control variables: all of them are names `[env]` cannot replace on the lambda api function."""
    read = {
        *bootstrap.PUBLIC_URL_VARIABLES,
        bootstrap.ENDPOINT_URL_TEMPLATE_VARIABLE,
        *bootstrap.CONTROL_VARIABLES,
    }
    assert read <= LAMBDA_API_NAMES
