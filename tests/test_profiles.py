"""The low-cost layouts: one task for every role, no NAT, Valkey as a container, the lambda_proxy front
door; and the cost targets of the lean and budget profiles."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

from dify_on_aws.app import SynthResult
from dify_on_aws.config import ConfigError
from dify_on_aws.cost.estimate import estimate
from dify_on_aws.cost.model import Usage
from dify_on_aws.frontdoor.lambda_proxy import READY_PATH, nginx_config
from dify_on_aws.frontdoor.routing import API_PREFIXES, PLUGIN_PREFIXES

from .conftest import config_of
from .test_front_doors import main, one
from .test_services import env, res

IDLE = Usage(requests=0, gb_out=0, active_share=0)
ROLES = {"api", "worker", "beat", "web", "sandbox", "plugin-daemon", "ssrf-proxy"}


@pytest.fixture(scope="module")
def lean(example_results: dict[str, SynthResult]) -> Template:
    return main(example_results["lean.toml"])


@pytest.fixture(scope="module")
def budget(example_results: dict[str, SynthResult]) -> Template:
    return main(example_results["budget.toml"])


def _task(template: Template) -> dict[str, dict[str, Any]]:
    (service,) = res(template, "AWS::ECS::Service").values()
    task_id = service["Properties"]["TaskDefinition"]["Ref"]
    task = res(template, "AWS::ECS::TaskDefinition")[task_id]["Properties"]
    return {c["Name"]: c for c in task["ContainerDefinitions"]}


def test_one_task_runs_every_role(lean: Template) -> None:
    (service,) = res(lean, "AWS::ECS::Service").values()
    props = service["Properties"]
    assert props["DesiredCount"] == 1
    assert props["DeploymentConfiguration"]["MaximumPercent"] == 100, "the beat must never run twice"
    containers = _task(lean)
    assert ROLES | {"valkey", "dependencies"} == set(containers)
    assert all(c["Essential"] for name, c in containers.items() if name != "dependencies")


def test_roles_talk_over_localhost(lean: Template) -> None:
    containers = _task(lean)
    api = env(containers["api"])
    assert api["CODE_EXECUTION_ENDPOINT"] == "http://localhost:8194"
    assert api["PLUGIN_DAEMON_URL"] == "http://localhost:5002"
    assert api["SSRF_PROXY_HTTP_URL"] == "http://localhost:3128"
    assert api["REDIS_HOST"] == "localhost" and api["REDIS_USE_SSL"] == "false"
    assert env(containers["plugin-daemon"])["DIFY_INNER_API_URL"] == "http://localhost:5001"
    sandbox = env(containers["sandbox"])
    assert sandbox["HTTP_PROXY"] == "http://localhost:3128"
    assert "localhost" not in sandbox["NO_PROXY"], "loopback is Dify itself: it must go through the proxy"


def test_valkey_container_is_local_and_password_protected(lean: Template) -> None:
    valkey = _task(lean)["valkey"]
    command = " ".join(valkey["Command"])
    assert "--bind 127.0.0.1" in command and '--requirepass "$VALKEY_PASSWORD"' in command
    assert [s["Name"] for s in valkey["Secrets"]] == ["VALKEY_PASSWORD"]
    assert res(lean, "AWS::ElastiCache::ReplicationGroup") == {}


def test_migration_task_brings_its_own_cache(lean: Template) -> None:
    migration = [
        t["Properties"]
        for t in res(lean, "AWS::ECS::TaskDefinition").values()
        if any(c["Name"] == "migration" for c in t["Properties"]["ContainerDefinitions"])
    ]
    (task,) = migration
    assert {c["Name"] for c in task["ContainerDefinitions"]} == {"migration", "valkey"}
    assert one(lean, "Custom::DifyMigration")["AssignPublicIp"] == "true"


def test_no_nat_tasks_in_public_subnets_with_closed_security_group(lean: Template) -> None:
    assert res(lean, "AWS::EC2::NatGateway") == {}
    (service,) = res(lean, "AWS::ECS::Service").values()
    network = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "ENABLED"
    public = {
        sid
        for sid, subnet in res(lean, "AWS::EC2::Subnet").items()
        if subnet["Properties"]["MapPublicIpOnLaunch"]
    }
    assert {s["Ref"] for s in network["Subnets"]} <= public
    (group,) = network["SecurityGroups"]
    ingress = [
        r["Properties"]
        for r in res(lean, "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == group
    ]
    assert ingress and all("SourceSecurityGroupId" in r and "CidrIp" not in r for r in ingress)
    assert {r["FromPort"] for r in ingress} == {3000, 5001, 5002}
    subnet_group = one(lean, "AWS::RDS::DBSubnetGroup")
    assert not {s["Ref"] for s in subnet_group["SubnetIds"]} & public


def test_lambda_proxy_front_door(lean: Template) -> None:
    url = one(lean, "AWS::Lambda::Url")
    assert url["AuthType"] == "NONE" and url["InvokeMode"] == "RESPONSE_STREAM"
    (proxy,) = [
        f["Properties"]
        for f in res(lean, "AWS::Lambda::Function").values()
        if f["Properties"].get("PackageType") == "Image"
    ]
    variables = proxy["Environment"]["Variables"]
    assert variables["AWS_LWA_INVOKE_MODE"] == "response_stream"
    conf = base64.b64decode(variables["NGINX_CONF_B64"]).decode()
    assert "set $upstream dify.difylean.dify.internal;" in conf and "resolver 10.0.0.2" in conf
    assert "proxy_buffering off;" in conf and "client_max_body_size 6m;" in conf
    assert "VpcConfig" in proxy
    namespace = one(lean, "AWS::ServiceDiscovery::PrivateDnsNamespace")
    assert namespace["Name"] == "difylean.dify.internal"
    assert one(lean, "AWS::ServiceDiscovery::Service")["Name"] == "dify"
    (service,) = res(lean, "AWS::ECS::Service").values()
    assert service["Properties"]["ServiceRegistries"]
    distribution = one(lean, "AWS::CloudFront::Distribution")["DistributionConfig"]
    assert "LambdaFunctionAssociations" not in distribution["DefaultCacheBehavior"]


def test_nginx_routes_like_the_alb() -> None:
    conf = nginx_config(upstream="dify.x.local", resolver="10.0.0.2", timeout_seconds=300)
    for prefix in API_PREFIXES:
        assert f"location = {prefix} {{ proxy_pass http://$upstream:5001; }}" in conf
        assert f"location {prefix}/ {{ proxy_pass http://$upstream:5001; }}" in conf
    for prefix in PLUGIN_PREFIXES:
        assert f"location {prefix}/ {{ proxy_pass http://$upstream:5002; }}" in conf
    assert "location / { proxy_pass http://$upstream:3000; }" in conf
    assert f"location = {READY_PATH}" in conf
    assert "proxy_read_timeout 300s;" in conf


def test_budget_uses_service_connect_names_on_one_task(budget: Template) -> None:
    (service,) = res(budget, "AWS::ECS::Service").values()
    names = {s["PortName"] for s in service["Properties"]["ServiceConnectConfiguration"]["Services"]}
    assert {"api", "web", "plugin-daemon"} <= names
    assert one(budget, "Custom::DifyCloudMapServices")["Names"] == ["api", "plugin-daemon", "web"]
    assert res(budget, "AWS::ElasticLoadBalancingV2::LoadBalancer") == {}


# Both run on working hours: Aurora pauses only while no Dify task holds a connection (README, Cost), so its
# awake minimum is billed for the scheduled share of the week.
@pytest.mark.parametrize(("name", "target"), [("lean.toml", 30.0), ("budget.toml", 30.0)])
def test_idle_cost_targets(example_results: dict[str, SynthResult], name: str, target: float) -> None:
    result = estimate(example_results[name].templates, region="us-east-1", usage=IDLE)
    assert not result.unpriced
    assert all(line.monthly is not None for line in result.lines), "no unknown prices"
    assert result.total < target, f"{name}: ${result.total:.2f} at idle"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"front_door": {"type": "lambda_proxy"}}, "set services.layout = 'single_task'"),
        ({"cache": {"engine": "container"}}, "set services.layout = 'single_task'"),
        (
            {
                "front_door": {"type": "lambda_proxy", "allowed_cidrs": ["192.0.2.0/24"]},
                "services": {"layout": "single_task"},
            },
            "function URL is public",
        ),
        ({"front_door": {"type": "lambda"}, "network": {"nat_gateways": 0}}, "needs NAT"),
    ],
)
def test_invalid_low_cost_combinations(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_of(**data)
    assert message in str(info.value)


def test_no_plain_secret_in_the_packed_task(lean: Template) -> None:
    for name, container in _task(lean).items():
        for key, value in env(container).items():
            assert "resolve:secretsmanager" not in json.dumps(value), (name, key)


@pytest.fixture(scope="module")
def scheduled(synth: Any) -> Template:
    config = config_of(
        name="Scheduled",
        schedule={"enabled": True, "working_hours": "MON-FRI 08:00-20:00", "timezone": "Asia/Tokyo"},
        services={"api": {"cpu": 1024, "memory_mib": 2048, "max_count": 4}},
    )
    result = synth(config)
    assert result.violations == []
    return main(result)


def test_working_hours_schedule_on_every_service(scheduled: Template) -> None:
    targets = res(scheduled, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert len(targets) == len(ROLES)
    for target in targets.values():
        actions = target["Properties"]["ScheduledActions"]
        assert {a["Timezone"] for a in actions} == {"Asia/Tokyo"}
        stop = [a for a in actions if a["ScalableTargetAction"].get("MaxCapacity") == 0]
        start = [a for a in actions if a["ScalableTargetAction"].get("MinCapacity", 0) > 0]
        assert len(stop) == 1 and len(start) == 1
        assert "MON-FRI" in stop[0]["Schedule"] and "MON-FRI" in start[0]["Schedule"]


def test_cpu_scaling_only_where_max_count_is_set(scheduled: Template) -> None:
    policies = res(scheduled, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
    assert len(policies) == 3  # api, worker, web
    for policy in policies:
        assert policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 60
    maxima = sorted(
        t["Properties"]["MaxCapacity"]
        for t in res(scheduled, "AWS::ApplicationAutoScaling::ScalableTarget").values()
    )
    # api scales to its max_count, worker and web to the default ceiling of 4 (config/services.py).
    assert maxima == [1, 1, 1, 1, 4, 4, 4]


def test_schedule_saving_is_estimated(scheduled: Template) -> None:
    result = estimate({"Scheduled": scheduled.to_json()}, region="us-east-1")
    assert result.schedule_savings and sum(result.schedule_savings.values()) > 10


def test_production_scales_out(example_results: dict[str, SynthResult]) -> None:
    template = main(example_results["production.toml"])
    # api and web on CPU; the worker on its queue depth (a scale-out and a scale-in step policy).
    kinds = sorted(
        p["Properties"]["PolicyType"]
        for p in res(template, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
    )
    assert kinds == ["StepScaling", "StepScaling", "TargetTrackingScaling", "TargetTrackingScaling"]


def test_max_count_is_validated() -> None:
    with pytest.raises(ConfigError, match="below desired_count"):
        config_of(services={"api": {"cpu": 1024, "memory_mib": 2048, "desired_count": 3, "max_count": 2}})
    with pytest.raises(ConfigError, match=r"needs services\.layout = 'per_role'"):
        config_of(
            services={"layout": "single_task", "api": {"cpu": 1024, "memory_mib": 2048, "max_count": 2}}
        )
