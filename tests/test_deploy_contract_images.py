"""Deploy contract for image pulls and derived secrets: what ECS and CloudFormation need at deploy and run
time that a synth alone does not show. Each test names its AWS source."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dify_on_aws.app import SynthResult
from dify_on_aws.cli import deploy_notes
from dify_on_aws.config import ConfigError, DifyConfig, load_config
from dify_on_aws.services.images import ecr_repository, is_docker_hub
from dify_on_aws.services.service import ECR_PULL_ACTIONS
from dify_on_aws.threat_model import AWS_FIXED_LIMITS

from .conftest import EXAMPLES, ROOT, config_of
from .test_deploy_contract_iam import granting, role_statements

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:dockerhub-AbCdEf"


def _resolve(value: Any) -> Any:
    """A resource expression as a string where it only joins literals and the partition."""
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(str(_resolve(part)) for part in parts)
    if value == {"Ref": "AWS::Partition"}:
        return "aws"
    return value


def _resources(statements: list[dict[str, Any]]) -> set[Any]:
    found: set[Any] = set()
    for statement in statements:
        resource = statement["Resource"]
        for item in resource if isinstance(resource, list) else [resource]:
            resolved = _resolve(item)
            found.add(resolved if isinstance(resolved, str) else repr(resolved))
    return found


def _role(reference: Any) -> str:
    return str(reference["Fn::GetAtt"][0])


def task_definitions(result: SynthResult) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(resources, task definition properties) for every task definition of every stack."""
    return [
        (template["Resources"], resource["Properties"])
        for template in result.templates.values()
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::ECS::TaskDefinition"
    ]


def _image(container: dict[str, Any]) -> str:
    image = container["Image"]
    assert isinstance(image, str), f"image of {container['Name']} is not a plain reference: {image}"
    return image


# --- Amazon ECR ------------------------------------------------------------------------------------------


def test_ecr_images_grant_exactly_their_repositories(example_results: dict[str, SynthResult]) -> None:
    """A task whose image is in a private ECR repository is pulled with the task execution role, which needs
    `ecr:GetAuthorizationToken` (resource `*`) and `ecr:BatchCheckLayerAvailability`,
    `ecr:GetDownloadUrlForLayer`, `ecr:BatchGetImage` on the repository (AWS docs "Amazon ECS task
    execution IAM role": "Amazon ECR permissions"); `ContainerImage.from_registry` grants none, so
    without them every task stops with CannotPullContainerError. Only those actions, only on the
    repositories the task's images use.

    Lambda functions here are built from image assets that CDK pushes to its bootstrap repository and
    pulls with Lambda's own access, so they need no grant for `images.registry`."""
    result = example_results["ecr-mirror.toml"]
    checked = 0
    for resources, task in task_definitions(result):
        repositories = {
            repository
            for container in task["ContainerDefinitions"]
            if (repository := ecr_repository(_image(container))) is not None
        }
        execution = role_statements(resources, _role(task["ExecutionRoleArn"]))
        if not repositories:
            assert granting(execution, "ecr:BatchGetImage") == []
            continue
        checked += 1
        assert _resources(granting(execution, "ecr:GetAuthorizationToken")) == {"*"}
        expected = {f"arn:aws:ecr:{r.region}:{r.account}:repository/{r.name}" for r in repositories}
        for action in ECR_PULL_ACTIONS:
            assert _resources(granting(execution, action)) == expected, action
        if "TaskRoleArn" in task:
            assert granting(role_statements(resources, _role(task["TaskRoleArn"])), "ecr:*") == []
    assert checked >= 5
    assert result.violations == []


def test_no_ecr_grants_without_ecr_images(example_results: dict[str, SynthResult]) -> None:
    """Registries other than ECR get no `ecr:` permission (least privilege; AWS docs "Amazon ECS task
    execution IAM role")."""
    for resources, task in task_definitions(example_results["default.toml"]):
        assert granting(role_statements(resources, _role(task["ExecutionRoleArn"])), "ecr:*") == []


