"""`dify-on-aws status`, `exec` and `run-task` against botocore's Stubber: real boto3 clients whose every
request is validated against the service model (parameters and responses), answered with canned replies.
Nothing reaches AWS. The error paths run through the CLI: no credentials, a missing stack, access denied."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_cdk.assertions import Template
from botocore.stub import Stubber

from dify_on_aws import cli
from dify_on_aws.operations import ecs_exec, run_task, status
from dify_on_aws.operations.deployed import Aws, DeployedStack, StackResource
from dify_on_aws.templates.intrinsics import direct_target

from .template_queries import of_type, role_grants

REGION = "eu-west-1"
ACCOUNT = "123456789012"
STACK = "dify"
STACK_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/0f0e0d0c-0b0a-0908-0706-050403020100"
CLUSTER = "dify-DifyCluster1A2B3C4D-abcdef"
CLUSTER_ID = "dify-databasecluster5b53a178-k2xq9a7zq1fz"
T0 = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
SERVICES = {
    "api": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}/dify-DifyApiService-1",
    "worker": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}/dify-DifyWorkerService-2",
}
TASK_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/0123456789abcdef0123456789abcdef"
MIGRATION_DEF = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/difyDifyMigrationTask:3"
LOG_GROUP = "dify-DifyLogs-xyz"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "dify.toml"
    path.write_text(f'name = "{STACK}"\nregion = "{REGION}"\n', encoding="utf-8")
    return path


def _client(service: str) -> Any:
    return boto3.client(service, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")


@pytest.fixture
def aws() -> Iterator[tuple[Aws, dict[str, Stubber]]]:
    clients = {name: _client(name) for name in ("cloudformation", "ecs", "rds", "logs")}
    stubbers = {name: Stubber(client) for name, client in clients.items()}
    for stubber in stubbers.values():
        stubber.activate()
    yield Aws(REGION, clients), stubbers
    for stubber in stubbers.values():
        stubber.assert_no_pending_responses()
        stubber.deactivate()


def _args(config_file: Path, *argv: str, aws: Aws | None = None) -> Any:
    args = cli.parser().parse_args([*argv[:1], "--config", str(config_file), *argv[1:]])
    args.aws = aws
    return args


def _resource(logical: str, physical: str, kind: str, status_: str = "UPDATE_COMPLETE") -> dict[str, Any]:
    return {
        "LogicalResourceId": logical,
        "PhysicalResourceId": physical,
        "ResourceType": kind,
        "LastUpdatedTimestamp": T0,
        "ResourceStatus": status_,
    }


RESOURCES = [
    _resource("DifyCluster1A2B3C4D", CLUSTER, "AWS::ECS::Cluster"),
    _resource("DifyApiService", SERVICES["api"], "AWS::ECS::Service"),
    _resource("DifyWorkerService", SERVICES["worker"], "AWS::ECS::Service"),
    _resource("DatabaseCluster5B53A178", CLUSTER_ID, "AWS::RDS::DBCluster"),
    _resource("DifyMigrationRun", "dify-migration-x", "Custom::DifyMigration"),
    _resource("PreUpgradeSnapshotTake", "dify-pre-upgrade-snapshot-x", "Custom::DifyPreUpgradeSnapshot"),
    _resource("DifyMigrationTask", MIGRATION_DEF, "AWS::ECS::TaskDefinition"),
    _resource("DifyMigrationSecurityGroup", "sg-0migration", "AWS::EC2::SecurityGroup"),
    _resource("PrivateSubnet1", "subnet-0aaa", "AWS::EC2::Subnet"),
    _resource("PrivateSubnet2", "subnet-0bbb", "AWS::EC2::Subnet"),
    _resource("DifyLogs", LOG_GROUP, "AWS::Logs::LogGroup"),
]


def stub_stack(cfn: Stubber, resources: list[dict[str, Any]] = RESOURCES) -> None:
    cfn.add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": STACK,
                    "StackId": STACK_ID,
                    "CreationTime": T0,
                    "StackStatus": "UPDATE_COMPLETE",
                    "Outputs": [{"OutputKey": "DifyUrl", "OutputValue": "https://d1234.cloudfront.net"}],
                }
            ]
        },
        {"StackName": STACK},
    )
    cfn.add_response("list_stack_resources", {"StackResourceSummaries": resources}, {"StackName": STACK})


def stub_services(ecs: Stubber, *, running: int = 2, exec_enabled: bool = True) -> None:
    ecs.add_response(
        "describe_services",
        {
            "services": [
                {
                    "serviceArn": arn,
                    "serviceName": arn.rsplit("/", 1)[-1],
                    "taskDefinition": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{role}:7",
                    "desiredCount": 2,
                    "runningCount": running,
                    "pendingCount": 0,
                    "enableExecuteCommand": exec_enabled,
                    "deployments": [{"status": "PRIMARY", "rolloutState": "COMPLETED"}],
                }
                for role, arn in SERVICES.items()
            ]
        },
        {"cluster": CLUSTER, "services": list(SERVICES.values())},
    )
    for role in SERVICES:
        definition = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{role}:7"
        ecs.add_response(
            "describe_task_definition",
            {
                "taskDefinition": {
                    "containerDefinitions": [{"name": role, "image": "docker.io/langgenius/dify-api:1.13.3"}]
                }
            },
            {"taskDefinition": definition},
        )


def _event(logical: str, kind: str, status_: str, minute: int, reason: str = "") -> dict[str, Any]:
    event = {
        "StackId": STACK_ID,
        "EventId": f"{logical}-{minute}",
        "StackName": STACK,
        "LogicalResourceId": logical,
        "ResourceType": kind,
        "Timestamp": T0.replace(minute=minute),
        "ResourceStatus": status_,
    }
    if reason:
        event["ResourceStatusReason"] = reason
    return event


FAILURE = "Dify database migration failed: container migration exit code 3; logs: group=g stream=s"
# Newest first, as DescribeStackEvents returns them: a migration that failed, then the rollback's no-op.
ROLLED_BACK = [
    _event(STACK, "AWS::CloudFormation::Stack", "UPDATE_ROLLBACK_COMPLETE", 9),
    _event("DifyMigrationRun", "Custom::DifyMigration", "UPDATE_COMPLETE", 8),
    _event("DifyMigrationRun", "Custom::DifyMigration", "UPDATE_IN_PROGRESS", 7),
    _event(STACK, "AWS::CloudFormation::Stack", "UPDATE_ROLLBACK_IN_PROGRESS", 6),
    _event("DifyMigrationRun", "Custom::DifyMigration", "UPDATE_FAILED", 5, FAILURE),
    _event("DifyMigrationRun", "Custom::DifyMigration", "UPDATE_IN_PROGRESS", 2),
    _event(STACK, "AWS::CloudFormation::Stack", "UPDATE_IN_PROGRESS", 1),
]


def test_status_shows_outputs_tasks_images_migration_and_snapshot(
    aws: tuple[Aws, dict[str, Stubber]], config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client, stubs = aws
    stub_stack(stubs["cloudformation"])
    stub_services(stubs["ecs"], running=1)
    stubs["cloudformation"].add_response(
        "describe_stack_events", {"StackEvents": ROLLED_BACK}, {"StackName": STACK}
    )
    snapshot = f"{CLUSTER_ID[:30]}-pre-1-13-3-20261130060000"
    stubs["rds"].add_response(
        "describe_db_cluster_snapshots",
        {
            "DBClusterSnapshots": [
                {"DBClusterSnapshotIdentifier": "rds:automated-1", "Status": "available"},
                {
                    "DBClusterSnapshotIdentifier": snapshot,
                    "Status": "available",
                    "SnapshotCreateTime": T0,
                },
            ]
        },
        {"DBClusterIdentifier": CLUSTER_ID, "SnapshotType": "manual"},
    )
    assert cli_status(client, config_file) == 0
    out = capsys.readouterr().out
    assert f"Stack {STACK} ({REGION}): UPDATE_COMPLETE" in out
    assert "DifyUrl  https://d1234.cloudfront.net" in out
    assert "  api: 1/2, completed, dify-api:1.13.3" in out
    assert "  worker: 1/2, completed, dify-api:1.13.3" in out
    # The rollback's UPDATE_COMPLETE is not the migration's result: the failure before it is.
    assert "Last migration: FAILED (UPDATE_FAILED" in out
    assert FAILURE in out
    assert f"Newest pre-upgrade snapshot: {snapshot} (available" in out


def cli_status(client: Aws, config_file: Path) -> int:
    args = _args(config_file, "status", aws=client)
    return int(args.func(args))


def test_status_reports_a_successful_migration(aws: tuple[Aws, dict[str, Stubber]]) -> None:
    client, stubs = aws
    stubs["cloudformation"].add_response(
        "describe_stack_events",
        {
            "StackEvents": [
                _event("DifyMigrationRun", "Custom::DifyMigration", "UPDATE_COMPLETE", 3),
                _event("DifyMigrationRun", "Custom::DifyMigration", "UPDATE_IN_PROGRESS", 2),
                _event(STACK, "AWS::CloudFormation::Stack", "UPDATE_IN_PROGRESS", 1),
                *ROLLED_BACK,
            ]
        },
        {"StackName": STACK},
    )
    stack = DeployedStack(
        STACK,
        "UPDATE_COMPLETE",
        {},
        [StackResource("DifyMigrationRun", "x", "Custom::DifyMigration", "UPDATE_COMPLETE")],
    )
    result = status.last_migration(client, stack)
    assert result is not None and result.status == "UPDATE_COMPLETE" and result.when == T0.replace(minute=3)


# --- errors, through the CLI -------------------------------------------------------------------------------


def test_missing_stack_is_one_line_and_exit_2(
    aws: tuple[Aws, dict[str, Stubber]], config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client, stubs = aws
    stubs["cloudformation"].add_client_error(
        "describe_stacks",
        service_error_code="ValidationError",
        service_message=f"Stack with id {STACK} does not exist",
        http_status_code=400,
        expected_params={"StackName": STACK},
    )
    assert cli_status(client, config_file) == 2
    err = capsys.readouterr().err
    assert f"error: stack '{STACK}' does not exist in {REGION}: deploy it first" in err
    assert "Traceback" not in err


def test_access_denied_names_the_action(
    aws: tuple[Aws, dict[str, Stubber]], config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client, stubs = aws
    stub_stack(stubs["cloudformation"])
    stubs["ecs"].add_client_error(
        "describe_services",
        service_error_code="AccessDeniedException",
        service_message="User: arn:aws:iam::123456789012:user/ops is not authorized to perform: "
        "ecs:DescribeServices",
        http_status_code=400,
    )
    assert cli_status(client, config_file) == 2
    err = capsys.readouterr().err
    assert "AWS denied ecs:DescribeServices (AccessDeniedException)" in err
    assert "grant ecs:DescribeServices to the identity running this command" in err


@pytest.mark.parametrize(
    "command", [["status"], ["exec", "api"], ["run-task", "--", "flask", "db", "current"]]
)
def test_no_credentials_is_one_line_and_exit_2(
    command: list[str],
    config_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A real client without any credential source: botocore raises NoCredentialsError before sending."""
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                     "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                     "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):  # fmt: skip
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code = cli.main([command[0], "--config", str(config_file), *command[1:]])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: no AWS credentials found: set AWS_PROFILE")
    assert "Traceback" not in err


