"""`[schedule]`: working hours outside which every ECS service stops."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from dify_on_aws.config.base import Section


class ScheduleConfig(Section):
    """Scale the services to zero outside working hours (the database pauses on its own with min_acu 0)."""

    enabled: bool = Field(False, description="Stop every ECS service outside `working_hours`.")
    working_hours: str = Field(
        "MON-FRI 08:00-20:00",
        description="When Dify runs: days (`MON-FRI`, `MON-SUN`, `SAT,SUN`) and a start-end time, 24 h.",
    )
    timezone: str = Field("UTC", description="IANA time zone of `working_hours`, e.g. `Asia/Tokyo`.")

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        match = re.fullmatch(r"([A-Z]{3}(?:[-,][A-Z]{3})*) (\d{2}):(\d{2})-(\d{2}):(\d{2})", value)
        if match is None:
            raise ValueError("must look like 'MON-FRI 08:00-20:00'")
        days = re.split(r"[-,]", match.group(1))
        wrong = [d for d in days if d not in ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")]
        if wrong:
            raise ValueError(f"unknown day(s) {wrong}; use MON..SUN")
        start = int(match.group(2)) * 60 + int(match.group(3))
        end = int(match.group(4)) * 60 + int(match.group(5))
        if not (0 <= start < end <= 24 * 60) or int(match.group(3)) > 59 or int(match.group(5)) > 59:
            raise ValueError("start must be before end, both within 00:00-24:00")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        import zoneinfo  # noqa: PLC0415

        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone such as 'Europe/Berlin'") from None
        return value

    def hours_per_week(self) -> float:
        """Running hours per week (the cost estimator uses it for the active share)."""
        days_part, times = self.working_hours.split(" ")
        names = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
        days = 0
        for part in days_part.split(","):
            if "-" in part:
                first, last = part.split("-")
                days += (names.index(last) - names.index(first)) % 7 + 1
            else:
                days += 1
        start, end = times.split("-")
        minutes = (int(end[:2]) * 60 + int(end[3:])) - (int(start[:2]) * 60 + int(start[3:]))
        return days * minutes / 60
