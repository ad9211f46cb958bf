"""The cost estimator: each pricing rule on small hand-made templates with known answers, the published
aws-samples cost table, the renderers, the plot and the `cost` command."""

from __future__ import annotations

import argparse
import importlib.resources
import json
import math
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import pytest

from dify_on_aws.app import SynthResult, synthesize
from dify_on_aws.config import DifyConfig, load_config
from dify_on_aws.config.model import FrontDoorConfig
from dify_on_aws.cost import command
from dify_on_aws.cost.command import add_cost_parser
from dify_on_aws.cost.estimate import estimate, render_json, render_text, summary_line
from dify_on_aws.cost.model import PRICES_FILE, Estimate, Line, PriceBook, Usage
from dify_on_aws.cost.plot import cost_curves, crossovers, render_plot, request_grid

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "cost_fixtures"
AWS_SAMPLES = FIXTURES / "aws_samples_less_expensive.json"
H = 730.0
# Usage with every input at zero: only the fixed lines cost anything.
IDLE = Usage(
    requests=0,
    gb_out=0,
    active_share=0,
    db_storage_gb=0,
    db_io_millions=0,
    s3_gb=0,
    log_ingest_gb=0,
    flow_log_gb=0,
    nat_gb=0,
    package_gb=0,
    package_requests=0,
)


