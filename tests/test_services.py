"""Every Dify 1.x role on ECS, its wiring, the migration gate and the default CloudFront front door."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, cast

import pytest
from aws_cdk.assertions import Template

from dify_on_aws.app import SynthResult
from dify_on_aws.config import ConfigError, DifyConfig
from dify_on_aws.frontdoor.routing import API_PREFIXES
from dify_on_aws.roles import Role

from .conftest import config_of

LONG_RUNNING = ("api", "worker", "beat", "web", "sandbox", "plugin-daemon", "ssrf-proxy")
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|_KEY$|API_KEY|BROKER_URL)")
SECRET_VALUE = re.compile(r"(\{\{resolve:|rediss?://[^@/]*:[^@/]*@|postgres(ql)?://[^@/]*:[^@/]*@)")


def res(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    return cast(dict[str, dict[str, Any]], template.find_resources(kind))


def containers(template: Template) -> dict[str, tuple[str, dict[str, Any], dict[str, Any]]]:
    """container name -> (task definition id, task definition properties, container definition)"""
    found = {}
    for tid, task in res(template, "AWS::ECS::TaskDefinition").items():
        for container in task["Properties"]["ContainerDefinitions"]:
            found[container["Name"]] = (tid, task["Properties"], container)
    return found


def env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["Name"]: e["Value"] for e in container.get("Environment", [])}


def secret_refs(container: dict[str, Any]) -> dict[str, Any]:
    return {s["Name"]: s["ValueFrom"] for s in container.get("Secrets", [])}


def services(template: Template) -> dict[str, dict[str, Any]]:
    """role -> ECS service resource (with its logical id under "_id")."""
    by_task = {tid: name for name, (tid, _, _) in containers(template).items() if name != "dependencies"}
    found = {}
    for sid, service in res(template, "AWS::ECS::Service").items():
        role = by_task[service["Properties"]["TaskDefinition"]["Ref"]]
        found[role] = {**service, "_id": sid}
    return found


@pytest.fixture(scope="module")
def roles(template: Template) -> dict[str, tuple[str, dict[str, Any], dict[str, Any]]]:
    return containers(template)


def test_every_role_has_a_service(template: Template) -> None:
    assert sorted(services(template)) == sorted(LONG_RUNNING)


@pytest.mark.parametrize(
    ("role", "image", "mode", "port"),
    [
        ("api", "docker.io/langgenius/dify-api:1.13.3", "api", 5001),
        ("worker", "docker.io/langgenius/dify-api:1.13.3", "worker", None),
        ("beat", "docker.io/langgenius/dify-api:1.13.3", "beat", None),
        ("migration", "docker.io/langgenius/dify-api:1.13.3", "migration", None),
        ("web", "docker.io/langgenius/dify-web:1.13.3", None, 3000),
        ("sandbox", "docker.io/langgenius/dify-sandbox:0.2.14", None, 8194),
        ("plugin-daemon", "docker.io/langgenius/dify-plugin-daemon:0.5.3-local", None, 5002),
    ],
)
def test_role_image_mode_port(
    roles: dict[str, Any], role: str, image: str, mode: str | None, port: int | None
) -> None:
    _, task, container = roles[role]
    assert container["Image"] == image
    assert env(container).get("MODE") == mode
    ports = [p["ContainerPort"] for p in container.get("PortMappings", [])]
    assert ports == ([port] if port else [])
    assert task["RuntimePlatform"]["CpuArchitecture"] == "ARM64"
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"


@pytest.mark.parametrize(
    ("role", "probe"),
    [
        ("api", ":5001/health"),
        ("web", ":3000/"),
        ("sandbox", ":8194/health"),
        ("plugin-daemon", ":5002/health/check"),
    ],
)
def test_health_checks(roles: dict[str, Any], role: str, probe: str) -> None:
    check = roles[role][2]["HealthCheck"]
    assert probe in check["Command"][1]
    assert check["StartPeriod"] >= 60


def test_migrations_only_in_the_migration_task(roles: dict[str, Any]) -> None:
    for role in ("api", "worker", "beat"):
        assert env(roles[role][2])["MIGRATION_ENABLED"] == "false"
    assert env(roles["migration"][2])["MIGRATION_ENABLED"] == "true"


API_ENV = (
    "DB_HOST", "DB_PORT", "DB_DATABASE", "VECTOR_STORE", "PGVECTOR_HOST", "PGVECTOR_DATABASE", "REDIS_HOST",
    "REDIS_USE_SSL", "STORAGE_TYPE", "S3_BUCKET_NAME", "S3_USE_AWS_MANAGED_IAM", "CODE_EXECUTION_ENDPOINT",
    "PLUGIN_DAEMON_URL", "CONSOLE_API_URL", "FILES_URL", "SQLALCHEMY_POOL_PRE_PING",
)  # fmt: skip
API_SECRETS = (
    "DB_USERNAME", "DB_PASSWORD", "PGVECTOR_USER", "PGVECTOR_PASSWORD", "REDIS_PASSWORD", "CELERY_BROKER_URL",
    "SECRET_KEY", "CODE_EXECUTION_API_KEY", "PLUGIN_DAEMON_KEY", "INNER_API_KEY_FOR_PLUGIN",
)  # fmt: skip


@pytest.mark.parametrize("role", ["api", "worker", "beat", "migration"])
def test_api_image_roles_env_and_secrets(roles: dict[str, Any], role: str) -> None:
    container = roles[role][2]
    values = env(container)
    assert set(API_ENV) <= set(values)
    assert set(API_SECRETS) <= set(secret_refs(container))
    assert values["PGVECTOR_PORT"] == "5432"  # Dify's code default is 5433
    assert values["STORAGE_TYPE"] == "s3"
    assert values["CODE_EXECUTION_ENDPOINT"] == "http://sandbox:8194"
    assert values["PLUGIN_DAEMON_URL"] == "http://plugin-daemon:5002"


def test_plugin_daemon_settings(roles: dict[str, Any]) -> None:
    _, task, container = roles["plugin-daemon"]
    values = env(container)
    assert values["DB_DATABASE"] == "dify_plugin"
    assert values["DB_SSL_MODE"] == "require"
    assert values["PLUGIN_STORAGE_TYPE"] == "aws_s3"
    assert values["S3_USE_AWS_MANAGED_IAM"] == "true"
    assert values["AWS_REGION"] == {"Ref": "AWS::Region"}
    assert values["DIFY_INNER_API_URL"] == "http://api:5001"
    assert {"SERVER_KEY", "DIFY_INNER_API_KEY", "DB_PASSWORD", "REDIS_PASSWORD"} <= set(
        secret_refs(container)
    )
    assert task["EphemeralStorage"]["SizeInGiB"] >= 21


def test_sandbox_requirements_and_syscalls(roles: dict[str, Any]) -> None:
    sandbox = roles["sandbox"][2]
    writer = roles["dependencies"][2]
    assert writer["Essential"] is False
    assert "numpy" in env(writer)["REQUIREMENTS"]
    assert sandbox["DependsOn"] == [{"ContainerName": "dependencies", "Condition": "COMPLETE"}]
    assert {m["ContainerPath"] for m in sandbox["MountPoints"]} == {"/dependencies"}
    assert "ALLOWED_SYSCALLS" not in env(sandbox)
    assert set(secret_refs(sandbox)) == {"API_KEY"}


def _secret_id(value_from: Any) -> str:
    """The secret a valueFrom points at (the Ref inside the ARN, with or without a JSON field)."""
    text = str(value_from)
    match = re.search(r"'Ref': '([A-Za-z0-9]+)'", text)
    assert match, text
    return match.group(1)


# Shared keys match across roles: tests/test_dify_contract.py, over every example.


def test_distinct_keys_are_distinct_secrets(roles: dict[str, Any]) -> None:
    refs = secret_refs(roles["api"][2])
    ids = {_secret_id(refs[k]) for k in ("SECRET_KEY", "CODE_EXECUTION_API_KEY", "PLUGIN_DAEMON_KEY",
                                         "INNER_API_KEY_FOR_PLUGIN", "CELERY_BROKER_URL")}  # fmt: skip
    assert len(ids) == 5


def test_no_secret_in_plain_environment(example_results: dict[str, SynthResult]) -> None:
    for name, result in example_results.items():
        for body in result.templates.values():
            for cname, (_, _, container) in containers(Template.from_json(body)).items():
                for key, value in env(container).items():
                    assert not SECRET_NAME.search(key), (name, cname, key)
                    assert not SECRET_VALUE.search(str(value)), (name, cname, key)


def test_beat_is_exactly_one_on_demand_task(template: Template) -> None:
    beat = services(template)["beat"]["Properties"]
    assert beat["DesiredCount"] == 1
    assert beat["DeploymentConfiguration"]["MaximumPercent"] == 100
    assert beat["DeploymentConfiguration"]["MinimumHealthyPercent"] == 0
    assert beat["CapacityProviderStrategy"] == [{"CapacityProvider": "FARGATE", "Weight": 1}]


def test_service_connect_names(template: Template) -> None:
    found = {
        role: [
            a["DnsName"]
            for s in svc["Properties"]["ServiceConnectConfiguration"].get("Services", [])
            for a in s["ClientAliases"]
        ]
        for role, svc in services(template).items()
    }
    assert found["api"] == ["api"] and found["sandbox"] == ["sandbox"]
    assert found["plugin-daemon"] == ["plugin-daemon"]
    assert found["worker"] == [] and found["beat"] == []
    for svc in services(template).values():
        assert svc["Properties"]["ServiceConnectConfiguration"]["Enabled"] is True
        assert svc["Properties"]["EnableExecuteCommand"] is True


def test_migration_gate_runs_before_every_service(template: Template) -> None:
    (gate_id, gate) = next(iter(res(template, "Custom::DifyMigration").items()))
    props = gate["Properties"]
    assert props["ContainerName"] == "migration"
    assert props["Trigger"] == "docker.io/langgenius/dify-api:1.13.3"
    migration_task = containers(template)["migration"][0]
    assert props["TaskDefinition"] == {"Ref": migration_task}
    for svc in services(template).values():
        assert gate_id in svc["DependsOn"]
    (init_id,) = res(template, "Custom::DifyDatabaseInit")
    assert init_id in gate["DependsOn"]
    (cache_id,) = res(template, "AWS::ElastiCache::ReplicationGroup")
    assert cache_id in gate["DependsOn"]


def _listener_rules(template: Template) -> dict[str, list[str]]:
    """target group id -> path patterns routed to it"""
    routes: dict[str, list[str]] = {}
    for rule in res(template, "AWS::ElasticLoadBalancingV2::ListenerRule").values():
        (action,) = rule["Properties"]["Actions"]
        target = action["TargetGroupArn"]["Ref"]
        for condition in rule["Properties"]["Conditions"]:
            routes.setdefault(target, []).extend(condition["PathPatternConfig"]["Values"])
    return routes


def test_routing_table(template: Template) -> None:
    groups = res(template, "AWS::ElasticLoadBalancingV2::TargetGroup")
    port_of = {gid: g["Properties"]["Port"] for gid, g in groups.items()}
    routes = {port_of[t]: sorted(p) for t, p in _listener_rules(template).items()}
    assert routes[5001] == sorted(p for prefix in API_PREFIXES for p in (prefix, f"{prefix}/*"))
    assert "/mcp/*" in routes[5001] and "/triggers" in routes[5001]
    assert routes[5002] == ["/e", "/e/*"]
    (listener,) = res(template, "AWS::ElasticLoadBalancingV2::Listener").values()
    (default,) = listener["Properties"]["DefaultActions"]
    assert port_of[default["TargetGroupArn"]["Ref"]] == 3000
    for group in groups.values():
        attrs = {a["Key"]: a["Value"] for a in group["Properties"]["TargetGroupAttributes"]}
        assert attrs["deregistration_delay.timeout_seconds"] == "10"
    health = {g["Properties"]["Port"]: g["Properties"]["HealthCheckPath"] for g in groups.values()}
    assert health == {5001: "/health", 5002: "/health/check", 3000: "/"}


def test_internal_alb_with_long_idle_timeout(template: Template) -> None:
    (alb,) = res(template, "AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    props = alb["Properties"]
    assert props["Scheme"] == "internal"
    attrs = {a["Key"]: a["Value"] for a in props["LoadBalancerAttributes"]}
    assert attrs["idle_timeout.timeout_seconds"] == "600"
    sg_id = props["SecurityGroups"][0]["Fn::GetAtt"][0]
    ingress = res(template, "AWS::EC2::SecurityGroup")[sg_id]["Properties"].get("SecurityGroupIngress", [])
    assert all(rule.get("CidrIp") != "0.0.0.0/0" for rule in ingress)


def test_cloudfront_vpc_origin_and_behaviors(template: Template) -> None:
    template.resource_count_is("AWS::CloudFront::VpcOrigin", 1)
    (dist,) = res(template, "AWS::CloudFront::Distribution").values()
    config = dist["Properties"]["DistributionConfig"]
    default = config["DefaultCacheBehavior"]
    assert default["ViewerProtocolPolicy"] == "redirect-to-https"
    assert set(default["AllowedMethods"]) == {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}
    assert default["CachePolicyId"] == CACHING_DISABLED
    assert default["Compress"] is False
    (origin,) = config["Origins"]
    assert "VpcOriginConfig" in origin
    assert origin["VpcOriginConfig"]["OriginReadTimeout"] == 60
    errors = {e["ErrorCode"]: e["ErrorCachingMinTTL"] for e in config["CustomErrorResponses"]}
    assert errors[404] == 0
    (static,) = config["CacheBehaviors"]
    assert static["PathPattern"] == "/_next/static/*" and static["Compress"] is True


def test_outputs(template: Template) -> None:
    outputs = template.find_outputs("*")
    assert "DifyUrl" in outputs and "ApiExecCommand" in outputs
    assert "execute-command" in str(outputs["ApiExecCommand"]["Value"])
    assert "https://" in str(outputs["DifyUrl"]["Value"])


def test_browser_urls_come_from_the_front_door(roles: dict[str, Any]) -> None:
    url = env(roles["api"][2])["CONSOLE_API_URL"]
    assert "DistributionDomainName" in str(url) or "DomainName" in str(url)
    assert env(roles["web"][2])["CONSOLE_API_URL"] == url


def test_bedrock_only_on_the_plugin_daemon(template: Template, roles: dict[str, Any]) -> None:
    role_of = {
        name: task["TaskRoleArn"]["Fn::GetAtt"][0]
        for name, (_, task, _) in roles.items()
        if "TaskRoleArn" in task
    }
    with_bedrock = set()
    for policy in res(template, "AWS::IAM::Policy").values():
        actions = str(policy["Properties"]["PolicyDocument"])
        if "bedrock:InvokeModelWithResponseStream" in actions:
            for role in policy["Properties"]["Roles"]:
                with_bedrock |= {n for n, r in role_of.items() if role == {"Ref": r}}
    assert with_bedrock == {"plugin-daemon"}


@pytest.fixture(scope="module")
def variant(synth: Callable[[DifyConfig], SynthResult]) -> Template:
    config = config_of(
        name="DifyVariant",
        services={
            "architecture": "x86_64",
            "spot": True,
            "on_demand_base": 0,
            "bedrock": False,
            "sandbox_allow_all_syscalls": True,
            "api": {"cpu": 2048, "memory_mib": 4096, "desired_count": 2},
        },
    )
    result = synth(config)
    assert result.violations == []
    (body,) = result.templates.values()
    return Template.from_json(body)


def test_variant_spot_x86_sizes(variant: Template) -> None:
    found = services(variant)
    assert found["api"]["Properties"]["DesiredCount"] == 2
    strategy = found["worker"]["Properties"]["CapacityProviderStrategy"]
    assert {"CapacityProvider": "FARGATE_SPOT", "Weight": 1} in strategy
    assert found["beat"]["Properties"]["CapacityProviderStrategy"] == [
        {"CapacityProvider": "FARGATE", "Weight": 1}
    ]
    roles = containers(variant)
    assert (
        roles["api"][1]["Cpu"] == "2048" and roles["api"][1]["RuntimePlatform"]["CpuArchitecture"] == "X86_64"
    )
    assert "ALLOWED_SYSCALLS" in env(roles["sandbox"][2])
    assert "bedrock:InvokeModel" not in str(res(variant, "AWS::IAM::Policy"))


def test_invalid_task_size_rejected() -> None:
    with pytest.raises(ConfigError, match=r"services.api: memory_mib for cpu 256"):
        config_of(services={"api": {"cpu": 256, "memory_mib": 4096}})
    with pytest.raises(ConfigError, match=r"services.beat.desired_count: unknown key"):
        config_of(services={"beat": {"cpu": 256, "memory_mib": 512, "desired_count": 2}})


def test_sandbox_requirements_file_problems(tmp_path: Any) -> None:
    bad = tmp_path / "req.txt"
    bad.write_text("numpy\n$(rm -rf /)\n", encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"services.sandbox_requirements_file = .*is not a package requirement"
    ):
        config_of(services={"sandbox_requirements_file": str(bad)})
    with pytest.raises(
        ConfigError, match=r"services.sandbox_requirements_file = 'nope.txt': file 'nope.txt' not"
    ):
        config_of(services={"sandbox_requirements_file": "nope.txt"})


def test_role_enum_matches_tests() -> None:
    assert {r.value for r in Role} == {*LONG_RUNNING, "migration"}


# --- SSRF proxy ------------------------------------------------------------------------------------------


def _sg_of(service: dict[str, Any]) -> Any:
    (group,) = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"]
    return group


def test_ssrf_proxy_service_and_its_configuration(roles: dict[str, Any]) -> None:
    import base64  # noqa: PLC0415

    _, task, proxy = roles["ssrf-proxy"]
    assert proxy["Image"].startswith("public.ecr.aws/ubuntu/squid:")
    assert proxy["EntryPoint"] == ["sh", "-c"]
    conf = base64.b64decode(env(proxy)["SQUID_CONFIG_B64"]).decode()
    for denied in ("10.0.0.0/8", "169.254.0.0/16", "127.0.0.0/8", "fc00::/7"):
        assert denied in conf
    assert "http_access deny all" in conf
    assert proxy["PortMappings"][0]["ContainerPort"] == 3128
    assert task["Cpu"] == "256"


def test_clients_use_the_ssrf_proxy(roles: dict[str, Any]) -> None:
    url = "http://ssrf-proxy:3128"
    for role in ("api", "worker"):
        variables = env(roles[role][2])
        assert variables["SSRF_PROXY_HTTP_URL"] == url and variables["SSRF_PROXY_HTTPS_URL"] == url
    for role in ("sandbox", "plugin-daemon"):
        variables = env(roles[role][2])
        assert variables["HTTP_PROXY"] == url and variables["HTTPS_PROXY"] == url
        assert "169.254.170.2" in variables["NO_PROXY"] and "api" in variables["NO_PROXY"].split(",")


def test_only_dify_clients_reach_the_proxy_and_the_sandbox_egress_is_closed(template: Template) -> None:
    by_role = services(template)
    proxy_sg = _sg_of(by_role["ssrf-proxy"])
    sources = {
        json.dumps(rule["Properties"]["SourceSecurityGroupId"], sort_keys=True)
        for rule in res(template, "AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"].get("GroupId") == proxy_sg and rule["Properties"]["FromPort"] == 3128
    }
    expected = {
        json.dumps(_sg_of(by_role[r]), sort_keys=True) for r in ("api", "worker", "sandbox", "plugin-daemon")
    }
    assert sources == expected
    sandbox_group_id = _sg_of(by_role["sandbox"])["Fn::GetAtt"][0]
    sandbox_group = res(template, "AWS::EC2::SecurityGroup")[sandbox_group_id]["Properties"]
    egress = sandbox_group.get("SecurityGroupEgress", [])
    assert {(e.get("CidrIp"), e["FromPort"]) for e in egress} == {("0.0.0.0/0", 443)}
    to_proxy = [
        rule["Properties"]
        for rule in res(template, "AWS::EC2::SecurityGroupEgress").values()
        if rule["Properties"]["GroupId"] == {"Fn::GetAtt": [sandbox_group_id, "GroupId"]}
    ]
    assert [(r["FromPort"], r["DestinationSecurityGroupId"]) for r in to_proxy] == [(3128, proxy_sg)]


def test_ssrf_proxy_options_are_validated() -> None:
    with pytest.raises(ConfigError, match="ssrf_proxy"):
        config_of(ssrf_proxy={"allowed_cidrs": ["169.254.169.254/32"]})
    with pytest.raises(ConfigError, match="ssrf_proxy"):
        config_of(ssrf_proxy={"allowed_domains": ["not a domain"]})
    assert config_of(ssrf_proxy={"allowed_domains": [".example.com"], "extra_ports": [8443]})


def test_web_egress_is_https_only(template: Template) -> None:
    group_id = _sg_of(services(template)["web"])["Fn::GetAtt"][0]
    egress = res(template, "AWS::EC2::SecurityGroup")[group_id]["Properties"]["SecurityGroupEgress"]
    assert [(e.get("CidrIp"), e["FromPort"], e["ToPort"]) for e in egress] == [("0.0.0.0/0", 443, 443)]


def test_plugin_daemon_touches_only_its_prefixes(template: Template, roles: dict[str, Any]) -> None:
    from dify_on_aws.services.variables import PLUGIN_DAEMON_PREFIXES  # noqa: PLC0415

    daemon_env = env(roles["plugin-daemon"][2])
    assert [
        daemon_env[k]
        for k in (
            "PLUGIN_INSTALLED_PATH",
            "PLUGIN_PACKAGE_CACHE_PATH",
            "PLUGIN_MEDIA_CACHE_PATH",
            "PERSISTENCE_STORAGE_PATH",
        )
    ] == list(PLUGIN_DAEMON_PREFIXES)
    _, task, _ = roles["plugin-daemon"]
    role_id = task["TaskRoleArn"]["Fn::GetAtt"][0]
    suffixes: list[str] = []
    for policy in res(template, "AWS::IAM::Policy").values():
        if {"Ref": role_id} not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if "s3:PutObject" not in json.dumps(statement["Action"]):
                continue
            resources = statement["Resource"]
            for item in resources if isinstance(resources, list) else [resources]:
                if "Fn::Join" in item:
                    suffixes.append(item["Fn::Join"][1][-1].lstrip("/"))
    assert sorted(suffixes) == sorted(f"{p}/*" for p in PLUGIN_DAEMON_PREFIXES)


# --- issue #11: what Dify 1.13.3's own code reads ----------------------------------------------------------


def test_plugin_packages_up_to_50_mib_everywhere(roles: dict[str, Any]) -> None:
    """Issue #11 finding 2: api and worker check PLUGIN_MAX_PACKAGE_SIZE (api/configs/feature, default 15 MiB)
    on marketplace downloads, uploads and GitHub installs; Dify's compose gives them and the daemon 50 MiB."""
    for role in ("api", "worker"):
        assert env(roles[role][2])["PLUGIN_MAX_PACKAGE_SIZE"] == "52428800", role
    assert env(roles["plugin-daemon"][2])["MAX_PLUGIN_PACKAGE_SIZE"] == "52428800"


