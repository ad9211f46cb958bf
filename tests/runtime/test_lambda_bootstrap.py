"""Unit tests for the Lambda container bootstrap that resolves secret references before exec."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from dify_on_aws.frontdoor.runtime.lambda_bootstrap import bootstrap

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:dify/app-AbCdEf"
DB_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-0123-XyZ123"
DB_SECRET = {"username": "dify", "password": 'p@ss:w0rd/with"chars', "port": 5432, "ssl": True}
APP_SECRET = "sk-0123456789abcdef-whole-secret"
PARAMETER = "/dify/public-url"
URL = "https://d111111abcdef8.cloudfront.net"


class AccessDeniedError(Exception):
    """Stands in for botocore's ClientError (its message names the ARN, never the value)."""


class FakeSecrets:
    def __init__(self, region: str, values: dict[str, Any], errors: dict[str, Exception]) -> None:
        self.region = region
        self.values = values
        self.errors = errors
        self.calls: list[dict[str, str]] = []

    def get_secret_value(self, **kwargs: str) -> dict[str, Any]:
        self.calls.append(kwargs)
        secret_id = kwargs["SecretId"]
        if secret_id in self.errors:
            raise self.errors[secret_id]
        value = self.values[secret_id]
        if isinstance(value, bytes):
            return {"ARN": secret_id, "SecretBinary": value}
        return {"ARN": secret_id, "SecretString": value}


class SecretsFactory:
    def __init__(
        self, values: dict[str, Any] | None = None, errors: dict[str, Exception] | None = None
    ) -> None:
        self.values = values if values is not None else {ARN: APP_SECRET, DB_ARN: json.dumps(DB_SECRET)}
        self.errors = errors or {}
        self.clients: list[FakeSecrets] = []

    def __call__(self, region: str) -> FakeSecrets:
        client = FakeSecrets(region, self.values, self.errors)
        self.clients.append(client)
        return client

    @property
    def calls(self) -> list[dict[str, str]]:
        return [call for client in self.clients for call in client.calls]


