"""Read a TOML file into DifyConfig and turn validation errors into messages a person can act on."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dify_on_aws.config.model import CrossFieldError, DifyConfig


class ConfigError(Exception):
    """Invalid configuration: one line per problem, each naming the key, the value and what is allowed."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid configuration in {source}:\n{lines}")


def _key(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif "[" in str(item) or "function-after" in str(item):
            # pydantic adds validator names to locations of model-level checks; they mean nothing to users.
            continue
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def _lookup(data: Any, loc: tuple[int | str, ...]) -> tuple[bool, Any]:
    for item in loc:
        if isinstance(data, Mapping) and item in data:
            data = data[item]
        elif isinstance(data, list) and isinstance(item, int) and 0 <= item < len(data):
            data = data[item]
        else:
            return False, None
    return True, data


def _describe_all(error: Mapping[str, Any], raw: Mapping[str, Any]) -> list[str]:
    """One line per problem: a section's cross-field checks can report several in one error."""
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, CrossFieldError):
        return [_describe({**error, "msg": problem}, raw) for problem in cause.problems]
    return [_describe(error, raw)]


def _describe(error: Mapping[str, Any], raw: Mapping[str, Any]) -> str:
    loc = tuple(error["loc"])
    key = _key(loc)
    kind = error["type"]
    msg = str(error["msg"])
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    found, value = _lookup(raw, loc)
    if kind == "extra_forbidden":
        return (
            f"{key}: unknown key (value {value!r}); remove it or check the spelling in docs/configuration.md"
        )
    if kind == "missing":
        return f"{key}: required key is missing"
    # A whole section is not worth echoing; its own message names the keys involved.
    shown = f" = {value!r}" if found and not isinstance(value, Mapping) else ""
    if kind == "literal_error":
        allowed = error.get("ctx", {}).get("expected", "")
        return f"{key}{shown}: not allowed; use one of {allowed}"
    return f"{key}{shown}: {msg}"


def parse_config(data: Mapping[str, Any], source: str = "<config>") -> DifyConfig:
    """Validate a mapping (parsed TOML) into a DifyConfig, or raise ConfigError listing every problem."""
    try:
        return DifyConfig.model_validate(dict(data))
    except ValidationError as exc:
        problems = [line for err in exc.errors(include_url=False) for line in _describe_all(err, data)]
        raise ConfigError(source, problems) from None


def load_config(path: str | Path | None) -> DifyConfig:
    """Load a TOML file. None means the defaults (no file needed for an offline synth)."""
    if path is None:
        return DifyConfig()
    file = Path(path)
    if not file.is_file():
        raise ConfigError(str(file), ["file not found; create it or pass --config with an existing file"])
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(file), [f"not valid TOML: {exc}"]) from None
    except UnicodeDecodeError:
        raise ConfigError(str(file), ["not a UTF-8 text file"]) from None
    return parse_config(data, str(file))
