"""Where a container image reference points: an Amazon ECR repository (whose pull the execution role needs
permission for) or Docker Hub (which limits anonymous pulls per IP address). Pure functions, no CDK.

Reference grammar as Docker normalizes it: the first path component is a registry host when it contains
`.` or `:` or is `localhost`; otherwise the image is on Docker Hub (`docker.io`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DOCKER_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
# Helper images the tasks run beside Dify's (multi-architecture; mirrored by `dify-on-aws mirror-images`).
BUSYBOX = "public.ecr.aws/docker/library/busybox:1.37"
VALKEY_IMAGE = "public.ecr.aws/docker/library/valkey:8.0-alpine"
# Private ECR registry hosts: <account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn] ("Amazon ECR private
# registry", Amazon ECR User Guide: "https://aws_account_id.dkr.ecr.region.amazonaws.com").
_ECR_HOST = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr(-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?$"
)


@dataclass(frozen=True)
class ImageRef:
    host: str
    repository: str
    tag: str


@dataclass(frozen=True)
class EcrRepository:
    account: str
    region: str
    name: str


def parse_image(reference: str) -> ImageRef:
    """Split `host/path/name:tag` (digests and a missing tag are kept in `tag` as given)."""
    first, _, rest = reference.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        host, path = first, rest
    else:
        host, path = "docker.io", reference
    if "@" in path:
        path, _, digest = path.partition("@")
        tag = f"@{digest}"
    else:
        name, colon, tag = path.rpartition(":")
        path, tag = (name, tag) if colon and "/" not in tag else (path, "latest")
    if host in DOCKER_HUB_HOSTS and "/" not in path:
        path = f"library/{path}"
    return ImageRef(host, path, tag)


def ecr_repository(reference: str) -> EcrRepository | None:
    """The ECR repository an image is pulled from, or None for any other registry."""
    image = parse_image(reference)
    match = _ECR_HOST.fullmatch(image.host)
    if match is None:
        return None
    return EcrRepository(match["account"], match["region"], image.repository)


def is_docker_hub(reference: str) -> bool:
    return parse_image(reference).host in DOCKER_HUB_HOSTS


def ecr_registry(registry: str) -> EcrRepository | None:
    """`<account>.dkr.ecr.<region>.amazonaws.com[/prefix]` as account, region and prefix (`name`), or None
    when `registry` is not a private ECR registry (the form `images.registry` and `--registry` take)."""
    host, _, prefix = registry.partition("/")
    match = _ECR_HOST.fullmatch(host)
    if match is None:
        return None
    return EcrRepository(match["account"], match["region"], prefix)


def mirrored_repository(reference: str, prefix: str, *, dify: bool) -> str:
    """The repository an image is mirrored to under `prefix`: a Dify image keeps only its name, as
    `images.registry` is read (`<registry>/dify-api`); any other image keeps its whole source path
    (`public.ecr.aws/ubuntu/squid` -> `<prefix>/ubuntu/squid`), so two sources never share a repository."""
    path = parse_image(reference).repository
    name = path.rsplit("/", 1)[-1] if dify else path
    return f"{prefix}/{name}" if prefix else name


def helper_image(reference: str, registry: str) -> str:
    """A helper image (not one of Dify's, e.g. busybox or Valkey) as the tasks pull it: from the ECR mirror
    when `images.registry` is one (where `dify-on-aws mirror-images` puts it), else from its source."""
    target = ecr_registry(registry)
    if target is None:
        return reference
    host = registry.partition("/")[0]
    return f"{host}/{mirrored_repository(reference, target.name, dify=False)}:{parse_image(reference).tag}"