class FakeSsm:
    def __init__(self, value: str = URL, error: Exception | None = None) -> None:
        self.value = value
        self.error = error
        self.calls: list[dict[str, Any]] = []

    def get_parameter(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.error is not None:
            raise self.error
        return {"Parameter": {"Name": kwargs["Name"], "Type": "String", "Value": self.value}}


class SsmFactory:
    def __init__(self, client: FakeSsm | None = None) -> None:
        self.client = client or FakeSsm()
        self.created = 0

    def __call__(self) -> FakeSsm:
        self.created += 1
        return self.client


def _resolve(
    environ: dict[str, str], secrets: SecretsFactory | None = None, ssm: SsmFactory | None = None
) -> dict[str, str]:
    return bootstrap.resolve(
        environ,
        secrets_client_factory=secrets or SecretsFactory(),
        ssm_client_factory=ssm or SsmFactory(),
    )


def _arns(**mapping: str) -> dict[str, str]:
    return {bootstrap.ENV_SECRET_ARNS: json.dumps(mapping)}


def _error(
    environ: dict[str, str], secrets: SecretsFactory | None = None, ssm: SsmFactory | None = None
) -> str:
    with pytest.raises(bootstrap.BootstrapError) as excinfo:
        _resolve(environ, secrets, ssm)
    message = str(excinfo.value)
    assert "\n" not in message
    return message


# --- secret references ----------------------------------------------------------------------------


def test_whole_secret_reference() -> None:
    secrets = SecretsFactory()
    assert _resolve(_arns(SECRET_KEY=ARN), secrets) == {"SECRET_KEY": APP_SECRET}
    assert secrets.calls == [{"SecretId": ARN}]
    assert [client.region for client in secrets.clients] == ["us-east-1"]


def test_json_key_reference() -> None:
    secrets = SecretsFactory()
    assert _resolve(_arns(DB_PASSWORD=f"{DB_ARN}:password::"), secrets) == {
        "DB_PASSWORD": DB_SECRET["password"]
    }
    assert secrets.calls == [{"SecretId": DB_ARN}]
    assert [client.region for client in secrets.clients] == ["eu-west-1"]


def test_shared_secret_is_fetched_once() -> None:
    secrets = SecretsFactory()
    environ = _arns(
        DB_USERNAME=f"{DB_ARN}:username::",
        DB_PASSWORD=f"{DB_ARN}:password::",
        DB_PORT=f"{DB_ARN}:port::",
        SECRET_KEY=ARN,
        SECRET_KEY_COPY=ARN,
    )
    resolved = _resolve(environ, secrets)
    assert resolved == {
        "DB_USERNAME": "dify",
        "DB_PASSWORD": DB_SECRET["password"],
        "DB_PORT": "5432",
        "SECRET_KEY": APP_SECRET,
        "SECRET_KEY_COPY": APP_SECRET,
    }
    assert sorted(call["SecretId"] for call in secrets.calls) == [DB_ARN, ARN]
    # One client per region, created only when first needed.
    assert sorted(client.region for client in secrets.clients) == ["eu-west-1", "us-east-1"]


def test_non_string_json_values_are_stringified() -> None:
    values = {ARN: json.dumps({"n": 5432, "f": 1.5, "t": True, "no": False, "obj": {"a": [1, "b"]}})}
    environ = _arns(N=f"{ARN}:n::", F=f"{ARN}:f::", T=f"{ARN}:t::", NO=f"{ARN}:no::", OBJ=f"{ARN}:obj::")
    assert _resolve(environ, SecretsFactory(values)) == {
        "N": "5432",
        "F": "1.5",
        "T": "true",
        "NO": "false",
        "OBJ": '{"a":[1,"b"]}',
    }


def test_version_stage_and_id_are_passed_when_present() -> None:
    secrets = SecretsFactory()
    environ = _arns(
        STAGED=f"{DB_ARN}:password:AWSPREVIOUS:",
        PINNED=f"{DB_ARN}:password::0123-4567-89ab",
        BOTH=f"{DB_ARN}:username:AWSCURRENT:0123-4567-89ab",
        WHOLE_STAGED=f"{ARN}::AWSPENDING:",
    )
    resolved = _resolve(environ, secrets)
    assert resolved["STAGED"] == DB_SECRET["password"]
    assert resolved["WHOLE_STAGED"] == APP_SECRET
    assert secrets.calls == [
        {"SecretId": DB_ARN, "VersionStage": "AWSPREVIOUS"},
        {"SecretId": DB_ARN, "VersionId": "0123-4567-89ab"},
        {"SecretId": DB_ARN, "VersionStage": "AWSCURRENT", "VersionId": "0123-4567-89ab"},
        {"SecretId": ARN, "VersionStage": "AWSPENDING"},
    ]


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        (ARN, bootstrap.SecretRef(ARN, "us-east-1")),
        (f"{DB_ARN}:password::", bootstrap.SecretRef(DB_ARN, "eu-west-1", "password")),  # RDS-managed name
        (f"{ARN}:key", bootstrap.SecretRef(ARN, "us-east-1", "key")),
        (f"{ARN}:key::", bootstrap.SecretRef(ARN, "us-east-1", "key")),
        (f"{ARN}:::v1", bootstrap.SecretRef(ARN, "us-east-1", None, None, "v1")),
        (
            "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:a/b_c+d=e.f@g-h-AbCdEf:k:s:i",
            bootstrap.SecretRef(
                "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:a/b_c+d=e.f@g-h-AbCdEf",
                "cn-north-1",
                "k",
                "s",
                "i",
            ),
        ),
        (
            "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:dify-AbCdEf",
            bootstrap.SecretRef(
                "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:dify-AbCdEf", "us-gov-west-1"
            ),
        ),
    ],
)
def test_parse_secret_ref(reference: str, expected: bootstrap.SecretRef) -> None:
    assert bootstrap.parse_secret_ref(reference) == expected


