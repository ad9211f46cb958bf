"""`dify-on-aws mirror-images`: copy the images of the configured release into private Amazon ECR
repositories, so that the deployment pulls nothing from Docker Hub or any other public registry.

The images: the Dify release's api, web, sandbox and plugin daemon (`images.*`), the SSRF proxy
(`ssrf_proxy.image`), and the helper images the tasks run (busybox writing the sandbox's requirements,
Valkey when `cache.engine = "container"`). Every platform of each image is copied through the registry HTTP
APIs (operations/registry.py, no Docker); repositories are created when missing (ECR: "The Amazon ECR
repository must exist before you push the image"). The Lambda front doors' base images (nginx, Lambda Web
Adapter) are not copied: `cdk deploy` builds those images with Docker on the deploying machine, and the
functions run from the CDK asset repository in the account.

Exit status: 0 when every image is in place, 2 for a configuration, credential or permission problem (the
message names the key, the credential or the IAM action), 1 for anything else.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from dify_on_aws.aws_errors import error_code
from dify_on_aws.aws_errors import explain as explain_aws
from dify_on_aws.config import ConfigError, DifyConfig, load_config
from dify_on_aws.config.images import ImagesConfig
from dify_on_aws.inputs import config_path, default_config
from dify_on_aws.operations.image_copy import ImageCopier, Outcome, megabytes
from dify_on_aws.operations.registry import Registry, RegistryError
from dify_on_aws.services import dify_contract
from dify_on_aws.services.images import (
    BUSYBOX,
    DOCKER_HUB_HOSTS,
    VALKEY_IMAGE,
    EcrRepository,
    ecr_registry,
    mirrored_repository,
    parse_image,
)

EXIT_FAILED, EXIT_CONFIG = 1, 2
# Where the Dify images come from when `images.registry` already names the mirror.
DIFY_SOURCE = str(ImagesConfig.model_fields["registry"].default)
DIFY_IMAGES = {
    "api": "dify-api", "web": "dify-web", "sandbox": "dify-sandbox", "plugin_daemon": "dify-plugin-daemon",
}  # fmt: skip
DEFAULT_PREFIX = "langgenius"
DOCKER_HUB_API = "registry-1.docker.io"
DOCKER_HUB_USER, DOCKER_HUB_TOKEN = "DOCKERHUB_USERNAME", "DOCKERHUB_TOKEN"
# ECR's registry API answers with the IAM action it checked; this names it when the answer does not.
ECR_ACTIONS = {
    "read manifest": "ecr:BatchGetImage",
    "check blob": "ecr:BatchCheckLayerAvailability",
    "read blob": "ecr:GetDownloadUrlForLayer",
    "start blob upload": "ecr:InitiateLayerUpload",
    "upload blob": "ecr:UploadLayerPart",
    "finish blob upload": "ecr:CompleteLayerUpload",
    "write manifest": "ecr:PutImage",
}
# Test seam: registry host -> base URL (default https://<host>).
REGISTRY_URLS: dict[str, str] = {}


class MirrorError(Exception):
    def __init__(self, message: str, exit_code: int = EXIT_CONFIG) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class MirrorItem:
    """One image to copy: its source reference, the target repository and tag, and what uses it."""

    source: str
    repository: str
    tag: str
    used_by: str


def aws_client(service: str, region: str) -> Any:
    """A boto3 client (imported here: boto3 is needed by this command only)."""
    try:
        import boto3  # noqa: PLC0415
    except ImportError:
        raise MirrorError(
            "mirror-images needs boto3: pip install boto3 (or `pip install 'dify-on-aws[mirror]'`)"
        ) from None
    return boto3.client(service, region_name=region)


def target_registry(config: DifyConfig, given: str | None) -> EcrRepository:
    """--registry, else `images.registry` when it is ECR, else the config's account and region."""
    if given:
        target = ecr_registry(given.rstrip("/"))
        if target is None:
            raise MirrorError(
                f"--registry {given!r} is not a private ECR registry; use "
                "ACCOUNT.dkr.ecr.REGION.amazonaws.com[/prefix], e.g. "
                f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{DEFAULT_PREFIX}"
            )
        return target
    target = ecr_registry(config.images.registry)
    if target is not None:
        return target
    if config.account and config.region:
        return EcrRepository(config.account, config.region, DEFAULT_PREFIX)
    raise MirrorError(
        f"no ECR registry to mirror to: images.registry = {config.images.registry!r} is not ECR and the "
        "config sets no account and region; pass --registry ACCOUNT.dkr.ecr.REGION.amazonaws.com"
        f"/{DEFAULT_PREFIX}, or set account and region"
    )


def host_of(target: EcrRepository) -> str:
    """The registry host (China regions use the `amazonaws.com.cn` domain)."""
    domain = "amazonaws.com.cn" if target.region.startswith("cn-") else "amazonaws.com"
    return f"{target.account}.dkr.ecr.{target.region}.{domain}"


