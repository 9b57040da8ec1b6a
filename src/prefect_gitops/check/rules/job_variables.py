"""Each deployment's `job_variables` against its work pool, as the Prefect server checks them.

The pool is the one declared in the repository, else the default template of the type
that `pool_types` names; else one warning says only `plan` (against the live server) can
check them. Values are templated first as `prefect deploy` would (see `jobvars`).
Strict mode adds what the server lets through: unknown keys, variables the pool's
job_configuration never uses, required variables nothing sets. `work_queue_name` must
name a queue of the declared pool (the server would silently create a stray one).
"""

from __future__ import annotations

import functools
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...prefect import templates, templating
from ...prefect.steps import own_steps
from ...repo.diagnostics import Diagnostic, Severity
from ...repo.project import DeploymentEntry, PoolEntry, Project
from ...repo.source import format_path
from ...repo.suggest import did_you_mean
from ..jobvars.problems import Problem, ProblemKind
from ..jobvars.verdicts import check_job_variables, strict_problems

if TYPE_CHECKING:
    from ..options import ValidateOptions

DEFAULT_AGENT_POOL = "default-agent-pool"


@dataclass(frozen=True)
class _Target:
    """The template a deployment's job variables are checked against."""

    template: dict[str, Any] | None
    description: str  # "pool 'above-ground', type process"
    pool: PoolEntry | None


def check(project: Project, options: ValidateOptions) -> Iterator[Diagnostic]:
    declared_variables = {v.name: v.value for v in project.config.variables}
    pool_types = {**project.config.pool_types, **options.pool_types}
    strict = options.strict or project.config.strict
    pools: dict[str | None, PoolEntry] = {}
    for pool in project.pools:  # as `project.pool`: the first of a name
        pools.setdefault(pool.name, pool)
    for entry in project.deployments:
        raw = entry.raw
        if not isinstance(raw, dict) or not isinstance(raw.get("work_pool"), dict):
            continue
        work_pool: dict[Any, Any] = raw["work_pool"]
        name = work_pool.get("name")
        if isinstance(name, str) and templating.find_placeholders(name):
            name = templating.resolve_env(name, options.environ)
        if not isinstance(name, str) or not name or templating.find_placeholders(name):
            continue
        if name == DEFAULT_AGENT_POOL:
            continue
        job_variables = work_pool.get("job_variables")
        if job_variables is None:
            job_variables = {}
        if not isinstance(job_variables, dict):
            continue  # the loader reported the wrong type
        target = yield from _target(entry, name, job_variables, pools.get(name), pool_types)
        if target is not None:
            yield from _check(
                entry, job_variables, target, options.environ, declared_variables, strict
            )
        yield from _queue(entry, work_pool, pools.get(name), strict)


def _target(
    entry: DeploymentEntry,
    name: str,
    job_variables: Mapping[str, Any],
    pool: PoolEntry | None,
    pool_types: Mapping[str, str],
) -> Generator[Diagnostic, None, _Target | None]:
    # A generator returning a value: `yield from` gives the target, diagnostics go out.
    if pool is not None and pool.spec is not None:
        return _Target(pool.template, f"pool '{name}', type {pool.spec.type}", pool)
    if pool is not None:
        return None  # a pool file that failed to load: reported there
    pool_type = pool_types.get(name)
    if pool_type is not None:
        template = _default_template(pool_type)
        if template is None:
            hint = did_you_mean(pool_type, templates.known_types())
            yield entry.diagnostic(
                Severity.ERROR,
                "J010",
                f"{entry.label}: `pool_types` gives pool '{name}' the type '{pool_type}', "
                f"which has no known default template (known: {', '.join(templates.known_types())})",
                ("work_pool", "name"),
                hint=hint,
            )
            return None
        return _Target(template, f"pool '{name}', type {pool_type} from pool_types", None)
    if job_variables:
        yield entry.diagnostic(
            Severity.WARNING,
            "J005",
            f"{entry.label}: work pool '{name}' is not declared in this repository, so its "
            "job variables can only be checked against the live server (`plan` does that)",
            ("work_pool", "name"),
            hint=f"declare the pool in work-pools/, or give its type in the config: "
            f"`pool_types: {{{name}: <type>}}`",
        )
    return None