@pytest.mark.parametrize(
    "reference",
    [
        "",
        "my-secret",
        "arn:aws:ssm:us-east-1:123456789012:parameter/dify",
        "arn:aws-iso:secretsmanager:us-iso-east-1:123456789012:secret:x",
        "arn:aws:secretsmanager::123456789012:secret:x",
        "arn:aws:secretsmanager:us-east-1:1234:secret:x",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:bad name",
        f"{ARN}:key:stage:id:extra",
    ],
)
def test_invalid_reference_is_reported(reference: str) -> None:
    with pytest.raises(ValueError):
        bootstrap.parse_secret_ref(reference)
    secrets = SecretsFactory()
    message = _error(_arns(SECRET_KEY=reference), secrets)
    assert "SECRET_KEY" in message
    assert repr(reference) in message
    assert secrets.clients == []


def test_missing_json_key_names_variable_and_arn_but_not_the_value() -> None:
    reference = f"{DB_ARN}:pasword::"
    message = _error(_arns(DB_PASSWORD=reference))
    assert "DB_PASSWORD" in message
    assert DB_ARN in message
    assert "'pasword'" in message
    for value in DB_SECRET.values():
        assert str(value) not in message


@pytest.mark.parametrize("secret_string", [APP_SECRET, f'"{APP_SECRET}"', f"[{json.dumps(APP_SECRET)}]"])
def test_key_requested_from_non_object_secret(secret_string: str) -> None:
    message = _error(_arns(SECRET_KEY=f"{ARN}:key::"), SecretsFactory({ARN: secret_string}))
    assert "SECRET_KEY" in message
    assert ARN in message
    assert "not a JSON object" in message
    assert APP_SECRET not in message


def test_null_json_value_is_an_error() -> None:
    message = _error(_arns(X=f"{ARN}:key::"), SecretsFactory({ARN: '{"key": null}'}))
    assert "null" in message
    assert "X" in message


def test_binary_secret_is_an_error() -> None:
    message = _error(_arns(X=ARN), SecretsFactory({ARN: b"\x00\x01"}))
    assert "SecretString" in message


def test_api_error_names_variable_and_arn() -> None:
    error = AccessDeniedError(
        f"An error occurred (AccessDeniedException) when calling the GetSecretValue operation:\n"
        f"not authorized to perform secretsmanager:GetSecretValue on resource: {ARN}"
    )
    message = _error(_arns(SECRET_KEY=ARN), SecretsFactory(errors={ARN: error}))
    assert message.startswith(f"SECRET_KEY: cannot read secret {ARN}: AccessDeniedError: ")
    assert "AccessDeniedException" in message


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ('["SECRET_KEY"]', "JSON object"),
        (json.dumps({"SECRET_KEY": 5}), "not a string"),
        (json.dumps({"BAD-NAME": ARN}), "'BAD-NAME'"),
        (json.dumps({"": ARN}), "''"),
        (json.dumps({"1X": ARN}), "'1X'"),
    ],
)
def test_malformed_secret_map(raw: str, fragment: str) -> None:
    message = _error({bootstrap.ENV_SECRET_ARNS: raw})
    assert bootstrap.ENV_SECRET_ARNS in message
    assert fragment in message


@pytest.mark.parametrize("raw", ["", "  ", "{}"])
def test_empty_secret_map_needs_no_client(raw: str) -> None:
    secrets, ssm = SecretsFactory(), SsmFactory()
    assert _resolve({bootstrap.ENV_SECRET_ARNS: raw}, secrets, ssm) == {}
    assert secrets.clients == []
    assert ssm.created == 0


# --- public URL -----------------------------------------------------------------------------------