def test_production_switches(roles: dict[str, Any]) -> None:
    """Issue #11 finding 5: no Swagger UI (SwaggerUIConfig defaults to on, compose turns it off), no Scarf
    analytics (RagEtlConfig defaults to "false"), no BROKER_USE_SSL (derived from the rediss:// scheme), the
    sandbox's DEBUG off (internal/static/config.go lets DEBUG override the image's `debug: true`), and no
    plugin-debugging address advertised while the daemon's remote installing is off."""
    for role in ("api", "worker", "beat", "migration"):
        variables = env(roles[role][2])
        assert variables["SWAGGER_UI_ENABLED"] == "false", role
        assert variables["SCARF_NO_ANALYTICS"] == "true", role
        assert "BROKER_USE_SSL" not in variables, role
        assert variables["PLUGIN_REMOTE_INSTALL_HOST"].endswith(".invalid"), role
    assert env(roles["plugin-daemon"][2])["PLUGIN_REMOTE_INSTALLING_ENABLED"] == "false"
    assert env(roles["sandbox"][2])["DEBUG"] == "false"


def test_worker_consumes_trigger_refresh(roles: dict[str, Any]) -> None:
    """Issue #11 finding 3: beat sends trigger_provider_refresh to `trigger_refresh_publisher` every minute
    (api/schedule/trigger_provider_refresh_task.py), a queue the entrypoint's default list lacks."""
    queues = env(roles["worker"][2])["CELERY_QUEUES"].split(",")
    assert {"trigger_refresh_publisher", "dataset", "workflow", "retention"} <= set(queues)
    assert len(queues) == len(set(queues))
    assert all("CELERY_QUEUES" not in env(roles[r][2]) for r in ("api", "beat", "migration"))


