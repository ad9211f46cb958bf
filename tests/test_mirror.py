"""`dify-on-aws mirror-images` against in-process registries (tests/registry_fake.py): a Docker-Hub-like
source with token auth and blob redirects to another host, an ECR-Public-like source, and an ECR-like
destination with HTTP Basic auth; the ECR API calls run through botocore's Stubber.

Rules held here: the ECR repository must exist before a push (ECR User Guide, "Pushing a Docker image to an
Amazon ECR private repository"); ECR stores OCI image indexes and manifest lists ("Container image
manifest format support in Amazon ECR"); the registry login is `ecr:GetAuthorizationToken`'s base64
`AWS:<password>` ("Private registry authentication in Amazon ECR").
"""

from __future__ import annotations

import base64
import json
import tomllib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from dify_on_aws.app import SynthResult
from dify_on_aws.cli import main
from dify_on_aws.config import DifyConfig, parse_config
from dify_on_aws.operations import mirror
from dify_on_aws.operations import registry as registry_module
from dify_on_aws.operations.image_copy import ProgressBar
from dify_on_aws.operations.registry import Registry
from dify_on_aws.services.images import EcrRepository, parse_image

from .conftest import ROOT
from .registry_fake import State, multi_arch_image, serve
from .test_deploy_contract_images import task_definitions

CONFIG = ROOT / "examples" / "ecr-mirror.toml"
TARGET = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
PLATFORMS = ["linux/amd64", "linux/arm64"]
ECR_PASSWORD = "ecr-password"
# Valkey as a container (an image to mirror) needs the single task layout.
CONTAINER_CACHE = {"cache": {"engine": "container"}, "services": {"layout": "single_task"}}


@dataclass
class World:
    hub: State
    public: State
    ecr: State
    plan: list[mirror.MirrorItem]
    source_digests: dict[str, str]

    def source_of(self, item: mirror.MirrorItem) -> State:
        return self.hub if item.source.startswith("docker.io/") else self.public


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    hub, public = State(auth="bearer"), State(auth="bearer")
    # As ECR: a push to a repository that was not created first fails.
    ecr = State(
        auth="basic", user="AWS", password=ECR_PASSWORD, repositories=set(), patch_status=201, patches_kept=1
    )
    create = mirror.create_repository

    def create_and_record(client: object, target: EcrRepository, name: str) -> None:
        create(client, target, name)
        assert ecr.repositories is not None
        ecr.repositories.add(name)

    monkeypatch.setattr(mirror, "create_repository", create_and_record)
    config = parse_config({"images": {"registry": f"{TARGET}/langgenius"}, **CONTAINER_CACHE})
    plan = mirror.mirror_plan(config, "langgenius")
    digests = {}
    for item in plan:
        image = parse_image(item.source)
        state = hub if image.host == "docker.io" else public
        digests[item.repository] = multi_arch_image(state, image.repository, item.tag, PLATFORMS)
    monkeypatch.delenv(mirror.DOCKER_HUB_USER, raising=False)
    monkeypatch.delenv(mirror.DOCKER_HUB_TOKEN, raising=False)
    with ExitStack() as stack:
        hub_url = stack.enter_context(serve(hub))
        # Docker Hub's blobs come from a CDN on another host: a second server over the same content.
        hub.redirect_blobs = stack.enter_context(serve(hub))
        monkeypatch.setitem(mirror.REGISTRY_URLS, mirror.DOCKER_HUB_API, hub_url)
        monkeypatch.setitem(mirror.REGISTRY_URLS, "public.ecr.aws", stack.enter_context(serve(public)))
        monkeypatch.setitem(mirror.REGISTRY_URLS, TARGET, stack.enter_context(serve(ecr)))
        yield World(hub, public, ecr, plan, digests)


def write_config(tmp_path: Path, extra: str = "") -> str:
    path = tmp_path / "dify.toml"
    path.write_text(
        CONFIG.read_text() + '\n[cache]\nengine = "container"\n[services]\nlayout = "single_task"\n' + extra
    )
    return str(path)