# --- exec ---------------------------------------------------------------------------------------------


def _list_running(ecs: Stubber) -> None:
    ecs.add_response(
        "list_tasks",
        {"taskArns": [TASK_ARN]},
        {"cluster": CLUSTER, "serviceName": SERVICES["api"], "desiredStatus": "RUNNING"},
    )


def test_exec_starts_the_session_manager_plugin_like_the_aws_cli(
    aws: tuple[Aws, dict[str, Stubber]], config_file: Path
) -> None:
    client, stubs = aws
    stub_stack(stubs["cloudformation"])
    stub_services(stubs["ecs"])
    _list_running(stubs["ecs"])
    session = {"sessionId": "ecs-execute-command-1", "streamUrl": "wss://ssmmessages/x", "tokenValue": "t"}
    stubs["ecs"].add_response(
        "execute_command",
        {
            "clusterArn": CLUSTER,
            "taskArn": TASK_ARN,
            "containerName": "api",
            "interactive": True,
            "session": session,
        },
        {
            "cluster": CLUSTER,
            "task": TASK_ARN,
            "container": "api",
            "interactive": True,
            "command": "/bin/bash",
        },
    )
    stubs["ecs"].add_response(
        "describe_tasks",
        {"tasks": [{"taskArn": TASK_ARN, "containers": [{"name": "api", "runtimeId": "abc-123"}]}]},
        {"cluster": CLUSTER, "tasks": [TASK_ARN]},
    )
    calls: list[list[str]] = []

    def fake_plugin(argv: Sequence[str]) -> int:
        calls.append(list(argv))
        return 0

    args = _args(config_file, "exec", "api", aws=client)
    code = ecs_exec.open_session(
        client,
        cli_config(config_file),
        args,
        which=lambda _: "/usr/bin/session-manager-plugin",
        run=fake_plugin,
    )
    assert code == 0
    ((plugin, session_json, region, action, _profile, target, endpoint),) = calls
    assert (plugin, region, action) == ("session-manager-plugin", REGION, "StartSession")
    assert json.loads(session_json) == session
    assert json.loads(target) == {"Target": f"ecs:{CLUSTER}_0123456789abcdef0123456789abcdef_abc-123"}
    assert endpoint == f"https://ecs.{REGION}.amazonaws.com"