def test_plugins_reach_the_files_url_in_one_task(synth: Callable[[DifyConfig], SynthResult]) -> None:
    """Issue #11 finding 1: with every role in one task, INTERNAL_FILES_URL is http://localhost:5001 and
    plugins fetch it with the daemon's proxy variables; only that port (and the credential endpoints) go
    around the proxy, which keeps denying loopback for everything else."""
    from .test_dify_contract import around_the_proxy  # noqa: PLC0415
    from .test_front_doors import main  # noqa: PLC0415

    packed = containers(main(synth(config_of(services={"layout": "single_task"}))))
    assert env(packed["api"][2])["INTERNAL_FILES_URL"] == "http://localhost:5001"
    daemon = env(packed["plugin-daemon"][2])["NO_PROXY"]
    for url in ("http://localhost:5001/files/x", "http://127.0.0.1:5001/", "http://169.254.170.2/v2"):
        assert around_the_proxy(daemon, url), url
    for url in (
        "http://localhost/",
        "http://localhost:6379/",
        "http://localhost:8194/",
        "http://127.0.0.1:5002/",
    ):
        assert not around_the_proxy(daemon, url), url
    assert not around_the_proxy(env(packed["sandbox"][2])["NO_PROXY"], "http://localhost:5001/")


def test_the_ssrf_proxy_can_reach_the_ports_it_admits(template: Template) -> None:
    """Issue #11 finding 4: Squid admits Dify's safe ports (up to 65535), so its own task may connect out on
    any port; the destination rules live in squid.conf, not in the security group."""
    group_id = _sg_of(services(template)["ssrf-proxy"])["Fn::GetAtt"][0]
    egress = res(template, "AWS::EC2::SecurityGroup")[group_id]["Properties"]["SecurityGroupEgress"]
    assert any(e["CidrIp"] == "0.0.0.0/0" and e["IpProtocol"] == "-1" for e in egress), egress
