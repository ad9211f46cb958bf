"""Options that are valid but change nothing with the rest of the config: synth and validate warn about
each (a code and one line naming the key, why it has no effect and what would give it one)."""

from __future__ import annotations

from pydantic import BaseModel

from dify_on_aws.config.model import DifyConfig
from dify_on_aws.config.services import DEFAULT_SIZES

SPOT_ROLES = ("api", "worker", "web", "sandbox", "plugin_daemon", "ssrf_proxy")
SIZED_ROLES = ("api", "worker", "beat", "web", "sandbox", "plugin_daemon", "ssrf_proxy")


def _given(section: BaseModel, *keys: str) -> list[str]:
    """The keys among `keys` that the config names for this section."""
    return [key for key in keys if key in section.model_fields_set]


def ineffective_options(config: DifyConfig) -> list[tuple[str, str]]:
    """(code, message) for each option without effect."""
    return _services(config) + _sections(config)


def _services(config: DifyConfig) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    svc = config.services
    if svc.spot:
        ceilings = (
            [1]
            if svc.layout == "single_task"
            else [max(getattr(svc, r).desired_count, getattr(svc, r).max_count or 0) for r in SPOT_ROLES]
        )
        if max(ceilings) <= svc.on_demand_base:
            found.append(
                (
                    "spot-unused",
                    f"services.spot = true has no effect: no service ever runs more than "
                    f"services.on_demand_base = {svc.on_demand_base} task(s), which stay on regular Fargate; "
                    "lower on_demand_base (0 = all Spot) or drop spot.",
                )
            )
    elif _given(svc, "on_demand_base"):
        found.append(
            (
                "on-demand-base-unused",
                "services.on_demand_base has no effect without services.spot = true (every task is on "
                "regular Fargate).",
            )
        )
    if svc.layout == "single_task":
        for role in SIZED_ROLES:
            size, defaults = getattr(svc, role), DEFAULT_SIZES[role]
            if (size.cpu, size.memory_mib) != (defaults["cpu"], defaults["memory_mib"]):
                found.append(
                    (
                        "role-size-unused",
                        f"services.{role}.cpu/memory_mib have no effect with services.layout = "
                        "'single_task': every role runs in the one task sized by [services.single_task].",
                    )
                )
    else:
        for role in SPOT_ROLES:
            size = getattr(svc, role)
            queue = bool(getattr(size, "queue_scaling", False))  # queue depth scales up from zero
            if (
                size.desired_count == 0
                and size.max_count is not None
                and _given(size, "max_count")
                and not queue
            ):
                found.append(
                    (
                        "max-count-unused",
                        f"services.{role}.max_count = {size.max_count} has no effect with desired_count = 0: "
                        "CPU scaling needs a running task to measure; set desired_count >= 1.",
                    )
                )
    return found


def _sections(config: DifyConfig) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    schedule = config.schedule
    if not schedule.enabled and _given(schedule, "working_hours", "timezone"):
        found.append(
            (
                "schedule-unused",
                "schedule.working_hours/timezone have no effect while schedule.enabled = false.",
            )
        )
    database = config.database
    if database.min_acu > 0 and _given(database, "auto_pause_seconds"):
        found.append(
            (
                "auto-pause-unused",
                f"database.auto_pause_seconds has no effect with database.min_acu = {database.min_acu:g}: "
                "Aurora pauses only at a minimum of 0 ACU.",
            )
        )
    cache = config.cache
    given = _given(cache, "node_type", "multi_az", "engine_version")
    if cache.engine == "container" and given:
        found.append(
            (
                "cache-options-unused",
                f"cache.{'/'.join(given)} {'has' if len(given) == 1 else 'have'} no effect with "
                "cache.engine = 'container' (Valkey runs inside the task).",
            )
        )
    backup = config.backup
    if not backup.enabled and _given(backup, "retention_days", "schedule"):
        found.append(
            ("backup-unused", "backup.retention_days/schedule have no effect while backup.enabled = false.")
        )
    return found
