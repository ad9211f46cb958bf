"""`dify-on-aws cost`: the monthly cost of a deployment, read from its CloudFormation templates.

Without --template the configuration is synthesized first (offline, into a temporary directory). With
--plot, one deployment per front door type is synthesized and drawn as cost against requests per month.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import fields
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from dify_on_aws.cost.estimate import estimate, render_json, render_text
from dify_on_aws.cost.model import DEFAULT_REGION, HOURS_PER_MONTH, Template, Usage, default_prices
from dify_on_aws.cost.plot import render_plot
from dify_on_aws.inputs import config_path, default_config
from dify_on_aws.templates import TemplateInputError, read_templates

if TYPE_CHECKING:
    from dify_on_aws.config import DifyConfig

EXIT_USAGE = 2
PLACEHOLDER_ACCOUNT = "123456789012"
# (config, scratch directory) -> {label: {stack name: template}}: the deployments drawn by --plot.
DeploymentFactory = Callable[["DifyConfig", Path], Mapping[str, Mapping[str, Template]]]
USAGE_FLAGS = {
    "requests": "--requests",
    "gb_out": "--gb-out",
    "duration_ms": "--duration-ms",
    "active_share": "--active-share",
}


class CostInputError(Exception):
    """A bad template path or usage value: reported in one line, exit status 2."""


def add_cost_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    *,
    plot_deployments: DeploymentFactory | None = None,
) -> None:
    """Register `cost`. `plot_deployments` replaces the default one-deployment-per-front-door factory."""
    defaults = Usage()
    helps = Usage.help()
    parser = subparsers.add_parser(
        "cost",
        help="estimate the monthly cost from the synthesized templates",
        description="Estimate the monthly cost of a deployment line by line from its CloudFormation "
        "templates, with unit prices from prices.json (a source and date per price). Unknown prices are "
        "reported as unknown, never as zero.",
    )
    parser.add_argument(
        "--config",
        default=default_config(),
        help="configuration to synthesize when no --template is given (default: $DIFY_CONFIG or dify.toml)",
    )
    parser.add_argument(
        "--template",
        action="append",
        metavar="PATH",
        help="a CloudFormation template (JSON) or a directory of *.template.json; repeat to sum several "
        "stacks. Without it, --config is synthesized.",
    )
    parser.add_argument("--region", help="price region (default: the config's region, else us-east-1)")
    for name, flag in USAGE_FLAGS.items():
        parser.add_argument(
            flag,
            dest=name,
            type=float,
            metavar="N",
            help=f"{helps[name]} (default {getattr(defaults, name):g})",
        )
    others = ", ".join(
        f"{f.name} ({getattr(defaults, f.name):g})" for f in fields(Usage) if f.name not in USAGE_FLAGS
    )
    parser.add_argument(
        "--usage",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"another usage input, repeatable: {others}",
    )
    parser.add_argument("--hours", type=float, default=HOURS_PER_MONTH, help="hours per month (default 730)")
    parser.add_argument(
        "--fallback-region",
        metavar="REGION",
        help="use this region's price where the price region has none (marked ~ as a proxy)",
    )
    parser.add_argument("--json", action="store_true", help="print the estimate as JSON")
    parser.add_argument(
        "--plot", metavar="PATH", help="write an SVG of monthly cost against requests per month"
    )
    parser.set_defaults(func=partial(run, plot_deployments=plot_deployments or front_door_deployments))


def usage_from_args(args: argparse.Namespace) -> Usage:
    values: dict[str, float] = {}
    known = {f.name for f in fields(Usage)}
    for item in args.usage or []:
        key, sep, raw = str(item).partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in known:
            raise CostInputError(
                f"--usage {item!r}: expected KEY=VALUE with KEY one of {', '.join(sorted(known))}"
            )
        try:
            values[key] = float(raw)
        except ValueError:
            raise CostInputError(f"--usage {item!r}: {raw!r} is not a number") from None
    for name in USAGE_FLAGS:
        if getattr(args, name, None) is not None:
            values[name] = float(getattr(args, name))
    try:
        return Usage(**values)
    except ValueError as exc:
        raise CostInputError(str(exc)) from None


def synthesize_templates(config: DifyConfig, outdir: Path) -> tuple[dict[str, Template], dict[str, str]]:
    """The config's templates by stack name, and the region of stacks pinned elsewhere (e.g. us-east-1)."""
    import aws_cdk as cdk  # noqa: PLC0415 - jsii start-up only when synthesizing

    from dify_on_aws.app import synthesize  # noqa: PLC0415

    result = synthesize(config, outdir, nag=False)
    pinned = {
        stack.stack_name: stack.region
        for stack in result.stacks
        if not cdk.Token.is_unresolved(stack.region) and stack.region != config.region
    }
    return dict(result.templates), pinned


