"""`[monitoring]` (issue 13, "Visibility"): the dashboard graphs the right metrics of the right resources for
each front door, the alarms watch what they say and notify the encrypted topic, and the saved Logs Insights
queries read the log groups the services write to."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from dify_on_aws.app import SynthResult
from dify_on_aws.config import DifyConfig, load_config
from dify_on_aws.config.loader import ConfigError
from dify_on_aws.config.monitoring import MonitoringConfig
from dify_on_aws.cost.estimate import estimate
from dify_on_aws.operations.monitoring import MIGRATION_STARTED_BY
from dify_on_aws.templates.intrinsics import direct_target
from tests.conftest import ROOT, config_of
from tests.template_queries import of_type

Resources = Mapping[str, Mapping[str, Any]]
EXAMPLES = ROOT / "examples"


def monitored(name: str) -> DifyConfig:
    """An example with monitoring on (production has it on already)."""
    config = load_config(EXAMPLES / name)
    return config.model_copy(update={"monitoring": MonitoringConfig(enabled=True)})


def dify_template(result: SynthResult) -> Template:
    (name,) = [n for n in result.templates if not n.endswith("Edge")]
    return Template.from_json(result.templates[name])


def resources(result: SynthResult) -> Resources:
    found: Resources = dify_template(result).to_json()["Resources"]
    return found


def only(resources_: Resources, kind: str) -> tuple[str, Mapping[str, Any]]:
    (found,) = of_type(resources_, kind).items()
    return found


def joined(value: Any) -> str:
    """A Fn::Join'ed string with each reference written as <LogicalId> (read with the template model)."""
    if isinstance(value, str):
        return value
    if "Fn::Join" not in value:
        return f"<{direct_target(value)}>"
    separator, parts = value["Fn::Join"]
    return str(separator).join(joined(part) for part in parts)


def dashboard(resources_: Resources) -> list[dict[str, Any]]:
    _, board = only(resources_, "AWS::CloudWatch::Dashboard")
    return list(json.loads(joined(board["Properties"]["DashboardBody"]))["widgets"])


def metric_rows(widget: Mapping[str, Any]) -> list[list[Any]]:
    return list(widget.get("properties", {}).get("metrics", []))


def widget(widgets: list[dict[str, Any]], title: str) -> dict[str, Any]:
    (found,) = [w for w in widgets if w.get("properties", {}).get("title") == title]
    return found


def dimension(row: list[Any], name: str) -> Any:
    values = [item for item in row if not isinstance(item, dict)]
    return values[values.index(name) + 1]


def logical_id(resources_: Resources, kind: str, *, contains: str = "") -> str:
    (found,) = [rid for rid in of_type(resources_, kind) if contains in rid]
    return found


@pytest.fixture(scope="module")
def production(example_results: dict[str, SynthResult]) -> Resources:
    return resources(example_results["production.toml"])


def alarms(resources_: Resources) -> dict[str, Mapping[str, Any]]:
    """The alarms meant for an operator: not those that drive a scaling policy (queue-depth steps)."""
    policies = set(of_type(resources_, "AWS::ApplicationAutoScaling::ScalingPolicy"))
    return {
        rid: r["Properties"]
        for rid, r in of_type(resources_, "AWS::CloudWatch::Alarm").items()
        if not {a.get("Ref") for a in r["Properties"].get("AlarmActions", []) if isinstance(a, dict)}
        & policies
    }


def alarm(resources_: Resources, name: str) -> Mapping[str, Any]:
    (found,) = [props for rid, props in alarms(resources_).items() if name in rid]
    return found


