"""Schedule rules: each `schedules:` item as `prefect deploy` 3.9.1 reads it, and slugs.

Unknown keys and `schedule` + `schedules` together are the structure rules' (S001, S014).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ...prefect.schedules import SELECTORS, ScheduleProblem, check_schedule, is_templated
from ...repo.diagnostics import Diagnostic, Severity
from ...repo.project import DeploymentEntry, Project

if TYPE_CHECKING:
    from ..options import ValidateOptions

_CODES = {
    "shape": "C001",
    "cron": "C002",
    "interval": "C003",
    "rrule": "C004",
    "timezone": "C005",
    "anchor_date": "C006",
    "value": "C007",
    "ignored": "C011",
}
_SEVERITY = {"error": Severity.ERROR, "warning": Severity.WARNING, "info": Severity.INFO}


def check(project: Project, options: ValidateOptions) -> Iterator[Diagnostic]:
    del options
    for entry in project.deployments:
        if isinstance(entry.raw, dict):
            yield from _deployment(entry)


def _items(entry: DeploymentEntry) -> list[tuple[tuple[Any, ...], Any]]:
    raw = entry.raw
    items: list[tuple[tuple[Any, ...], Any]] = []
    single = raw.get("schedule")
    # `schedule:` (one mapping) is used only when it is a non-empty mapping.
    if isinstance(single, dict) and single:
        items.append((("schedule",), single))
    many = raw.get("schedules")
    if isinstance(many, list):
        items.extend((("schedules", i), item) for i, item in enumerate(many))
    return items


def _deployment(entry: DeploymentEntry) -> Iterator[Diagnostic]:
    items = _items(entry)
    for path, item in items:
        for problem in check_schedule(item):
            if problem.kind == "unknown_key":
                continue  # S001
            yield _problem(entry, path, problem)
        if isinstance(item, dict):
            for key in SELECTORS:
                if is_templated(item.get(key)):
                    yield entry.diagnostic(
                        Severity.INFO,
                        "C012",
                        f"{entry.label}: `{key}` is templated ({item[key]!r}); it is checked "
                        "only once `prefect deploy` resolves it",
                        (*path, key),
                    )
    yield from _slugs(entry, items)


def _problem(entry: DeploymentEntry, path: tuple[Any, ...], problem: ScheduleProblem) -> Diagnostic:
    sub = (*path, problem.key) if problem.key is not None else path
    return entry.diagnostic(
        _SEVERITY[problem.severity],
        _CODES[problem.kind],
        f"{entry.label}: `{entry.json_path(*sub)}`: {problem.message}",
        sub,
    )


def _slugs(
    entry: DeploymentEntry, items: list[tuple[tuple[Any, ...], Any]]
) -> Iterator[Diagnostic]:
    seen: dict[str, tuple[Any, ...]] = {}
    slugged: list[tuple[Any, ...]] = []
    unslugged: list[tuple[Any, ...]] = []
    for path, item in items:
        if not isinstance(item, dict):
            continue
        slug = item.get("slug")
        if not slug or not isinstance(slug, str):
            unslugged.append(path)
            continue
        slugged.append(path)
        first = seen.get(slug)
        if first is None:
            seen[slug] = path
            continue
        line = entry.span(*first, "slug").line
        yield entry.diagnostic(
            Severity.ERROR,
            "C009",
            f"{entry.label}: schedule slug '{slug}' is used twice (first at line {line}); slugs "
            "must be unique within a deployment",
            (*path, "slug"),
        )
    if slugged and unslugged:
        path = unslugged[0]
        yield entry.diagnostic(
            Severity.WARNING,
            "C010",
            f"{entry.label} mixes schedules with and without `slug`; once the server holds "
            "slugged schedules, an update with unslugged ones is refused (422)",
            path,
            hint="give every schedule of this deployment a slug",
        )
