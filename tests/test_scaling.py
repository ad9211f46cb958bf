"""Scaling on real signals: the worker on its Celery queue depth (from zero), api and web on requests per
task as well as CPU, beat and the plugin daemon at one task, and the configuration checks around them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from dify_on_aws.app import SynthResult
from dify_on_aws.config import ConfigError, DifyConfig
from dify_on_aws.cost.estimate import estimate
from dify_on_aws.data.cache import BROKER_DESCRIPTION
from dify_on_aws.operations import metrics
from dify_on_aws.operations.scaling import QUEUE_SCALE_OUT_STEPS
from dify_on_aws.services import dify_contract
from dify_on_aws.templates.intrinsics import direct_target

from .conftest import config_of
from .template_queries import as_list, ecs_service_role, of_type, role_statements

Resources = Mapping[str, Any]
NAME = "DifyScale"
QUEUE_CONFIG = {
    "name": NAME,
    "services": {
        "worker": {"desired_count": 0, "max_count": 4, "queue_scaling": True, "queue_idle_minutes": 10},
        "api": {"max_count": 4, "requests_per_target": 500},
        "web": {"max_count": 3, "requests_per_target": 2000},
        "plugin_daemon": {"max_count": 1},
    },
}


@pytest.fixture(scope="module")
def scaled(synth: Callable[[DifyConfig], SynthResult]) -> Resources:
    (body,) = synth(config_of(**QUEUE_CONFIG)).templates.values()
    resources: Resources = body["Resources"]
    return resources


def service_of(resources: Resources, role: str) -> str:
    (found,) = [
        sid
        for sid, s in of_type(resources, "AWS::ECS::Service").items()
        if ecs_service_role(resources, s) == role
    ]
    return found


def targets_of(resources: Resources, role: str) -> dict[str, Mapping[str, Any]]:
    """Scalable targets whose resource ID names the role's ECS service."""
    service = service_of(resources, role)
    found = {}
    for tid, target in of_type(resources, "AWS::ApplicationAutoScaling::ScalableTarget").items():
        parts = target["Properties"]["ResourceId"]["Fn::Join"][1]
        if {"Fn::GetAtt": [service, "Name"]} in parts:
            found[tid] = target["Properties"]
    return found


def policies_of(resources: Resources, target: str) -> dict[str, Mapping[str, Any]]:
    return {
        pid: p["Properties"]
        for pid, p in of_type(resources, "AWS::ApplicationAutoScaling::ScalingPolicy").items()
        if direct_target(p["Properties"]["ScalingTargetId"]) == target
    }


def alarm_for(resources: Resources, policy: str) -> Mapping[str, Any]:
    (alarm,) = [
        a
        for a in of_type(resources, "AWS::CloudWatch::Alarm").values()
        if policy in [direct_target(action) for action in a["Properties"].get("AlarmActions", [])]
    ]
    properties: Mapping[str, Any] = alarm["Properties"]
    return properties


def queue_function(resources: Resources) -> tuple[str, Mapping[str, Any]]:
    (found,) = [
        (fid, f["Properties"])
        for fid, f in of_type(resources, "AWS::Lambda::Function").items()
        if "METRIC_NAMESPACE" in f["Properties"].get("Environment", {}).get("Variables", {})
    ]
    return found


# --- the worker on its queue ---------------------------------------------------------------------------


def test_worker_target_runs_from_zero_to_the_ceiling(scaled: Resources) -> None:
    """Application Auto Scaling ("Scalable target", Application Auto Scaling concepts): policies never
    leave MinCapacity..MaxCapacity; an ECS service may have a minimum of 0. The service starts at 0 tasks."""
    (target,) = targets_of(scaled, "worker").values()
    assert (target["MinCapacity"], target["MaxCapacity"]) == (0, 4)
    assert scaled[service_of(scaled, "worker")]["Properties"]["DesiredCount"] == 0


