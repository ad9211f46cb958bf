"""Reading synthesized templates: from a cloud assembly directory (its last synth only), any directory of
*.template.json, or single files; and the construct metadata a cloud assembly keeps per stack."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class TemplateInputError(ValueError):
    """A template path or file that cannot be used; the message names the file and the problem."""


ASSEMBLY_MANIFEST = "manifest.json"
STACK_ARTIFACT = "aws:cloudformation:stack"
NESTED_ASSEMBLY = "cdk:cloud-assembly"


@dataclass(frozen=True)
class MetadataEntry:
    """One construct metadata entry of a stack: the construct's path (from the app), its type and data."""

    path: str
    type: str
    data: Any


@dataclass(frozen=True)
class Assembly:
    """The stacks of a cloud assembly's last synth: templates and construct metadata by stack name."""

    templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    metadata: dict[str, list[MetadataEntry]] = field(default_factory=dict)


def _json(file: Path, what: str) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TemplateInputError(f"{file}: cannot read ({exc.strerror or exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TemplateInputError(f"{file}: not {what} ({exc})") from None


def stack_artifacts(directory: Path) -> list[tuple[Path, dict[str, Any]]] | None:
    """(assembly directory, artifact) of each stack of the last synth into a cloud assembly (such as
    cdk.out), from its manifest.json; None when the directory has no manifest. A cdk.out keeps the
    templates of every earlier synth, but the manifest lists only the stacks of the last one."""
    manifest = directory / ASSEMBLY_MANIFEST
    if not manifest.is_file():
        return None
    data = _json(manifest, "a cloud assembly manifest")
    artifacts = data.get("artifacts") if isinstance(data, dict) else None
    found: list[tuple[Path, dict[str, Any]]] = []
    for artifact in (artifacts or {}).values():
        if not isinstance(artifact, dict):
            continue
        properties = artifact.get("properties") or {}
        if artifact.get("type") == STACK_ARTIFACT and isinstance(properties.get("templateFile"), str):
            found.append((directory, artifact))
        elif artifact.get("type") == NESTED_ASSEMBLY and isinstance(properties.get("directoryName"), str):
            found.extend(stack_artifacts(directory / properties["directoryName"]) or [])
    return found


def assembly_templates(directory: Path) -> list[Path] | None:
    """The template files of the stacks of a cloud assembly's last synth; None without a manifest."""
    artifacts = stack_artifacts(directory)
    if artifacts is None:
        return None
    return [where / artifact["properties"]["templateFile"] for where, artifact in artifacts]


def _template(file: Path) -> dict[str, Any]:
    data = _json(file, "a JSON CloudFormation template")
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise TemplateInputError(f"{file}: not a CloudFormation template (no Resources section)")
    return data


def _stack_name(file: Path) -> str:
    return file.name.removesuffix(".json").removesuffix(".template")


def read_templates(paths: list[str]) -> dict[str, dict[str, Any]]:
    """Stack name (file name without .template.json) -> template, from files and directories. A cloud
    assembly directory (with a manifest.json) yields the stacks of its last synth only; any other
    directory yields every *.template.json in it."""
    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            listed = assembly_templates(path)
            if listed is not None and not listed:
                raise TemplateInputError(f"{path}: its {ASSEMBLY_MANIFEST} lists no CloudFormation stack")
            found = sorted(path.glob("*.template.json")) if listed is None else listed
            if not found:
                raise TemplateInputError(f"{path}: no *.template.json in this directory")
            files.extend(found)
        elif not path.exists():
            raise TemplateInputError(f"{path}: cannot read (not found)")
        else:
            files.append(path)
    templates: dict[str, dict[str, Any]] = {}
    for file in files:
        name = _stack_name(file)
        while name in templates:
            name += "'"
        templates[name] = _template(file)
    return templates


def read_assembly(directory: Path | str) -> Assembly:
    """The templates and construct metadata (inline in the manifest, or in each stack's
    additionalMetadataFile) of the stacks of a cloud assembly's last synth."""
    artifacts = stack_artifacts(Path(directory))
    if not artifacts:
        raise TemplateInputError(f"{directory}: not a cloud assembly with stacks (no {ASSEMBLY_MANIFEST})")
    assembly = Assembly()
    for where, artifact in artifacts:
        file = where / artifact["properties"]["templateFile"]
        name = _stack_name(file)
        assembly.templates[name] = _template(file)
        entries = dict(artifact.get("metadata") or {})
        extra = artifact.get("additionalMetadataFile")
        if isinstance(extra, str):
            entries.update(_json(where / extra, "a construct metadata file"))
        assembly.metadata[name] = [
            MetadataEntry(path, str(entry.get("type")), entry.get("data"))
            for path, listed in entries.items()
            for entry in listed
            if isinstance(entry, dict)
        ]
    return assembly