def test_exec_without_the_plugin_prints_the_aws_cli_command(
    aws: tuple[Aws, dict[str, Stubber]],
    config_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No ExecuteCommand call at all (the Stubber would fail on an unexpected one)."""
    client, stubs = aws
    stub_stack(stubs["cloudformation"])
    stub_services(stubs["ecs"])
    _list_running(stubs["ecs"])
    monkeypatch.setattr("shutil.which", lambda _: None)
    args = _args(config_file, "exec", "api", "--command", "flask shell", aws=client)
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert "session-manager-plugin is not installed" in err
    assert (
        f"aws ecs execute-command --region {REGION} --cluster {CLUSTER} --task {TASK_ARN} --container api "
        "--interactive --command 'flask shell'"
    ) in err


def test_exec_names_the_roles_when_the_role_is_unknown(
    aws: tuple[Aws, dict[str, Stubber]], config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client, stubs = aws
    stub_stack(stubs["cloudformation"])
    stub_services(stubs["ecs"])
    args = _args(config_file, "exec", "apii", aws=client)
    assert args.func(args) == 2
    assert "no running service has a container 'apii'; roles: api, worker" in capsys.readouterr().err


# --- run-task -----------------------------------------------------------------------------------------

GATE_TEMPLATE = {
    "Resources": {
        "DifyMigrationRun": {
            "Type": "Custom::DifyMigration",
            "Properties": {
                "Cluster": {"Fn::GetAtt": ["DifyCluster1A2B3C4D", "Arn"]},
                "TaskDefinition": {"Ref": "DifyMigrationTask"},
                "ContainerName": "migration",
                "Subnets": [{"Ref": "PrivateSubnet1"}, {"Ref": "PrivateSubnet2"}],
                "SecurityGroups": [{"Fn::GetAtt": ["DifyMigrationSecurityGroup", "GroupId"]}],
                "LogGroup": {"Ref": "DifyLogs"},
                "LogStreamPrefix": "dify",
                "CapacityProvider": "FARGATE",
                "AssignPublicIp": "false",
            },
        }
    }
}
STREAM = "dify/migration/0123456789abcdef0123456789abcdef"


def _run_task_stubs(stubs: dict[str, Stubber], command: str) -> None:
    stub_stack(stubs["cloudformation"])
    stubs["cloudformation"].add_response(
        "get_template",
        {"TemplateBody": json.dumps(GATE_TEMPLATE)},
        {"StackName": STACK, "TemplateStage": "Processed"},
    )
    stubs["ecs"].add_response(
        "run_task",
        {"tasks": [{"taskArn": TASK_ARN}], "failures": []},
        {
            "cluster": CLUSTER,
            "taskDefinition": MIGRATION_DEF,
            "count": 1,
            "capacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}],
            "networkConfiguration": {
                "awsvpcConfiguration": {
                    "subnets": ["subnet-0aaa", "subnet-0bbb"],
                    "securityGroups": ["sg-0migration"],
                    "assignPublicIp": "DISABLED",
                }
            },
            "overrides": {"containerOverrides": [{"name": "migration", "command": [command]}]},
            "startedBy": run_task.STARTED_BY,
        },
    )


def _describe(ecs: Stubber, status_: str, exit_code: int | None = None) -> None:
    container: dict[str, Any] = {"name": "migration"}
    if exit_code is not None:
        container["exitCode"] = exit_code
    task = {"taskArn": TASK_ARN, "lastStatus": status_, "containers": [container]}
    if status_ == "STOPPED":
        task["stoppedReason"] = "Essential container in task exited"
    ecs.add_response("describe_tasks", {"tasks": [task]}, {"cluster": CLUSTER, "tasks": [TASK_ARN]})


def _logs(logs: Stubber, token: str | None, messages: list[str], following: str) -> None:
    request: dict[str, Any] = {"logGroupName": LOG_GROUP, "logStreamName": STREAM, "startFromHead": True}
    if token:
        request["nextToken"] = token
    logs.add_response(
        "get_log_events",
        {"events": [{"message": m, "timestamp": 1} for m in messages], "nextForwardToken": following},
        request,
    )


def test_run_task_streams_the_output_and_exits_with_the_container_code(
    aws: tuple[Aws, dict[str, Stubber]], config_file: Path
) -> None:
    client, stubs = aws
    _run_task_stubs(stubs, "flask db current")
    ecs, logs = stubs["ecs"], stubs["logs"]
    # First poll: the container has not started, its stream does not exist yet.
    _describe(ecs, "PENDING")
    logs.add_client_error(
        "get_log_events", service_error_code="ResourceNotFoundException", service_message="no stream"
    )
    # Second poll: running, two lines, then nothing new.
    _describe(ecs, "RUNNING")
    _logs(logs, None, ["Running flask db current", "abc123 (head)"], "f/1")
    _logs(logs, "f/1", [], "f/1")
    # Third poll: stopped with exit code 3; the last line arrives with the final read.
    _describe(ecs, "STOPPED", exit_code=3)
    _logs(logs, "f/1", ["done"], "f/2")
    _logs(logs, "f/2", [], "f/2")
    _logs(logs, "f/2", [], "f/2")
    printed: list[str] = []
    sleeps: list[float] = []
    args = _args(config_file, "run-task", "--", "flask", "db", "current", aws=client)
    code = run_task.run_one_off(
        client, cli_config(config_file), args, sleep=sleeps.append, out=printed.append
    )
    assert code == 3
    assert printed == ["Running flask db current", "abc123 (head)", "done"]
    assert sleeps == [run_task.POLL_SECONDS] * 2


def test_run_task_without_an_exit_code_reports_why(
    aws: tuple[Aws, dict[str, Stubber]], config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client, stubs = aws
    _run_task_stubs(stubs, "flask db history | head")
    _describe(stubs["ecs"], "STOPPED")
    for _ in range(2):
        stubs["logs"].add_client_error("get_log_events", service_error_code="ResourceNotFoundException")
    args = _args(config_file, "run-task", "--", "flask db history | head", aws=client)
    code = run_task.run_one_off(client, cli_config(config_file), args, sleep=lambda _: None, out=print)
    assert code == 1
    assert "the container did not run: Essential container in task exited" in capsys.readouterr().err


def test_run_task_needs_a_command(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run-task", "--config", str(config_file), "--"]) == 2
    assert "nothing to run" in capsys.readouterr().err


def cli_config(config_file: Path) -> Any:
    from dify_on_aws.config import load_config  # noqa: PLC0415

    return load_config(config_file)


# --- what `exec` relies on in the template -----------------------------------------------------------

ECS_EXEC_ACTIONS = (
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
)


def test_every_service_allows_ecs_exec(template: Template) -> None:
    """ "Using Amazon ECS Exec for debugging" (Amazon ECS Developer Guide): the service (or task) must have
    execute command enabled, and the task IAM role must allow the four ssmmessages channel actions."""
    resources = template.to_json()["Resources"]
    services = of_type(resources, "AWS::ECS::Service")
    assert services
    for sid, service in services.items():
        assert service["Properties"]["EnableExecuteCommand"] is True, sid
        task = resources[str(direct_target(service["Properties"]["TaskDefinition"]))]["Properties"]
        grants = role_grants(resources, str(direct_target(task["TaskRoleArn"])))
        missing = [action for action in ECS_EXEC_ACTIONS if action not in grants]
        assert missing == [], f"{sid}: task role lacks {missing}"


@pytest.mark.parametrize("extra", [{}, {"package_index": {"type": "codeartifact"}}], ids=["dify", "packages"])
def test_ecs_exec_can_be_turned_off(synth: Any, extra: dict[str, Any]) -> None:
    """`services.execute_command = false`: no service enables execute command, no task role may open the
    Session Manager channels, and the ApiExecCommand output is gone. Found by the sweep: the package proxy
    (`[package_index]`) kept ECS Exec on, and so needed the ssmmessages endpoint in a closed network."""
    from .conftest import config_of  # noqa: PLC0415

    result = synth(config_of(services={"execute_command": False}, **extra))
    template = result.templates[next(iter(result.templates))]
    resources = template["Resources"]
    services = of_type(resources, "AWS::ECS::Service")
    assert services
    for sid, service in services.items():
        assert service["Properties"].get("EnableExecuteCommand") in (None, False), sid
        task = resources[str(direct_target(service["Properties"]["TaskDefinition"]))]["Properties"]
        grants = role_grants(resources, str(direct_target(task["TaskRoleArn"])))
        assert not [action for action in grants if action.startswith("ssmmessages:")], sid
    assert "ApiExecCommand" not in template.get("Outputs", {})


def test_exec_says_how_to_turn_ecs_exec_on(
    aws: tuple[Aws, dict[str, Stubber]], config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client, stubs = aws
    stub_stack(stubs["cloudformation"])
    stub_services(stubs["ecs"], exec_enabled=False)
    args = _args(config_file, "exec", "api", aws=client)
    assert args.func(args) == 2
    assert "set services.execute_command = true" in capsys.readouterr().err