def _public_url_vars(url: str) -> dict[str, str]:
    return {
        **dict.fromkeys(bootstrap.PUBLIC_URL_VARIABLES, url),
        "ENDPOINT_URL_TEMPLATE": f"{url}/e/{{hook_id}}",
    }


def test_public_url_parameter_sets_every_url_variable() -> None:
    ssm = SsmFactory()
    resolved = _resolve({bootstrap.ENV_PUBLIC_URL_PARAMETER: PARAMETER}, ssm=ssm)
    assert resolved == _public_url_vars(URL)
    assert resolved["ENDPOINT_URL_TEMPLATE"] == "https://d111111abcdef8.cloudfront.net/e/{hook_id}"
    assert ssm.client.calls == [{"Name": PARAMETER}]
    assert set(bootstrap.PUBLIC_URL_VARIABLES) == {
        "CONSOLE_API_URL",
        "CONSOLE_WEB_URL",
        "SERVICE_API_URL",
        "APP_API_URL",
        "APP_WEB_URL",
        "FILES_URL",
        "TRIGGER_URL",
    }


@pytest.mark.parametrize("value", [f"{URL}/", f"{URL}//", f" {URL}/\n"])
def test_public_url_trailing_slash_is_stripped(value: str) -> None:
    resolved = _resolve({bootstrap.ENV_PUBLIC_URL_PARAMETER: PARAMETER}, ssm=SsmFactory(FakeSsm(value)))
    assert resolved == _public_url_vars(URL)


def test_public_url_overrides_existing_values() -> None:
    environ = {bootstrap.ENV_PUBLIC_URL_PARAMETER: PARAMETER, "CONSOLE_API_URL": "http://localhost"}
    assert _resolve(environ)["CONSOLE_API_URL"] == URL


@pytest.mark.parametrize("environ", [{}, {bootstrap.ENV_PUBLIC_URL_PARAMETER: ""}])
def test_no_public_url_parameter(environ: dict[str, str]) -> None:
    ssm = SsmFactory()
    assert _resolve(environ, ssm=ssm) == {}
    assert ssm.created == 0


@pytest.mark.parametrize("value", ["", "/", "d111111abcdef8.cloudfront.net", "ftp://example.com"])
def test_public_url_must_be_http(value: str) -> None:
    message = _error({bootstrap.ENV_PUBLIC_URL_PARAMETER: PARAMETER}, ssm=SsmFactory(FakeSsm(value)))
    assert PARAMETER in message
    assert bootstrap.ENV_PUBLIC_URL_PARAMETER in message


def test_public_url_parameter_error() -> None:
    ssm = SsmFactory(FakeSsm(error=KeyError("ParameterNotFound")))
    message = _error({bootstrap.ENV_PUBLIC_URL_PARAMETER: PARAMETER}, ssm=ssm)
    assert PARAMETER in message
    assert "ParameterNotFound" in message


def test_secrets_and_public_url_together() -> None:
    environ = {**_arns(SECRET_KEY=ARN), bootstrap.ENV_PUBLIC_URL_PARAMETER: PARAMETER}
    assert _resolve(environ) == {"SECRET_KEY": APP_SECRET, **_public_url_vars(URL)}


# --- main -----------------------------------------------------------------------------------------


class Exec:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str], dict[str, str]]] = []

    def __call__(self, file: str, args: list[str], env: dict[str, str]) -> None:
        self.calls.append((file, list(args), dict(env)))


@pytest.fixture
def fake_exec(monkeypatch: pytest.MonkeyPatch) -> Iterator[Exec]:
    recorder = Exec()
    monkeypatch.setattr(os, "execvpe", recorder)
    yield recorder


def _main(
    environ: dict[str, str], argv: list[str] | None = None, secrets: SecretsFactory | None = None
) -> int:
    return bootstrap.main(
        argv if argv is not None else ["bootstrap.py", "/bin/bash", "/entrypoint.sh"],
        environ=environ,
        secrets_client_factory=secrets or SecretsFactory(),
        ssm_client_factory=SsmFactory(),
    )


