"""`dify-on-aws diagram`: render the configured deployment to PREFIX.svg, PREFIX.png and PREFIX.dot.

Without --template the configuration is synthesized (offline, into a temporary directory) and the
diagram is derived from the templates; with --template the given templates are used as they are.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dify_on_aws.config import DifyConfig, load_config
from dify_on_aws.diagram.model import derive
from dify_on_aws.diagram.render import GraphvizNotFoundError, to_dot, write_diagram

DEFAULT_CONFIG = "dify.toml"
DEFAULT_DIR = "docs/diagrams"
EXIT_RENDER = 1


def add_diagram_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `diagram` subcommand (sets `func` to `run`)."""
    diagram = subparsers.add_parser(
        "diagram",
        help="render the deployment's architecture to SVG and PNG (offline; needs Graphviz `dot`)",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    diagram.add_argument("--config", default=os.environ.get("DIFY_CONFIG", DEFAULT_CONFIG))
    diagram.add_argument(
        "--template",
        action="append",
        metavar="PATH",
        help="a synthesized template (*.template.json) or a directory of them such as cdk.out; "
        "repeatable; skips synthesis",
    )
    diagram.add_argument(
        "--out", metavar="PREFIX", help=f"output prefix (default {DEFAULT_DIR}/<config file name>)"
    )
    diagram.set_defaults(func=run)


def _config_path(given: str | None) -> str | None:
    """As `synth`: an explicit path must exist; the default dify.toml is optional."""
    if given and given != DEFAULT_CONFIG:
        return given
    return DEFAULT_CONFIG if Path(DEFAULT_CONFIG).is_file() else None


def load_templates(paths: list[str]) -> dict[str, dict[str, Any]]:
    """Stack name -> template, from template files or directories of *.template.json."""
    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(path.glob("*.template.json"))
            if not found:
                raise FileNotFoundError(f"no *.template.json in {path}")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"template {path} not found")
    templates: dict[str, dict[str, Any]] = {}
    for file in files:
        body = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(body, dict) or not isinstance(body.get("Resources"), dict):
            raise ValueError(f"{file} is not a CloudFormation template in JSON (no Resources)")
        templates[file.name.removesuffix(".json").removesuffix(".template")] = body
    return templates


def title_of(config: DifyConfig) -> str:
    return f"Dify on AWS: {config.name} · front door {config.front_door.type}"


def dot_for(config: DifyConfig, templates: Mapping[str, Mapping[str, Any]], config_path: str | None) -> str:
    """The DOT text for a synthesized configuration: what `diagram --config PATH` writes to PREFIX.dot."""
    arch = derive(templates, title=title_of(config), region=config.region)
    source = "dify-on-aws diagram" + (f" --config {config_path}" if config_path else "")
    return to_dot(arch, source=source)


def synthesized_dot(config_path: str | None) -> str:
    """Load (ConfigError when invalid), synthesize offline into a temporary directory, and draw."""
    from dify_on_aws.app import synthesize  # noqa: PLC0415 - jsii start-up only when synthesizing

    config = load_config(config_path)
    with tempfile.TemporaryDirectory(prefix="dify-diagram-") as tmp:
        result = synthesize(config, tmp, nag=False)
    return dot_for(config, result.templates, config_path)


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    if args.template:
        try:
            templates = load_templates(args.template)
        except (OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_RENDER
        names = sorted(templates)
        source = "dify-on-aws diagram " + " ".join(f"--template {t}" for t in args.template)
        text = to_dot(derive(templates, title=f"Dify on AWS: {' + '.join(names)}"), source=source)
        default_name = names[0]
    else:
        config_path = _config_path(args.config)
        text = synthesized_dot(config_path)
        default_name = Path(config_path).stem if config_path else "default"
    prefix = args.out or f"{DEFAULT_DIR}/{default_name}"
    try:
        written = write_diagram(text, prefix)
    except GraphvizNotFoundError as exc:
        print(f"error: {exc} (wrote {prefix}.dot only)", file=sys.stderr)
        return EXIT_RENDER
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_RENDER
    print(f"wrote {', '.join(str(p) for p in written)} in {time.monotonic() - started:.1f} s")
    return 0