def test_ecr_repository_is_read_from_the_registry_url() -> None:
    """Private registry URL form `aws_account_id.dkr.ecr.region.amazonaws.com` (Amazon ECR User Guide,
    "Amazon ECR private registry"); Docker's reference rules for everything else."""
    repo = ecr_repository("123456789012.dkr.ecr.eu-west-1.amazonaws.com/langgenius/dify-api:1.13.3")
    assert repo is not None
    assert (repo.account, repo.region, repo.name) == ("123456789012", "eu-west-1", "langgenius/dify-api")
    assert ecr_repository("public.ecr.aws/docker/library/valkey:8.0-alpine") is None
    assert ecr_repository("docker.io/langgenius/dify-api:1.13.3") is None
    assert is_docker_hub("langgenius/dify-api:1.13.3")
    assert is_docker_hub("redis:7")
    assert not is_docker_hub("public.ecr.aws/ubuntu/squid:6.6-24.04_beta")
    assert not is_docker_hub("localhost:5000/dify-api:1")


# --- Docker Hub ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def with_hub_secret(synth: Callable[[DifyConfig], SynthResult]) -> SynthResult:
    return synth(config_of(images={"docker_hub_secret_arn": SECRET_ARN}))


def test_docker_hub_images_use_the_repository_credentials(with_hub_secret: SynthResult) -> None:
    """Authenticated Docker Hub pulls: the container's `repositoryCredentials.credentialsParameter` is the
    secret's full ARN, and the task execution role (not the task role) may read it (AWS docs "Using
    non-AWS container images in Amazon ECS" / "Private registry authentication for tasks": the execution
    role needs `secretsmanager:GetSecretValue` on the secret). Docker Hub limits anonymous pulls per IP
    address (Docker docs "Usage and limits")."""
    hub = 0
    for resources, task in task_definitions(with_hub_secret):
        on_hub = [c for c in task["ContainerDefinitions"] if is_docker_hub(_image(c))]
        for container in task["ContainerDefinitions"]:
            credentials = container.get("RepositoryCredentials")
            if container in on_hub:
                assert credentials == {"CredentialsParameter": SECRET_ARN}, container["Name"]
            else:
                assert credentials is None, container["Name"]
        readers = granting(
            role_statements(resources, _role(task["ExecutionRoleArn"])), "secretsmanager:GetSecretValue"
        )
        assert (SECRET_ARN in _resources(readers)) == bool(on_hub)
        task_role = role_statements(resources, _role(task["TaskRoleArn"]))
        assert SECRET_ARN not in _resources(granting(task_role, "secretsmanager:GetSecretValue"))
        hub += len(on_hub)
    assert hub >= 6
    assert with_hub_secret.violations == []


def test_no_repository_credentials_by_default(example_results: dict[str, SynthResult]) -> None:
    """Without the key, no container names repository credentials (a dangling ARN fails every task start:
    "Private registry authentication for tasks")."""
    for result in example_results.values():
        for _, task in task_definitions(result):
            assert all("RepositoryCredentials" not in c for c in task["ContainerDefinitions"])


def test_docker_hub_secret_must_be_a_full_arn() -> None:
    """ECS takes the complete secret ARN for repository credentials (CDK `ContainerImage.from_registry`:
    "The supported value is the full ARN of an AWS Secrets Manager secret")."""
    with pytest.raises(ConfigError, match=r"images\.docker_hub_secret_arn.*full ARN"):
        config_of(images={"docker_hub_secret_arn": "dockerhub"})