class Aws:
    """Stubbed ECR (and Secrets Manager) clients handed to the command."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        keys = {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "example"}
        self.ecr = boto3.client("ecr", region_name="eu-west-1", **keys)
        self.secrets = boto3.client("secretsmanager", region_name="eu-west-1", **keys)
        self.ecr_stub, self.secrets_stub = Stubber(self.ecr), Stubber(self.secrets)
        clients = {"ecr": self.ecr, "secretsmanager": self.secrets}
        monkeypatch.setattr(mirror, "aws_client", lambda service, region: clients[service])

    def login(self) -> None:
        token = base64.b64encode(f"AWS:{ECR_PASSWORD}".encode()).decode()
        self.ecr_stub.add_response(
            "get_authorization_token",
            {"authorizationData": [{"authorizationToken": token, "proxyEndpoint": f"https://{TARGET}"}]},
            {},
        )

    def prepare(self, world: World, *, exist: bool, create: bool = True) -> None:
        """The calls one run makes: the login, a look-up per repository, a creation per missing one."""
        self.login()
        for item in world.plan:
            params = {"registryId": "123456789012", "repositoryNames": [item.repository]}
            if exist:
                assert world.ecr.repositories is not None
                world.ecr.repositories.add(item.repository)
                self.ecr_stub.add_response(
                    "describe_repositories", {"repositories": [{"repositoryName": item.repository}]}, params
                )
            else:
                self.ecr_stub.add_client_error(
                    "describe_repositories", "RepositoryNotFoundException", expected_params=params
                )
        for item in world.plan if create and not exist else []:
            self.ecr_stub.add_response(
                "create_repository",
                {"repository": {"repositoryName": item.repository}},
                {
                    "registryId": "123456789012",
                    "repositoryName": item.repository,
                    "imageTagMutability": "IMMUTABLE",
                    "imageScanningConfiguration": {"scanOnPush": True},
                },
            )

    def run(self, *args: str) -> int:
        with self.ecr_stub, self.secrets_stub:
            code = main(["mirror-images", *args])
            if code == 0:
                self.ecr_stub.assert_no_pending_responses()
        return code


def mirrored_once(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Aws]:
    """A first, complete run into empty ECR; returns the config path and the stubbed clients."""
    config = write_config(tmp_path)
    aws = Aws(monkeypatch)
    aws.prepare(world, exist=False)
    assert aws.run("--config", config) == 0
    return config, aws


def test_multi_arch_index_copied_fully(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every image of the plan arrives under its tag with the source's digest, every platform manifest and
    attestation with its own digest, every blob; repositories are created first."""
    aws = Aws(monkeypatch)
    aws.prepare(world, exist=False)
    assert aws.run("--config", write_config(tmp_path)) == 0
    for item in world.plan:
        source = world.source_of(item)
        source_repository = parse_image(item.source).repository
        assert world.ecr.tags[item.repository][item.tag] == world.source_digests[item.repository]
        assert world.ecr.manifests[item.repository] == source.manifests[source_repository]
        assert world.ecr.blobs[item.repository] == source.blobs[source_repository]
        index = json.loads(world.ecr.manifests[item.repository][world.source_digests[item.repository]][1])
        platforms = {f"{m['platform']['os']}/{m['platform']['architecture']}" for m in index["manifests"]}
        assert platforms == {*PLATFORMS, "unknown/unknown"}
    out = capsys.readouterr().out
    assert f'registry = "{TARGET}/langgenius"' in out
    assert f'image = "{TARGET}/langgenius/ubuntu/squid:6.6-24.04_beta"' in out