def watched(props: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """The one metric an alarm watches (namespace, name, dimensions), in either of its template forms."""
    if "Metrics" in props:
        (metric,) = [m["MetricStat"]["Metric"] for m in props["Metrics"]]
    else:
        metric = props
    dimensions = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
    return metric["Namespace"], metric["MetricName"], dimensions


# --- production: the dashboard ------------------------------------------------------------------------


def test_off_by_default(template: Template) -> None:
    for kind in ("AWS::CloudWatch::Dashboard", "AWS::CloudWatch::Alarm", "AWS::SNS::Topic"):
        template.resource_count_is(kind, 0)
    template.resource_count_is("AWS::Logs::QueryDefinition", 0)


def test_production_dashboard_graphs_cloudfront_in_us_east_1_and_the_alb(production: Resources) -> None:
    """CloudFront publishes its metrics in us-east-1 only ("Amazon CloudFront metrics"): its widgets name
    that region; the internal ALB behind it gives latency (TargetResponseTime) and origin errors."""
    widgets = dashboard(production)
    distribution = logical_id(production, "AWS::CloudFront::Distribution")
    requests = widget(widgets, "CloudFront: requests")
    assert requests["properties"]["region"] == "us-east-1"
    (row,) = metric_rows(requests)
    assert row[:2] == ["AWS/CloudFront", "Requests"]
    assert dimension(row, "DistributionId") == f"<{distribution}>"
    assert dimension(row, "Region") == "Global"
    errors = metric_rows(widget(widgets, "CloudFront: errors (%)"))
    assert {r[1] for r in errors} == {"4xxErrorRate", "5xxErrorRate"}
    balancer = logical_id(production, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    latency = metric_rows(widget(widgets, "Load balancer: latency"))
    assert latency[0][:2] == ["AWS/ApplicationELB", "TargetResponseTime"]
    assert dimension(latency[0], "LoadBalancer") == f"<{balancer}>"
    origin_errors = {r[1] for r in metric_rows(widget(widgets, "Load balancer: errors"))}
    assert {
        "HTTPCode_Target_5XX_Count",
        "HTTPCode_ELB_5XX_Count",
        "HTTPCode_Target_4XX_Count",
    } <= origin_errors


def test_production_dashboard_graphs_every_role_and_the_data(production: Resources) -> None:
    widgets = dashboard(production)
    services = of_type(production, "AWS::ECS::Service")
    cluster = logical_id(production, "AWS::ECS::Cluster")
    for title, metric in (("CPU %", "CPUUtilization"), ("Memory %", "MemoryUtilization")):
        rows = metric_rows(widget(widgets, title))
        assert {r[1] for r in rows} == {metric} and {r[0] for r in rows} == {"AWS/ECS"}
        assert {dimension(r, "ServiceName") for r in rows} == {f"<{s}>" for s in services}
        assert {dimension(r, "ClusterName") for r in rows} == {f"<{cluster}>"}
    # Running tasks come from Container Insights, which production leaves off: the dashboard says so.
    assert not [w for w in widgets if w.get("properties", {}).get("title") == "Running tasks"]
    assert "container_insights" in widgets[0]["properties"]["markdown"]
    (queue,) = metric_rows(widget(widgets, "Celery queue depth"))
    assert queue[:2] == ["DifyOnAws", "CeleryQueueDepth"] and dimension(queue, "Instance") == "DifyProd"
    database = logical_id(production, "AWS::RDS::DBCluster")
    capacity = metric_rows(widget(widgets, "Aurora capacity (ACU; 0 while paused)"))
    assert {r[1] for r in capacity} == {"ServerlessDatabaseCapacity", "ACUUtilization"}
    assert {dimension(r, "DBClusterIdentifier") for r in capacity} == {f"<{database}>"}
    (connections,) = metric_rows(widget(widgets, "Aurora connections"))
    assert connections[1] == "DatabaseConnections"
    group = logical_id(production, "AWS::ElastiCache::ReplicationGroup")
    for title, metric in (
        ("Cache memory %", "DatabaseMemoryUsagePercentage"),
        ("Cache evictions", "Evictions"),
        ("Cache connections", "CurrConnections"),
    ):
        rows = metric_rows(widget(widgets, title))
        assert {r[1] for r in rows} == {metric}
        # Metrics are per member cluster of the replication group: <group ID>-001 and, multi-AZ, -002.
        assert {dimension(r, "CacheClusterId") for r in rows} == {f"<{group}>-001", f"<{group}>-002"}


def test_dashboard_lists_every_alarm(production: Resources) -> None:
    status = [w for w in dashboard(production) if w["type"] == "alarm"]
    (board,) = status
    names = {n.split(":alarm:")[-1] for n in board["properties"]["alarms"]}
    assert names == {f"<{rid}>" for rid in alarms(production)}


# --- production: the alarms ---------------------------------------------------------------------------


def test_every_alarm_has_a_runbook_and_notifies_the_topic(production: Resources) -> None:
    topic = logical_id(production, "AWS::SNS::Topic")
    found = alarms(production)
    assert len(found) == 8
    for props in found.values():
        assert props["AlarmDescription"].startswith("Runbook: ")
        assert len(props["AlarmDescription"]) <= 1024  # PutMetricAlarm: AlarmDescription max 1024
        assert props["AlarmActions"] == [{"Ref": topic}] and props["OKActions"] == [{"Ref": topic}]
        assert props["TreatMissingData"] == "notBreaching"


def test_front_door_error_rate_alarms(production: Resources) -> None:
    """In us-east-1 CloudFront's own 5xx rate is alarmable; the ALB's 5xx share is metric math that
    guards against division by zero."""
    edge = alarm(production, "CloudFrontServerErrors")
    assert watched(edge)[:2] == ("AWS/CloudFront", "5xxErrorRate") and edge["Threshold"] == 5
    origin = alarm(production, "LoadbalancerServerErrors")
    (expression,) = [m for m in origin["Metrics"] if "Expression" in m]
    assert expression["Expression"].startswith("IF((FILL(r0, 0)) > 0, 100 *")
    stats = {m["Id"]: m["MetricStat"]["Metric"]["MetricName"] for m in origin["Metrics"] if "MetricStat" in m}
    assert stats == {"r0": "RequestCount", "e0": "HTTPCode_Target_5XX_Count", "e1": "HTTPCode_ELB_5XX_Count"}
    assert len(origin["Metrics"]) <= 10  # an alarm's metric math holds at most 10 metrics


def test_unhealthy_target_alarm_watches_every_target_group(production: Resources) -> None:
    props = alarm(production, "UnhealthyTargets")
    groups = set(of_type(production, "AWS::ElasticLoadBalancingV2::TargetGroup"))
    found: set[str | None] = set()
    for metric in (m for m in props["Metrics"] if "MetricStat" in m):
        stat = metric["MetricStat"]
        assert stat["Metric"]["MetricName"] == "UnHealthyHostCount"
        (target_group,) = [d["Value"] for d in stat["Metric"]["Dimensions"] if d["Name"] == "TargetGroup"]
        found.add(direct_target(target_group))
    assert found == groups and props["Threshold"] == 0


def test_data_and_queue_alarms(production: Resources) -> None:
    queue = alarm(production, "QueueDepth")
    assert watched(queue) == ("DifyOnAws", "CeleryQueueDepth", {"Instance": "DifyProd"})
    assert queue["Threshold"] == 100
    database = alarm(production, "DatabaseAtMaxCapacity")
    namespace, name, dimensions = watched(database)
    assert (namespace, name, database["Threshold"]) == ("AWS/RDS", "ACUUtilization", 95)
    assert direct_target(dimensions["DBClusterIdentifier"]) == logical_id(production, "AWS::RDS::DBCluster")
    cache = alarm(production, "CacheMemoryHigh")
    assert cache["Threshold"] == 80
    assert {m["MetricStat"]["Metric"]["MetricName"] for m in cache["Metrics"] if "MetricStat" in m} == {
        "DatabaseMemoryUsagePercentage"
    }


def test_task_stop_and_migration_rules_feed_their_alarms(production: Resources) -> None:
    """ECS task state change events ("Amazon ECS task state change events"): abnormal stops of service
    tasks, and migration tasks (startedBy of the migration gate) that exit non-zero or never start."""
    rules = of_type(production, "AWS::Events::Rule")
    cluster = logical_id(production, "AWS::ECS::Cluster")
    by_name: dict[str, str] = {}
    for rid, rule in rules.items():
        detail = rule["Properties"].get("EventPattern", {}).get("detail", {})
        if "lastStatus" not in detail:
            continue
        assert direct_target(detail["clusterArn"][0]) == cluster and detail["lastStatus"] == ["STOPPED"]
        by_name["migration" if "startedBy" in detail else "stops"] = rid
        (target,) = rule["Properties"]["Targets"]
        assert "<Monitoring" in joined(target["Arn"]) and ":log-group:" in joined(target["Arn"])
    migration = rules[by_name["migration"]]["Properties"]["EventPattern"]["detail"]
    assert migration["startedBy"] == [MIGRATION_STARTED_BY]
    assert {"containers": {"exitCode": [{"anything-but": 0}]}} in migration["$or"]
    stops = rules[by_name["stops"]]["Properties"]["EventPattern"]["detail"]
    assert stops["group"] == [{"prefix": "service:"}]
    for name, rule_id, threshold in (
        ("MigrationFailed", by_name["migration"], 1),
        ("TasksStopping", by_name["stops"], 3),
    ):
        props = alarm(production, name)
        namespace, metric, dimensions = watched(props)
        assert (namespace, metric, props["Threshold"]) == ("AWS/Events", "TriggeredRules", threshold)
        assert direct_target(dimensions["RuleName"]) == rule_id


def test_migration_started_by_matches_the_gate() -> None:
    pytest.importorskip("boto3")
    from dify_on_aws.services.runtime.migration import index  # noqa: PLC0415

    assert index.STARTED_BY == MIGRATION_STARTED_BY


def test_events_may_write_to_the_task_events_log_group(production: Resources) -> None:
    (policy,) = of_type(production, "AWS::Logs::ResourcePolicy").values()
    text = joined(policy["Properties"]["PolicyDocument"])
    document = json.loads(text)
    (statement,) = document["Statement"]
    assert "events.amazonaws.com" in statement["Principal"]["Service"]
    assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]


# --- production: the topic ----------------------------------------------------------------------------


def test_topic_is_encrypted_ssl_only_and_mails_the_operator(example_results: dict[str, SynthResult]) -> None:
    """CloudWatch needs kms:Decrypt and kms:GenerateDataKey* on a customer key to publish alarms to an
    encrypted topic (the AWS managed aws/sns key cannot be used) ("Amazon SNS: encryption at rest")."""
    template = dify_template(example_results["production.toml"])
    res = template.to_json()["Resources"]
    key = logical_id(res, "AWS::KMS::Key", contains="Monitoring")
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [key, "Arn"]}})
    template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "EnableKeyRotation": True,
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                            }
                        )
                    ]
                )
            },
        },
    )
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
                        )
                    ]
                )
            }
        },
    )
    template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )
    # The key protects only notifications in flight: deleted with the stack after the shortest window.
    key_resource = res[key]
    assert key_resource["DeletionPolicy"] == "Delete"
    assert key_resource["Properties"]["PendingWindowInDays"] == 7
    template.has_output("AlarmTopicArn", {"Value": {"Ref": logical_id(res, "AWS::SNS::Topic")}})


