"""The weekly running share of an ECS service from its Application Auto Scaling scheduled actions.

A start action (MinCapacity > 0) brings the service up to MinCapacity tasks, a stop action (MaxCapacity 0)
takes it to zero; replaying a week of both gives the share of the week's minutes with tasks running and
the average number of tasks then. The time zone of the actions shifts the window but not its length, so
it is ignored. Only weekly cron schedules are understood (minute, hour and day-of-week fields with any
day of month, month and year); anything else (at(), rate(), day-of-month schedules) returns None and the
service is priced as always running, which over- rather than under-estimates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MINUTES_PER_WEEK = 7 * 24 * 60
HOURS_PER_WEEK = 7 * 24
# Day-of-week names in AWS cron numbering (SUN = 1 ... SAT = 7).
_DOW = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_CRON = re.compile(r"cron\((.*)\)")
_ANY = ("*", "?")


@dataclass(frozen=True)
class WeeklySchedule:
    share: float  # of the week's hours with at least one task running
    tasks: float  # average running tasks while running

    @property
    def hours_per_week(self) -> float:
        return self.share * HOURS_PER_WEEK


def _value(token: str, names: Mapping[str, int]) -> int:
    return names[token] if token in names else int(token)


def _field(text: str, low: int, high: int, names: Mapping[str, int] | None = None) -> set[int] | None:
    """The values a cron field matches ('*', '5', '1-5', 'MON-FRI', '0/15', '8,12'); None if unsupported."""
    names = names or {}
    found: set[int] = set()
    try:
        for part in text.upper().split(","):
            base, _, step_text = part.partition("/")
            step = int(step_text) if step_text else 1
            if base in _ANY:
                first, last = low, high
            elif "-" in base:
                a, b = base.split("-", 1)
                first, last = _value(a, names), _value(b, names)
            else:
                first = _value(base, names)
                last = high if step_text else first
            if not (low <= first <= high and low <= last <= high) or step < 1:
                return None
            span = (last - first) % (high - low + 1)  # a range such as FRI-MON wraps
            found.update(low + (first - low + i) % (high - low + 1) for i in range(0, span + 1, step))
    except (ValueError, KeyError):
        return None
    return found


def fire_minutes(expression: str) -> list[int] | None:
    """Minutes of the week (Sunday 00:00 = 0) at which a weekly cron expression fires; None if unsupported."""
    match = _CRON.fullmatch(expression.strip())
    fields = match.group(1).split() if match else []
    if len(fields) != 6:
        return None
    minute, hour, day_of_month, month, day_of_week, year = fields
    if day_of_month not in _ANY or month not in _ANY or year not in _ANY:
        return None
    minutes = _field(minute, 0, 59)
    hours = _field(hour, 0, 23)
    days = _field(day_of_week, 1, 7, _DOW)
    if minutes is None or hours is None or days is None:
        return None
    return sorted((d - 1) * 24 * 60 + h * 60 + m for d in days for h in hours for m in minutes)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def weekly_schedule(actions: Sequence[Any]) -> WeeklySchedule | None:
    """The running share from ScheduledActions; None without both a start and a stop action."""
    events: list[tuple[int, float]] = []
    for action in actions:
        if not isinstance(action, Mapping) or not isinstance(action.get("Schedule"), str):
            continue
        target = action.get("ScalableTargetAction")
        if not isinstance(target, Mapping):
            continue
        low, high = _number(target.get("MinCapacity")), _number(target.get("MaxCapacity"))
        if high == 0:
            tasks = 0.0
        elif low is not None and low > 0:
            tasks = low
        else:
            continue  # widens or narrows the range without starting or stopping: not modelled
        when = fire_minutes(action["Schedule"])
        if when is None:
            return None
        events.extend((minute, tasks) for minute in when)
    if not any(t == 0 for _, t in events) or not any(t > 0 for _, t in events):
        return None
    # Same minute: the stop first, so a start at that minute wins (what a contiguous window means).
    events.sort()
    running = task_minutes = 0.0
    for i, (minute, tasks) in enumerate(events):
        following = events[i + 1][0] if i + 1 < len(events) else events[0][0] + MINUTES_PER_WEEK
        length = following - minute
        if tasks > 0:
            running += length
            task_minutes += tasks * length
    return WeeklySchedule(running / MINUTES_PER_WEEK, task_minutes / running if running else 0.0)