def tpl(**resources: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """A template from logical id = (type, properties)."""
    return {
        "Resources": {lid: {"Type": kind, "Properties": props} for lid, (kind, props) in resources.items()}
    }


def ref(lid: str) -> dict[str, str]:
    return {"Ref": lid}


def lines(result: Estimate, resource: str | None = None, dimension: str | None = None) -> list[Line]:
    return [
        line
        for line in result.lines
        if (resource is None or line.resource == resource)
        and (dimension is None or line.dimension == dimension)
    ]


def one(result: Estimate, resource: str, dimension: str) -> Line:
    (found,) = lines(result, resource, dimension)
    return found


def monthly(line: Line) -> float:
    assert line.monthly is not None, f"{line.dimension} has no price"
    return line.monthly


def task(cpu: int, memory: int, arch: str = "ARM64", **extra: Any) -> tuple[str, dict[str, Any]]:
    return (
        "AWS::ECS::TaskDefinition",
        {
            "Cpu": str(cpu),
            "Memory": str(memory),
            "RequiresCompatibilities": ["FARGATE"],
            "RuntimePlatform": {"CpuArchitecture": arch, "OperatingSystemFamily": "LINUX"},
            **extra,
        },
    )


def service(task_id: str, **props: Any) -> tuple[str, dict[str, Any]]:
    return ("AWS::ECS::Service", {"TaskDefinition": ref(task_id), **props})


# --- prices.json ---------------------------------------------------------------------------------------


def test_every_price_has_a_unit_a_source_and_a_date() -> None:
    data = json.loads(PRICES_FILE.read_text(encoding="utf-8"))
    assert {"global", "us-east-1", "us-west-2", "ap-northeast-1"} <= set(data["regions"])
    for region, entries in data["regions"].items():
        for key, entry in entries.items():
            where = f"{region} {key}"
            assert entry["price"] is None or (
                isinstance(entry["price"], int | float) and entry["price"] >= 0
            ), where
            assert entry["unit"] and entry["source"] and entry["date"], where
            assert not entry["source"].startswith("same"), where


def test_every_example_region_has_a_price_table() -> None:
    """Every region an example deploys to has its own prices. Before, prices.json had none for eu-central-1
    and eu-west-1, so `cost --config examples/closed-network.toml` read "at least $0.50/month; 49 prices
    unknown in eu-central-1"."""
    regions = PriceBook.load().regions
    for path in sorted((ROOT / "examples").glob("*.toml")):
        region = tomllib.loads(path.read_text(encoding="utf-8")).get("region")
        assert region is None or region in regions, path.name


# The lines that make up most of a deployment's bill: unknown in none of the example regions.
CORE_DIMENSIONS = (
    "fargate.linux_",
    "aurora_pg_sv2.acu_hour_standard",
    "alb.hour",
    "nat_gateway.",
    "secrets_manager.secret.month",
    "elasticache.valkey.cache_t4g_micro.hour",
    "vpc_endpoint.interface.hour_per_az",
    "s3.standard.gb_month",
    "kms.key.month",
    "lambda.",
    "apigw.rest.per_million",
)


@pytest.mark.parametrize(
    "name", ["closed-network.toml", "alb-internal.toml", "cloudfront-domain.toml", "ecr-mirror.toml"]
)
def test_examples_in_europe_price_their_main_lines_in_their_region(
    name: str, example_results: dict[str, SynthResult]
) -> None:
    """The European examples' compute, database, cache, load balancer, NAT, endpoint and secret lines are
    priced from that region's own table (no fallback region), so their total is no longer a few cents."""
    region = load_config(ROOT / "examples" / name).region
    assert region in ("eu-central-1", "eu-west-1")
    result = estimate(example_results[name].templates, region=region)
    core_unknown = [line.dimension for line in result.unknown if line.dimension.startswith(CORE_DIMENSIONS)]
    assert not core_unknown, core_unknown
    core = [line for line in result.lines if line.dimension.startswith(CORE_DIMENSIONS)]
    assert core and {line.price_region for line in core} == {region}
    assert result.total > 150


def test_prices_file_ships_with_the_package() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "*.json" in pyproject["tool"]["setuptools"]["package-data"]["*"]
    assert importlib.resources.files("dify_on_aws.cost").joinpath("prices.json").is_file()


# --- Fargate -------------------------------------------------------------------------------------------


def test_fargate_on_demand_arm_prices_vcpu_and_memory_hours() -> None:
    result = estimate(
        tpl(Task=task(1024, 2048), Svc=service("Task", DesiredCount=2, LaunchType="FARGATE")), usage=IDLE
    )
    vcpu = one(result, "Svc", "fargate.linux_arm.vcpu_hour")
    memory = one(result, "Svc", "fargate.linux_arm.gb_hour")
    assert vcpu.quantity == 2 * 1 * H
    assert memory.quantity == 2 * 2 * H
    assert monthly(vcpu) == pytest.approx(2 * H * 0.03238)
    assert monthly(memory) == pytest.approx(4 * H * 0.00356)
    assert not vcpu.usage_driven
    assert result.total == pytest.approx(monthly(vcpu) + monthly(memory))


def test_fargate_spot_keeps_the_on_demand_base_and_prices_the_rest_at_the_spot_discount() -> None:
    strategy = [
        {"CapacityProvider": "FARGATE", "Base": 1, "Weight": 0},
        {"CapacityProvider": "FARGATE_SPOT", "Weight": 1},
    ]
    result = estimate(
        tpl(
            Task=task(512, 1024, "X86_64"),
            Svc=service("Task", DesiredCount=3, CapacityProviderStrategy=strategy),
        ),
        usage=IDLE,
    )
    on_demand = one(result, "Svc", "fargate.linux_x86.vcpu_hour")
    spot = one(result, "Svc", "fargate_spot.linux_x86.vcpu_hour")
    assert on_demand.quantity == 1 * 0.5 * H
    assert spot.quantity == 2 * 0.5 * H
    assert spot.unit_price == pytest.approx(0.04048 * 0.3)
    assert "Spot" in " ".join(result.notes)


def test_fargate_weights_split_tasks_between_providers() -> None:
    strategy = [
        {"CapacityProvider": "FARGATE", "Weight": 1},
        {"CapacityProvider": "FARGATE_SPOT", "Weight": 3},
    ]
    result = estimate(
        tpl(Task=task(256, 512), Svc=service("Task", DesiredCount=4, CapacityProviderStrategy=strategy)),
        usage=IDLE,
    )
    assert one(result, "Svc", "fargate.linux_arm.gb_hour").quantity == 1 * 0.5 * H
    assert one(result, "Svc", "fargate_spot.linux_arm.gb_hour").quantity == 3 * 0.5 * H


def test_fargate_uses_the_cluster_default_strategy_and_one_task_when_unset() -> None:
    result = estimate(
        tpl(
            Cluster=("AWS::ECS::Cluster", {}),
            Assoc=(
                "AWS::ECS::ClusterCapacityProviderAssociations",
                {
                    "Cluster": ref("Cluster"),
                    "CapacityProviders": ["FARGATE_SPOT"],
                    "DefaultCapacityProviderStrategy": [{"CapacityProvider": "FARGATE_SPOT", "Weight": 1}],
                },
            ),
            Task=task(1024, 2048),
            Svc=service("Task", Cluster=ref("Cluster")),
        ),
        usage=IDLE,
    )
    spot = one(result, "Svc", "fargate_spot.linux_arm.vcpu_hour")
    assert spot.quantity == H
    assert "DesiredCount not set" in spot.note


def test_fargate_ephemeral_storage_above_20_gib_and_public_ip_per_task() -> None:
    network = {"AwsvpcConfiguration": {"AssignPublicIp": "ENABLED", "Subnets": ["subnet-1"]}}
    result = estimate(
        tpl(
            Task=task(1024, 2048, EphemeralStorage={"SizeInGiB": 50}),
            Svc=service("Task", DesiredCount=2, LaunchType="FARGATE", NetworkConfiguration=network),
        ),
        usage=IDLE,
    )
    storage = one(result, "Svc", "fargate.ephemeral_storage.gb_hour")
    assert storage.quantity == 2 * 30 * H
    assert monthly(storage) == pytest.approx(2 * 30 * H * 0.000111)
    assert one(result, "Svc", "vpc.public_ipv4.hour").quantity == 2 * H


def test_a_task_with_several_containers_bills_the_task_size_not_the_containers() -> None:
    containers = [
        {"Name": "api", "Cpu": 512, "Memory": 1024, "Essential": True},
        {"Name": "worker", "Cpu": 256, "Memory": 512, "Essential": True},
        {"Name": "init", "Essential": False},
    ]
    result = estimate(
        tpl(
            Task=task(2048, 4096, ContainerDefinitions=containers),
            Svc=service("Task", DesiredCount=1, LaunchType="FARGATE"),
        ),
        usage=IDLE,
    )
    assert one(result, "Svc", "fargate.linux_arm.vcpu_hour").quantity == 2 * H
    assert one(result, "Svc", "fargate.linux_arm.gb_hour").quantity == 4 * H
    assert len(result.lines) == 2


def scalable(service_id: str, *actions: tuple[str, int, int], **props: Any) -> tuple[str, dict[str, Any]]:
    """A scalable target on an ECS service (ResourceId as CDK writes it) with (cron, min, max) actions."""
    resource_id = {"Fn::Join": ["", ["service/", ref("Cluster"), "/", {"Fn::GetAtt": [service_id, "Name"]}]]}
    return (
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {
            "ResourceId": resource_id,
            "ScalableDimension": "ecs:service:DesiredCount",
            "ServiceNamespace": "ecs",
            "MinCapacity": 0,
            "MaxCapacity": 4,
            "ScheduledActions": [
                {
                    "ScheduledActionName": f"a{i}",
                    "Schedule": cron,
                    "ScalableTargetAction": {"MinCapacity": low, "MaxCapacity": high},
                    "Timezone": "Asia/Tokyo",
                }
                for i, (cron, low, high) in enumerate(actions)
            ],
            **props,
        },
    )


WEEKDAYS_8_TO_20 = (("cron(0 8 ? * MON-FRI *)", 2, 4), ("cron(0 20 ? * MON-FRI *)", 0, 0))


def test_a_working_hours_schedule_prices_only_the_running_share_of_the_week() -> None:
    share = 60 / 168
    result = estimate(
        tpl(
            Task=task(1024, 2048),
            Svc=service("Task", DesiredCount=2, LaunchType="FARGATE"),
            Target=scalable("Svc", *WEEKDAYS_8_TO_20),
        ),
        usage=IDLE,
    )
    vcpu = one(result, "Svc", "fargate.linux_arm.vcpu_hour")
    memory = one(result, "Svc", "fargate.linux_arm.gb_hour")
    assert vcpu.quantity == pytest.approx(2 * 1 * H * share)
    assert memory.quantity == pytest.approx(2 * 2 * H * share)
    assert "scheduled: 60 h/week" in vcpu.note
    always = 2 * H * 0.03238 + 4 * H * 0.00356
    assert result.total == pytest.approx(always * share)
    assert result.schedule_savings == {"stack1/Svc": pytest.approx(always * (1 - share))}
    text = render_text(result)
    assert f"working-hours schedule saves ${always * (1 - share):,.2f}/month against running always" in text
    data = json.loads(render_json(result))
    assert data["totals"]["schedule_saving"] == pytest.approx(always * (1 - share), abs=1e-3)


def test_public_ip_tasks_pay_one_address_per_running_task_for_the_scheduled_hours() -> None:
    network = {"AwsvpcConfiguration": {"AssignPublicIp": "ENABLED", "Subnets": ["subnet-1"]}}
    result = estimate(
        tpl(
            Task=task(512, 1024),
            Svc=service("Task", DesiredCount=2, LaunchType="FARGATE", NetworkConfiguration=network),
            Target=scalable("Svc", ("cron(0 10 ? * SAT,SUN *)", 3, 3), ("cron(0 16 ? * SAT,SUN *)", 0, 0)),
        ),
        usage=IDLE,
    )
    share = 12 / 168
    address = one(result, "Svc", "vpc.public_ipv4.hour")
    # The start action's MinCapacity (3) is what runs, not the template's DesiredCount (2).
    assert address.quantity == pytest.approx(3 * H * share)
    assert monthly(address) == pytest.approx(3 * H * share * 0.005)
    assert "scheduled: 12 h/week" in address.note
    assert "3 task(s) while running" in one(result, "Svc", "fargate.linux_arm.vcpu_hour").note


def test_public_ip_tasks_without_a_schedule_pay_every_hour() -> None:
    network = {"AwsvpcConfiguration": {"AssignPublicIp": "ENABLED"}}
    result = estimate(
        tpl(Task=task(256, 512), Svc=service("Task", DesiredCount=3, NetworkConfiguration=network)),
        usage=IDLE,
    )
    assert one(result, "Svc", "vpc.public_ipv4.hour").quantity == 3 * H
    assert not result.schedule_savings
    assert "working-hours schedule" not in render_text(result)


@pytest.mark.parametrize(
    "actions",
    [
        (),  # a scalable target for target tracking only
        (("cron(0 8 ? * MON-FRI *)", 2, 4),),  # starts but never stops
        (("cron(0 8 1 * ? *)", 2, 4), ("cron(0 20 1 * ? *)", 0, 0)),  # monthly: not understood
    ],
)
def test_a_scalable_target_without_a_weekly_start_and_stop_keeps_the_desired_count(
    actions: tuple[tuple[str, int, int], ...],
) -> None:
    result = estimate(
        tpl(Task=task(1024, 2048), Svc=service("Task", DesiredCount=2), Target=scalable("Svc", *actions)),
        usage=IDLE,
    )
    assert one(result, "Svc", "fargate.linux_arm.vcpu_hour").quantity == 2 * H
    assert not result.schedule_savings


def test_a_schedule_matches_its_service_by_name_too_and_only_its_service() -> None:
    target = scalable("Other", *WEEKDAYS_8_TO_20)
    target[1]["ResourceId"] = "service/cluster/dify-api"
    result = estimate(
        tpl(
            Task=task(1024, 2048),
            Api=service("Task", DesiredCount=2, ServiceName="dify-api"),
            Web=service("Task", DesiredCount=1, ServiceName="dify-web"),
            Target=target,
        ),
        usage=IDLE,
    )
    assert one(result, "Api", "fargate.linux_arm.vcpu_hour").quantity == pytest.approx(2 * H * 60 / 168)
    assert one(result, "Web", "fargate.linux_arm.vcpu_hour").quantity == H
    assert set(result.schedule_savings) == {"stack1/Api"}


def test_lean_shapes_are_fully_priced() -> None:
    """No NAT gateway, no ElastiCache, Cloud Map DNS, a function URL outside any VPC, public-IP tasks."""
    network = {"AwsvpcConfiguration": {"AssignPublicIp": "ENABLED"}}
    containers = [{"Name": "api"}, {"Name": "valkey"}, {"Name": "web"}]
    result = estimate(
        tpl(
            Vpc=("AWS::EC2::VPC", {"CidrBlock": "10.0.0.0/16"}),
            Subnet=("AWS::EC2::Subnet", {"VpcId": ref("Vpc"), "MapPublicIpOnLaunch": True}),
            Igw=("AWS::EC2::InternetGateway", {}),
            Ns=("AWS::ServiceDiscovery::PrivateDnsNamespace", {"Name": "dify.internal", "Vpc": ref("Vpc")}),
            Discovery=("AWS::ServiceDiscovery::Service", {"NamespaceId": ref("Ns")}),
            Fn=("AWS::Lambda::Function", {"MemorySize": 1024, "Architectures": ["arm64"]}),
            Url=(
                "AWS::Lambda::Url",
                {"TargetFunctionArn": {"Fn::GetAtt": ["Fn", "Arn"]}, "AuthType": "NONE"},
            ),
            Task=task(1024, 2048, ContainerDefinitions=containers),
            Svc=service("Task", DesiredCount=1, LaunchType="FARGATE", NetworkConfiguration=network),
            Target=scalable("Svc", ("cron(0 8 ? * MON-FRI *)", 1, 1), ("cron(0 20 ? * MON-FRI *)", 0, 0)),
        ),
        usage=Usage(requests=100_000, gb_out=5),
    )
    assert not result.unpriced and not result.unknown
    assert monthly(one(result, "Ns", "route53.hosted_zone.month")) == 0.5
    assert one(result, "Svc", "vpc.public_ipv4.hour").quantity == pytest.approx(H * 60 / 168)
    assert one(result, "Fn", "lambda.arm.gb_second").quantity == pytest.approx(100_000 * 0.5 * 1)
    assert one(result, "Url", "data_transfer.out_internet_first_10tb.gb").quantity == 5
    assert not lines(result, dimension="nat_gateway.hour")


def test_a_task_definition_no_service_runs_is_deploy_time_only() -> None:
    result = estimate(tpl(Migration=task(1024, 2048)), usage=IDLE)
    assert result.lines == []
    (item,) = result.free
    assert item.deploy_time and item.resource == "Migration"


# --- ElastiCache ---------------------------------------------------------------------------------------


def test_elasticache_replication_group_prices_every_node() -> None:
    group = {"Engine": "valkey", "CacheNodeType": "cache.t4g.micro"}
    result = estimate(
        tpl(
            Two=("AWS::ElastiCache::ReplicationGroup", {**group, "NumCacheClusters": 2}),
            Sharded=(
                "AWS::ElastiCache::ReplicationGroup",
                {**group, "NumNodeGroups": 2, "ReplicasPerNodeGroup": 1},
            ),
        ),
        usage=IDLE,
    )
    assert monthly(one(result, "Two", "elasticache.valkey.cache_t4g_micro.hour")) == pytest.approx(
        2 * H * 0.0128
    )
    assert one(result, "Sharded", "elasticache.valkey.cache_t4g_micro.hour").quantity == 4 * H


def test_a_node_type_without_a_price_is_an_unknown_line_never_zero() -> None:
    result = estimate(
        tpl(
            Cache=(
                "AWS::ElastiCache::ReplicationGroup",
                {"Engine": "valkey", "CacheNodeType": "cache.t4g.small"},
            )
        ),
        usage=IDLE,
    )
    (line,) = result.unknown
    assert line.monthly is None and line.quantity == H
    assert result.total == 0
    text = render_text(result)
    assert "Total: at least $0.00/month" in text and "1 price unknown in us-east-1" in text
    assert "elasticache.valkey.cache_t4g_small.hour" in text


def test_a_partial_estimate_is_labelled_a_lower_bound_everywhere_it_is_printed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue #14: a total with unknown prices or unpriced resources is never shown as a plain total: text,
    the synth summary line, JSON and the plot all say "at least"."""
    template = tpl(
        Cache=(
            "AWS::ElastiCache::ReplicationGroup",
            {"Engine": "valkey", "CacheNodeType": "cache.t4g.small"},
        ),
        Key=("AWS::KMS::Key", {}),
        Odd=("AWS::Made::Up", {}),
    )
    result = estimate(template, usage=IDLE)
    assert result.partial and result.missing == 2
    assert result.total_label() == "at least $1.00"
    assert result.missing_text() == "1 price unknown in us-east-1, 1 resource of unpriced types"
    assert "Total: at least $1.00/month" in render_text(result)
    line = summary_line({"Dify": template}, "us-east-1")
    assert "at least $" in line and "1 price unknown in us-east-1" in line
    totals = json.loads(render_json(result))["totals"]
    assert totals["partial"] is True and totals["total_label"].startswith("at least $")
    svg = render_plot({"partial": [template]}, usage=IDLE)
    assert "at least: 2 cost(s) unknown" in svg
    complete = estimate(tpl(Key=("AWS::KMS::Key", {})), usage=IDLE)
    assert not complete.partial and complete.total_label() == "$1.00"
    assert "at least" not in render_text(complete)
    assert json.loads(render_json(complete))["totals"]["partial"] is False


def test_elasticache_serverless_bills_at_least_the_minimum_storage() -> None:
    result = estimate(
        tpl(Cache=("AWS::ElastiCache::ServerlessCache", {"Engine": "valkey"})),
        usage=Usage(requests=1_000_000, cache_gb=0.01, cache_ecpu_per_request=10),
    )
    assert one(result, "Cache", "elasticache_serverless.valkey.gb_hour").quantity == pytest.approx(0.1 * H)
    assert monthly(one(result, "Cache", "elasticache_serverless.valkey.per_million_ecpu")) == pytest.approx(
        10 * 0.0023
    )


# --- Aurora and RDS ------------------------------------------------------------------------------------


def aurora(min_acu: float, readers: int = 0, **cluster: Any) -> dict[str, Any]:
    resources: dict[str, tuple[str, dict[str, Any]]] = {
        "Db": (
            "AWS::RDS::DBCluster",
            {
                "Engine": "aurora-postgresql",
                "ServerlessV2ScalingConfiguration": {"MinCapacity": min_acu, "MaxCapacity": 4},
                **cluster,
            },
        ),
    }
    for i in range(readers + 1):
        resources[f"Instance{i}"] = (
            "AWS::RDS::DBInstance",
            {"DBClusterIdentifier": ref("Db"), "DBInstanceClass": "db.serverless"},
        )
    return tpl(**resources)


def test_aurora_serverless_v2_prices_the_minimum_capacity_of_every_instance() -> None:
    result = estimate(aurora(1, readers=1), usage=Usage(db_storage_gb=20, db_io_millions=3))
    for instance in ("Instance0", "Instance1"):
        line = one(result, instance, "aurora_pg_sv2.acu_hour_standard")
        assert line.quantity == 1 * H and not line.usage_driven
        assert monthly(line) == pytest.approx(H * 0.12)
    assert monthly(one(result, "Db", "aurora.storage_gb_month_standard")) == pytest.approx(20 * 0.10)
    assert monthly(one(result, "Db", "aurora.io_per_million")) == pytest.approx(3 * 0.20)


def test_aurora_auto_pause_prices_capacity_only_for_the_active_share_of_hours() -> None:
    active = one(
        estimate(aurora(0), usage=Usage(active_share=0.25)), "Instance0", "aurora_pg_sv2.acu_hour_standard"
    )
    assert active.usage_driven
    assert active.quantity == pytest.approx(0.5 * H * 0.25)
    idle = one(estimate(aurora(0), usage=IDLE), "Instance0", "aurora_pg_sv2.acu_hour_standard")
    assert idle.quantity == 0


def test_aurora_auto_pause_is_awake_whenever_an_ecs_service_runs() -> None:
    """AWS, "Scaling to Zero ACUs with automatic pause and resume for Aurora Serverless v2": an instance
    pauses only after a period with no user connections. Dify's services are always connected (connection
    pools; beat's per-minute workflow-schedule poller, api/extensions/ext_celery.py), so the cluster is
    awake whenever one runs: all hours without a schedule, the scheduled share with one."""

    def with_db(**resources: tuple[str, dict[str, Any]]) -> dict[str, Any]:
        template = aurora(0)
        template["Resources"].update(tpl(**resources)["Resources"])
        return template

    always = with_db(Task=task(256, 512), Svc=service("Task", DesiredCount=1))
    line = one(estimate(always, usage=IDLE), "Instance0", "aurora_pg_sv2.acu_hour_standard")
    assert line.quantity == pytest.approx(0.5 * H) and not line.usage_driven
    assert "awake while Dify's services run (100% of hours)" in line.note
    scheduled = with_db(
        Task=task(256, 512), Svc=service("Task", DesiredCount=1), Target=scalable("Svc", *WEEKDAYS_8_TO_20)
    )
    line = one(estimate(scheduled, usage=IDLE), "Instance0", "aurora_pg_sv2.acu_hour_standard")
    assert line.quantity == pytest.approx(0.5 * H * 60 / 168, rel=0.01)
    stopped = with_db(Task=task(256, 512), Svc=service("Task", DesiredCount=0))
    assert one(estimate(stopped, usage=IDLE), "Instance0", "aurora_pg_sv2.acu_hour_standard").quantity == 0


def test_aurora_io_optimized_uses_its_own_rates_and_has_no_io_line() -> None:
    result = estimate(aurora(0.5, StorageType="aurora-iopt1"), usage=Usage(db_storage_gb=10))
    assert one(result, "Instance0", "aurora_pg_sv2.acu_hour_io_optimized").unit_price == 0.16
    assert one(result, "Db", "aurora.storage_gb_month_io_optimized").unit_price == 0.225
    assert not lines(result, dimension="aurora.io_per_million")


def test_rds_instance_multi_az_doubles_hours_and_storage() -> None:
    result = estimate(
        tpl(
            Db=(
                "AWS::RDS::DBInstance",
                {
                    "Engine": "postgres",
                    "DBInstanceClass": "db.t4g.micro",
                    "MultiAZ": True,
                    "AllocatedStorage": "20",
                    "StorageType": "gp3",
                },
            )
        ),
        usage=IDLE,
    )
    assert monthly(one(result, "Db", "rds_pg.db_t4g_micro.hour")) == pytest.approx(2 * H * 0.016)
    assert monthly(one(result, "Db", "rds.gp3_storage_gb_month")) == pytest.approx(2 * 20 * 0.115)


# --- network -------------------------------------------------------------------------------------------


def alb(scheme: str, subnets: int = 2) -> tuple[str, dict[str, Any]]:
    return (
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        {"Scheme": scheme, "Subnets": [ref(f"Subnet{i}") for i in range(subnets)]},
    )


def test_alb_hours_lcus_and_one_public_ipv4_per_zone_when_internet_facing() -> None:
    usage = Usage(requests=9_000_000, gb_out=10)
    public = estimate(tpl(Lb=alb("internet-facing", subnets=3)), usage=usage)
    assert monthly(one(public, "Lb", "alb.hour")) == pytest.approx(H * 0.0225)
    lcu = one(public, "Lb", "alb.lcu_hour")
    assert lcu.quantity == pytest.approx(9_000_000 / 90_000)  # connections dominate 10 GB
    assert lcu.usage_driven
    assert one(public, "Lb", "vpc.public_ipv4.hour").quantity == 3 * H
    internal = estimate(tpl(Lb=alb("internal")), usage=usage)
    assert not lines(internal, "Lb", "vpc.public_ipv4.hour")
    assert one(internal, "Lb", "alb.lcu_hour").quantity == pytest.approx(100)


def test_alb_without_a_scheme_is_internet_facing() -> None:
    result = estimate(
        tpl(Lb=("AWS::ElasticLoadBalancingV2::LoadBalancer", {"Subnets": ["a", "b"]})), usage=IDLE
    )
    assert one(result, "Lb", "vpc.public_ipv4.hour").quantity == 2 * H


def test_nat_gateway_hours_and_data_processed_and_its_elastic_ip() -> None:
    result = estimate(
        tpl(
            Eip=("AWS::EC2::EIP", {"Domain": "vpc"}),
            Nat=("AWS::EC2::NatGateway", {"AllocationId": {"Fn::GetAtt": ["Eip", "AllocationId"]}}),
        ),
        usage=Usage(nat_gb=100),
    )
    assert monthly(one(result, "Nat", "nat_gateway.hour")) == pytest.approx(H * 0.045)
    assert monthly(one(result, "Nat", "nat_gateway.gb_processed")) == pytest.approx(100 * 0.045)
    ipv4 = lines(result, dimension="vpc.public_ipv4.hour")
    assert [line.resource for line in ipv4] == ["Eip"]
    assert "NatGateway" in ipv4[0].note


def test_an_instance_in_a_public_subnet_pays_for_its_address_unless_an_elastic_ip_is_attached() -> None:
    subnet = ("AWS::EC2::Subnet", {"MapPublicIpOnLaunch": True})
    instance = ("AWS::EC2::Instance", {"InstanceType": "t4g.nano", "SubnetId": ref("Public")})
    bare = estimate(tpl(Public=subnet, Nat=instance), usage=IDLE)
    assert monthly(one(bare, "Nat", "ec2.t4g_nano.hour")) == pytest.approx(H * 0.0042)
    assert one(bare, "Nat", "vpc.public_ipv4.hour").quantity == H
    with_eip = estimate(
        tpl(Public=subnet, Nat=instance, Eip=("AWS::EC2::EIP", {"InstanceId": ref("Nat")})), usage=IDLE
    )
    assert [line.resource for line in lines(with_eip, dimension="vpc.public_ipv4.hour")] == ["Eip"]


def test_costs_without_a_sourced_price_are_unknown_lines() -> None:
    insights = {"ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}]}
    result = estimate(
        tpl(
            Cluster=("AWS::ECS::Cluster", insights),
            Fn=("AWS::Lambda::Function", {"MemorySize": 1024}),
            Alias=(
                "AWS::Lambda::Alias",
                {
                    "FunctionName": ref("Fn"),
                    "ProvisionedConcurrencyConfig": {"ProvisionedConcurrentExecutions": 2},
                },
            ),
            Plan=("AWS::Backup::BackupPlan", {}),
            Queue=("AWS::SQS::Queue", {}),
            Consumer=("AWS::Lambda::Function", {}),
            Mapping=("AWS::Lambda::EventSourceMapping", {"FunctionName": ref("Consumer")}),
        ),
        usage=Usage(db_storage_gb=10),
    )
    assert {line.dimension for line in result.unknown} == {
        "cloudwatch.container_insights",
        "lambda.provisioned_concurrency.gb_second",
        "backup.storage.gb_month",
        "lambda.event_invocations",
    }
    assert one(result, "Alias", "lambda.provisioned_concurrency.gb_second").quantity == 2 * 1 * H * 3600
    assert result.total == 0
    assert list(result.unpriced) == ["AWS::SQS::Queue"]


def test_interface_endpoints_bill_per_zone_gateway_endpoints_are_free() -> None:
    result = estimate(
        tpl(
            Ecr=("AWS::EC2::VPCEndpoint", {"VpcEndpointType": "Interface", "SubnetIds": ["a", "b"]}),
            S3=("AWS::EC2::VPCEndpoint", {"ServiceName": "com.amazonaws.us-east-1.s3"}),
        ),
        usage=IDLE,
    )
    assert monthly(one(result, "Ecr", "vpc_endpoint.interface.hour_per_az")) == pytest.approx(2 * H * 0.01)
    assert [item.resource for item in result.free] == ["S3"]


# --- secrets, keys, logs, storage ----------------------------------------------------------------------


def test_secrets_and_kms_keys_bill_per_month() -> None:
    secret: tuple[str, dict[str, Any]] = ("AWS::SecretsManager::Secret", {})
    result = estimate(
        tpl(
            A=secret,
            B=secret,
            Replicated=("AWS::SecretsManager::Secret", {"ReplicaRegions": [{"Region": "us-west-2"}]}),
            Key=("AWS::KMS::Key", {}),
        ),
        usage=IDLE,
    )
    assert sum(
        monthly(line) for line in lines(result, dimension="secrets_manager.secret.month")
    ) == pytest.approx(4 * 0.40)
    assert monthly(one(result, "Key", "kms.key.month")) == 1.0


def test_logs_and_buckets_share_the_deployment_wide_usage_inputs() -> None:
    result = estimate(
        tpl(
            LogA=("AWS::Logs::LogGroup", {}),
            LogB=("AWS::Logs::LogGroup", {}),
            Bucket=("AWS::S3::Bucket", {}),
        ),
        usage=Usage(log_ingest_gb=8, s3_gb=100),
    )
    (logs,) = lines(result, dimension="cloudwatch_logs.ingest.gb")
    assert logs.quantity == 8 and logs.resource == "LogA +1 more"
    assert monthly(logs) == pytest.approx(8 * 0.5)
    assert monthly(one(result, "Bucket", "s3.standard.gb_month")) == pytest.approx(100 * 0.023)
    assert result.fixed_total == 0 and result.usage_total == pytest.approx(4 + 2.3)


def test_flow_logs_and_cloud_map_namespace() -> None:
    result = estimate(
        tpl(
            Flow=("AWS::EC2::FlowLog", {"ResourceType": "VPC"}),
            Ns=("AWS::ServiceDiscovery::PrivateDnsNamespace", {"Name": "dify.internal"}),
        ),
        usage=Usage(flow_log_gb=4),
    )
    assert monthly(one(result, "Flow", "cloudwatch_logs.ingest.gb")) == pytest.approx(4 * 0.5)
    assert monthly(one(result, "Ns", "route53.hosted_zone.month")) == 0.5


# --- front doors ---------------------------------------------------------------------------------------


def test_cloudfront_bills_requests_and_transfer_and_takes_the_egress() -> None:
    result = estimate(
        tpl(Cdn=("AWS::CloudFront::Distribution", {"DistributionConfig": {}}), Lb=alb("internet-facing")),
        usage=Usage(requests=1_000_000, gb_out=100),
    )
    assert monthly(one(result, "Cdn", "cloudfront.https_requests_na.per_10k")) == pytest.approx(100 * 0.01)
    assert monthly(one(result, "Cdn", "cloudfront.data_out_na_first_10tb.gb")) == pytest.approx(100 * 0.085)
    assert not lines(result, dimension="data_transfer.out_internet_first_10tb.gb")


def test_without_cloudfront_the_internet_facing_front_door_pays_data_transfer_out() -> None:
    result = estimate(tpl(Lb=alb("internet-facing")), usage=Usage(gb_out=100))
    assert monthly(one(result, "Lb", "data_transfer.out_internet_first_10tb.gb")) == pytest.approx(100 * 0.09)


def http_api_with_authorizer() -> dict[str, Any]:
    authorizer_uri = {
        "Fn::Join": [
            "",
            [
                "arn:aws:apigateway:",
                ref("AWS::Region"),
                ":lambda:path/functions/",
                {"Fn::GetAtt": ["Auth", "Arn"]},
            ],
        ]
    }
    return tpl(
        Api=("AWS::ApiGatewayV2::Api", {"ProtocolType": "HTTP"}),
        Authorizer=("AWS::ApiGatewayV2::Authorizer", {"ApiId": ref("Api"), "AuthorizerUri": authorizer_uri}),
        Auth=("AWS::Lambda::Function", {"MemorySize": 128, "Architectures": ["arm64"]}),
        Link=("AWS::ApiGatewayV2::VpcLink", {"SubnetIds": ["a"]}),
        Helper=("AWS::Lambda::Function", {"MemorySize": 256}),
        Init=("Custom::DatabaseInit", {"ServiceToken": {"Fn::GetAtt": ["Helper", "Arn"]}}),
    )


def test_http_api_requests_and_a_lambda_authorizer_on_every_request() -> None:
    usage = Usage(requests=2_000_000, gb_out=0, helper_duration_ms=10)
    result = estimate(http_api_with_authorizer(), usage=usage)
    assert monthly(one(result, "Api", "apigw.http.per_million")) == pytest.approx(2 * 1.0)
    assert monthly(one(result, "Auth", "lambda.per_million_requests")) == pytest.approx(2 * 0.2)
    duration = one(result, "Auth", "lambda.arm.gb_second")
    assert duration.quantity == pytest.approx(2_000_000 * 0.010 * 0.125)
    free = {item.resource: item for item in result.free}
    assert not free["Link"].deploy_time
    assert free["Helper"].deploy_time and free["Init"].deploy_time


def test_function_url_backends_split_requests_and_bill_duration() -> None:
    def backend(memory: int) -> tuple[str, dict[str, Any]]:
        return ("AWS::Lambda::Function", {"MemorySize": memory})

    def url(fn: str) -> tuple[str, dict[str, Any]]:
        return ("AWS::Lambda::Url", {"TargetFunctionArn": {"Fn::GetAtt": [fn, "Arn"]}, "AuthType": "AWS_IAM"})

    result = estimate(
        tpl(
            Cdn=("AWS::CloudFront::Distribution", {"DistributionConfig": {}}),
            ApiFn=backend(2048),
            WebFn=backend(1024),
            ApiUrl=url("ApiFn"),
            WebUrl=url("WebFn"),
        ),
        usage=Usage(requests=1_000_000, duration_ms=200),
    )
    api = one(result, "ApiFn", "lambda.x86.gb_second")
    assert api.quantity == pytest.approx(500_000 * 0.2 * 2)
    assert monthly(api) == pytest.approx(200_000 * 0.0000166667)
    assert one(result, "WebFn", "lambda.per_million_requests").quantity == pytest.approx(0.5)
    assert not lines(result, dimension="data_transfer.out_internet_first_10tb.gb")  # CloudFront egress


def test_lambda_at_edge_is_recognised_by_its_role_and_priced_globally() -> None:
    trust = {
        "Statement": [
            {
                "Action": "sts:AssumeRole",
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com", "edgelambda.amazonaws.com"]},
            }
        ]
    }
    edge = tpl(
        Role=("AWS::IAM::Role", {"AssumeRolePolicyDocument": trust}),
        Signer=("AWS::Lambda::Function", {"Role": {"Fn::GetAtt": ["Role", "Arn"]}, "MemorySize": 128}),
    )
    result = estimate(
        {"Edge": edge}, region="ap-northeast-1", usage=Usage(requests=1_000_000, helper_duration_ms=5)
    )
    requests = one(result, "Signer", "lambda_edge.per_million_requests")
    assert monthly(requests) == pytest.approx(0.60)
    assert requests.price_region == "global"
    assert one(result, "Signer", "lambda_edge.gb_second").quantity == pytest.approx(1_000_000 * 0.005 * 0.125)


def test_waf_web_acl_rules_and_requests_priced_in_us_east_1_for_cloudfront_scope() -> None:
    acl = {"Scope": "CLOUDFRONT", "Rules": [{"Name": "a"}, {"Name": "b"}, {"Name": "c"}]}
    result = estimate(
        tpl(Acl=("AWS::WAFv2::WebACL", acl)), region="ap-northeast-1", usage=Usage(requests=2_000_000)
    )
    assert monthly(one(result, "Acl", "waf.web_acl.month")) == 5.0
    assert monthly(one(result, "Acl", "waf.rule.month")) == 3.0
    assert monthly(one(result, "Acl", "waf.per_million_requests")) == pytest.approx(1.2)
    assert all(line.price_region == "us-east-1" for line in result.lines)


# --- what is not priced --------------------------------------------------------------------------------


def test_unknown_resource_types_are_listed_as_unpriced_never_zero() -> None:
    result = estimate(
        tpl(Queue=("AWS::SQS::Queue", {}), Role=("AWS::IAM::Role", {}), Meta=("AWS::CDK::Metadata", {})),
        usage=IDLE,
    )
    assert result.unpriced == {"AWS::SQS::Queue": ["stack1/Queue"]}
    assert [item.resource for item in result.free] == ["Role"]
    text = render_text(result)
    assert "their cost is NOT included" in text and "AWS::SQS::Queue x1: stack1/Queue" in text
    assert "Total: at least $0.00/month" in text and "1 resource of unpriced types" in text
    assert json.loads(render_json(result))["unpriced_types"] == {"AWS::SQS::Queue": ["stack1/Queue"]}


def test_a_region_without_prices_gives_unknown_lines_unless_a_fallback_region_is_named() -> None:
    template = tpl(Nat=("AWS::EC2::Instance", {"InstanceType": "t4g.nano"}), Lb=alb("internal"))
    unknown = estimate(template, region="us-west-2", usage=IDLE)  # the LCU price is unknown there, but 0 LCUs
    assert [line.dimension for line in unknown.unknown] == ["ec2.t4g_nano.hour"]
    assert unknown.total == pytest.approx(H * 0.0225)  # the ALB hour is sourced for us-west-2
    proxied = estimate(template, region="us-west-2", usage=IDLE, fallback_region="us-east-1")
    assert not proxied.unknown
    assert {line.dimension for line in proxied.proxied} == {"ec2.t4g_nano.hour", "alb.lcu_hour"}
    assert "~$0.0042" in render_text(proxied)


def test_hours_per_month_is_a_parameter() -> None:
    result = estimate(tpl(Lb=alb("internal")), usage=IDLE, hours=720)
    assert result.total == pytest.approx(720 * 0.0225)
    with pytest.raises(ValueError, match="hours"):
        estimate(tpl(), hours=0)


def test_usage_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="active_share"):
        Usage(active_share=1.5)
    with pytest.raises(ValueError, match="requests"):
        Usage(requests=-1)


# --- several stacks, renderers -------------------------------------------------------------------------


def test_templates_of_several_stacks_are_summed() -> None:
    main = tpl(Lb=alb("internal"))
    edge = tpl(Key=("AWS::KMS::Key", {}))
    result = estimate({"Main": main, "Edge": edge}, usage=IDLE, stack_regions={"Edge": "us-east-1"})
    assert result.stack_totals() == pytest.approx({"Main": H * 0.0225, "Edge": 1.0})
    assert result.total == pytest.approx(H * 0.0225 + 1.0)
    assert "Edge/Key" in render_text(result)


def test_json_rendering_carries_lines_totals_and_sources() -> None:
    data = json.loads(render_json(estimate(tpl(Lb=alb("internal")), usage=Usage(requests=0, gb_out=1))))
    assert data["totals"]["fixed"] == pytest.approx(H * 0.0225, abs=1e-3)
    assert data["totals"]["usage_driven"] == pytest.approx(0.008)
    assert data["totals"]["unknown_lines"] == 0
    hour = next(line for line in data["lines"] if line["dimension"] == "alb.hour")
    assert hour["resource"] == "Lb" and hour["unit_price"] == 0.0225 and hour["source"] and hour["date"]


def test_summary_line_is_one_line_with_the_total() -> None:
    line = summary_line({"Main": tpl(Lb=alb("internal"))}, "us-east-1")
    assert "\n" not in line
    assert f"${H * 0.0225 + 10 * 0.008:,.2f}/month" in line


# --- the aws-samples cost table ------------------------------------------------------------------------

# README of aws-samples/dify-self-hosted-on-aws (us-east-1, 720-hour month), "less expensive" setup.
PUBLISHED = {
    "Valkey": 9.2,
    "WebService": 2.7,
    "ApiService": 10.7,
    "Alb": 17.5,
    "NatInstance": 3.0,
    "NatInstanceEip": 3.6,
    "secrets": 1.2,
}
PUBLISHED_TOTAL = 47.9


# Their table prices Aurora at 0 ACU as $0, but a cluster pauses only without connections and their api
# task (which runs the worker and its beat-less Celery, and the plugin daemon) is always connected: we price
# the awake minimum of 0.5 ACU for every hour the services run, and compare the rest with their table.
AURORA_AWAKE = 0.5 * 720 * 0.12


def test_reproduces_the_aws_samples_cost_table_within_5_percent() -> None:
    template = json.loads(AWS_SAMPLES.read_text(encoding="utf-8"))
    result = estimate({"Dify": template}, usage=IDLE, hours=720)
    assert not result.unknown and not result.unpriced
    aurora = one(result, "DatabaseWriter", "aurora_pg_sv2.acu_hour_standard")
    assert monthly(aurora) == pytest.approx(AURORA_AWAKE)
    assert result.total - AURORA_AWAKE == pytest.approx(PUBLISHED_TOTAL, rel=0.05)
    by_resource: dict[str, float] = {"DatabaseWriter": -AURORA_AWAKE}
    for line in result.lines:
        key = "secrets" if line.resource_type == "AWS::SecretsManager::Secret" else line.resource
        by_resource[key] = by_resource.get(key, 0.0) + monthly(line)
    by_resource = {k: v for k, v in by_resource.items() if v}
    assert set(by_resource) == set(PUBLISHED)
    for key, published in PUBLISHED.items():
        # Each line within 10%; the README's ALB line includes some LCUs.
        assert by_resource[key] == pytest.approx(published, rel=0.10), key


# --- plot ----------------------------------------------------------------------------------------------


def test_plot_finds_the_crossover_of_a_per_request_and_a_fixed_deployment() -> None:
    per_request = tpl(Api=("AWS::ApiGatewayV2::Api", {"ProtocolType": "HTTP"}))
    keys: dict[str, tuple[str, dict[str, Any]]] = {f"Key{i}": ("AWS::KMS::Key", {}) for i in range(10)}
    usage = Usage(requests=300_000, gb_out=0)
    deployments = {"api": [per_request], "fixed": [tpl(**keys)]}  # $1 per million vs $10 a month
    (cross,) = crossovers(cost_curves(deployments, usage=usage))
    assert {cross.first, cross.second} == {"api", "fixed"}
    assert cross.requests == pytest.approx(10_000_000, rel=0.02)
    assert cross.monthly == pytest.approx(10, rel=0.02)
    svg = render_plot(deployments, usage=usage)
    root = ET.fromstring(svg)  # noqa: S314 - our own SVG
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f"{ns}polyline")) == 2
    assert "api = fixed: 10M req" in svg


def test_request_grid_is_log_spaced() -> None:
    grid = request_grid(1e4, 1e6, per_decade=2)
    assert grid[0] == 1e4 and grid[-1] == pytest.approx(1e6) and len(grid) == 5
    assert math.log10(grid[1]) == pytest.approx(4.5)


# --- the command ---------------------------------------------------------------------------------------


def parse(*argv: str, **options: Any) -> argparse.Namespace:
    root = argparse.ArgumentParser(prog="dify-on-aws")
    add_cost_parser(root.add_subparsers(dest="command", required=True), **options)
    return root.parse_args(["cost", *argv])


def run(*argv: str, **options: Any) -> int:
    args = parse(*argv, **options)
    code: int = args.func(args)
    return code


def test_command_sums_templates_prints_json_and_plots(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = tmp_path / "Edge.template.json"
    extra.write_text(json.dumps(tpl(Key=("AWS::KMS::Key", {}))), encoding="utf-8")
    svg = tmp_path / "cost.svg"
    code = run("--template", str(AWS_SAMPLES), "--template", str(tmp_path), "--json", "--hours", "720",
               "--plot", str(svg), "--requests", "0", "--gb-out", "0", "--active-share", "0",
               "--usage", "db_storage_gb=0", "--usage", "db-io-millions=0")  # fmt: skip
    assert code == 0
    out = capsys.readouterr()
    data = json.loads(out.out)
    assert set(data["totals"]["by_stack"]) == {"aws_samples_less_expensive", "Edge"}
    assert data["totals"]["total"] == pytest.approx(46.57 + 1.0 + AURORA_AWAKE, abs=0.02)
    assert data["usage"]["db_storage_gb"] == 0
    assert "wrote" in out.err
    ET.fromstring(svg.read_text(encoding="utf-8"))  # noqa: S314 - our own SVG


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--template", "missing.json"], "cannot read"),
        (["--template", str(AWS_SAMPLES), "--usage", "nope=1"], "expected KEY=VALUE"),
        (["--template", str(AWS_SAMPLES), "--usage", "s3_gb=lots"], "not a number"),
        (["--template", str(AWS_SAMPLES), "--active-share", "2"], "active_share"),
        (["--template", str(AWS_SAMPLES), "--hours", "0"], "--hours"),
    ],
)
def test_command_reports_bad_input_with_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(*argv) == 2
    assert message in capsys.readouterr().err


def test_command_warns_about_a_region_without_prices(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--template", str(AWS_SAMPLES), "--region", "sa-east-1") == 0
    out = capsys.readouterr()
    assert "no prices for sa-east-1" in out.err
    assert "Total: at least $" in out.out and "prices unknown in sa-east-1" in out.out


def test_command_rejects_a_json_file_that_is_not_a_template(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "x.json"
    bad.write_text("[1, 2]", encoding="utf-8")
    assert run("--template", str(bad)) == 2
    assert "no Resources section" in capsys.readouterr().err


def test_command_synthesizes_the_config_and_plots_through_the_given_factory(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    synth: Callable[[DifyConfig], SynthResult],
) -> None:
    # The session's cached synthesis stands in for a fresh one (same config, same templates).
    monkeypatch.setattr("dify_on_aws.app.synthesize", lambda config, outdir, **_: synth(config))
    seen: list[str] = []

    def factory(config: DifyConfig, outdir: Path) -> dict[str, dict[str, Any]]:
        seen.append(config.name)
        return {"only": {"Main": tpl(Lb=alb("internal"))}}

    svg = tmp_path / "plot.svg"
    code = run(
        "--config", str(ROOT / "examples" / "default.toml"), "--plot", str(svg), plot_deployments=factory
    )
    assert code == 0
    out = capsys.readouterr().out
    assert seen == ["Dify"]
    assert "Monthly cost estimate for us-east-1" in out and "Unpriced resource types: none" in out
    assert "only" in svg.read_text(encoding="utf-8")


def test_front_door_deployments_cover_every_front_door_type(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    synthesized: list[str] = []

    def fake(config: DifyConfig, outdir: Path) -> tuple[dict[str, Any], dict[str, str]]:
        synthesized.append(config.front_door.type)
        return {"Dify": tpl()}, {}

    monkeypatch.setattr(command, "synthesize_templates", fake)
    deployments = command.front_door_deployments(DifyConfig(), tmp_path)
    kinds = list(get_args(FrontDoorConfig.model_fields["type"].annotation))
    assert synthesized == kinds and list(deployments) == kinds


# --- the real deployment -------------------------------------------------------------------------------


def test_default_deployment_is_fully_priced_in_us_east_1(default_result: SynthResult) -> None:
    result = estimate(default_result.templates)
    assert not result.unpriced, result.unpriced
    assert not result.unknown, [line.dimension for line in result.unknown]
    assert 150 < result.total < 400
    priced = {line.resource_type for line in result.lines}
    assert {
        "AWS::ECS::Service",
        "AWS::RDS::DBInstance",
        "AWS::ElastiCache::ReplicationGroup",
        "AWS::EC2::NatGateway",
        "AWS::SecretsManager::Secret",
    } <= priced
    for region in ("us-west-2", "ap-northeast-1"):
        other = estimate(default_result.templates, region=region)
        assert not other.unpriced
        assert other.unknown, region  # some prices are not sourced there: reported, not zero
        assert f"at least ${other.total:,.2f}/month" in render_text(other)
        assert f"{len(other.unknown)} prices unknown in {region}" in render_text(other)


def test_price_book_falls_back_to_global_entries() -> None:
    book = PriceBook({"regions": {"global": {"x": {"price": 1, "unit": "u", "source": "s", "date": "d"}}}})
    assert book.get("x", "eu-west-1").price == 1
    assert book.get("y", "eu-west-1").price is None


def test_a_cloud_assembly_folder_prices_only_the_stacks_of_its_last_synth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 17: cdk.out keeps the templates of earlier synths; its manifest.json lists the last synth's
    stacks (AWS CDK cloud assembly: artifacts of type aws:cloudformation:stack name their templateFile)."""
    synthesize(load_config(ROOT / "examples" / "production.toml"), tmp_path, nag=False)
    last = synthesize(DifyConfig(), tmp_path, nag=False)
    assert len(list(tmp_path.glob("*.template.json"))) > len(last.templates)  # a stale template is there
    assert run("--template", str(tmp_path), "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["totals"]["by_stack"]) == set(last.templates)
    assert data["totals"]["total"] == pytest.approx(round(estimate(last.templates).total, 4))


def test_a_manifest_without_stacks_and_a_plain_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder without manifest.json is read as every *.template.json in it; an assembly whose manifest
    lists no stack has nothing to price."""
    (tmp_path / "Old.template.json").write_text(json.dumps(tpl(Key=("AWS::KMS::Key", {}))), encoding="utf-8")
    assert run("--template", str(tmp_path), "--json") == 0
    assert set(json.loads(capsys.readouterr().out)["totals"]["by_stack"]) == {"Old"}
    manifest = {"version": "36.0.0", "artifacts": {}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert run("--template", str(tmp_path)) == 2
    assert "lists no CloudFormation stack" in capsys.readouterr().err


def test_codeartifact_bills_stored_packages_and_requests_on_the_domain() -> None:
    """CodeArtifact pricing: storage per GB-month and requests per 10,000, billed per domain; the repository
    itself has no charge. Both lines follow the usage inputs (idle: nothing)."""
    template = tpl(
        Domain=("AWS::CodeArtifact::Domain", {"DomainName": "d"}),
        Repo=(
            "AWS::CodeArtifact::Repository",
            {"RepositoryName": "pypi", "ExternalConnections": ["public:pypi"]},
        ),
    )
    result = estimate(template, usage=Usage(package_gb=4, package_requests=50_000))
    storage = one(result, "Domain", "codeartifact.storage.gb_month")
    requests = one(result, "Domain", "codeartifact.requests.per_10k")
    assert (storage.quantity, requests.quantity) == (4, 5)
    assert monthly(storage) == pytest.approx(0.2) and monthly(requests) == pytest.approx(0.25)
    assert storage.usage_driven and requests.usage_driven
    assert lines(result, "Repo", "codeartifact.storage.gb_month") == []
    assert estimate(template, usage=IDLE).total == 0