def test_synth_summary_says_when_docker_hub_is_anonymous() -> None:
    """Docker Hub's anonymous pull limit per IP address (Docker docs "Usage and limits"): the summary says
    when images come from docker.io anonymously and how to avoid it."""
    (note,) = [n for n in deploy_notes(DifyConfig()) if "docker.io" in n]
    assert "images.docker_hub_secret_arn" in note
    assert "ECR" in note
    for config in (
        config_of(images={"docker_hub_secret_arn": SECRET_ARN}),
        load_config(ROOT / "examples" / "ecr-mirror.toml"),
    ):
        assert [n for n in deploy_notes(config) if "docker.io" in n] == []
    proxy_on_hub = config_of(
        images={"registry": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/langgenius"},
        ssrf_proxy={"image": "ubuntu/squid:6.6-24.04_beta"},
    )
    assert any("ubuntu/squid" in n for n in deploy_notes(proxy_on_hub))


def test_synth_summary_says_cloudfront_default_certificate_is_tlsv1() -> None:
    """AWS docs "Supported protocols and ciphers between viewers and CloudFront": with the default
    *.cloudfront.net certificate CloudFront sets the security policy to TLSv1 whatever minimum is set."""
    for path in EXAMPLES:
        config = load_config(path)
        door = config.front_door
        expected = door.type in {"cloudfront", "lambda", "lambda_proxy"} and door.domain is None
        assert any("TLSv1" in n for n in deploy_notes(config)) == expected, path.name


# --- the Celery broker URL secret -----------------------------------------------------------------------


def _dynamic_reference_targets(value: Any) -> list[Any]:
    """The secrets a `{{resolve:secretsmanager:...}}` reference inside an Fn::Join names."""
    if not (isinstance(value, dict) and "Fn::Join" in value):
        return []
    parts = value["Fn::Join"][1]
    return [
        parts[i + 1]
        for i, part in enumerate(parts[:-1])
        if isinstance(part, str) and part.endswith("{{resolve:secretsmanager:")
    ]


def test_broker_url_follows_the_cache_token(example_results: dict[str, SynthResult]) -> None:
    """AWS docs "Get a secret or secret value from Secrets Manager" (dynamic references): CloudFormation
    resolves `{{resolve:secretsmanager:...}}` when it creates or updates the resource that holds it, so the
    broker URL secret keeps the token it was written with. It must therefore reference the very secret the
    cache uses (replacing that secret changes the broker's template value, and CloudFormation rewrites both
    in one deployment), that token must have no rotation schedule (a rotation outside CloudFormation would
    leave the broker URL stale), and the broker secret must say so."""
    for name, result in example_results.items():
        resources = list(result.templates.values())[-1]["Resources"]  # the Dify stack comes last
        brokers = [
            r["Properties"]
            for r in resources.values()
            if r["Type"] == "AWS::SecretsManager::Secret"
            and "CELERY_BROKER_URL" in r["Properties"].get("Description", "")
        ]
        assert len(brokers) == 1, name
        (broker,) = brokers
        (token,) = _dynamic_reference_targets(broker["SecretString"])
        token_id = token["Ref"]
        assert resources[token_id]["Type"] == "AWS::SecretsManager::Secret"
        assert "as resolved when CloudFormation last wrote this secret" in broker["Description"]
        for resource in resources.values():
            if resource["Type"] == "AWS::ElastiCache::ReplicationGroup":
                assert _dynamic_reference_targets(resource["Properties"]["AuthToken"]) == [token], name
            if resource["Type"] == "AWS::SecretsManager::RotationSchedule":
                assert resource["Properties"]["SecretId"] != token, name


# --- the first-deploy runbook --------------------------------------------------------------------------


def test_runbook_says_when_us_east_1_needs_bootstrapping(example_results: dict[str, SynthResult]) -> None:
    """AWS CDK docs "Bootstrapping your environment": every environment (account and region) a stack
    deploys to must be bootstrapped, so the us-east-1 Edge stack needs its own bootstrap. The README's
    runbook names that command and every setting that creates the Edge stack."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    runbook = readme.split("## First deploy (runbook)", 1)[1].split("\n## ", 1)[0]
    assert "cdk bootstrap aws://123456789012/us-east-1" in runbook
    edge = [name for name, result in example_results.items() if len(result.stacks) > 1]
    assert edge, "no example has an Edge stack"
    for name in edge:
        (stack,) = [s for s in example_results[name].stacks if s.stack_name.endswith("-Edge")]
        assert stack.region == "us-east-1", name
    for setting in ("`lambda` front door", "front_door.domain", "certificate_arn", "allowed_cidrs",
                    "allowed_countries", "waf_managed_rules", "--no-rollback", "removal_policy"):  # fmt: skip
        assert setting in runbook, setting


def test_security_page_states_the_limits_aws_fixes() -> None:
    """The security page says what AWS fixes and no option changes: the TLSv1 minimum of the default
    CloudFront certificate ("Supported protocols and ciphers between viewers and CloudFront"), the broker
    URL's embedded token (dynamic references resolve when the resource is written) and Docker Hub's
    anonymous pull limit."""
    page = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    assert AWS_FIXED_LIMITS in page
    for fact in ("TLSv1.", "broker URL", "docker_hub_secret_arn"):
        assert fact in AWS_FIXED_LIMITS
