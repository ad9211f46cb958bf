"""Copy one image, every platform of it, from one registry to another by digest (no Docker).

Order, so that a registry never holds a manifest whose content is missing: the blobs (config and layers)
of each platform's manifest, then each platform manifest by digest, then the index (or the single
manifest) under the tag. Idempotent: an unchanged tag costs one HEAD on each side (a HEAD does not count
against Docker Hub's pull limit); blobs and manifests the destination has are not copied again.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

from dify_on_aws.operations.registry import Manifest, Registry, RegistryError, sha256

# buildx's attestation manifests carry this annotation naming the image manifest they describe.
ATTESTS = "vnd.docker.reference.digest"


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int


@dataclass
class Outcome:
    """What a copy did (or, in a dry run, would do)."""

    source_digest: str
    up_to_date: bool = False
    platforms: list[str] = field(default_factory=list)
    manifests: int = 0
    blobs: list[Blob] = field(default_factory=list)
    blobs_present: int = 0

    @property
    def size(self) -> int:
        return sum(blob.size for blob in self.blobs)


class ProgressBar:
    """Bytes copied for one image on stderr: a redrawn bar on a terminal, a line per tenth otherwise."""

    WIDTH = 30

    def __init__(self, label: str, total: int, stream: TextIO | None = None) -> None:
        self.label, self.total, self.done = label, max(total, 1), 0
        self.stream = stream or sys.stderr
        self._tty = self.stream.isatty()
        self._shown = -1

    def advance(self, count: int) -> None:
        self.done += count
        tenth = min(10, self.done * 10 // self.total)
        if self._tty or tenth != self._shown:
            self._shown = tenth
            self._draw()

    def _draw(self) -> None:
        filled = min(self.WIDTH, self.done * self.WIDTH // self.total)
        line = (
            f"{self.label} [{'#' * filled}{'.' * (self.WIDTH - filled)}] "
            f"{min(100, self.done * 100 // self.total):3d}% {megabytes(self.done)}/{megabytes(self.total)}"
        )
        self.stream.write(f"\r{line}" if self._tty else f"{line}\n")
        self.stream.flush()

    def close(self) -> None:
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()


def megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def platform_name(entry: dict[str, object]) -> str:
    platform = entry.get("platform")
    if not isinstance(platform, dict):
        return "unknown"
    name = f"{platform.get('os', 'unknown')}/{platform.get('architecture', 'unknown')}"
    return f"{name}/{platform['variant']}" if platform.get("variant") else name


def _entries(manifest: Manifest) -> list[dict[str, object]]:
    entries = manifest.json().get("manifests", [])
    return [entry for entry in entries if isinstance(entry, dict)] if isinstance(entries, list) else []


def select_platforms(index: Manifest, platforms: Sequence[str]) -> Manifest:
    """The index with only the given platforms (and the attestations of those); the unchanged index when no
    platform is given. A filtered index is a new manifest with its own digest."""
    if not platforms:
        return index
    entries = _entries(index)
    kept = [e for e in entries if platform_name(e) in platforms]
    if not kept:
        found = ", ".join(sorted({platform_name(e) for e in entries}))
        raise RegistryError(f"no platform {', '.join(platforms)} in the image (it has {found})")
    digests = {e.get("digest") for e in kept}
    kept += [e for e in entries if _attests(e) in digests]
    data = {**index.json(), "manifests": kept}
    body = json.dumps(data, indent=3).encode()
    return Manifest(index.media_type, body, sha256(body))


def _attests(entry: dict[str, object]) -> object:
    annotations = entry.get("annotations")
    return annotations.get(ATTESTS) if isinstance(annotations, dict) else None


def _blobs(manifest: Manifest) -> list[Blob]:
    """Config and layers of an image manifest, without non-distributable (foreign) layers."""
    data = manifest.json()
    config = data.get("config")
    layers = data.get("layers")
    descriptors = [config] if isinstance(config, dict) else []
    descriptors += [layer for layer in layers if isinstance(layer, dict)] if isinstance(layers, list) else []
    return [
        Blob(str(d["digest"]), int(d.get("size", 0)))
        for d in descriptors
        if "digest" in d and not d.get("urls")
    ]


@dataclass
class ImageCopier:
    """Copies `source_repository:tag` of `source` to `target_repository:tag` of `target`."""

    source: Registry
    target: Registry
    platforms: Sequence[str] = ()
    dry_run: bool = False
    target_exists: bool = True
    stream: TextIO | None = None

    def copy(self, source_repository: str, target_repository: str, tag: str) -> Outcome:
        digest = self.source.manifest_digest(source_repository, tag)
        if digest is None:
            raise RegistryError(
                f"{self.source.host}/{source_repository}:{tag} does not exist",
                status=404,
                action="find image",
            )
        outcome = Outcome(digest)
        present = self._target_digest(target_repository, tag)
        if not self.platforms and present == digest:
            outcome.up_to_date = True
            return outcome
        top = self.source.get_manifest(source_repository, digest)
        if top.is_index:
            top = select_platforms(top, self.platforms)
            outcome.source_digest = top.digest
            if present == top.digest:
                outcome.up_to_date = True
                return outcome
            # buildx's attestations (platform unknown/unknown) are copied but are not platforms.
            outcome.platforms = [
                name for e in _entries(top) if (name := platform_name(e)) != "unknown/unknown"
            ]
        children = self._children(source_repository, top)
        images = [m for m in children if not m.is_index] if top.is_index else [top]
        outcome.manifests = len(children) + 1
        blobs = list({blob.digest: blob for image in images for blob in _blobs(image)}.values())
        outcome.blobs = [b for b in blobs if not self._target_has(target_repository, b.digest)]
        outcome.blobs_present = len(blobs) - len(outcome.blobs)
        if self.dry_run:
            return outcome
        self._copy_blobs(source_repository, target_repository, tag, outcome.blobs)
        for child in children:
            if not self._target_has_manifest(target_repository, child.digest):
                self.target.put_manifest(target_repository, child.digest, child)
        self.target.put_manifest(target_repository, tag, top)
        return outcome

    def _children(self, repository: str, manifest: Manifest) -> list[Manifest]:
        """Every manifest an index refers to, deepest first (an index may hold indexes)."""
        found: list[Manifest] = []
        for entry in _entries(manifest) if manifest.is_index else []:
            child = self.source.get_manifest(repository, str(entry["digest"]))
            found += [*self._children(repository, child), child]
        return found

    def _target_digest(self, repository: str, tag: str) -> str | None:
        return self.target.manifest_digest(repository, tag) if self.target_exists else None

    def _target_has(self, repository: str, digest: str) -> bool:
        return self.target_exists and self.target.has_blob(repository, digest)

    def _target_has_manifest(self, repository: str, digest: str) -> bool:
        return self.target.manifest_digest(repository, digest) == digest

    def _copy_blobs(
        self, source_repository: str, target_repository: str, tag: str, blobs: list[Blob]
    ) -> None:
        if not blobs:
            return
        bar = ProgressBar(f"{target_repository}:{tag}", sum(b.size for b in blobs), self.stream)
        try:
            for blob in blobs:
                response = self.source.open_blob(source_repository, blob.digest)
                try:
                    assert response.stream is not None
                    self.target.upload_blob(target_repository, blob.digest, blob.size, response.stream, bar)
                finally:
                    response.close()
        finally:
            bar.close()