# --- production: the saved queries --------------------------------------------------------------------


def test_saved_queries_read_the_dify_log_group(production: Resources) -> None:
    """Every container logs to the cluster's one log group with stream prefix `dify`, so the stream names
    the role (awslogs: prefix-name/container-name/ecs-task-id). Behind a load balancer (no access logs)
    the request question is answered from timeouts in that group."""
    (api,) = [
        c
        for d in of_type(production, "AWS::ECS::TaskDefinition").values()
        for c in d["Properties"]["ContainerDefinitions"]
        if c["Name"] == "api"
    ]
    options = api["LogConfiguration"]["Options"]
    dify_logs = direct_target(options["awslogs-group"])
    assert options["awslogs-stream-prefix"] == "dify"
    queries = queries_by_name(production)
    assert set(queries) == {
        "Dify/DifyProd/errors by role",
        "Dify/DifyProd/timed-out requests",
        "Dify/DifyProd/plugin install failures",
        "Dify/DifyProd/stopped tasks",
    }
    for name in ("errors by role", "timed-out requests", "plugin install failures"):
        (group,) = queries[f"Dify/DifyProd/{name}"]["LogGroupNames"]
        assert direct_target(group) == dify_logs
    assert 'parse @logStream "dify/*/*" as role' in queries["Dify/DifyProd/errors by role"]["QueryString"]
    (events_group,) = queries["Dify/DifyProd/stopped tasks"]["LogGroupNames"]
    assert "TaskEvents" in str(direct_target(events_group))


