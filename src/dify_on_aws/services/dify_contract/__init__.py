"""What Dify's own code reads, per supported release: one data file of facts each (`<release>.json`).

Every fact names the repository, path and commit it was read from (`sources`). A release is supported when
its file exists here; docs/dify-releases.md says how to add the next one. The files hold facts (variable
names, required ones, defaults that matter, queues), never code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

_HERE = Path(__file__).parent
# Image keys of a version set: the images.<key> tags of the configuration, and ssrf_proxy (a full reference).
IMAGE_KEYS = ("api", "web", "sandbox", "plugin_daemon")


@dataclass(frozen=True)
class Source:
    repo: str
    path: str
    commit: str


@dataclass(frozen=True)
class Component:
    """One image's reader: the variables it reads (each with the source key it was read from), those it
    needs without a usable default, and the defaults that matter."""

    image: str
    reads: Mapping[str, str]
    required: Mapping[str, Mapping[str, Any]]
    defaults: Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class Contract:
    release: str
    sources: Mapping[str, Source]
    images: Mapping[str, str]
    components: Mapping[str, Component]
    worker_default_queues: tuple[str, ...]
    beat_queues: Mapping[str, str]
    api_queues: tuple[str, ...]

    def enqueued(self) -> list[str]:
        """Every queue beat's schedule or the api sends to."""
        return list(dict.fromkeys([*self.beat_queues.values(), *self.api_queues]))

    def worker_queues(self) -> list[str]:
        """The entrypoint's default list plus every queue something enqueues to, in that order."""
        return list(dict.fromkeys([*self.worker_default_queues, *self.enqueued()]))


def release_key(release: str) -> tuple[int, ...]:
    """Sort key of a release name: its numeric parts (other parts count as 0)."""
    return tuple(int(x) if x.isdigit() else 0 for x in release.split("."))


def releases(directory: Path = _HERE) -> tuple[str, ...]:
    """Supported Dify releases, oldest first (`directory`: another folder of contract files, for tests)."""
    return tuple(sorted((p.stem for p in directory.glob("*.json")), key=release_key))


@cache
def load(release: str, directory: Path = _HERE) -> Contract:
    """The contract of `release`; KeyError naming the supported releases when there is none."""
    path = directory / f"{release}.json"
    if release not in releases(directory):
        raise KeyError(f"no contract for Dify {release}; supported: {', '.join(releases(directory))}")
    data = json.loads(path.read_text(encoding="utf-8"))
    queues = data["queues"]
    return Contract(
        release=data["release"],
        sources={key: Source(**value) for key, value in data["sources"].items()},
        images={key: str(value["value"]) for key, value in data["images"].items()},
        components={
            name: Component(
                image=value["image"],
                reads=value["reads"],
                required=value.get("required", {}),
                defaults=value.get("defaults", {}),
            )
            for name, value in data["components"].items()
        },
        worker_default_queues=tuple(queues["worker_default"]["value"]),
        beat_queues={task: entry["queue"] for task, entry in queues["beat"].items()},
        api_queues=tuple(queues["api"]["value"]),
    )


DEFAULT_RELEASE = "1.13.3"
