"""How many tasks each Dify service runs: CPU target tracking up to a ceiling, requests per task on the
load balancer (api, web), the Celery queue depth (worker), and the working-hours schedule
(operations/schedule.py) on the same scalable target."""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2

from dify_on_aws.frontdoor.load_balancer import DifyLoadBalancer
from dify_on_aws.operations.schedule import run_during_working_hours
from dify_on_aws.roles import Role
from dify_on_aws.services.service import DifyService

CPU_TARGET_PERCENT = 60
# Tasks added while messages wait, by how many wait (lower bound, upper bound, change), as offsets from
# the scale-out alarm's threshold of one message: 1-9 waiting add one task, 10-99 two, 100 or more four.
# Dify's worker reserves at most one message per concurrency slot (--prefetch-multiplier=1 in
# api/docker/entrypoint.sh), so a message left in the list means every worker slot is taken.
QUEUE_SCALE_OUT_STEPS: tuple[tuple[int, int | None, int], ...] = ((0, 9, 1), (9, 99, 2), (99, None, 4))
# A new Fargate task needs a minute or two to start consuming; the cooldown keeps the backlog it has not
# drained yet from adding more tasks meanwhile. Scale-in removes one task at a time, gently.
QUEUE_SCALE_OUT_COOLDOWN = cdk.Duration.minutes(3)
QUEUE_SCALE_IN_COOLDOWN = cdk.Duration.minutes(5)


def scale_services(
    services: Mapping[Role, DifyService],
    *,
    desired: Mapping[Role, int],
    maximum: Mapping[Role, int | None],
    single_task: bool,
    working_hours: str | None,
    timezone: str,
    queue_scaled: frozenset[Role] = frozenset(),
) -> dict[Role, ecs.ScalableTaskCount]:
    """Scale each distinct service once (with one task for every role, all roles are one service) and
    return the scalable target of each role that has one. Roles in `queue_scaled` get no CPU policy (the
    caller adds the queue policy). Beat, and the one shared task, always run exactly one task."""
    seen: set[int] = set()
    targets: dict[Role, ecs.ScalableTaskCount] = {}
    for role, service in services.items():
        if id(service) in seen:
            continue
        seen.add(id(service))
        count = 1 if single_task or role is Role.BEAT else desired[role]
        ceiling = (None if role is Role.BEAT else maximum.get(role)) or count
        if count == 0 and role not in queue_scaled:
            # CPU has no data while no task runs: a role at zero stays stopped (the queue has data).
            ceiling = 0
        if working_hours is None and ceiling <= count:
            continue
        scaling = service.service.auto_scale_task_count(min_capacity=count, max_capacity=max(ceiling, 1))
        targets[role] = scaling
        if ceiling > count and role not in queue_scaled:
            scaling.scale_on_cpu_utilization("Cpu", target_utilization_percent=CPU_TARGET_PERCENT)
        if working_hours is not None and count > 0:
            run_during_working_hours(
                service,
                scaling=scaling,
                desired=count,
                working_hours=working_hours,
                timezone=timezone,
                id_prefix="WorkingHours",
            )
    return targets


def request_target_groups(front_door: object) -> Mapping[Role, elbv2.ApplicationTargetGroup]:
    """The ALB target group of each role a front door routes to (none for front doors without an ALB)."""
    balancer = getattr(front_door, "load_balancer", None)
    return balancer.groups_by_role if isinstance(balancer, DifyLoadBalancer) else {}


def scale_on_requests(
    scaling: ecs.ScalableTaskCount, *, target_group: elbv2.ApplicationTargetGroup, requests_per_target: int
) -> None:
    """Target tracking on ALBRequestCountPerTarget (requests per task per minute), beside CPU: Application
    Auto Scaling scales out when either policy asks and in only when both allow."""
    scaling.scale_on_request_count(
        "Requests", requests_per_target=requests_per_target, target_group=target_group
    )


def scale_on_queue_depth(
    scaling: ecs.ScalableTaskCount, *, metric: cloudwatch.IMetric, idle_minutes: int
) -> None:
    """Step scaling on the queue-depth metric: tasks are added while a minute's maximum shows a message
    waiting (from zero tasks too: the metric comes from a function, not from the tasks), one task is
    removed after `idle_minutes` of empty queues. A minute without a datum (the publisher failed) counts as
    neither, so a broken reader never scales the worker in."""
    target = scaling.node.find_child("Target")
    assert isinstance(target, appscaling.ScalableTarget)
    _step_policy(
        scaling,
        "Queue",
        target=target,
        metric=metric,
        steps=QUEUE_SCALE_OUT_STEPS,
        cooldown=QUEUE_SCALE_OUT_COOLDOWN,
        alarm=("Backlog", 1, cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD, 1),
        description="Dify worker: Celery messages are waiting; add worker tasks",
    )
    _step_policy(
        scaling,
        "Queue",
        target=target,
        metric=metric,
        steps=((None, 0, -1),),
        cooldown=QUEUE_SCALE_IN_COOLDOWN,
        alarm=("Idle", 0, cloudwatch.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD, idle_minutes),
        description=f"Dify worker: Celery queues empty for {idle_minutes} minutes; remove a task",
    )


def _step_policy(
    scaling: ecs.ScalableTaskCount,
    prefix: str,
    *,
    target: appscaling.ScalableTarget,
    metric: cloudwatch.IMetric,
    steps: tuple[tuple[int | None, int | None, int], ...],
    cooldown: cdk.Duration,
    alarm: tuple[str, int, cloudwatch.ComparisonOperator, int],
    description: str,
) -> None:
    """A step policy (`steps`: lower and upper bound relative to the threshold, change in tasks) and the
    alarm (name, threshold, comparison, one-minute periods) that invokes it; no data counts as OK."""
    name, threshold, comparison, periods = alarm
    action = appscaling.StepScalingAction(
        scaling,
        f"{prefix}Scale{'Out' if steps[0][2] > 0 else 'In'}",
        scaling_target=target,
        adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
        cooldown=cooldown,
        metric_aggregation_type=appscaling.MetricAggregationType.MAXIMUM,
    )
    for lower, upper, change in steps:
        action.add_adjustment(adjustment=change, lower_bound=lower, upper_bound=upper)
    cloudwatch.Alarm(
        scaling,
        f"{prefix}{name}",
        alarm_description=description,
        metric=metric,
        threshold=threshold,
        comparison_operator=comparison,
        evaluation_periods=periods,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    ).add_alarm_action(cw_actions.ApplicationScalingAction(action))
