"""The spec apply sends for a resource: the desired one, except under the paths the plan does not
manage (opaque placeholders such as `{{ prefect.blocks.* }}`, unmanaged fields and `ignore`
rules), where the live value is kept, so apply never overwrites what `plan` said it would leave
alone; and which fields and schedules a change touches, so that only those are written.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..plans.build import ResourceChange
from ..repo.models import IgnoreRule
from ..state.diff import ignored_fields
from ..state.resources import Resource, join_path

_MISSING: Any = object()


def _dotted(path: str) -> str:
    return path.replace("[", ".").replace("]", "")


def _skipped(path: str, patterns: Sequence[str]) -> bool:
    """The same matching as `diff.py`: a path is skipped when any prefix matches a pattern."""
    pieces = _dotted(path).split(".")
    return any(
        fnmatch.fnmatchcase(".".join(pieces[:end]), p)
        for end in range(1, len(pieces) + 1)
        for p in patterns
    )


def _format(parts: Sequence[Any]) -> str:
    out: list[str | int] = []
    for i, part in enumerate(parts):
        if i == 1 and parts[0] == "schedules":
            out.append(f"[{part}]")
        elif isinstance(part, int):
            out.append(part)
        else:
            out.append(str(part))
    return join_path(out)


def skip_patterns(desired: Resource, ignore: Iterable[IgnoreRule]) -> list[str]:
    return [
        _dotted(p)
        for p in (
            *desired.meta.get("unmanaged", ()),
            *desired.meta.get("opaque", ()),
            *ignored_fields(desired.address, ignore),
        )
    ]


def effective_spec(
    desired: Resource, live: Resource | None, ignore: Iterable[IgnoreRule] = ()
) -> dict[str, Any]:
    """The desired spec with every path the plan does not manage taken from the live one."""
    if live is None:
        return dict(desired.spec)
    patterns = skip_patterns(desired, ignore)
    merged = _merge(dict(desired.spec), dict(live.spec), (), patterns)
    return dict(merged)


def _merge(want: Any, have: Any, parts: tuple[Any, ...], patterns: Sequence[str]) -> Any:
    if parts and _skipped(_format(parts), patterns):
        return have
    if parts == ("schedules",) and isinstance(want, list):
        have_by_slug = {
            s.get("slug"): s
            for s in (have if isinstance(have, list) else [])
            if isinstance(s, dict)
        }
        out = []
        for item in want:
            merged = _merge(
                item,
                have_by_slug.get(item.get("slug"), _MISSING),
                (*parts, item.get("slug")),
                patterns,
            )
            if merged is not _MISSING:
                out.append(merged)
        return out
    if isinstance(want, Mapping) and isinstance(have, Mapping):
        result: dict[str, Any] = {}
        for key, value in want.items():
            merged = _merge(value, have.get(key, _MISSING), (*parts, key), patterns)
            if merged is not _MISSING:
                result[key] = merged
        for key in have.keys() - want.keys():
            if _skipped(_format((*parts, key)), patterns):
                result[key] = have[key]
        return result
    if isinstance(want, list) and isinstance(have, list) and len(want) == len(have):
        items = [
            _merge(w, h, (*parts, i), patterns)
            for i, (w, h) in enumerate(zip(want, have, strict=True))
        ]
        return [i for i in items if i is not _MISSING]
    return want


_FIELD = re.compile(r"^([^.\[]+)")


_SCHEDULE_PATH = re.compile(r"^schedules\[(?P<slug>.+?)\](?:\.(?P<sub>[^.\[]+))?")


def changed_fields(rc: ResourceChange) -> set[str]:
    """Top-level fields a change touches (`job_variables.env.X` -> `job_variables`)."""
    out = set()
    for change in rc.changes:
        match = _FIELD.match(change.path)
        if match:
            out.add(match.group(1))
    return out


def changed_schedules(rc: ResourceChange) -> dict[str, set[str]] | None:
    """Slug -> changed schedule fields; None when the whole list changed (`schedules`)."""
    out: dict[str, set[str]] = {}
    for change in rc.changes:
        if change.path == "schedules":
            return None
        match = _SCHEDULE_PATH.match(change.path)
        if match:
            out.setdefault(match.group("slug"), set())
            if match.group("sub"):
                out[match.group("slug")].add(match.group("sub"))
    return out
