"""Cross-reference rules: variables named in templates, deployment concurrency limits, and
the version control a deployment's `version_type` names.

Deployment names with `/ % & > <` are the structure rules' (S013); `work_queue_name`
against the declared pool is the job-variable rules'.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ...prefect.templating import PLACEHOLDER_PATTERN, VARIABLE_PREFIX
from ...prefect.versioning import VERSION_TYPES
from ...repo.diagnostics import Diagnostic, Severity
from ...repo.models import DB_INT_MAX
from ...repo.project import DeploymentEntry, Project, SourceFile
from ...repo.source import JsonPath, format_path
from ...repo.suggest import did_you_mean

if TYPE_CHECKING:
    from ..options import ValidateOptions

COLLISION_STRATEGIES = ("ENQUEUE", "CANCEL_NEW")
GRACE_PERIOD_RANGE = (60, 86400)


def check(project: Project, options: ValidateOptions) -> Iterator[Diagnostic]:
    declared = {v.name for v in project.config.variables}
    strict = options.strict or project.config.strict
    for prefect_file in project.prefect_files:
        if declared:
            top = {
                k: v for k, v in prefect_file.file.data.items() if k in ("build", "push", "pull")
            }
            yield from _variables(prefect_file.file, top, (), declared, strict, None)
        for entry in prefect_file.deployments:
            if not isinstance(entry.raw, dict):
                continue
            if declared:
                yield from _variables(
                    entry.file, entry.raw, entry.path, declared, strict, entry.resource
                )
            yield from _concurrency(entry)
            yield from _version_type(entry)


def _strings(value: Any, path: JsonPath) -> Iterator[tuple[JsonPath, str]]:
    stack: list[tuple[JsonPath, Any]] = [(path, value)]
    while stack:
        here, node = stack.pop()
        if isinstance(node, str):
            yield here, node
        elif isinstance(node, dict):
            stack.extend(((*here, k), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend(((*here, i), v) for i, v in enumerate(node))


def _variables(
    source: SourceFile,
    value: Any,
    base: JsonPath,
    declared: set[str],
    strict: bool,
    resource: str | None,
) -> Iterator[Diagnostic]:
    found = sorted(_strings(value, base), key=lambda item: source.span(item[0]))
    for path, text in found:
        for _, name in PLACEHOLDER_PATTERN.findall(text):
            if not name.startswith(VARIABLE_PREFIX):
                continue
            variable = name[len(VARIABLE_PREFIX) :]
            if variable in declared:
                continue
            yield Diagnostic(
                Severity.ERROR if strict else Severity.WARNING,
                "R001",
                f"`{format_path(path)}` refers to variable '{variable}', which the project "
                "does not declare; unless it exists on the server, Prefect substitutes an "
                "empty string",
                source.span(path),
                path=format_path(path),
                resource=resource,
                hint=did_you_mean(variable, declared)
                or "declare it under `variables:` in the project config",
            )


def _templated(value: Any) -> bool:
    return isinstance(value, str) and bool(PLACEHOLDER_PATTERN.search(value))


def _concurrency(entry: DeploymentEntry) -> Iterator[Diagnostic]:
    limit = entry.raw.get("concurrency_limit")
    if isinstance(limit, dict):
        yield from _limit_value(entry, limit.get("limit"), ("concurrency_limit", "limit"))
        strategy = limit.get("collision_strategy")
        if not _templated(strategy) and strategy not in COLLISION_STRATEGIES:
            sub = ("concurrency_limit", "collision_strategy")
            shown = "missing" if strategy is None else repr(strategy)
            yield entry.diagnostic(
                Severity.ERROR,
                "R002",
                f"{entry.label}: `concurrency_limit.collision_strategy` is {shown}; the "
                f"mapping form needs {' or '.join(COLLISION_STRATEGIES)} (upper case)",
                sub if "collision_strategy" in limit else ("concurrency_limit",),
                hint=did_you_mean(str(strategy), COLLISION_STRATEGIES) if strategy else None,
            )
        grace = limit.get("grace_period_seconds")
        if grace is not None and not _templated(grace):
            low, high = GRACE_PERIOD_RANGE
            number = _integer(grace)
            if number is None or not low <= number <= high:
                yield entry.diagnostic(
                    Severity.ERROR,
                    "R003",
                    f"{entry.label}: `concurrency_limit.grace_period_seconds` is {grace!r}; "
                    f"it must be a whole number of seconds from {low} to {high}",
                    ("concurrency_limit", "grace_period_seconds"),
                )
    else:
        yield from _limit_value(entry, limit, ("concurrency_limit",))


def _version_type(entry: DeploymentEntry) -> Iterator[Diagnostic]:
    if "version_type" not in entry.raw:
        return
    kind = entry.raw["version_type"]
    if not kind or _templated(kind) or kind in VERSION_TYPES:  # Prefect: `version_type or None`
        return
    known = sorted(VERSION_TYPES)
    yield entry.diagnostic(
        Severity.ERROR,
        "R007",
        f"{entry.label}: `version_type` is {kind!r}; `prefect deploy` refuses it: it takes "
        f"{', '.join(known)}",
        ("version_type",),
        hint=did_you_mean(str(kind), known) or "omit it: Prefect then infers the version",
    )


def _limit_value(entry: DeploymentEntry, value: Any, sub: tuple[str, ...]) -> Iterator[Diagnostic]:
    if value is None or _templated(value) or isinstance(value, dict):
        return
    number = _integer(value)
    if number is not None and not 0 < number <= DB_INT_MAX:  # other types: the loader's S002
        yield entry.diagnostic(
            Severity.ERROR,
            "R004",
            f"{entry.label}: `{'.'.join(sub)}` is {value!r}; the server accepts only a whole "
            f"number from 1 to {DB_INT_MAX} (a 64-bit integer)",
            sub,
            hint="remove it to run without a limit",
        )


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None