def test_worker_has_step_policies_on_the_queue_metric_and_no_cpu_policy(scaled: Resources) -> None:
    """Step scaling ("How step scaling for Application Auto Scaling works"): a CloudWatch alarm on the
    metric invokes the policy, and its adjustments continue for further breaches until the alarm is OK."""
    (target,) = targets_of(scaled, "worker")
    policies = policies_of(scaled, target)
    assert {p["PolicyType"] for p in policies.values()} == {"StepScaling"}
    by_direction = {}
    for pid, policy in policies.items():
        alarm = alarm_for(scaled, pid)
        assert (alarm["Namespace"], alarm["MetricName"]) == (metrics.NAMESPACE, metrics.QUEUE_DEPTH)
        assert alarm["Dimensions"] == [{"Name": metrics.INSTANCE_DIMENSION, "Value": NAME}]
        assert (alarm["Period"], alarm["Statistic"], alarm["TreatMissingData"]) == (
            60,
            "Maximum",
            "notBreaching",
        )
        steps = policy["StepScalingPolicyConfiguration"]
        assert steps["AdjustmentType"] == "ChangeInCapacity"
        by_direction[alarm["ComparisonOperator"]] = (alarm, steps["StepAdjustments"])
    out_alarm, out_steps = by_direction["GreaterThanOrEqualToThreshold"]
    assert (out_alarm["Threshold"], out_alarm["EvaluationPeriods"]) == (1, 1)
    assert [s["ScalingAdjustment"] for s in out_steps] == [change for _, _, change in QUEUE_SCALE_OUT_STEPS]
    assert out_steps[0]["MetricIntervalLowerBound"] == 0  # one waiting message is enough
    in_alarm, in_steps = by_direction["LessThanOrEqualToThreshold"]
    assert (in_alarm["Threshold"], in_alarm["EvaluationPeriods"]) == (0, 10)
    assert in_steps == [{"MetricIntervalUpperBound": 0, "ScalingAdjustment": -1}]


def test_the_metric_comes_from_a_schedule_not_from_the_tasks(scaled: Resources) -> None:
    """Scale-out from zero works because the datum is published by a function on an EventBridge schedule
    every minute (not by a worker task), under the same namespace, name and dimension the alarms read."""
    function_id, function = queue_function(scaled)
    (rule,) = [
        r["Properties"]
        for r in of_type(scaled, "AWS::Events::Rule").values()
        if any(direct_target(t["Arn"]) == function_id for t in r["Properties"]["Targets"])
    ]
    assert rule["ScheduleExpression"] == "rate(1 minute)"
    variables = function["Environment"]["Variables"]
    assert {k: variables[k] for k in ("METRIC_NAMESPACE", "METRIC_NAME", "METRIC_DIMENSION", "INSTANCE")} == {
        "METRIC_NAMESPACE": metrics.NAMESPACE,
        "METRIC_NAME": metrics.QUEUE_DEPTH,
        "METRIC_DIMENSION": metrics.INSTANCE_DIMENSION,
        "INSTANCE": NAME,
    }


def test_the_function_reads_the_worker_queues_from_the_broker_secret(scaled: Resources) -> None:
    """The same queues the worker consumes (its CELERY_QUEUES), and the broker URL secret by reference."""
    _, function = queue_function(scaled)
    variables = function["Environment"]["Variables"]
    assert variables["CELERY_QUEUES"].split(",") == dify_contract.load("1.13.3").worker_queues()
    broker = direct_target(variables["BROKER_SECRET_ARN"])
    assert broker is not None
    assert scaled[broker]["Properties"]["Description"] == BROKER_DESCRIPTION


