"""`dify-on-aws diagram`: render the configured deployment to PREFIX.svg, PREFIX.png and PREFIX.dot.

Without --template the configuration is synthesized (offline, into a temporary directory) and the
diagram is derived from the templates; with --template the given templates are used as they are.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dify_on_aws.config import DifyConfig, load_config
from dify_on_aws.diagram.model import derive
from dify_on_aws.diagram.render import GraphvizNotFoundError, to_dot, write_diagram
from dify_on_aws.inputs import config_path as resolve_config_path
from dify_on_aws.inputs import default_config
from dify_on_aws.templates import TemplateInputError, read_templates

DEFAULT_DIR = "docs/diagrams"
EXIT_RENDER = 1


def add_diagram_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `diagram` subcommand (sets `func` to `run`)."""
    diagram = subparsers.add_parser(
        "diagram",
        help="render the deployment's architecture to SVG and PNG (offline; needs Graphviz `dot`)",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    diagram.add_argument("--config", default=default_config())
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
            templates = read_templates(args.template)
        except TemplateInputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_RENDER
        names = sorted(templates)
        source = "dify-on-aws diagram " + " ".join(f"--template {t}" for t in args.template)
        text = to_dot(derive(templates, title=f"Dify on AWS: {' + '.join(names)}"), source=source)
        default_name = names[0]
    else:
        config_path = resolve_config_path(args.config)
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
