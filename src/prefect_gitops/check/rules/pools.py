"""Work-pool files: the base job template as the server checks it at pool creation.

The variables schema must be a valid JSON Schema (P001), every default valid against its
own schema (P002), every `{{ name }}` in `job_configuration` a declared variable (P003),
both halves of the template present (P004); an unknown type is a warning (P005) and queue
priorities must be unique within the pool (P006).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...prefect import templates
from ...repo.diagnostics import Diagnostic, Severity
from ...repo.project import PoolEntry, Project
from ...repo.source import format_path
from ...repo.suggest import did_you_mean
from ..jobvars.problems import ProblemKind
from ..jobvars.verdicts import check_pool_template

if TYPE_CHECKING:
    from ..options import ValidateOptions


def check(project: Project, options: ValidateOptions) -> Iterator[Diagnostic]:
    del options
    for pool in project.pools:
        if pool.spec is None:
            continue
        yield from _pool_type(pool)
        yield from _queue_priorities(pool)
        if pool.template is not None and not pool.template_is_default:
            yield from _template(pool)


def _pool_type(pool: PoolEntry) -> Iterator[Diagnostic]:
    assert pool.spec is not None
    known = templates.known_types()
    if pool.spec.type in known:
        return
    hint = did_you_mean(pool.spec.type, known)
    if pool.spec.base_job_template is None:
        extra = "; with no `base_job_template` the pool gets an empty template and its job variables go unchecked"
    else:
        extra = ""
    yield Diagnostic(
        Severity.WARNING,
        "P005",
        f"{pool.label}: unknown work-pool type '{pool.spec.type}' (known: {', '.join(known)})"
        + extra,
        pool.file.span(("type",)),
        path="type",
        resource=pool.resource,
        hint=hint or "a worker of this type must exist for the pool's runs to start",
    )


def _queue_priorities(pool: PoolEntry) -> Iterator[Diagnostic]:
    assert pool.spec is not None
    seen: dict[int, int] = {}
    for index, queue in enumerate(pool.spec.queues):
        if queue.priority is None:
            continue
        first = seen.get(queue.priority)
        if first is None:
            seen[queue.priority] = index
            continue
        other = pool.spec.queues[first].name
        yield Diagnostic(
            Severity.ERROR,
            "P006",
            f"{pool.label}: queues '{other}' and '{queue.name}' both have priority "
            f"{queue.priority}",
            pool.file.span(("queues", index, "priority")),
            path=format_path(("queues", index, "priority")),
            resource=pool.resource,
            hint="priorities order the queues of a pool; give each queue its own",
        )


_CODES = {
    ProblemKind.BROKEN_SCHEMA: ("P001", Severity.ERROR),
    ProblemKind.OFFLINE: ("P007", Severity.INFO),
}


def _template(pool: PoolEntry) -> Iterator[Diagnostic]:
    for problem in check_pool_template(pool.template):
        code, severity = _CODES.get(problem.kind, ("", Severity.ERROR))
        path = problem.path
        if not code:
            if problem.rule == "placeholder":
                code = "P003"
            elif path[:2] == ("variables", "properties") and "default" in path:
                code = "P002"
            else:
                code = "P004"
        where = format_path(path)
        message = problem.message
        if code == "P002":
            name = path[2]
            rest = format_path(path[4:])
            message = (
                f"the default of variable '{name}'{' at ' + rest if rest else ''} is invalid: "
                f"{problem.message} (the server refuses to create the pool)"
            )
        elif code == "P001" and where:
            message = problem.message
        yield Diagnostic(
            severity,
            code,
            f"{pool.label}: {message}",
            pool.template_span(*path, key=code == "P004" and bool(path)),
            path=format_path((*pool.template_path, *path)),
            resource=pool.resource,
        )
