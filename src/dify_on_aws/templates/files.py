"""Reading synthesized templates: from a cloud assembly directory (its last synth only), any directory of
*.template.json, or single files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class TemplateInputError(ValueError):
    """A template path or file that cannot be used; the message names the file and the problem."""


ASSEMBLY_MANIFEST = "manifest.json"
STACK_ARTIFACT = "aws:cloudformation:stack"
NESTED_ASSEMBLY = "cdk:cloud-assembly"


def assembly_templates(directory: Path) -> list[Path] | None:
    """The template files of the stacks of the last synth into a cloud assembly (such as cdk.out), from
    its manifest.json; None when the directory has no manifest. A cdk.out keeps the templates of every
    earlier synth, but the manifest lists only the stacks of the last one."""
    manifest = directory / ASSEMBLY_MANIFEST
    if not manifest.is_file():
        return None
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TemplateInputError(f"{manifest}: not a cloud assembly manifest ({exc})") from None
    artifacts = data.get("artifacts") if isinstance(data, dict) else None
    files: list[Path] = []
    for artifact in (artifacts or {}).values():
        if not isinstance(artifact, dict):
            continue
        properties = artifact.get("properties") or {}
        if artifact.get("type") == STACK_ARTIFACT and isinstance(properties.get("templateFile"), str):
            files.append(directory / properties["templateFile"])
        elif artifact.get("type") == NESTED_ASSEMBLY and isinstance(properties.get("directoryName"), str):
            files.extend(assembly_templates(directory / properties["directoryName"]) or [])
    return files


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
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise TemplateInputError(f"{file}: cannot read ({exc.strerror or exc})") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise TemplateInputError(f"{file}: not a JSON CloudFormation template ({exc})") from None
        if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
            raise TemplateInputError(f"{file}: not a CloudFormation template (no Resources section)")
        name = file.name.removesuffix(".json").removesuffix(".template")
        while name in templates:
            name += "'"
        templates[name] = data
    return templates
