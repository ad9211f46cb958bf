"""`dify-on-aws`: synthesize, validate a config and generate the configuration reference.

Configuration mistakes print one line per problem and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from dify_on_aws.config import ConfigError, DifyConfig, load_config
from dify_on_aws.config.effects import ineffective_options
from dify_on_aws.config.model import CLOUDFRONT_FRONT_DOORS
from dify_on_aws.cost import summary_line
from dify_on_aws.cost.command import add_cost_parser
from dify_on_aws.cost.price_update import add_prices_parser
from dify_on_aws.diagram.command import add_diagram_parser
from dify_on_aws.inputs import config_path, default_config
from dify_on_aws.operations.ecs_exec import add_exec_parser
from dify_on_aws.operations.mirror import add_mirror_parser
from dify_on_aws.operations.run_task import add_run_task_parser
from dify_on_aws.operations.smoke import add_smoke_parser
from dify_on_aws.operations.status import add_status_parser
from dify_on_aws.operations.upgrade_plan import add_upgrade_plan_parser
from dify_on_aws.services.images import is_docker_hub
from dify_on_aws.toolchain import installed_node_version, node_warning

EXIT_CONFIG = 2
EXIT_NAG = 1
FRONT_DOOR_SHAPES = {
    "cloudfront": "CloudFront -> VPC origin -> internal ALB",
    "alb": "ALB -> ECS services",
    "api_gateway": "API Gateway HTTP API -> VPC link -> Cloud Map -> ECS services",
    "lambda": "CloudFront -> Lambda function URLs (api, web); other roles on ECS",
    "lambda_proxy": "CloudFront -> Lambda function URL (nginx) -> the Dify task",
}


def _load(given: str | None) -> DifyConfig:
    return load_config(config_path(given))


def _summary(config: DifyConfig, result_dir: Path, templates: dict[str, dict[str, object]]) -> str:
    lines = [f"Synthesized {len(templates)} stack(s) into {result_dir}/ (config: {config.name})"]
    for name, template in templates.items():
        resources = template.get("Resources", {})
        assert isinstance(resources, dict)
        kinds = Counter(str(r.get("Type")) for r in resources.values() if isinstance(r, dict))
        lines.append(
            f"  stack {name}: {len(resources)} resources -> {result_dir / (name + '.template.json')}"
        )
        top = ", ".join(f"{k.split('::', 1)[-1]} x{n}" for k, n in kinds.most_common(6))
        lines.append(f"    most common: {top}")
    images = config.images
    svc = config.services
    lines.append(
        f"  architecture: front door {config.front_door.type} ({FRONT_DOOR_SHAPES[config.front_door.type]}), "
        f"ECS Fargate {svc.architecture}{' Spot' if svc.spot else ''}, "
        + ("one service per role" if svc.layout == "per_role" else "every role in one task")
    )
    lines.append(
        f"  Dify {images.dify_version}{' (forced tags)' if images.force else ''}: api/worker {images.api}, "
        f"web {images.web}, sandbox {images.sandbox}, plugin daemon {images.plugin_daemon} "
        f"from {images.registry}"
    )
    lines.append(
        f"  data: Aurora PostgreSQL {config.database.engine_version} "
        f"({config.database.min_acu}-{config.database.max_acu} ACU), "
        + (
            "Valkey as a container of the task, "
            if config.cache.engine == "container"
            else f"Valkey {config.cache.engine_version} {config.cache.node_type}"
            f"{' multi-AZ' if config.cache.multi_az else ''}, "
        )
        + f"removal policy {config.removal_policy}"
    )
    lines.append(summary_line(templates, config.region or "us-east-1"))
    lines += [f"  note: {note}" for note in deploy_notes(config)]
    return "\n".join(lines)


def deploy_notes(config: DifyConfig) -> list[str]:
    """What a deploy of this config runs into that the templates cannot fix."""
    notes: list[str] = []
    images = config.images
    anonymous = [
        reference
        for reference in (f"{images.registry}/dify-*", config.ssrf_proxy.image)
        if is_docker_hub(reference) and images.docker_hub_secret_arn is None
    ]
    if anonymous:
        notes.append(
            f"images are pulled anonymously from docker.io ({', '.join(anonymous)}): Docker Hub limits "
            "anonymous pulls per IP address, and every task start pulls again through the same NAT address. "
            "Set images.docker_hub_secret_arn (a Secrets Manager secret with a Docker Hub username and "
            "access token) or mirror the images to ECR (`dify-on-aws mirror-images`, then images.registry)."
        )
    door = config.front_door
    if door.type in CLOUDFRONT_FRONT_DOORS and door.domain is None:
        notes.append(
            "the default *.cloudfront.net certificate fixes the minimum TLS protocol at TLSv1 (CloudFront "
            "ignores the configured minimum for it); set front_door.domain to serve TLSv1.2_2021 or later."
        )
    return notes


def cmd_synth(args: argparse.Namespace) -> int:
    # Imported here: keeps `validate` free of the jsii start-up cost.
    from dify_on_aws.app import recorded_context, synthesize  # noqa: PLC0415

    node = node_warning(installed_node_version())
    if node is not None:
        print(f"warning: {node}", file=sys.stderr)
    config = _load(args.config)
    if config.services.sandbox_allow_all_syscalls:
        print(
            "warning: services.sandbox_allow_all_syscalls = true lets code run by the sandbox use every "
            "system call; keep it off unless a library needs it.",
            file=sys.stderr,
        )
    result = synthesize(config, args.out, context=recorded_context())
    if result.missing_context:
        print(
            "error: this configuration needs AWS lookups that are not recorded in cdk.context.json:\n"
            + "".join(f"  - {key}\n" for key in result.missing_context)
            + "Record them once with AWS credentials (`npx cdk synth -c config=PATH`), or avoid the lookup "
            "(front_door.hosted_zone_id for a hosted zone, network.availability_zones for the zones, "
            "network.private_subnet_ids and the other subnet IDs for a VPC).",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(_summary(config, result.outdir, result.templates))
    if result.violations:
        print(f"\ncdk-nag AwsSolutions: {len(result.violations)} unacknowledged finding(s):", file=sys.stderr)
        for v in result.violations:
            print(f"  {v.rule} at {v.path}: {v.description}", file=sys.stderr)
        return EXIT_NAG
    print("  cdk-nag AwsSolutions: no unacknowledged findings")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    config = _load(args.config)
    print(f"{config_path(args.config) or '(defaults)'}: valid configuration for {config.name}")
    for _, message in ineffective_options(config):
        print(f"warning: {message}", file=sys.stderr)
    if args.vpc_id:
        from dify_on_aws.operations.vpc_endpoints import check_vpc_endpoints  # noqa: PLC0415

        return check_vpc_endpoints(config, args.vpc_id)
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    from dify_on_aws.config.reference import render_reference  # noqa: PLC0415
    from dify_on_aws.frontdoor.comparison import render_comparison  # noqa: PLC0415

    text = render_reference()
    if args.out == "-":
        sys.stdout.write(text)
        return 0
    out = Path(args.out)
    out.write_text(text, encoding="utf-8")
    comparison = out.parent / "front-doors.md"
    comparison.write_text(render_comparison(), encoding="utf-8")
    print(f"wrote {out} and {comparison}")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="dify-on-aws", description=__doc__.splitlines()[0] if __doc__ else None
    )
    sub = root.add_subparsers(dest="command", required=True)
    synth = sub.add_parser("synth", help="synthesize the CloudFormation templates (offline)")
    synth.add_argument("--config", default=default_config())
    synth.add_argument("--out", default="cdk.out")
    synth.set_defaults(func=cmd_synth)
    validate = sub.add_parser("validate", help="check a configuration file")
    validate.add_argument("--config", default=default_config())
    validate.add_argument(
        "--vpc-id",
        help="also list the VPC endpoints a closed deployment needs that this existing VPC lacks (reads "
        "them with your AWS credentials; exit 1 when some are missing)",
    )
    validate.set_defaults(func=cmd_validate)
    docs = sub.add_parser(
        "docs", help="write the configuration reference and the front-door comparison (Markdown)"
    )
    docs.add_argument("--out", default="docs/configuration.md")
    docs.set_defaults(func=cmd_docs)
    add_cost_parser(sub)
    add_prices_parser(sub)
    add_diagram_parser(sub)
    add_smoke_parser(sub)
    add_mirror_parser(sub)
    add_status_parser(sub)
    add_exec_parser(sub)
    add_run_task_parser(sub)
    add_upgrade_plan_parser(sub)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    # jsii's banner repeats in every process; `synth` says the same once, in one line (toolchain.py).
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return code


def cdk_app_main() -> None:
    """Entry for the CDK CLI (cdk.json): config from `-c config=PATH`, else DIFY_CONFIG, else dify.toml."""
    import json  # noqa: PLC0415

    from dify_on_aws.app import build_app  # noqa: PLC0415

    context = json.loads(os.environ.get("CDK_CONTEXT_JSON", "{}"))
    given = context.get("config") or os.environ.get("DIFY_CONFIG")
    try:
        config = _load(given)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None
    app, _ = build_app(config, outdir=os.environ.get("CDK_OUTDIR"))
    app.synth()


if __name__ == "__main__":
    raise SystemExit(main())
