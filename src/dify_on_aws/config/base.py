"""What every config section shares: unknown keys are errors, and every cross-field check is reported."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Self, TypeVar

from pydantic import BaseModel, ConfigDict, model_validator

_CROSS_CHECK = "__dify_cross_check__"
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_Check = TypeVar("_Check", bound=Callable[..., Any])


def cross_check(method: _Check) -> _Check:
    """Mark a check across fields of a section. Every failing check is reported in one run, not only the
    first (pydantic stops at the first model validator that raises)."""
    setattr(method, _CROSS_CHECK, True)
    return method


def region_name(value: str | None) -> str | None:
    """An AWS region name (or None), for the validators of the fields that name one."""
    if value is not None and not _REGION.fullmatch(value):
        raise ValueError("must be an AWS region name such as 'us-east-1'")
    return value


class CrossFieldError(ValueError):
    """Several cross-field problems of one section; the loader reports one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class Section(BaseModel):
    """Base for every section: unknown keys are errors, values are checked on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=True)

    @model_validator(mode="after")
    def _cross_checks(self) -> Self:
        problems: list[str] = []
        for klass in reversed(type(self).__mro__):
            for attr in vars(klass).values():
                if getattr(attr, _CROSS_CHECK, False):
                    try:
                        attr(self)
                    except ValueError as exc:
                        problems.extend(exc.problems if isinstance(exc, CrossFieldError) else [str(exc)])
        if len(problems) == 1:
            raise ValueError(problems[0])
        if problems:
            raise CrossFieldError(problems)
        return self
