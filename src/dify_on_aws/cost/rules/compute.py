"""Pricing rules for compute: ECS services, clusters and task definitions, Lambda functions, URLs,
aliases and versions, Step Functions state machines."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dify_on_aws.cost.model import GLOBAL
from dify_on_aws.cost.rules.capacity import (
    ScheduledLines,
    capacity_split,
    running_tasks,
    spot_price,
    task_extras,
)
from dify_on_aws.cost.rules.common import Rule
from dify_on_aws.templates import Resource, number

if TYPE_CHECKING:
    from dify_on_aws.cost.pricer import Pricer


def _ecs_service(p: Pricer, res: Resource) -> None:
    task = p.get(res, res.props.get("TaskDefinition"))
    if task is None or task.type != "AWS::ECS::TaskDefinition":
        p.add(
            res, "ECS service, task definition not in the template", "fargate.task", 1, "service", usage=False
        )
        return
    count, schedule, note = running_tasks(p, res)
    split, split_note = capacity_split(p, res, task, count)
    note = "; ".join(n for n in (note, split_note) if n)
    # Fargate bills the task's Cpu and Memory, however many containers share them.
    cpu = task.num("Cpu")
    memory = task.num("Memory")
    platform = task.props.get("RuntimePlatform") or {}
    arch = str(task.value(platform.get("CpuArchitecture")) or "X86_64").upper()
    family = str(task.value(platform.get("OperatingSystemFamily")) or "LINUX").upper()
    os_arch = ("linux_" if family == "LINUX" else "windows_") + ("arm" if arch == "ARM64" else "x86")
    fargate = {k: v for k, v in split.items() if k in ("FARGATE", "FARGATE_SPOT")}
    if not fargate:
        p.free(res, f"runs on {', '.join(split) or 'EC2'} capacity (priced with those instances)")
        return
    if cpu is None or memory is None:
        tasks = sum(fargate.values())
        p.add(
            res, "Fargate task of a size resolved at deploy time", "fargate.task", tasks, "tasks", usage=False
        )
        return
    h = p.hours
    out = ScheduledLines(p, res, schedule)
    for provider, tasks in fargate.items():
        spot = provider == "FARGATE_SPOT"
        label = "Spot" if spot else "on-demand"
        for what, size, unit, key in (
            ("vCPU", cpu / 1024, "vCPU-h", f"fargate.{os_arch}.vcpu_hour"),
            ("memory", memory / 1024, "GB-h", f"fargate.{os_arch}.gb_hour"),
        ):
            price = spot_price(p, key, res.region) if spot else p.price(key, res.region)
            size_text = f"{size:g} vCPU" if what == "vCPU" else f"{size:g} GB"
            sizing = f"{tasks:g} task(s) x {size_text} x {h * out.share:g} h"
            out.add(f"Fargate {arch} {what}, {label}", price, tasks * size * h, unit, sizing, note)
    task_extras(out, task, sum(fargate.values()))
    out.record()


def _task_definition(p: Pricer, res: Resource) -> None:
    used = any(
        p.get(s, s.props.get("TaskDefinition")) == res
        for s in p.of_type("AWS::ECS::Service")
        if s.stack == res.stack
    )
    if used:
        p.free(res, "priced on the ECS service that runs it")
    else:
        p.free(
            res,
            "not run by an ECS service in the template (one-off task such as migrations: ~0)",
            deploy_time=True,
        )


def _ecs_cluster(p: Pricer, res: Resource) -> None:
    insights = [
        str(res.value(s.get("Value")))
        for s in res.props.get("ClusterSettings") or []
        if s.get("Name") == "containerInsights"
    ]
    if insights and insights[0] in ("enabled", "enhanced"):
        mode = insights[0]
        p.add(res, f"Container Insights ({mode})", "cloudwatch.container_insights", 1, "cluster", usage=False)
    else:
        p.free(res, "no charge (Container Insights off)")


def _function(p: Pricer, res: Resource) -> None:
    kind = p.traffic.function_kinds.get(res.key)
    if kind is None:
        p.free(res, "not invoked by requests (custom resource or deploy-time helper): ~0", deploy_time=True)
        return
    memory_gb = (res.num("MemorySize") or 128.0) / 1024
    arm = "arm64" in (res.props.get("Architectures") or [])
    if kind == "event":
        p.add(
            res,
            "Lambda function invoked by events",
            "lambda.event_invocations",
            1,
            "function",
            usage=True,
            note="event-driven invocations are not modelled",
        )
        if "METRIC_NAMESPACE" in ((res.props.get("Environment") or {}).get("Variables") or {}):
            # The function publishes one custom metric (operations/queue_depth.py).
            p.add(res, "CloudWatch custom metric", "cloudwatch.custom_metric.month", 1, "metric", usage=False)
        return
    n = p.traffic.kind_counts[kind]
    invocations = p.usage.requests / n
    duration = p.usage.duration_ms if kind == "backend" else p.usage.helper_duration_ms
    role = {"backend": "serves requests", "authorizer": "authorizer", "edge": "Lambda@Edge"}[kind]
    split = f"; requests split over {n} such functions" if n > 1 else ""
    gb_seconds = invocations * duration / 1000 * memory_gb
    if kind == "edge":
        keys = ("lambda_edge.per_million_requests", "lambda_edge.gb_second")
        region: str | None = GLOBAL
    else:
        keys = ("lambda.per_million_requests", f"lambda.{'arm' if arm else 'x86'}.gb_second")
        region = None
    p.add(
        res,
        f"Lambda requests ({role})",
        keys[0],
        invocations / 1e6,
        "1M req",
        usage=True,
        region=region,
        note=f"free tier not subtracted{split}",
    )
    p.add(
        res,
        f"Lambda duration ({role})",
        keys[1],
        gb_seconds,
        "GB-s",
        usage=True,
        region=region,
        note=f"{duration:g} ms x {memory_gb * 1024:g} MB",
    )


def _function_url(p: Pricer, res: Resource) -> None:
    if res in p.traffic.egress:
        p.add_egress(res)
    else:
        p.free(res, "no charge (invocations are priced on the function)")


def _alias_or_version(p: Pricer, res: Resource) -> None:
    provisioned = (res.props.get("ProvisionedConcurrencyConfig") or {}).get("ProvisionedConcurrentExecutions")
    count = number(res.value(provisioned))
    if not count:
        p.free(res, "no charge")
        return
    fn_key = p.traffic.function_of(res.key)
    fn = p.t.get(fn_key) if fn_key else None
    memory_gb = ((fn.num("MemorySize") if fn else None) or 128.0) / 1024
    p.add(
        res,
        "Lambda provisioned concurrency",
        "lambda.provisioned_concurrency.gb_second",
        count * memory_gb * p.hours * 3600,
        "GB-s",
        usage=False,
    )


def _state_machine(p: Pricer, res: Resource) -> None:
    p.free(
        res,
        "priced per state transition when it runs (CDK provider waiters run at deploy time): ~0",
        deploy_time=True,
    )


RULES: dict[str, Rule] = {
    "AWS::ECS::Service": _ecs_service,
    "AWS::ECS::TaskDefinition": _task_definition,
    "AWS::ECS::Cluster": _ecs_cluster,
    "AWS::Lambda::Function": _function,
    "AWS::Lambda::Url": _function_url,
    "AWS::Lambda::Alias": _alias_or_version,
    "AWS::Lambda::Version": _alias_or_version,
    "AWS::StepFunctions::StateMachine": _state_machine,
}