def queries_by_name(resources_: Resources) -> dict[str, Mapping[str, Any]]:
    return {
        q["Properties"]["Name"]: q["Properties"]
        for q in of_type(resources_, "AWS::Logs::QueryDefinition").values()
    }


# --- the other front doors ------------------------------------------------------------------------------


def test_alb_front_door_requests_and_no_cloudfront(synth: Callable[[DifyConfig], SynthResult]) -> None:
    res = resources(synth(monitored("alb.toml")))
    widgets = dashboard(res)
    (row,) = metric_rows(widget(widgets, "Load balancer: requests"))
    assert row[:2] == ["AWS/ApplicationELB", "RequestCount"]
    assert not [w for w in widgets if "CloudFront" in w.get("properties", {}).get("title", "")]
    assert alarm(res, "UnhealthyTargets")


def test_api_gateway_front_door_requests_and_access_log_query(
    synth: Callable[[DifyConfig], SynthResult],
) -> None:
    res = resources(synth(monitored("api-gateway.toml")))
    api = logical_id(res, "AWS::ApiGatewayV2::Api")
    (row,) = metric_rows(widget(dashboard(res), "API Gateway: requests"))
    assert row[:2] == ["AWS/ApiGateway", "Count"] and dimension(row, "ApiId") == f"<{api}>"
    props = alarm(res, "APIGatewayServerErrors")
    assert {m["MetricStat"]["Metric"]["MetricName"] for m in props["Metrics"] if "MetricStat" in m} == {
        "Count",
        "5xx",
    }
    assert not [rid for rid in alarms(res) if "Unhealthy" in rid]
    stage = only(res, "AWS::ApiGatewayV2::Stage")[1]["Properties"]
    access_logs = direct_target(stage["AccessLogSettings"]["DestinationArn"])
    gateway = queries_by_name(res)["Dify/DifyApi/slow requests (API Gateway)"]
    assert [direct_target(g) for g in gateway["LogGroupNames"]] == [access_logs]
    assert "latency > 5000" in gateway["QueryString"]


