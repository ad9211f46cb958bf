"""How many tasks each Dify service runs: CPU target tracking up to a ceiling, and the working-hours
schedule (operations/schedule.py) on the same scalable target."""

from __future__ import annotations

from collections.abc import Mapping

from dify_on_aws.operations.schedule import run_during_working_hours
from dify_on_aws.roles import Role
from dify_on_aws.services.service import DifyService

CPU_TARGET_PERCENT = 60


def scale_services(
    services: Mapping[Role, DifyService],
    *,
    desired: Mapping[Role, int],
    maximum: Mapping[Role, int | None],
    single_task: bool,
    working_hours: str | None,
    timezone: str,
) -> None:
    """Scale each distinct service once (with one task for every role, all roles are one service).
    Beat, and the one shared task, always run exactly one task."""
    seen: set[int] = set()
    for role, service in services.items():
        if id(service) in seen:
            continue
        seen.add(id(service))
        count = 1 if single_task or role is Role.BEAT else desired[role]
        ceiling = maximum.get(role) or count
        if working_hours is None and ceiling <= count:
            continue
        scaling = service.service.auto_scale_task_count(min_capacity=count, max_capacity=max(ceiling, 1))
        if ceiling > count:
            scaling.scale_on_cpu_utilization("Cpu", target_utilization_percent=CPU_TARGET_PERCENT)
        if working_hours is not None and count > 0:
            run_during_working_hours(
                service,
                scaling=scaling,
                desired=count,
                working_hours=working_hours,
                timezone=timezone,
                id_prefix="WorkingHours",
            )
