"""Short texts for node details: lists, counts, paths and image names."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def fmt(value: float) -> str:
    return f"{value:g}"


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def summarize(items: Iterable[str], limit: int = 3) -> str:
    unique = list(dict.fromkeys(i for i in items if i))
    shown = ", ".join(unique[:limit])
    return shown + (f" +{len(unique) - limit}" if len(unique) > limit else "")


def short_paths(patterns: Iterable[str]) -> list[str]:
    """'/console/api/*' and '/console/api' are one route in a picture."""
    out: list[str] = []
    for pattern in patterns:
        short = pattern.removesuffix("/*").removesuffix("*").rstrip("/") or "/"
        if short not in out:
            out.append(short)
    return out


def image_name(image: Any) -> str:
    if not isinstance(image, str):
        return ""
    return image.rsplit("/", 1)[-1]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "x"


def find(value: Any, name: str) -> Any:
    """The first value of key `name` anywhere inside a nested statement (None when absent)."""
    if isinstance(value, Mapping):
        if name in value:
            return value[name]
        for inner in value.values():
            found = find(inner, name)
            if found is not None:
                return found
    elif isinstance(value, list):
        for inner in value:
            found = find(inner, name)
            if found is not None:
                return found
    return None


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for inner in value.values():
            yield from strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from strings(inner)