def test_lambda_front_door_function_urls_and_cloudfront_outside_us_east_1(
    synth: Callable[[DifyConfig], SynthResult],
) -> None:
    """The lambda example runs in ap-northeast-1: CloudFront's graphs still read us-east-1, and no alarm
    watches CloudFront (alarms see their own region only); the function URLs' 5xx share is alarmed."""
    res = resources(synth(monitored("lambda.toml")))
    widgets = dashboard(res)
    assert widget(widgets, "CloudFront: requests")["properties"]["region"] == "us-east-1"
    rows = metric_rows(widget(widgets, "Function URLs: requests"))
    functions = {
        rid
        for rid, f in of_type(res, "AWS::Lambda::Function").items()
        if "FrontDoor" in rid and f["Properties"].get("PackageType") == "Image"
    }
    assert {r[1] for r in rows} == {"UrlRequestCount"}
    assert {dimension(r, "FunctionName") for r in rows} == {f"<{f}>" for f in functions} and len(rows) == 2
    assert not [rid for rid in alarms(res) if "CloudFront" in rid]
    assert alarm(res, "FunctionURLsServerErrors")["Threshold"] == 5
    # Slow requests: Lambda's REPORT lines in each function's own log group.
    slow = queries_by_name(res)["Dify/DifyLambda/slow requests (function URLs)"]
    logged = {
        direct_target(f["Properties"]["LoggingConfig"]["LogGroup"]) for f in (res[f] for f in functions)
    }
    assert {direct_target(g) for g in slow["LogGroupNames"]} == logged
    assert '@type = "REPORT"' in slow["QueryString"]


