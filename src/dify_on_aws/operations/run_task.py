"""`dify-on-aws run-task -- flask ...`: a one-off command in the dify-api image with the api's environment,
its output streamed from CloudWatch Logs, the exit status the container's.

The command runs as the migration task definition does (the dify-api image, the api's environment and
secrets, `/bin/bash -c` as entry point) with the command overridden, in the subnets, security group and
capacity provider the migration gate uses: those are the gate's custom-resource properties in the deployed
template (GetTemplate), resolved to physical IDs with the stack's resources. The security group is the one
the database and the cache admit. Output: the task's log stream `<prefix>/<container>/<task id>` in the
stack's log group, read with GetLogEvents until the task stops. Ctrl-C stops the task (StopTask).

Examples: `dify-on-aws run-task -- flask db current`, `dify-on-aws run-task -- 'flask db history | head'`.
The task has no terminal: a command that prompts needs its answers as options.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dify_on_aws.config import DifyConfig
from dify_on_aws.operations.deployed import (
    MIGRATION_TYPE,
    Aws,
    DeployedStack,
    OperatingError,
    add_config_argument,
    read_stack,
    run_command,
)

STARTED_BY = "dify-on-aws-run-task"
POLL_SECONDS = 5.0
EXIT_NO_CODE = 1
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class TaskSetup:
    """How the migration gate runs its task, as physical IDs."""

    cluster: str
    task_definition: str
    container: str
    subnets: list[str]
    security_groups: list[str]
    assign_public_ip: bool
    capacity_provider: str
    log_group: str
    log_prefix: str


def _resolve(value: Any, stack: DeployedStack) -> str:
    """A literal, or the physical ID of the resource a Ref / Fn::GetAtt names (ECS cluster: its name, task
    definition: its ARN, security group: its ID, log group: its name; all accepted where used)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and len(value) == 1:
        ((function, argument),) = value.items()
        logical = argument if function == "Ref" else argument[0] if function == "Fn::GetAtt" else None
        physical = stack.physical(logical) if isinstance(logical, str) else None
        if physical:
            return physical
    raise OperatingError(f"cannot resolve {json.dumps(value)} of the migration gate in stack {stack.name}")


def task_setup(aws: Aws, stack: DeployedStack) -> TaskSetup:
    gate = stack.one(MIGRATION_TYPE).logical_id
    body = aws.client("cloudformation").get_template(StackName=stack.name, TemplateStage="Processed")[
        "TemplateBody"
    ]
    template = json.loads(body) if isinstance(body, str) else body
    props: Mapping[str, Any] = template["Resources"][gate]["Properties"]

    def many(key: str) -> list[str]:
        values = props.get(key) or []
        return [_resolve(v, stack) for v in (values if isinstance(values, list) else [values])]

    return TaskSetup(
        cluster=_resolve(props["Cluster"], stack),
        task_definition=_resolve(props["TaskDefinition"], stack),
        container=_resolve(props["ContainerName"], stack),
        subnets=many("Subnets"),
        security_groups=many("SecurityGroups"),
        assign_public_ip=str(props.get("AssignPublicIp", "false")).lower() == "true",
        capacity_provider=str(props.get("CapacityProvider") or "FARGATE"),
        log_group=_resolve(props["LogGroup"], stack),
        log_prefix=_resolve(props["LogStreamPrefix"], stack),
    )


def shell_command(words: Sequence[str]) -> str:
    """The words after `--`; one word is taken as a shell line as is (pipes and quotes allowed)."""
    words = list(words[1:] if words and words[0] == "--" else words)
    if not words:
        raise OperatingError(
            "nothing to run: give the command after `--`, e.g. `run-task -- flask db current`"
        )
    return words[0] if len(words) == 1 else shlex.join(words)


