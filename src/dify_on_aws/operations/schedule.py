"""Run ECS services only during working hours, with Application Auto Scaling scheduled actions.

A service gets two actions on its scalable task count: at the start of the working hours the minimum
becomes the desired count (the maximum goes back to the scalable's own maximum, so target tracking can
still scale out), at the end minimum and maximum become 0. The actions are evaluated in the configured
IANA time zone, so working hours follow daylight saving time. `working_hours` uses the configuration's
format: 'MON-FRI 08:00-20:00', 'SAT,SUN 10:00-16:00', 'MON-SUN 00:00-24:00'.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_ecs as ecs
from constructs import Construct

# Index = Python weekday (MON = 0).
DAY_NAMES = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
# AWS cron numbers the days SUN = 1 ... SAT = 7 and its ranges do not wrap: fields are written in this order.
_CRON_ORDER = (6, 0, 1, 2, 3, 4, 5)
MINUTES_PER_DAY = 24 * 60
_FORMAT = re.compile(r"([A-Z]{3}(?:[-,][A-Z]{3})*) (\d{2}):(\d{2})-(\d{2}):(\d{2})")


@dataclass(frozen=True)
class WorkingHours:
    """Days (MON = 0) and a daily window in minutes after midnight; `end` may be 24:00 (1440)."""

    days: frozenset[int]
    start: int
    end: int

    @property
    def hours_per_week(self) -> float:
        return len(self.days) * (self.end - self.start) / 60


@dataclass(frozen=True)
class Transition:
    """A scheduled action: at `minute` after midnight on `days` (MON = 0)."""

    days: frozenset[int]
    minute: int

    @property
    def cron(self) -> appscaling.Schedule:
        week_day = cron_days(self.days)
        hour, minute = divmod(self.minute, 60)
        if week_day is None:
            return appscaling.Schedule.cron(minute=str(minute), hour=str(hour))
        return appscaling.Schedule.cron(minute=str(minute), hour=str(hour), week_day=week_day)


def parse_working_hours(text: str) -> WorkingHours:
    """'MON-FRI 08:00-20:00' -> days and window; ranges may wrap ('FRI-MON'), as in the config model."""
    match = _FORMAT.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"working hours {text!r}: expected e.g. 'MON-FRI 08:00-20:00'")
    days: set[int] = set()
    for part in match.group(1).split(","):
        first, _, last = part.partition("-")
        unknown = [d for d in (first, last or first) if d not in DAY_NAMES]
        if unknown:
            raise ValueError(f"working hours {text!r}: unknown day(s) {unknown}; use MON..SUN")
        a, b = DAY_NAMES.index(first), DAY_NAMES.index(last or first)
        days.update((a + i) % 7 for i in range((b - a) % 7 + 1))
    h1, m1, h2, m2 = (int(match.group(i)) for i in range(2, 6))
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if m1 > 59 or m2 > 59 or not 0 <= start < end <= MINUTES_PER_DAY:
        raise ValueError(f"working hours {text!r}: start must be before end, both within 00:00-24:00")
    return WorkingHours(frozenset(days), start, end)


def transitions(hours: WorkingHours) -> tuple[Transition, Transition] | None:
    """The start and the stop action; None when the hours cover the whole week (nothing to switch).

    A window ending at 24:00 stops at 00:00 the next day. With 00:00-24:00 windows on consecutive days,
    the stop of one day and the start of the next would fire at the same minute in an undefined order,
    so those boundaries are left out and the service simply keeps running across midnight.
    """
    full_day = hours.start == 0 and hours.end == MINUTES_PER_DAY
    starts = frozenset(d for d in hours.days if not (full_day and (d - 1) % 7 in hours.days))
    ends = frozenset(d for d in hours.days if not (full_day and (d + 1) % 7 in hours.days))
    if not starts:
        return None
    shift = 1 if hours.end == MINUTES_PER_DAY else 0
    stop_days = frozenset((d + shift) % 7 for d in ends)
    return Transition(starts, hours.start), Transition(stop_days, hours.end % MINUTES_PER_DAY)


def cron_days(days: Iterable[int]) -> str | None:
    """The day-of-week field ('MON-FRI', 'SUN,SAT'); None for every day."""
    present = [d in set(days) for d in _CRON_ORDER]
    if all(present):
        return None
    parts: list[str] = []
    i = 0
    while i < len(present):
        if not present[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(present) and present[j + 1]:
            j += 1
        first, last = DAY_NAMES[_CRON_ORDER[i]], DAY_NAMES[_CRON_ORDER[j]]
        if j - i >= 2:
            parts.append(f"{first}-{last}")
        else:
            parts.extend(DAY_NAMES[_CRON_ORDER[k]] for k in range(i, j + 1))
        i = j + 1
    return ",".join(parts)


def scalable_max_capacity(scaling: ecs.ScalableTaskCount) -> int | None:
    """The maximum given to `auto_scale_task_count` (read from the scalable target it created)."""
    target = scaling.node.try_find_child("Target")
    resource = target.node.default_child if target is not None else None
    if isinstance(resource, appscaling.CfnScalableTarget) and isinstance(resource.max_capacity, int | float):
        return int(resource.max_capacity)
    return None


def run_during_working_hours(
    scope: Construct,
    *,
    scaling: ecs.ScalableTaskCount,
    desired: int,
    working_hours: str,
    timezone: str,
    id_prefix: str,
    max_capacity: int | None = None,
) -> None:
    """Scale `scaling` to `desired` tasks at the start of the working hours and to zero at the end.

    `scaling` comes from `service.auto_scale_task_count(min_capacity=0, max_capacity=N)`. The start action
    sets MinCapacity=desired and MaxCapacity=N (or `max_capacity`): the stop action set the maximum to 0,
    so it must be restored, and keeping N (not `desired`) leaves room for target tracking policies.
    """
    if desired < 1:
        raise ValueError(f"{id_prefix}: desired must be at least 1 during working hours, got {desired}")
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{id_prefix}: {timezone!r} is not an IANA time zone") from None
    bounds = transitions(parse_working_hours(working_hours))
    if bounds is None:
        cdk.Annotations.of(scope).add_info(
            f"{id_prefix}: working hours {working_hours!r} cover the whole week; no schedule added"
        )
        return
    start, stop = bounds
    upper = max(desired, max_capacity or scalable_max_capacity(scaling) or desired)
    zone = cdk.TimeZone.of(timezone)
    scaling.scale_on_schedule(
        f"{id_prefix}Start", schedule=start.cron, min_capacity=desired, max_capacity=upper, time_zone=zone
    )
    scaling.scale_on_schedule(
        f"{id_prefix}Stop", schedule=stop.cron, min_capacity=0, max_capacity=0, time_zone=zone
    )