def test_the_function_role_is_least_privilege(scaled: Resources) -> None:
    """It reads only the broker URL secret, puts metrics only into the DifyOnAws namespace (CloudWatch
    condition key cloudwatch:namespace), and has Lambda's policy for VPC network interfaces, which Lambda
    checks when it creates a function in a VPC ("Giving Lambda functions access to resources in an Amazon
    VPC": ec2:CreateNetworkInterface, DescribeNetworkInterfaces, DeleteNetworkInterface ...)."""
    _, function = queue_function(scaled)
    role = direct_target(function["Role"])
    assert role is not None
    statements = role_statements(scaled, role)
    secret_reads = [s for s in statements if "secretsmanager:GetSecretValue" in as_list(s["Action"])]
    (read,) = secret_reads
    broker = direct_target(function["Environment"]["Variables"]["BROKER_SECRET_ARN"])
    assert [direct_target(r) for r in as_list(read["Resource"])] == [broker]
    (put,) = [s for s in statements if "cloudwatch:PutMetricData" in as_list(s["Action"])]
    assert put["Condition"] == {"StringEquals": {"cloudwatch:namespace": metrics.NAMESPACE}}
    managed = str(scaled[role]["Properties"].get("ManagedPolicyArns"))
    assert "service-role/AWSLambdaVPCAccessExecutionRole" in managed


def test_the_function_runs_in_the_vpc_with_its_own_group(scaled: Resources) -> None:
    _, function = queue_function(scaled)
    vpc = function["VpcConfig"]
    (group,) = [direct_target(g) for g in vpc["SecurityGroupIds"]]
    assert group is not None
    assert scaled[group]["Properties"]["GroupDescription"] == "Dify queue depth function"
    assert vpc["SubnetIds"]


# --- api and web on requests per task --------------------------------------------------------------------