def mirror_plan(config: DifyConfig, prefix: str) -> list[MirrorItem]:
    """Every image the configured stack runs, with the repository it is mirrored to under `prefix`."""
    images = config.images
    source = DIFY_SOURCE if ecr_registry(images.registry) else images.registry
    items = [
        MirrorItem(
            f"{source}/{name}:{getattr(images, key)}",
            mirrored_repository(f"{source}/{name}", prefix, dify=True),
            getattr(images, key),
            f"images.{key}",
        )
        for key, name in DIFY_IMAGES.items()
    ]
    squid = config.ssrf_proxy.image
    if ecr_registry(parse_image(squid).host):
        squid = dify_contract.load(images.contract_release()).images["ssrf_proxy"]
    others = [(squid, "ssrf_proxy.image"), (BUSYBOX, "the sandbox's requirements writer")]
    if config.cache.engine == "container":
        others.append((VALKEY_IMAGE, 'Valkey (cache.engine = "container")'))
    if config.package_index.type != "none":
        proxy = config.package_index.proxy_image
        if ecr_registry(parse_image(proxy).host):
            proxy = str(type(config.package_index).model_fields["proxy_image"].default)
        others.append((proxy, "package_index.proxy_image"))
    for reference, used_by in others:
        image = parse_image(reference)
        items.append(
            MirrorItem(reference, mirrored_repository(reference, prefix, dify=False), image.tag, used_by)
        )
    return items


def config_lines(target: EcrRepository, plan: list[MirrorItem]) -> str:
    """The configuration that pulls the mirrored images."""
    host = host_of(target)
    registry = f"{host}/{target.name}" if target.name else host
    lines = ["[images]", f'registry = "{registry}"']
    for item in plan:
        section, _, key = item.used_by.partition(".")
        if section in ("ssrf_proxy", "package_index"):  # images named by the config, not the release
            lines += ["", f"[{section}]", f'{key} = "{host}/{item.repository}:{item.tag}"']
    return "\n".join(lines)


