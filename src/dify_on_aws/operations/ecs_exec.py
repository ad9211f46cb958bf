"""`dify-on-aws exec ROLE [--command CMD]`: a shell (or one command) in a running task of a role, with ECS
Exec.

ECS ExecuteCommand only opens a Session Manager session; the terminal side is AWS's session-manager-plugin,
started the way the AWS CLI starts it (`aws ecs execute-command`): the session as JSON, the region,
`StartSession`, the profile, `{"Target": "ecs:<cluster>_<task id>_<container runtime id>"}` and the ECS
endpoint. Without the plugin nothing is opened: the command says how to install it and prints the
equivalent `aws ecs execute-command` line.

With `services.execute_command` (the default) every ECS service of the stack has ECS Exec enabled
(`enableExecuteCommand`), and CDK gives each task role the ssmmessages channel permissions that ECS Exec
needs ("Using Amazon ECS Exec for debugging", Amazon ECS Developer Guide: "ECS Exec requires the task IAM
role to grant containers the permissions needed for communication between the managed SSM agent and the
SSM service").
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
from collections.abc import Callable, Sequence
from typing import Any

from dify_on_aws.config import DifyConfig
from dify_on_aws.operations.deployed import (
    Aws,
    OperatingError,
    add_config_argument,
    cluster_name,
    read_stack,
    role_services,
    run_command,
    service_of_role,
)

PLUGIN = "session-manager-plugin"
PLUGIN_DOCS = "https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html"
DEFAULT_COMMAND = "/bin/bash"

Runner = Callable[[Sequence[str]], int]


def _run_plugin(argv: Sequence[str]) -> int:
    """Run the plugin in the foreground; Ctrl-C belongs to the remote shell, not to us."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return subprocess.call(list(argv))  # noqa: S603  (a fixed executable and our own arguments)
    finally:
        signal.signal(signal.SIGINT, previous)


def aws_cli_line(region: str, cluster: str, task: str, container: str, command: str) -> str:
    return shlex.join(
        [
            "aws", "ecs", "execute-command", "--region", region, "--cluster", cluster, "--task", task,
            "--container", container, "--interactive", "--command", command,
        ]
    )  # fmt: skip


def running_task(aws: Aws, cluster: str, service: str) -> str:
    ecs = aws.client("ecs")
    tasks = ecs.list_tasks(cluster=cluster, serviceName=service, desiredStatus="RUNNING")["taskArns"]
    if not tasks:
        raise OperatingError(
            f"service {service} has no running task (scaled to zero, or outside its working hours?); "
            "start one first, e.g. by raising its desired count"
        )
    return str(tasks[0])


def open_session(
    aws: Aws,
    config: DifyConfig,
    args: argparse.Namespace,
    *,
    which: Callable[[str], str | None] | None = None,
    run: Runner = _run_plugin,
) -> int:
    stack = read_stack(aws, config.name)
    cluster = cluster_name(stack)
    service = service_of_role(role_services(aws, stack), args.role)
    if not service.exec_enabled:
        raise OperatingError(
            f"ECS Exec is not enabled on service {service.name}: set services.execute_command = true "
            "(the default) and deploy"
        )
    task = running_task(aws, cluster, service.arn)
    region = aws.region_name
    line = aws_cli_line(region, cluster, task, args.role, args.command)
    if (which or shutil.which)(PLUGIN) is None:
        raise OperatingError(
            f"{PLUGIN} is not installed; ECS Exec needs it for the terminal ({PLUGIN_DOCS}). With it "
            f"installed, this command (or the AWS CLI) opens the session:\n  {line}"
        )
    ecs = aws.client("ecs")
    response = ecs.execute_command(
        cluster=cluster, task=task, container=args.role, interactive=True, command=args.command
    )
    described = ecs.describe_tasks(cluster=cluster, tasks=[task])["tasks"]
    runtime_id = next(
        (
            c.get("runtimeId")
            for t in described
            for c in t.get("containers") or []
            if c.get("name") == args.role
        ),
        None,
    )
    if not runtime_id:
        raise OperatingError(f"task {task} has no running container {args.role!r} (stopped meanwhile?)")
    target = f"ecs:{cluster.rsplit('/', 1)[-1]}_{task.rsplit('/', 1)[-1]}_{runtime_id}"
    session: Any = response["session"]
    print(f"Opening {args.command!r} in {args.role} (task {task.rsplit('/', 1)[-1]})")
    return run(
        [
            PLUGIN, json.dumps(session), region, "StartSession", os.environ.get("AWS_PROFILE", ""),
            json.dumps({"Target": target}),
            str(ecs.meta.endpoint_url),
        ]
    )  # fmt: skip


def cmd_exec(args: argparse.Namespace) -> int:
    return run_command(args, open_session)


def add_exec_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "exec", help="open a shell (or run a command) in a running task of a role (ECS Exec)"
    )
    parser.add_argument("role", help="container to enter, e.g. api, worker, plugin-daemon")
    parser.add_argument("--command", default=DEFAULT_COMMAND, help=f"what to run (default {DEFAULT_COMMAND})")
    add_config_argument(parser)
    parser.set_defaults(func=cmd_exec)