def test_lean_single_task_graphs_one_service_and_no_cache(synth: Callable[[DifyConfig], SynthResult]) -> None:
    """The in-task Valkey container publishes no ElastiCache metrics: no cache widgets, no cache alarm."""
    res = resources(synth(monitored("lean.toml")))
    widgets = dashboard(res)
    (row,) = metric_rows(widget(widgets, "CPU %"))
    assert row[-1]["label"] == "dify"
    assert not [w for w in widgets if w.get("properties", {}).get("title", "").startswith("Cache")]
    assert not [rid for rid in alarms(res) if "Cache" in rid]
    (proxy,) = metric_rows(widget(widgets, "Function URLs: requests"))
    assert proxy[1] == "UrlRequestCount"


def test_container_insights_adds_running_tasks(synth: Callable[[DifyConfig], SynthResult]) -> None:
    config = config_of(monitoring={"enabled": True}, services={"container_insights": True})
    rows = metric_rows(widget(dashboard(resources(synth(config))), "Running tasks"))
    assert {(r[0], r[1]) for r in rows} == {("ECS/ContainerInsights", "RunningTaskCount")}


def test_bad_email_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"monitoring\.email"):
        config_of(monitoring={"enabled": True, "email": "not-an-address"})


# --- the estimate ---------------------------------------------------------------------------------------


def test_estimator_prices_the_dashboard_and_each_alarm_metric(
    example_results: dict[str, SynthResult], production: Resources
) -> None:
    """CloudWatch pricing: $3 per dashboard-month, $0.10 per standard-resolution alarm metric (a metric math
    alarm counts every metric it reads); topic, saved queries and the resource policy cost nothing."""
    result = estimate(example_results["production.toml"].templates)
    assert not result.unpriced, result.unpriced
    (board,) = [line for line in result.lines if line.resource_type == "AWS::CloudWatch::Dashboard"]
    assert board.monthly == pytest.approx(3.0)
    operator = alarms(production)
    alarm_lines = [line for line in result.lines if line.resource in operator]
    expected = sum(
        len([m for m in props.get("Metrics", [{"MetricStat": {}}]) if "MetricStat" in m])
        for props in operator.values()
    )
    assert sum(line.quantity for line in alarm_lines) == expected > len(alarm_lines)
    assert {line.unit_price for line in alarm_lines} == {0.1}
    free = {item.resource_type for item in result.free}
    assert {"AWS::SNS::Topic", "AWS::Logs::QueryDefinition", "AWS::Logs::ResourcePolicy"} <= free


def test_dashboard_and_alarms_stay_within_cloudwatch_limits(production: Resources) -> None:
    """Alarms on metric math read at most 10 metrics ("Limits that apply to alarms based on metric math
    expressions", a hard limit); the dashboard stays far below the per-dashboard widget and metric quotas
    ("CloudWatch service quotas")."""
    for props in alarms(production).values():
        assert len(props.get("Metrics", [])) <= 10
    widgets = dashboard(production)
    assert len(widgets) < 100
    assert sum(len(metric_rows(w)) for w in widgets) < 100
    _, board = only(production, "AWS::CloudWatch::Dashboard")
    assert len(joined(board["Properties"]["DashboardBody"])) < 100_000
