"""`[images]`: the Dify release and the image tags (version sets from the Dify contract)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from dify_on_aws.config.base import Section
from dify_on_aws.roles import Role
from dify_on_aws.services import dify_contract

_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_REGISTRY = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d+)?(/[a-z0-9._-]+)*$")
SECRET_ARN = re.compile(
    r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$"
)


DEFAULT_IMAGE_SET = dify_contract.load(dify_contract.DEFAULT_RELEASE).images


class ImagesConfig(Section):
    """Container images: one Dify release picks the api, web, sandbox, plugin daemon and SSRF proxy images
    that ship together (docs/dify-releases.md); single tags may be overridden within that set."""

    registry: str = Field(
        "docker.io/langgenius",
        description="Registry and namespace the images are pulled from, e.g. an ECR mirror "
        "`123456789012.dkr.ecr.us-east-1.amazonaws.com/langgenius` filled by `dify-on-aws mirror-images`. "
        "With an ECR registry the helper images (busybox, Valkey) are pulled from it too, under their source "
        "path (`<registry>/docker/library/busybox`).",
    )
    # The version set: dify_version, the four tags and force (keep them together).
    dify_version: str = Field(
        dify_contract.DEFAULT_RELEASE,
        description=f"The Dify release to run; one of {', '.join(dify_contract.releases())}. The tags below "
        "and `ssrf_proxy.image` default to the images of that release, and the containers get the "
        "environment its code reads. Setting only `api` to a supported release selects that release.",
    )
    api: str = Field(
        DEFAULT_IMAGE_SET["api"], description="Tag of `dify-api` (api, worker, worker beat, migrations)."
    )
    web: str = Field(DEFAULT_IMAGE_SET["web"], description="Tag of `dify-web`.")
    sandbox: str = Field(DEFAULT_IMAGE_SET["sandbox"], description="Tag of `dify-sandbox`.")
    plugin_daemon: str = Field(
        DEFAULT_IMAGE_SET["plugin_daemon"], description="Tag of `dify-plugin-daemon` (a `-local` build)."
    )
    force: bool = Field(
        False,
        description="Accept tags (or a `dify_version`) that are not a known set. Nothing then checks that "
        "the images work together or read the environment they are given.",
    )

    @model_validator(mode="before")
    @classmethod
    def _version_set(cls, data: object) -> object:
        """Unset tags come from the release's set; `api` alone names the release when it is one."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        known = dify_contract.releases()
        if "dify_version" not in data and data.get("api") in known:
            data["dify_version"] = data["api"]
        version = data.get("dify_version", dify_contract.DEFAULT_RELEASE)
        if isinstance(version, str) and version in known:
            for key, tag in dify_contract.load(version).images.items():
                if key in dify_contract.IMAGE_KEYS:
                    data.setdefault(key, tag)
        return data

    def role_tags(self) -> dict[Role, str]:
        """The image tag each role runs (every dify-api role shares the api tag)."""
        return {
            Role.API: self.api, Role.WORKER: self.api, Role.BEAT: self.api, Role.MIGRATION: self.api,
            Role.WEB: self.web, Role.SANDBOX: self.sandbox, Role.PLUGIN_DAEMON: self.plugin_daemon,
        }  # fmt: skip

    def contract_release(self) -> str:
        """The release whose contract shapes the containers' environment: `dify_version`, or the default
        release for a forced version the project does not know."""
        known = self.dify_version in dify_contract.releases()
        return self.dify_version if known else dify_contract.DEFAULT_RELEASE

    @model_validator(mode="after")
    def _known_combination(self) -> ImagesConfig:
        if self.force:
            return self
        known = dify_contract.releases()
        if self.dify_version not in known:
            raise ValueError(
                f"images.dify_version = {self.dify_version!r} is not a supported release "
                f"({', '.join(known)}); pick one of them, or set images.force = true and every tag yourself"
            )
        expected = dify_contract.load(self.dify_version).images
        for key in dify_contract.IMAGE_KEYS:
            tag = getattr(self, key)
            if tag != expected[key]:
                other = "api" if key != "api" else "dify_version"
                raise ValueError(
                    f"images.{key} = {tag!r} with images.{other} = {getattr(self, other)!r} is not a known "
                    f"combination (Dify {self.dify_version} ships {key} {expected[key]!r}); use "
                    f"{expected[key]!r}, change images.dify_version, or set images.force = true"
                )
        return self

    docker_hub_secret_arn: str | None = Field(
        None,
        description='Full ARN of a Secrets Manager secret `{"username": ..., "password": ...}` (a Docker '
        "Hub user and access token) used as the ECS repository credentials of every image pulled from "
        "`docker.io`, so pulls count against that account instead of the NAT address's anonymous limit. "
        "Only the task execution roles may read it; encrypt it with the default `aws/secretsmanager` key "
        "(a customer managed key also needs `kms:Decrypt` for those roles, which is not granted). Unset: "
        "Docker Hub images are pulled anonymously (the synth summary says so).",
    )

    @field_validator("registry")
    @classmethod
    def _registry(cls, value: str) -> str:
        if not _REGISTRY.fullmatch(value):
            raise ValueError("must be a registry host with an optional path, without scheme or trailing '/'")
        return value

    @field_validator("docker_hub_secret_arn")
    @classmethod
    def _secret_arn(cls, value: str | None) -> str | None:
        if value is not None and not SECRET_ARN.fullmatch(value):
            raise ValueError(
                "must be the full ARN of a Secrets Manager secret, e.g. "
                "'arn:aws:secretsmanager:us-east-1:123456789012:secret:dockerhub-AbCdEf' (ECS repository "
                "credentials take the complete ARN, with its 6-character suffix)"
            )
        return value

    @field_validator("api", "web", "sandbox", "plugin_daemon", "dify_version")
    @classmethod
    def _tag(cls, value: str) -> str:
        if value == "latest":
            raise ValueError("'latest' is not allowed: pin a version so upgrades are deliberate")
        if not _IMAGE_TAG.fullmatch(value):
            raise ValueError("must be a Docker image tag (letters, digits, '_', '.', '-')")
        return value