def test_second_run_copies_nothing(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Idempotent by digest: an unchanged tag costs a HEAD on each side and writes nothing; the source's
    manifests are not even fetched (a GET counts against Docker Hub's pull limit, a HEAD does not)."""
    config, aws = mirrored_once(world, tmp_path, monkeypatch)
    world.ecr.writes.clear()
    world.hub.requests.clear()
    aws.prepare(world, exist=True)
    assert aws.run("--config", config) == 0
    assert world.ecr.writes == []
    assert not [r for r in world.hub.requests if r.startswith("GET /v2/")]
    assert capsys.readouterr().out.count("up to date") == len(world.plan)


def test_a_partial_copy_is_completed(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Blobs and platform manifests already in the destination are skipped; only what is missing moves."""
    config, aws = mirrored_once(world, tmp_path, monkeypatch)
    api = world.plan[0]
    del world.ecr.tags[api.repository][api.tag]
    lost = sorted(world.ecr.blobs[api.repository])[0]
    del world.ecr.blobs[api.repository][lost]
    world.ecr.writes.clear()
    aws.prepare(world, exist=True)
    assert aws.run("--config", config) == 0
    assert [w for w in world.ecr.writes if w.startswith("PUT blob")] == [f"PUT blob {api.repository}@{lost}"]
    assert world.ecr.writes[-1] == f"PUT manifest {api.repository}:{api.tag}"
    assert world.ecr.tags[api.repository][api.tag] == world.source_digests[api.repository]


def test_a_moved_source_tag_is_not_forced_over_an_immutable_one(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Repositories are created with immutable tags; when the source tag later points elsewhere, the
    message says so and how to replace the image, instead of ECR's bare TAG_INVALID."""
    config, aws = mirrored_once(world, tmp_path, monkeypatch)
    api = world.plan[0]
    multi_arch_image(world.hub, parse_image(api.source).repository, api.tag, ["linux/riscv64"])
    world.ecr.immutable = True
    aws.prepare(world, exist=True)
    assert aws.run("--config", config) == 2
    err = capsys.readouterr().err
    assert "tags are immutable" in err and "batch-delete-image" in err


def test_dry_run_writes_nothing(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    aws = Aws(monkeypatch)
    aws.prepare(world, exist=False, create=False)
    assert aws.run("--config", write_config(tmp_path), "--dry-run") == 0
    assert world.ecr.writes == [] and world.ecr.manifests == {}
    out = capsys.readouterr().out
    assert out.count("would copy") == len(world.plan)
    assert "would create the repository" in out and "nothing was written" in out


def test_platform_filter_writes_an_index_of_those_platforms(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws = Aws(monkeypatch)
    aws.prepare(world, exist=False)
    assert aws.run("--config", write_config(tmp_path), "--platform", "linux/arm64") == 0
    api = world.plan[0]
    index = json.loads(world.ecr.manifests[api.repository][world.ecr.tags[api.repository][api.tag]][1])
    assert [m["platform"]["architecture"] for m in index["manifests"]] == ["arm64"]


def test_missing_push_permission_is_named(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world.ecr.deny.add("POST")
    aws = Aws(monkeypatch)
    aws.prepare(world, exist=True)
    assert aws.run("--config", write_config(tmp_path)) == 2
    err = capsys.readouterr().err
    assert "ecr:InitiateLayerUpload" in err and "grant" in err and "Traceback" not in err


def test_missing_create_repository_permission_is_named(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    aws = Aws(monkeypatch)
    aws.prepare(world, exist=False, create=False)
    aws.ecr_stub.add_client_error("create_repository", "AccessDeniedException", "User is not authorized")
    assert aws.run("--config", write_config(tmp_path)) == 2
    err = capsys.readouterr().err
    assert "AWS denied ecr:CreateRepository" in err and "Traceback" not in err


def test_missing_aws_credentials_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    aws = Aws(monkeypatch)
    aws.ecr_stub.add_client_error("get_authorization_token", "UnrecognizedClientException", "bad token")
    assert aws.run("--config", write_config(tmp_path)) == 2
    assert "rejected the credentials for ecr:GetAuthorizationToken" in capsys.readouterr().err


def test_source_401_hints_at_docker_hub_credentials(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Docker Hub's token endpoint refuses without the account it demands: the message names the
    variables that provide one; with them set, the same run succeeds."""
    world.hub.token_user = ("dify-bot", "dckr_pat_example")
    aws = Aws(monkeypatch)
    aws.prepare(world, exist=True)
    assert aws.run("--config", write_config(tmp_path)) == 2
    err = capsys.readouterr().err
    assert "DOCKERHUB_USERNAME" in err and "DOCKERHUB_TOKEN" in err and "Traceback" not in err
    monkeypatch.setenv(mirror.DOCKER_HUB_USER, "dify-bot")
    monkeypatch.setenv(mirror.DOCKER_HUB_TOKEN, "dckr_pat_example")
    aws = Aws(monkeypatch)
    aws.prepare(world, exist=True)
    assert aws.run("--config", write_config(tmp_path)) == 0


def test_docker_hub_login_from_the_configured_secret(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:dockerhub-AbCdEf"
    world.hub.token_user = ("dify-bot", "dckr_pat_example")
    aws = Aws(monkeypatch)
    aws.prepare(world, exist=True)
    secret = json.dumps({"username": "dify-bot", "password": "dckr_pat_example"})
    aws.secrets_stub.add_response("get_secret_value", {"SecretString": secret}, {"SecretId": arn})
    config = write_config(tmp_path).replace("dify.toml", "dify.toml")
    text = Path(config).read_text().replace("[images]\n", f'[images]\ndocker_hub_secret_arn = "{arn}"\n')
    Path(config).write_text(text)
    assert aws.run("--config", config) == 0


def test_rate_limit_hint(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world.hub.throttle = True
    aws = Aws(monkeypatch)
    aws.prepare(world, exist=True)
    assert aws.run("--config", write_config(tmp_path)) == 2
    assert "limits pulls" in capsys.readouterr().err


def test_registry_must_be_ecr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mirror-images", "--config", write_config(tmp_path), "--registry", "ghcr.io/me"]) == 2
    assert "is not a private ECR registry" in capsys.readouterr().err


def test_registry_from_account_and_region() -> None:
    config = parse_config({"account": "210987654321", "region": "ap-northeast-1"})
    target = mirror.target_registry(config, None)
    assert mirror.host_of(target) == "210987654321.dkr.ecr.ap-northeast-1.amazonaws.com"
    assert target.name == "langgenius"
    china = mirror.target_registry(parse_config({}), "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn")
    assert mirror.host_of(china) == "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"
    with pytest.raises(mirror.MirrorError, match="pass --registry"):
        mirror.target_registry(parse_config({}), None)


def test_plan_covers_every_image_the_stack_runs() -> None:
    """Dify's four images by name under the prefix (as `images.registry` is read), the SSRF proxy and the
    helper images under their source path; Valkey only when it runs as a container."""
    config = parse_config({"images": {"registry": f"{TARGET}/langgenius"}})
    repositories = [item.repository for item in mirror.mirror_plan(config, "langgenius")]
    assert repositories == [
        "langgenius/dify-api", "langgenius/dify-web", "langgenius/dify-sandbox",
        "langgenius/dify-plugin-daemon", "langgenius/ubuntu/squid", "langgenius/docker/library/busybox",
    ]  # fmt: skip
    sources = [item.source for item in mirror.mirror_plan(config, "")]
    assert sources[0] == f"docker.io/langgenius/dify-api:{config.images.api}"
    assert sources[4] == config.ssrf_proxy.image
    container = parse_config(CONTAINER_CACHE)
    assert mirror.mirror_plan(container, "x")[-1].repository == "x/docker/library/valkey"


def test_progress_bar_without_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    import sys  # noqa: PLC0415

    bar = ProgressBar("dify-api:1.13.3", 1000, sys.stderr)
    for _ in range(10):
        bar.advance(100)
    bar.close()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 10 and lines[-1].endswith("100% 0.0 MB/0.0 MB")


def test_the_deployment_pulls_exactly_the_mirrored_images(synth: Callable[[DifyConfig], SynthResult]) -> None:
    """With `images.registry` (and `ssrf_proxy.image`) as mirror-images prints them, every container of
    every task comes from the mirror, helper images included (busybox, Valkey), and each one is an image
    the command copies; the execution roles may pull exactly those repositories."""
    registry = f"{TARGET}/langgenius"
    config = parse_config({"images": {"registry": registry}, **CONTAINER_CACHE})
    plan = mirror.mirror_plan(config, "langgenius")
    lines = tomllib.loads(mirror.config_lines(mirror.target_registry(config, None), plan))
    config = parse_config({**lines, **CONTAINER_CACHE})
    mirrored = {f"{TARGET}/{item.repository}:{item.tag}" for item in plan}
    pulled = {
        container["Image"]
        for _, task in task_definitions(synth(config))
        for container in task["ContainerDefinitions"]
    }
    assert pulled == mirrored


def test_an_expired_token_is_renewed() -> None:
    """Docker Hub's tokens expire after minutes: a 401 on a later request fetches a new token once."""
    state = State(auth="bearer")
    digest = multi_arch_image(state, "langgenius/dify-api", "1", PLATFORMS)
    with serve(state) as url:
        registry = Registry("registry.example", url=url)
        assert registry.manifest_digest("langgenius/dify-api", "1") == digest
        state.issued.clear()
        assert registry.manifest_digest("langgenius/dify-api", "1") == digest
        assert len(state.issued) == 1


def test_https_goes_through_the_configured_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Company networks reach registries through HTTPS_PROXY (a CONNECT tunnel); NO_PROXY hosts do not."""
    monkeypatch.setenv("HTTPS_PROXY", "http://user:p%40ss@proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "ecr.internal")
    tunnelled = registry_module.open_connection("https", "registry-1.docker.io")
    assert (tunnelled.host, tunnelled.port) == ("proxy.internal", 3128)
    assert tunnelled._tunnel_host == "registry-1.docker.io"  # type: ignore[attr-defined]
    expected = "Basic " + base64.b64encode(b"user:p@ss").decode()
    assert tunnelled._tunnel_headers["Proxy-Authorization"] == expected  # type: ignore[attr-defined]
    direct = registry_module.open_connection("https", "ecr.internal")
    assert direct.host == "ecr.internal"


def test_the_package_proxy_image_is_mirrored_and_configured() -> None:
    """With `[package_index]` the proxy's Python image is copied too (a closed network cannot reach ECR
    Public), and the printed configuration names the mirrored copy."""
    config = parse_config(
        {"package_index": {"type": "codeartifact"}, "images": {"registry": f"{TARGET}/langgenius"}}
    )
    plan = mirror.mirror_plan(config, "langgenius")
    (proxy,) = [item for item in plan if item.used_by == "package_index.proxy_image"]
    assert proxy.source == config.package_index.proxy_image
    lines = tomllib.loads(mirror.config_lines(mirror.target_registry(config, None), plan))
    assert lines["package_index"]["proxy_image"].endswith(f"/{proxy.repository}:{proxy.tag}")
    assert "package_index.proxy_image" not in {i.used_by for i in mirror.mirror_plan(parse_config({}), "x")}