def test_main_execs_with_resolved_and_cleaned_environment(
    fake_exec: Exec, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = {
        **_arns(SECRET_KEY=ARN, DB_PASSWORD=f"{DB_ARN}:password::"),
        bootstrap.ENV_PUBLIC_URL_PARAMETER: PARAMETER,
        "MODE": "api",
        "CONSOLE_API_URL": "",
        "PATH": "/usr/local/bin:/usr/bin",
    }
    assert _main(environ) == 0

    ((file, args, env),) = fake_exec.calls
    assert file == "/bin/bash"
    assert args == ["/bin/bash", "/entrypoint.sh"]
    assert env == {
        "MODE": "api",
        "PATH": "/usr/local/bin:/usr/bin",
        "SECRET_KEY": APP_SECRET,
        "DB_PASSWORD": DB_SECRET["password"],
        **_public_url_vars(URL),
    }
    assert bootstrap.ENV_SECRET_ARNS not in env
    assert bootstrap.ENV_PUBLIC_URL_PARAMETER not in env
    err = capsys.readouterr().err
    assert "SECRET_KEY" in err
    assert APP_SECRET not in err
    assert str(DB_SECRET["password"]) not in err


def test_main_passes_extra_arguments_through(fake_exec: Exec) -> None:
    assert _main({}, ["bootstrap.py", "python", "-m", "flask", "run", "--port=5001"]) == 0
    assert fake_exec.calls == [("python", ["python", "-m", "flask", "run", "--port=5001"], {})]


def test_main_without_references_still_cleans_control_variables(fake_exec: Exec) -> None:
    environ = {bootstrap.ENV_SECRET_ARNS: "{}", bootstrap.ENV_PUBLIC_URL_PARAMETER: "", "A": "1"}
    assert _main(environ) == 0
    assert fake_exec.calls[0][2] == {"A": "1"}


def test_main_failure_exits_1_without_exec_or_secret(
    fake_exec: Exec, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = _arns(SECRET_KEY=ARN, DB_PASSWORD=f"{DB_ARN}:missing::")
    assert _main(environ) == 1
    assert fake_exec.calls == []
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("dify-bootstrap: error: DB_PASSWORD: ")
    assert DB_ARN in err
    assert APP_SECRET not in err
    assert str(DB_SECRET["password"]) not in err


def test_main_usage_error(fake_exec: Exec, capsys: pytest.CaptureFixture[str]) -> None:
    assert _main({}, ["bootstrap.py"]) == 2
    assert fake_exec.calls == []
    assert "usage" in capsys.readouterr().err


def test_main_reports_exec_failure(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def missing(file: str, args: list[str], env: dict[str, str]) -> None:
        raise FileNotFoundError(2, "No such file or directory", file)

    monkeypatch.setattr(os, "execvpe", missing)
    assert _main({}, ["bootstrap.py", "/nonexistent"]) == 127
    assert "/nonexistent" in capsys.readouterr().err


def test_main_defaults_to_process_environment(monkeypatch: pytest.MonkeyPatch, fake_exec: Exec) -> None:
    monkeypatch.setenv(bootstrap.ENV_SECRET_ARNS, json.dumps({"SECRET_KEY": ARN}))
    monkeypatch.delenv(bootstrap.ENV_PUBLIC_URL_PARAMETER, raising=False)
    before = dict(os.environ)
    assert (
        bootstrap.main(
            ["bootstrap.py", "true"], secrets_client_factory=SecretsFactory(), ssm_client_factory=SsmFactory()
        )
        == 0
    )
    env = fake_exec.calls[0][2]
    assert env["SECRET_KEY"] == APP_SECRET
    assert bootstrap.ENV_SECRET_ARNS not in env
    # The bootstrap's own environment is left alone; only the exec'd process gets the values.
    assert dict(os.environ) == before