@pytest.mark.parametrize(("role", "port", "requests"), [("api", 5001, 500), ("web", 3000, 2000)])
def test_requests_per_target_beside_cpu(scaled: Resources, role: str, port: int, requests: int) -> None:
    """ALBRequestCountPerTarget needs the ResourceLabel app/<lb>/<id>/targetgroup/<tg>/<id> of the target
    group the service is registered in (Application Auto Scaling PredefinedMetricSpecification); CPU stays."""
    (target,) = targets_of(scaled, role)
    policies = list(policies_of(scaled, target).values())
    metrics_used = {
        p["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]["PredefinedMetricType"]
        for p in policies
    }
    assert metrics_used == {"ECSServiceAverageCPUUtilization", "ALBRequestCountPerTarget"}
    (request,) = [
        p["TargetTrackingScalingPolicyConfiguration"]
        for p in policies
        if "ResourceLabel" in p["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]
    ]
    assert request["TargetValue"] == requests
    (group,) = [
        gid for gid, g in of_type(scaled, "AWS::ElasticLoadBalancingV2::TargetGroup").items()
        if g["Properties"]["Port"] == port
    ]  # fmt: skip
    label = request["PredefinedMetricSpecification"]["ResourceLabel"]
    assert {"Fn::GetAtt": [group, "TargetGroupFullName"]} in label["Fn::Join"][1]


# --- one task: beat and the plugin daemon ------------------------------------------------------------------


def test_beat_and_plugin_daemon_stay_one_task(scaled: Resources) -> None:
    """Celery beat must run exactly once (DIFY-RUNTIME: one scheduler, else every periodic task runs
    twice); the plugin daemon runs once (README, Scaling)."""
    for role in ("beat", "plugin-daemon"):
        assert scaled[service_of(scaled, role)]["Properties"]["DesiredCount"] == 1
        assert targets_of(scaled, role) == {}


def test_beat_under_working_hours_never_exceeds_one(synth: Callable[[DifyConfig], SynthResult]) -> None:
    config = config_of(
        schedule={"enabled": True, "working_hours": "MON-FRI 08:00-20:00"},
        services={"worker": {"max_count": 4}},
    )
    (body,) = synth(config).templates.values()
    resources: Resources = body["Resources"]
    (target_id, target) = next(iter(targets_of(resources, "beat").items()))
    assert target["MaxCapacity"] == 1 and policies_of(resources, target_id) == {}
    for action in target.get("ScheduledActions", []):
        assert action["ScalableTargetAction"]["MaxCapacity"] <= 1


def test_a_role_at_zero_without_queue_scaling_stays_stopped(
    synth: Callable[[DifyConfig], SynthResult],
) -> None:
    """CPU has no datapoints while no task runs, so CPU scaling from zero would never start the role: a
    role with desired_count = 0 (and no queue scaling) gets no scaling at all, whatever max_count says."""
    (body,) = synth(config_of(services={"sandbox": {"desired_count": 0, "max_count": 3}})).templates.values()
    resources: Resources = body["Resources"]
    assert targets_of(resources, "sandbox") == {}
    assert resources[service_of(resources, "sandbox")]["Properties"]["DesiredCount"] == 0


# --- configuration checks --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {
                "front_door": {"type": "api_gateway"},
                "services": {"api": {"max_count": 3, "requests_per_target": 9}},
            },
            "services.api.requests_per_target = 9 scales on the requests an ALB target group counts, and "
            "front_door.type = 'api_gateway' has no ALB",
        ),
        (
            # One shared task has no per-role ceiling (api, worker and web scale to 4 by default otherwise).
            {"services": {"layout": "single_task", "web": {"requests_per_target": 100}}},
            "requests_per_target = 100 needs max_count",
        ),
        (
            {"services": {"worker": {"queue_scaling": True, "max_count": 1}}},
            "queue_scaling = true needs max_count above desired_count (1)",
        ),
        (
            {"services": {"worker": {"desired_count": 2, "max_count": 2, "queue_scaling": True}}},
            "queue_scaling = true needs max_count above desired_count (2)",
        ),
        (
            {"network": {"nat_gateways": 0}, "services": {"worker": {"max_count": 2, "queue_scaling": True}}},
            "services.worker.queue_scaling runs a function in the VPC that needs NAT",
        ),
        (
            {
                "cache": {"engine": "container"},
                "services": {"layout": "single_task", "worker": {"max_count": 2, "queue_scaling": True}},
            },
            "services.worker.queue_scaling needs services.layout = 'per_role'",
        ),
        (
            {"services": {"plugin_daemon": {"max_count": 2}}},
            "max_count = 2: the plugin daemon runs as one task",
        ),
        (
            {"services": {"plugin_daemon": {"desired_count": 3}}},
            "desired_count = 3: the plugin daemon runs as one task",
        ),
        ({"services": {"beat": {"desired_count": 2}}}, "beat.desired_count"),
    ],
)
def test_invalid_scaling_settings(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_of(**data)
    assert message in str(info.value)


def test_valid_scaling_settings() -> None:
    config = config_of(**QUEUE_CONFIG)
    assert config.services.worker.queue_scaling
    assert config.services.requests_per_target() == {"api": 500, "web": 2000}
    config_of(front_door={"type": "alb"}, services={"api": {"max_count": 2, "requests_per_target": 1}})


def test_alarms_and_the_custom_metric_are_priced(scaled: Resources) -> None:
    """CloudWatch bills each standard-resolution alarm ($0.10/month) and each custom metric ($0.30/month)
    in us-east-1 (cost/prices.json); neither is left unpriced."""
    result = estimate({"Scaled": {"Resources": dict(scaled)}}, region="us-east-1")
    assert "AWS::CloudWatch::Alarm" not in result.unpriced
    alarms = [line for line in result.lines if line.dimension == "cloudwatch.alarm.standard.metric_month"]
    assert len(alarms) == 2 and all(line.unit_price == 0.1 for line in alarms)
    (metric,) = [line for line in result.lines if line.dimension == "cloudwatch.custom_metric.month"]
    assert (metric.resource, metric.quantity, metric.unit_price) == (queue_function(scaled)[0], 1, 0.3)
