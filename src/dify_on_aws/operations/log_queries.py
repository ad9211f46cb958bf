"""Saved CloudWatch Logs Insights queries (AWS::Logs::QueryDefinition, no charge until run) for the common
questions: errors by role, slow requests, plugin install failures, stopped tasks.

Every Dify container logs to one log group with the stream prefix `dify`, so a stream is named
`dify/<container>/<task ID>` and the container name is the role ("Using the awslogs log driver": the stream
is prefix-name/container-name/ecs-task-id). Slow requests are read where a front door records each request:
API Gateway's access log (`latency`, frontdoor/api_gateway.py) or the REPORT line Lambda writes per
invocation (`@duration`); behind a load balancer (no access logs) the query finds timed-out requests in
the Dify log group (gunicorn's WORKER TIMEOUT, Dify's timeout errors).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_logs as logs
from constructs import Construct

SLOW_REQUEST_MS = 5000

ERRORS_BY_ROLE = """fields @timestamp, @logStream, @message
| filter @message like /(?i)(error|exception|traceback|panic)/
| parse @logStream "dify/*/*" as role, task
| stats count(*) as errors by role, bin(5m)
| sort errors desc"""

TIMED_OUT_REQUESTS = """fields @timestamp, @logStream, @message
| filter @logStream like /^dify\\/(api|plugin-daemon)\\//
| filter @message like /(?i)(worker timeout|timed out|timeout error|read timeout)/
| sort @timestamp desc
| limit 100"""

SLOW_INVOCATIONS = f"""filter @type = "REPORT" and @duration > {SLOW_REQUEST_MS}
| fields @timestamp, @log, @duration, @maxMemoryUsed / 1024 / 1024 as memory_mib
| sort @duration desc
| limit 100"""

SLOW_GATEWAY_REQUESTS = f"""fields @timestamp, method, path, status, latency
| filter latency > {SLOW_REQUEST_MS}
| sort latency desc
| limit 100"""

PLUGIN_INSTALL_FAILURES = """fields @timestamp, @logStream, @message
| filter @logStream like /^dify\\/(plugin-daemon|api|worker)\\//
| filter @message like /(?i)plugin/ and @message like /(?i)(install|decode|upload|launch)/
| filter @message like /(?i)(fail|error|panic)/
| sort @timestamp desc
| limit 100"""

STOPPED_TASKS = """fields @timestamp, detail.group as service, detail.stopCode as code,
  detail.stoppedReason as reason, detail.containers.0.exitCode as exit_code
| sort @timestamp desc
| limit 50"""


class SavedQueries(Construct):
    """The queries, filed under `Dify/<instance>/` in the Logs Insights console."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        instance: str,
        dify_logs: logs.ILogGroup,
        task_events: logs.ILogGroup,
        access_logs: logs.ILogGroup | None,
        function_logs: Sequence[logs.ILogGroup],
    ) -> None:
        super().__init__(scope, id_)
        self.queries: list[logs.CfnQueryDefinition] = []

        def query(id_: str, name: str, text: str, groups: Sequence[logs.ILogGroup]) -> None:
            self.queries.append(
                logs.CfnQueryDefinition(
                    self,
                    id_,
                    name=f"Dify/{instance}/{name}",
                    query_string=text,
                    log_group_names=[group.log_group_name for group in groups],
                )
            )

        query("ErrorsByRole", "errors by role", ERRORS_BY_ROLE, [dify_logs])
        if access_logs is not None:
            query("SlowRequests", "slow requests (API Gateway)", SLOW_GATEWAY_REQUESTS, [access_logs])
        elif function_logs:
            query("SlowRequests", "slow requests (function URLs)", SLOW_INVOCATIONS, function_logs)
        else:
            query("SlowRequests", "timed-out requests", TIMED_OUT_REQUESTS, [dify_logs])
        query("PluginInstallFailures", "plugin install failures", PLUGIN_INSTALL_FAILURES, [dify_logs])
        query("StoppedTasks", "stopped tasks", STOPPED_TASKS, [task_events])
