"""A compact structural diff of nested JSON values, and how one value is shown on one line.

`structural_diff(before, after)` lists only the changed leaves, each with its path relative to
the compared value (`variables.properties.image.default`, `env.LOG_LEVEL`, `steps[0].image`),
so a one-line change inside a 200-line base job template shows as one line. Small added or
removed subtrees are expanded into their leaves; large ones are summarised (`{…} (12 keys)`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from .masking import MASK

# A value whose compact JSON is longer than this is not shown inline.
INLINE_WIDTH = 60
# A string longer than this many characters is truncated.
MAX_STRING = 60
# An added or removed container with more leaves than this is summarised, not expanded.
EXPAND_LIMIT = 8

LeafKind = Literal["added", "removed", "changed"]


class _Missing:
    """The absent side of an added or removed value (None is a real JSON value)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_$@-]+$")


@dataclass(frozen=True)
class Leaf:
    path: str
    kind: LeafKind
    before: Any
    after: Any


def join_path(base: str, key: object) -> str:
    if isinstance(key, int):
        return f"{base}[{key}]"
    text = str(key)
    if not _PLAIN_KEY.match(text):
        return f"{base}[{json.dumps(text, ensure_ascii=False)}]"
    return f"{base}.{text}" if base else text


def structural_diff(before: Any, after: Any, path: str = "") -> list[Leaf]:
    """The changed leaves between two JSON values (MISSING for an absent side)."""
    if before is MISSING and after is MISSING:
        return []
    if before is MISSING:
        return _one_sided(after, path, "added")
    if after is MISSING:
        return _one_sided(before, path, "removed")
    if _same(before, after):
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        leaves: list[Leaf] = []
        for key in sorted(set(before) | set(after), key=str):
            leaves += structural_diff(
                before.get(key, MISSING), after.get(key, MISSING), join_path(path, key)
            )
        return leaves
    both_lists = isinstance(before, list) and isinstance(after, list)
    if both_lists and (_identity_key(before, after) is not None or not _inline_pair(before, after)):
        return _list_diff(before, after, path)
    return [Leaf(path, "changed", before, after)]


def _one_sided(value: Any, path: str, kind: LeafKind) -> list[Leaf]:
    expand = (
        isinstance(value, (dict, list))
        and value
        and not _fits_inline(value)
        and leaf_count(value) <= EXPAND_LIMIT
    )
    if not expand:
        return [
            Leaf(path, kind, value, MISSING)
            if kind == "removed"
            else Leaf(path, kind, MISSING, value)
        ]
    leaves: list[Leaf] = []
    if isinstance(value, dict):
        for key, child in sorted(value.items(), key=lambda kv: str(kv[0])):
            leaves += _one_sided(child, join_path(path, key), kind)
        return leaves
    key = _identity_key(value, [])
    for i, child in enumerate(value):
        child_path = f"{path}[{child[key]}]" if key is not None else join_path(path, i)
        leaves += _one_sided(child, child_path, kind)
    return leaves


def _list_diff(before: list[Any], after: list[Any], path: str) -> list[Leaf]:
    """Lists of named dicts (schedules, steps with ids) pair up by name; others by position."""
    key = _identity_key(before, after)
    if key is not None:
        b = {item[key]: item for item in before}
        a = {item[key]: item for item in after}
        order = [item[key] for item in before] + [item[key] for item in after if item[key] not in b]
        leaves: list[Leaf] = []
        for name in order:
            leaves += structural_diff(b.get(name, MISSING), a.get(name, MISSING), f"{path}[{name}]")
        return leaves
    leaves = []
    for i in range(max(len(before), len(after))):
        leaves += structural_diff(
            before[i] if i < len(before) else MISSING,
            after[i] if i < len(after) else MISSING,
            join_path(path, i),
        )
    return leaves


def _identity_key(before: list[Any], after: list[Any]) -> str | None:
    items = before + after
    for key in ("slug", "name", "id"):
        named = items and all(isinstance(i, dict) and isinstance(i.get(key), str) for i in items)
        if named and all(len({i[key] for i in side}) == len(side) for side in (before, after)):
            return key
    return None


def _same(a: Any, b: Any) -> bool:
    # 1 == True and 1 == 1.0 in Python, but `true -> 1` is a change worth showing.
    return _compact_json(a) == _compact_json(b)


def leaf_count(value: Any) -> int:
    if isinstance(value, dict):
        return sum(leaf_count(v) for v in value.values()) or 1
    if isinstance(value, list):
        return sum(leaf_count(v) for v in value) or 1
    return 1


def _compact_json(value: Any) -> str:
    return json.dumps(
        value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "), default=str
    )


def _fits_inline(value: Any) -> bool:
    return len(_compact_json(value)) <= INLINE_WIDTH


def _inline_pair(before: Any, after: Any) -> bool:
    return _fits_inline(before) and _fits_inline(after)


def format_value(value: Any, *, start: int = 0) -> str:
    """One value on one line: JSON, with long strings cut and big containers summarised.
    `start` shows a long string from that character on (so a change near its end is visible)."""
    if isinstance(value, str):
        if value == MASK:
            return MASK
        return _format_string(value, start)
    if isinstance(value, dict):
        if value and not _fits_inline(value):
            return f"{{…}} ({_count(len(value), 'key')})"
    elif isinstance(value, list) and value and not _fits_inline(value):
        return f"[…] ({_count(len(value), 'item')})"
    return _compact_json(value)


def format_pair(before: Any, after: Any) -> tuple[str, str]:
    """Both sides of a change; two long strings are shown around where they first differ."""
    if isinstance(before, str) and isinstance(after, str):
        b, a = _escaped(before), _escaped(after)
        if len(b) > MAX_STRING or len(a) > MAX_STRING:
            pairs = enumerate(zip(b, a, strict=False))
            common = next((i for i, (x, y) in pairs if x != y), min(len(b), len(a)))
            start = max(0, common - MAX_STRING // 3) if common > MAX_STRING // 2 else 0
            return format_value(before, start=start), format_value(after, start=start)
    return format_value(before), format_value(after)


def _escaped(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _format_string(value: str, start: int) -> str:
    text = _escaped(value)
    head = "…" if start > 0 else ""
    body = text[start : start + MAX_STRING]
    tail = "…" if start + MAX_STRING < len(text) else ""
    return f'"{head}{body}{tail}"'


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