def front_door_deployments(config: DifyConfig, outdir: Path) -> dict[str, dict[str, Template]]:
    """One synthesized deployment per front door type the config model accepts, all else unchanged."""
    from dify_on_aws.config import ConfigError, parse_config  # noqa: PLC0415
    from dify_on_aws.config.model import FrontDoorConfig  # noqa: PLC0415

    kinds = get_args(FrontDoorConfig.model_fields["type"].annotation) or (config.front_door.type,)
    deployments: dict[str, dict[str, Template]] = {}
    for kind in kinds:
        data: dict[str, Any] = config.model_dump(mode="json")
        data["front_door"] = {**data.get("front_door", {}), "type": kind}
        source = f"front_door.type = {kind!r}"
        try:
            variant = parse_config(data, source)
        except ConfigError as exc:
            # Some front doors need an explicit environment; the account does not change any price.
            pinned = {**data, "account": data.get("account") or PLACEHOLDER_ACCOUNT}
            pinned["region"] = data.get("region") or DEFAULT_REGION
            if kind == "lambda_proxy":
                # The proxy front door forwards to one task: plot it with the layout it needs (one shared
                # task does not scale out, so the per-role scaling ceilings go).
                services = {
                    key: {k: v for k, v in value.items() if k != "max_count"}
                    if isinstance(value, dict)
                    else value
                    for key, value in data.get("services", {}).items()
                }
                pinned["services"] = {**services, "layout": "single_task"}
            try:
                variant = parse_config(pinned, source)
            except ConfigError:
                print(f"warning: not plotting front door {kind!r}: {exc}", file=sys.stderr)
                continue
        deployments[str(kind)], _ = synthesize_templates(variant, outdir / str(kind))
    return deployments


def run(args: argparse.Namespace, *, plot_deployments: DeploymentFactory = front_door_deployments) -> int:
    try:
        usage = usage_from_args(args)
        templates: Mapping[str, Template] | None = read_templates(args.template) if args.template else None
        if args.hours <= 0:
            raise CostInputError(f"--hours must be positive, got {args.hours:g}")
    except (CostInputError, TemplateInputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    config = None
    stack_regions: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="dify-cost-") as scratch:
        if templates is None:
            from dify_on_aws.config import load_config  # noqa: PLC0415

            config = load_config(config_path(args.config))
            templates, stack_regions = synthesize_templates(config, Path(scratch) / "deployment")
        region = args.region or (config.region if config else None) or DEFAULT_REGION
        if region not in default_prices().regions:
            print(
                f"warning: prices.json has no prices for {region} "
                f"(it has {', '.join(default_prices().regions)}); "
                "regional lines are unknown unless --fallback-region is given",
                file=sys.stderr,
            )
        options: dict[str, Any] = {
            "region": region,
            "usage": usage,
            "hours": args.hours,
            "fallback_region": args.fallback_region,
        }
        result = estimate(templates, stack_regions=stack_regions, **options)
        sys.stdout.write(render_json(result) if args.json else render_text(result))
        if args.plot:
            deployments: Mapping[str, Mapping[str, Template]] = (
                {", ".join(templates): templates}
                if config is None
                else plot_deployments(config, Path(scratch) / "plot")
            )
            Path(args.plot).write_text(render_plot(deployments, **options), encoding="utf-8")
            print(
                f"wrote {args.plot} ({len(deployments)} deployment(s))",
                file=sys.stderr if args.json else sys.stdout,
            )
    return 0