def _check(
    entry: DeploymentEntry,
    job_variables: dict[str, Any],
    target: _Target,
    environ: Mapping[str, str],
    declared_variables: Mapping[str, Any],
    strict: bool,
) -> Iterator[Diagnostic]:
    report = check_job_variables(
        job_variables,
        target.template,
        environ=environ,
        variables=declared_variables,
        has_steps=has_steps(entry),
    )
    broken_reported = False
    for problem in report.problems:
        if problem.kind is ProblemKind.BROKEN_SCHEMA:
            if not broken_reported:
                broken_reported = True
                yield _broken(entry, problem, target)
            continue
        yield _problem(entry, problem, target)
    if isinstance(report.sent, dict) and not broken_reported:
        for problem in strict_problems(job_variables, target.template):
            # A typo'd key silently does nothing, so it is always worth a warning (J006).
            if strict or problem.kind is ProblemKind.UNKNOWN_KEY:
                yield _problem(entry, problem, target, strict=strict)


_SEVERITY = {
    ProblemKind.INVALID: ("J001", Severity.ERROR),
    ProblemKind.OFFLINE: ("J003", Severity.INFO),
    ProblemKind.DROPPED: ("J004", Severity.WARNING),
    ProblemKind.UNKNOWN_KEY: ("J006", Severity.WARNING),  # strict: error
    ProblemKind.UNREFERENCED: ("J007", Severity.ERROR),
    ProblemKind.MISSING_REQUIRED: ("J008", Severity.ERROR),
}


def _problem(
    entry: DeploymentEntry, problem: Problem, target: _Target, *, strict: bool = False
) -> Diagnostic:
    code, severity = _SEVERITY[problem.kind]
    if strict and problem.kind is ProblemKind.UNKNOWN_KEY:
        severity = Severity.ERROR
    where = format_path(("job_variables", *problem.path))
    hint = None
    if problem.kind is ProblemKind.UNKNOWN_KEY and "did you mean" in problem.message:
        message, _, hint = problem.message.partition("; ")
    else:
        message = problem.message
    return entry.diagnostic(
        severity,
        code,
        f"{entry.label}: `{where}`: {message} ({target.description})",
        ("work_pool", "job_variables", *problem.path),
        key=problem.kind is ProblemKind.UNKNOWN_KEY,
        hint=hint,
    )


def _broken(entry: DeploymentEntry, problem: Problem, target: _Target) -> Diagnostic:
    hint = None
    if target.pool is not None:
        span = target.pool.template_span(*problem.path[:1])
        hint = f"the schema is at {span}"
    return entry.diagnostic(
        Severity.ERROR,
        "J002",
        f"{entry.label}: its job variables cannot be checked, the pool's schema is broken "
        f"and the server answers 422: {problem.message} ({target.description})",
        ("work_pool", "name"),
        hint=hint,
    )


def _queue(
    entry: DeploymentEntry, work_pool: Mapping[Any, Any], pool: PoolEntry | None, strict: bool
) -> Iterator[Diagnostic]:
    queue = work_pool.get("work_queue_name")
    if pool is None or pool.spec is None or not isinstance(queue, str) or queue == "default":
        return
    names = [q.name for q in pool.spec.queues]
    if queue in names:
        return
    hint = did_you_mean(queue, [*names, "default"])
    yield entry.diagnostic(
        Severity.ERROR if strict else Severity.WARNING,
        "J009",
        f"{entry.label}: work queue '{queue}' is not declared in {pool.label} "
        f"({pool.file.rel}); the server would silently create a stray queue for it",
        ("work_pool", "work_queue_name"),
        hint=hint
        or f"add it to the pool's `queues`, or use one of: {', '.join([*names, 'default'])}",
    )


@functools.lru_cache(maxsize=32)
def _default_template(pool_type: str) -> dict[str, Any] | None:
    # One shared copy per type, so that the compiled schema is found by identity.
    return templates.default_template(pool_type)


def has_steps(entry: DeploymentEntry) -> bool:
    """Whether `prefect deploy` runs build or push steps (whose outputs fill placeholders)."""
    raw = entry.raw if isinstance(entry.raw, dict) else {}
    top = entry.file.data if isinstance(entry.file.data, dict) else {}
    own = own_steps(raw)
    return any((raw if own[section] else top).get(section) for section in ("build", "push"))
