"""Working-hours schedules: the scheduled actions on a small isolated stack, the parser and the cron fields,
and the cost estimator reading the same template back."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk.assertions import Template

from dify_on_aws.config.model import ScheduleConfig
from dify_on_aws.cost.estimate import estimate
from dify_on_aws.cost.schedule import fire_minutes, weekly_schedule
from dify_on_aws.operations.schedule import (
    WorkingHours,
    cron_days,
    parse_working_hours,
    run_during_working_hours,
    transitions,
)


def scheduled_stack(
    working_hours: str = "MON-FRI 08:00-20:00",
    timezone: str = "Asia/Tokyo",
    *,
    desired: int = 2,
    max_capacity: int = 4,
) -> dict[str, Any]:
    """One Fargate service with a trivial task, scaled by `run_during_working_hours`; its template."""
    app = cdk.App()
    stack = cdk.Stack(app, "Scheduled")
    vpc = ec2.Vpc(
        stack,
        "Vpc",
        max_azs=1,
        nat_gateways=0,
        subnet_configuration=[ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC)],
    )
    cluster = ecs.Cluster(stack, "Cluster", vpc=vpc)
    task = ecs.FargateTaskDefinition(stack, "Task", cpu=512, memory_limit_mib=1024)
    task.add_container("app", image=ecs.ContainerImage.from_registry("busybox"))
    service = ecs.FargateService(
        stack, "Service", cluster=cluster, task_definition=task, desired_count=desired, assign_public_ip=True
    )
    scaling = service.auto_scale_task_count(min_capacity=0, max_capacity=max_capacity)
    run_during_working_hours(
        stack,
        scaling=scaling,
        desired=desired,
        working_hours=working_hours,
        timezone=timezone,
        id_prefix="Api",
    )
    return dict(Template.from_stack(stack).to_json())


def actions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (target,) = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget"
    ]
    return {a["ScheduledActionName"]: a for a in target["Properties"].get("ScheduledActions", [])}


@pytest.fixture(scope="module")
def weekdays() -> dict[str, Any]:
    return scheduled_stack()


def test_two_scheduled_actions_start_at_the_desired_count_and_stop_at_zero(weekdays: dict[str, Any]) -> None:
    found = actions(weekdays)
    assert set(found) == {"ApiStart", "ApiStop"}
    start, stop = found["ApiStart"], found["ApiStop"]
    assert start["Schedule"] == "cron(0 8 ? * MON-FRI *)"
    assert stop["Schedule"] == "cron(0 20 ? * MON-FRI *)"
    assert start["Timezone"] == stop["Timezone"] == "Asia/Tokyo"
    # The maximum goes back to the scalable's own, so target tracking keeps its room.
    assert start["ScalableTargetAction"] == {"MinCapacity": 2, "MaxCapacity": 4}
    assert stop["ScalableTargetAction"] == {"MinCapacity": 0, "MaxCapacity": 0}


def test_the_scalable_target_itself_allows_zero_tasks(weekdays: dict[str, Any]) -> None:
    (target,) = [
        r["Properties"]
        for r in weekdays["Resources"].values()
        if r["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget"
    ]
    assert target["MinCapacity"] == 0 and target["MaxCapacity"] == 4


def test_weekend_hours_and_a_window_ending_at_midnight() -> None:
    found = actions(scheduled_stack("SAT,SUN 10:00-24:00", "Europe/Berlin", desired=1, max_capacity=1))
    assert found["ApiStart"]["Schedule"] == "cron(0 10 ? * SUN,SAT *)"
    # 24:00 is 00:00 on the following day: Saturday -> Sunday, Sunday -> Monday.
    assert found["ApiStop"]["Schedule"] == "cron(0 0 ? * SUN,MON *)"
    assert found["ApiStart"]["ScalableTargetAction"] == {"MinCapacity": 1, "MaxCapacity": 1}
    assert found["ApiStop"]["Timezone"] == "Europe/Berlin"


def test_whole_days_run_across_midnight_without_actions_in_between() -> None:
    found = actions(scheduled_stack("MON-FRI 00:00-24:00"))
    assert found["ApiStart"]["Schedule"] == "cron(0 0 ? * MON *)"
    assert found["ApiStop"]["Schedule"] == "cron(0 0 ? * SAT *)"


def test_the_whole_week_needs_no_schedule() -> None:
    assert actions(scheduled_stack("MON-SUN 00:00-24:00")) == {}


def test_every_day_uses_no_day_of_week_field() -> None:
    found = actions(scheduled_stack("MON-SUN 07:30-19:15"))
    assert found["ApiStart"]["Schedule"] == "cron(30 7 * * ? *)"
    assert found["ApiStop"]["Schedule"] == "cron(15 19 * * ? *)"


@pytest.mark.parametrize(
    ("text", "days", "start", "end"),
    [
        ("MON-FRI 08:00-20:00", {0, 1, 2, 3, 4}, 480, 1200),
        ("SAT,SUN 10:00-16:00", {5, 6}, 600, 960),
        ("FRI-MON 09:30-17:45", {4, 5, 6, 0}, 570, 1065),
        ("MON-WED,FRI 00:00-24:00", {0, 1, 2, 4}, 0, 1440),
    ],
)
def test_parse_working_hours(text: str, days: set[int], start: int, end: int) -> None:
    assert parse_working_hours(text) == WorkingHours(frozenset(days), start, end)


@pytest.mark.parametrize(
    "text", ["MON-FRI 8:00-20:00", "XYZ 08:00-20:00", "MON 20:00-08:00", "MON 08:61-09:00"]
)
def test_parse_working_hours_rejects_bad_values(text: str) -> None:
    with pytest.raises(ValueError, match="working hours"):
        parse_working_hours(text)


def test_bad_time_zone_and_desired_count_are_rejected() -> None:
    with pytest.raises(ValueError, match="IANA"):
        scheduled_stack(timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="at least 1"):
        scheduled_stack(desired=0)


@pytest.mark.parametrize(
    ("days", "field"),
    [({0, 1, 2, 3, 4}, "MON-FRI"), ({5, 6}, "SUN,SAT"), ({0, 1}, "MON,TUE"), ({6, 0, 1, 3}, "SUN-TUE,THU")],
)
def test_cron_day_field_follows_aws_numbering(days: set[int], field: str) -> None:
    assert cron_days(days) == field


def test_transitions_shift_a_midnight_end_to_the_next_day() -> None:
    bounds = transitions(parse_working_hours("SUN 18:00-24:00"))
    assert bounds is not None
    start, stop = bounds
    assert (start.days, start.minute) == (frozenset({6}), 18 * 60)
    assert (stop.days, stop.minute) == (frozenset({0}), 0)


# --- the estimator reads the schedule back ------------------------------------------------------------


@pytest.mark.parametrize(
    "hours", ["MON-FRI 08:00-20:00", "SAT,SUN 10:00-24:00", "MON-FRI 00:00-24:00", "FRI-MON 09:30-17:45"]
)
def test_weekly_share_from_the_template_matches_the_config_hours(hours: str) -> None:
    template = scheduled_stack(hours, "America/New_York")
    schedule = weekly_schedule(list(actions(template).values()))
    assert schedule is not None
    expected = ScheduleConfig(enabled=True, working_hours=hours).hours_per_week()
    assert schedule.hours_per_week == pytest.approx(expected)
    assert schedule.tasks == 2


def test_the_estimate_prices_only_the_scheduled_hours(weekdays: dict[str, Any]) -> None:
    result = estimate(weekdays)
    share = 60 / 168
    (vcpu,) = [line for line in result.lines if line.dimension == "fargate.linux_x86.vcpu_hour"]
    assert vcpu.quantity == pytest.approx(2 * 0.5 * 730 * share)
    assert "scheduled: 60 h/week" in vcpu.note
    (ip,) = [line for line in result.lines if line.dimension == "vpc.public_ipv4.hour"]
    assert ip.quantity == pytest.approx(2 * 730 * share)
    always = sum(line.monthly or 0 for line in result.lines) / share
    assert result.schedule_saving == pytest.approx(always * (1 - share))


def test_fire_minutes_of_cron_expressions() -> None:
    assert fire_minutes("cron(0 8 ? * MON-FRI *)") == [(d * 24 + 8) * 60 for d in range(1, 6)]
    assert fire_minutes("cron(30 7 * * ? *)") == [(d * 24 * 60) + 7 * 60 + 30 for d in range(7)]
    assert fire_minutes("cron(0/30 9 ? * 1 *)") == [9 * 60, 9 * 60 + 30]
    assert fire_minutes("cron(0 8 1 * ? *)") is None  # monthly: not a weekly schedule
    assert fire_minutes("rate(5 minutes)") is None
    assert fire_minutes("cron(0 8 ? * MON#1 *)") is None