def start(aws: Aws, setup: TaskSetup, command: str) -> str:
    response = aws.client("ecs").run_task(
        cluster=setup.cluster,
        taskDefinition=setup.task_definition,
        count=1,
        capacityProviderStrategy=[{"capacityProvider": setup.capacity_provider, "weight": 1}],
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": setup.subnets,
                "securityGroups": setup.security_groups,
                "assignPublicIp": "ENABLED" if setup.assign_public_ip else "DISABLED",
            }
        },
        overrides={"containerOverrides": [{"name": setup.container, "command": [command]}]},
        startedBy=STARTED_BY,
    )
    tasks = response.get("tasks") or []
    if not tasks:
        reasons = "; ".join(
            f"{f.get('reason')} ({f.get('arn', 'n/a')})" for f in response.get("failures") or []
        )
        raise OperatingError(f"ECS RunTask started no task: {reasons or 'no reason given'}")
    return str(tasks[0]["taskArn"])


def print_new_events(
    aws: Aws, group: str, stream: str, token: str | None, out: Callable[[str], None]
) -> str | None:
    """Print the stream's events after `token`; the token to continue from (the stream may not exist yet)."""
    logs = aws.client("logs")
    while True:
        request: dict[str, Any] = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
        if token:
            request["nextToken"] = token
        try:
            page = logs.get_log_events(**request)
        except logs.exceptions.ResourceNotFoundException:
            return token
        for event in page.get("events") or []:
            out(str(event.get("message", "")))
        following = page.get("nextForwardToken")
        if not following or following == token:
            return token
        token = following


def wait_and_stream(
    aws: Aws,
    setup: TaskSetup,
    task: str,
    *,
    poll: float,
    sleep: Callable[[float], None],
    out: Callable[[str], None],
) -> int:
    """Stream the output until the task stops; the container's exit code."""
    ecs = aws.client("ecs")
    stream = f"{setup.log_prefix}/{setup.container}/{task.rsplit('/', 1)[-1]}"
    token: str | None = None
    while True:
        described = ecs.describe_tasks(cluster=setup.cluster, tasks=[task]).get("tasks") or []
        token = print_new_events(aws, setup.log_group, stream, token, out)
        if not described:
            raise OperatingError(f"task {task} is gone (DescribeTasks returned nothing)")
        current = described[0]
        if current.get("lastStatus") in {"STOPPED", "DELETED"}:
            print_new_events(aws, setup.log_group, stream, token, out)
            container: dict[str, Any] = next(
                (c for c in current.get("containers") or [] if c.get("name") == setup.container), {}
            )
            code = container.get("exitCode")
            if code is None:
                print(
                    f"error: the container did not run: {current.get('stoppedReason', 'no reason given')}"
                    + (f" ({container['reason']})" if container.get("reason") else ""),
                    file=sys.stderr,
                )
                return EXIT_NO_CODE
            return int(code)
        sleep(poll)


def run_one_off(
    aws: Aws,
    config: DifyConfig,
    args: argparse.Namespace,
    *,
    sleep: Callable[[float], None] = time.sleep,
    out: Callable[[str], None] = print,
) -> int:
    command = shell_command(args.command)
    stack = read_stack(aws, config.name)
    setup = task_setup(aws, stack)
    task = start(aws, setup, command)
    print(f"Started {task.rsplit('/', 1)[-1]}: {command} (logs: {setup.log_group})", file=sys.stderr)
    try:
        return wait_and_stream(aws, setup, task, poll=args.poll, sleep=sleep, out=out)
    except KeyboardInterrupt:
        aws.client("ecs").stop_task(
            cluster=setup.cluster, task=task, reason="Interrupted by dify-on-aws run-task"
        )
        print("interrupted: the task was stopped", file=sys.stderr)
        return EXIT_INTERRUPTED


def cmd_run_task(args: argparse.Namespace) -> int:
    return run_command(args, run_one_off)


def add_run_task_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run-task",
        help="run a one-off command in the dify-api image with the api's environment (e.g. -- flask ...)",
    )
    add_config_argument(parser)
    parser.add_argument("--poll", type=float, default=POLL_SECONDS, help="seconds between status checks")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after `--`")
    parser.set_defaults(func=cmd_run_task)