@contextmanager
def aws_errors(service: str) -> Iterator[None]:
    """botocore's errors as MirrorError naming the IAM action or the missing credential."""
    from botocore.exceptions import (  # noqa: PLC0415
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    try:
        yield
    except (ClientError, NoCredentialsError, PartialCredentialsError, NoRegionError) as exc:
        action = f"{service}:{getattr(exc, 'operation_name', '')}"
        fix = explain_aws(exc, action)
        if fix is not None:
            raise MirrorError(fix) from None
        code, message = error_code(exc)
        raise MirrorError(f"{action} failed ({code}: {message})", EXIT_FAILED) from None
    except BotoCoreError as exc:
        raise MirrorError(f"{service}: {exc}", EXIT_FAILED) from None


def ecr_credentials(ecr: Any) -> tuple[str, str]:
    """The registry login from `ecr:GetAuthorizationToken` (base64 of `AWS:<password>`, valid 12 hours)."""
    with aws_errors("ecr"):
        answer = ecr.get_authorization_token()
    user, _, password = (
        base64.b64decode(answer["authorizationData"][0]["authorizationToken"]).decode().partition(":")
    )
    return user, password


def existing_repositories(ecr: Any, target: EcrRepository, names: list[str]) -> set[str]:
    from botocore.exceptions import ClientError  # noqa: PLC0415

    found: set[str] = set()
    for name in dict.fromkeys(names):
        with aws_errors("ecr"):
            try:
                ecr.describe_repositories(registryId=target.account, repositoryNames=[name])
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "RepositoryNotFoundException":
                    raise
                continue
        found.add(name)
    return found


def create_repository(ecr: Any, target: EcrRepository, name: str) -> None:
    """Tags stay immutable (a version tag never moves under a running service) and images are scanned."""
    with aws_errors("ecr"):
        ecr.create_repository(
            registryId=target.account,
            repositoryName=name,
            imageTagMutability="IMMUTABLE",
            imageScanningConfiguration={"scanOnPush": True},
        )


def docker_hub_credentials(config: DifyConfig, client: Callable[[str, str], Any]) -> tuple[str, str] | None:
    """DOCKERHUB_USERNAME and DOCKERHUB_TOKEN, else the secret of `images.docker_hub_secret_arn`, else none
    (anonymous pulls)."""
    user, token = os.environ.get(DOCKER_HUB_USER), os.environ.get(DOCKER_HUB_TOKEN)
    if user and token:
        return user, token
    arn = config.images.docker_hub_secret_arn
    if arn is None:
        return None
    with aws_errors("secretsmanager"):
        value = client("secretsmanager", arn.split(":")[3]).get_secret_value(SecretId=arn)
    try:
        secret = json.loads(value["SecretString"])
        return str(secret["username"]), str(secret["password"])
    except (KeyError, TypeError, ValueError):
        raise MirrorError(
            f"images.docker_hub_secret_arn = {arn!r} does not hold "
            '{"username": ..., "password": ...} (a Docker Hub user and access token)'
        ) from None


def explain(exc: RegistryError, target_host: str, item: MirrorItem) -> MirrorError:
    """A registry failure as what to do about it."""
    detail = f" ({exc.detail})" if exc.detail else ""
    if exc.host == target_host and exc.status in {401, 403}:
        action = ECR_ACTIONS.get(exc.action, "the ECR push actions")
        return MirrorError(
            f"ECR refused {exc.action} in {item.repository}{detail}: grant {action} on the repository to "
            "the identity running mirror-images (see README, 'Mirroring the images to ECR')"
        )
    if exc.host == target_host and exc.action == "write manifest" and "immutable" in exc.detail.lower():
        return MirrorError(
            f"{item.repository}:{item.tag} already holds another image and the repository's tags are "
            f"immutable{detail}: the source tag has moved since it was mirrored; keep the mirrored image, or "
            f"delete it (aws ecr batch-delete-image --repository-name {item.repository} --image-ids "
            f"imageTag={item.tag}) and run mirror-images again"
        )
    hub = exc.host in DOCKER_HUB_HOSTS or exc.host == DOCKER_HUB_API
    if exc.status == 429:
        return MirrorError(
            f"{exc.host} limits pulls and refused {item.source}{detail}: "
            + (
                f"set {DOCKER_HUB_USER} and {DOCKER_HUB_TOKEN} (a Docker Hub access token) or "
                "images.docker_hub_secret_arn to pull as a Docker Hub account, or wait and run again"
                if hub
                else "wait and run again"
            )
        )
    if exc.status in {401, 403}:
        return MirrorError(
            f"{exc.host} refused to serve {item.source}{detail}: "
            + (
                f"set {DOCKER_HUB_USER} and {DOCKER_HUB_TOKEN} (a Docker Hub user and access token with "
                "read access) or images.docker_hub_secret_arn; if they are set, check them"
                if hub
                else "the source registry needs credentials this command does not have"
            )
        )
    if exc.status == 404 and exc.action == "find image":
        return MirrorError(f"{exc}: check {item.used_by} (the tag must exist at the source)")
    return MirrorError(f"{item.source}: {exc}", EXIT_FAILED)


def describe(item: MirrorItem, outcome: Outcome, dry_run: bool) -> str:
    name = f"{item.repository}:{item.tag}"
    if outcome.up_to_date:
        return f"{name}: up to date ({outcome.source_digest[:19]})"
    platforms = f"{', '.join(outcome.platforms)}; " if outcome.platforms else ""
    verb = "would copy" if dry_run else "copied"
    return (
        f"{name}: {verb} {platforms}{len(outcome.blobs)} blob(s), {megabytes(outcome.size)}"
        f" ({outcome.blobs_present} already there), {outcome.manifests} manifest(s) from {item.source}"
    )


def mirror(config: DifyConfig, args: argparse.Namespace) -> int:
    target = target_registry(config, args.registry)
    host = host_of(target)
    plan = mirror_plan(config, target.name)
    platforms = tuple(p for value in args.platform or [] for p in value.split(",") if p)
    ecr = aws_client("ecr", target.region)
    destination = Registry(host, url=REGISTRY_URLS.get(host), basic=ecr_credentials(ecr), push=True)
    present = existing_repositories(ecr, target, [item.repository for item in plan])
    hub = docker_hub_credentials(config, aws_client)
    sources: dict[str, Registry] = {}
    for item in plan:
        image = parse_image(item.source)
        api_host = DOCKER_HUB_API if image.host in DOCKER_HUB_HOSTS else image.host
        if api_host not in sources:
            credentials = hub if api_host == DOCKER_HUB_API else None
            sources[api_host] = Registry(
                api_host, url=REGISTRY_URLS.get(api_host), token_credentials=credentials
            )
        exists = item.repository in present
        if not exists and not args.dry_run:
            create_repository(ecr, target, item.repository)
            present.add(item.repository)
            print(f"created ECR repository {item.repository}", file=sys.stderr)
        copier = ImageCopier(
            sources[api_host],
            destination,
            platforms=platforms,
            dry_run=args.dry_run,
            target_exists=exists or not args.dry_run,
        )
        try:
            outcome = copier.copy(image.repository, item.repository, item.tag)
        except RegistryError as exc:
            raise explain(exc, host, item) from None
        note = "" if exists or not args.dry_run else " (would create the repository)"
        print(describe(item, outcome, args.dry_run) + note)
    print("\nDry run: nothing was written." if args.dry_run else "\nEvery image is mirrored.")
    print("Configuration that pulls these images:\n")
    print(config_lines(target, plan))
    return 0


def cmd_mirror(args: argparse.Namespace) -> int:
    try:
        config = load_config(config_path(args.config))
        return mirror(config, args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except MirrorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


def add_mirror_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "mirror-images",
        help="copy the release's images (every platform) into private ECR repositories, without Docker",
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
    )
    parser.add_argument("--config", default=default_config())
    parser.add_argument(
        "--registry",
        help="ACCOUNT.dkr.ecr.REGION.amazonaws.com[/prefix] (default: images.registry when it is ECR, else "
        f"the config's account and region with prefix {DEFAULT_PREFIX!r})",
    )
    parser.add_argument("--dry-run", action="store_true", help="list what would be copied; write nothing")
    parser.add_argument(
        "--platform",
        action="append",
        help="copy only these platforms, e.g. linux/arm64 (repeatable or comma-separated; default: all)",
    )
    parser.set_defaults(func=cmd_mirror)
