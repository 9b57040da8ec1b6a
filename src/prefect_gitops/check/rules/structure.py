"""Structural rules: unknown, misplaced and Prefect 2-only keys; duplicate and reserved names.

`prefect deploy` 3.9 reads prefect.yaml with `extra="ignore"` models, so a misspelled key
is silently dropped. Here it is a warning with a suggestion; a key we know belongs
somewhere else (`job_variables` beside `work_pool`) is an error, because the setting it
holds is certainly lost. Wrong types were already reported by the loader (S002).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ...repo.diagnostics import Diagnostic, Severity
from ...repo.models import (
    KNOWN_CONCURRENCY_KEYS,
    KNOWN_DEPLOYMENT_KEYS,
    KNOWN_TOP_LEVEL_KEYS,
    KNOWN_WORK_POOL_KEYS,
    banned_name_chars,
)
from ...repo.project import DeploymentEntry, PoolEntry, PrefectFile, Project, SourceFile
from ...repo.source import JsonPath, Span, format_path
from ...repo.suggest import closest, did_you_mean

if TYPE_CHECKING:
    from ..options import ValidateOptions

STEP_SECTIONS = ("build", "push", "pull")

# Keys of a schedule item, as Prefect 3.9's `ScheduleItem` union accepts them. Every
# branch forbids extra keys, so an unknown key makes `prefect deploy` refuse the file.
RAW_SCHEDULE_KEYS = frozenset(
    {
        "cron",
        "interval",
        "rrule",
        "timezone",
        "anchor_date",
        "day_or",
        "active",
        "parameters",
        "slug",
        "replaces",
    }
)
FULL_SCHEDULE_KEYS = frozenset(
    {"schedule", "active", "max_scheduled_runs", "parameters", "slug", "replaces"}
)
INNER_SCHEDULE_KEYS = frozenset({"cron", "interval", "rrule", "timezone", "anchor_date", "day_or"})

# Keys with a definite home elsewhere in Prefect 3: where they belong.
MISPLACED_IN_DEPLOYMENT = {
    "job_variables": "work_pool.job_variables",
    "work_queue_name": "work_pool.work_queue_name",
    "work_pool_name": "work_pool.name",
    "infra_overrides": "work_pool.job_variables",
}

# Prefect 2 deployment keys that Prefect 3 ignores, and what replaced them.
PREFECT2_DEPLOYMENT_KEYS = {
    "is_schedule_active": "`paused: true` on the deployment, or `active: false` on a schedule",
    "infrastructure": "a work pool: set `work_pool.name` and put settings in "
    "`work_pool.job_variables`",
    "storage": "`pull` steps, e.g. `prefect.deployments.steps.git_clone`",
    "path": "a `prefect.deployments.steps.set_working_directory` pull step",
    "manifest_path": "nothing: Prefect 3 has no deployment manifests",
    "parameter_openapi_schema": "nothing: Prefect 3 derives it from the flow's signature",
    "timestamp": "nothing: Prefect 3 does not read it",
    "skip_upload": "nothing: Prefect 3 does not upload code; use `push` steps",
}

# Deployment keys that, at the top of the file, mark Prefect 2's single-deployment layout.
# `version`, `description` and `tags` alone are often project metadata, so they only join
# the layout warning when a stronger key is there too.
TOP_LEVEL_DEPLOYMENT_KEYS = (
    KNOWN_DEPLOYMENT_KEYS | set(MISPLACED_IN_DEPLOYMENT) | set(PREFECT2_DEPLOYMENT_KEYS)
) - KNOWN_TOP_LEVEL_KEYS
WEAK_LAYOUT_KEYS = frozenset({"version", "description", "tags", "version_type"})

# Keys that show a file is meant as Prefect configuration at all.
PREFECT_MARKERS = frozenset(
    {
        "deployments",
        "build",
        "push",
        "pull",
        "prefect-version",
        "definitions",
        "entrypoint",
        "work_pool",
        "flow_name",
        "schedule",
        "schedules",
        "work_pool_name",
        "infrastructure",
    }
)

PREFECT2_STEP_PREFIX = "prefect.projects.steps."
PREFECT2_STEP_RENAMES = {"git_clone_project": "git_clone"}

# Common job variables of the standard worker types; used only to recognise a job
# variable written directly under `work_pool:` when the pool's template is unknown.
COMMON_JOB_VARIABLES = frozenset(
    {
        "image",
        "env",
        "command",
        "labels",
        "stream_output",
        "working_dir",
        "namespace",
        "cpu",
        "memory",
        "image_pull_policy",
        "service_account_name",
        "networks",
        "volumes",
        "cluster",
        "task_role_arn",
        "execution_role_arn",
        "vpc_id",
        "region",
        "auto_remove",
        "mem_limit",
        "privileged",
        "finished_job_ttl",
        "job_watch_timeout_seconds",
    }
)


def check(project: Project, options: ValidateOptions) -> Iterator[Diagnostic]:
    del options  # structure does not depend on options
    for prefect_file in project.prefect_files:
        yield from _prefect_file(prefect_file, project)
    yield from _duplicate_deployments(project)
    yield from _pools(project.pools)


# -- helpers ---------------------------------------------------------------------------------


def _diag(
    severity: Severity,
    code: str,
    message: str,
    source: SourceFile,
    path: JsonPath,
    *,
    resource: str | None = None,
    hint: str | None = None,
    key: bool = True,
) -> Diagnostic:
    return Diagnostic(
        severity,
        code,
        message,
        source.span(path, key=key),
        path=format_path(path),
        resource=resource,
        hint=hint,
    )


def _anchor_sources(source: SourceFile) -> set[Any]:
    """Top-level keys whose values are reused elsewhere through aliases or merge keys."""
    return {target[0] for target in source.smap.redirects.values() if target}


def _names(keys: Iterable[Any]) -> str:
    return ", ".join(f"`{k}`" for k in keys)


# -- one prefect.yaml ------------------------------------------------------------------------


def _prefect_file(pf: PrefectFile, project: Project) -> Iterator[Diagnostic]:
    source = pf.file
    data: dict[Any, Any] = source.data
    keys = [k for k in data if isinstance(k, str)]
    if not any(k in PREFECT_MARKERS or closest(k, PREFECT_MARKERS) for k in keys):
        yield _not_a_prefect_file(source)
        return
    candidates, layout = _unknown_top_level_keys(source)
    yield from _top_level_key_problems(source, candidates, layout)
    for section in STEP_SECTIONS:
        yield from _steps(source, (section,), data.get(section), label=source.rel, resource=None)
    raw_deployments = data.get("deployments")
    if raw_deployments is None or raw_deployments == []:
        # With nothing else to apply, the repository fails as `prefect deploy --all` does.
        alone = not project.deployments and not _declares_more(project)
        if alone or not layout:  # (the Prefect 2 layout has its own warning, S004)
            yield _no_deployments(source, alone)
    for entry in pf.deployments:
        if isinstance(entry.raw, dict):
            yield from _deployment(entry, project)


def _not_a_prefect_file(source: SourceFile) -> Diagnostic:
    data: dict[Any, Any] = source.data
    hint = "a prefect.yaml has a `deployments:` list"
    if "services" in data:
        hint = "this looks like a docker-compose file; " + hint
    first = next(iter(data), None)
    return Diagnostic(
        Severity.ERROR,
        "Y009",
        f"{source.rel} is not a Prefect configuration: it has none of the keys "
        "`deployments`, `build`, `push`, `pull`",
        source.span((first,), key=True) if first is not None else Span(source.rel, 1, 1),
        path="",
        hint=hint,
    )


def _unknown_top_level_keys(source: SourceFile) -> tuple[list[Any], list[Any]]:
    """The top-level keys Prefect ignores, and those of them that are a Prefect 2 layout."""
    anchored = _anchor_sources(source)
    candidates = [k for k in source.data if k not in KNOWN_TOP_LEVEL_KEYS and k not in anchored]
    layout = [k for k in candidates if k in TOP_LEVEL_DEPLOYMENT_KEYS]
    if all(k in WEAK_LAYOUT_KEYS for k in layout):
        layout = []
    return candidates, layout


def _top_level_key_problems(
    source: SourceFile, candidates: list[Any], layout: list[Any]
) -> Iterator[Diagnostic]:
    rel = source.rel
    for key in candidates:
        if key in layout:
            continue
        yield _diag(
            Severity.WARNING,
            "S001",
            f"{rel}: unknown top-level key '{key}' (Prefect ignores it)",
            source,
            (key,),
            hint=did_you_mean(str(key), KNOWN_TOP_LEVEL_KEYS)
            or (
                f"`{key}` is a deployment key: move it into an item of `deployments:`"
                if key in TOP_LEVEL_DEPLOYMENT_KEYS
                else "to keep YAML anchors for reuse, put them under `definitions:`"
            ),
        )
    if layout:
        verb = "belongs" if len(layout) == 1 else "belong"
        yield _diag(
            Severity.WARNING,
            "S004",
            f"{rel}: top-level {_names(layout)} {verb} to a deployment: this is the Prefect 2 "
            "single-deployment layout, which Prefect 3 ignores",
            source,
            (layout[0],),
            hint="move them into an item of the `deployments:` list "
            "(`deployments: [{name: ..., entrypoint: ..., work_pool: ...}]`)",
        )


def _declares_more(project: Project) -> bool:
    """Whether the repository declares what prefect-gitops applies beside deployments."""
    config = project.config
    return bool(project.pools or config.variables or config.concurrency_limits)


def _no_deployments(source: SourceFile, alone: bool) -> Diagnostic:
    """`prefect deploy --all` fails here (nothing to deploy). An error when the repository
    has nothing else to apply either; a warning when it declares work pools, variables or
    limits, which prefect-gitops applies all the same."""
    where: JsonPath = ("deployments",) if "deployments" in source.data else ()
    consequence = (
        ", and the repository declares nothing else to apply"
        if alone
        else "; prefect-gitops applies the rest of the repository"
    )
    return _diag(
        Severity.ERROR if alone else Severity.WARNING,
        "S012",
        f"{source.rel} declares no deployments; `prefect deploy --all` fails in its folder "
        f'("An entrypoint must be provided"){consequence}',
        source,
        where,
        hint="add a `deployments:` list, or drop this file from `prefect_files`",
    )


def _steps(
    source: SourceFile, path: JsonPath, steps: Any, *, label: str, resource: str | None
) -> Iterator[Diagnostic]:
    items: list[tuple[JsonPath, Any]]
    if isinstance(steps, dict):
        items = [(path, steps)] if steps else []
    elif isinstance(steps, list):
        items = [((*path, i), step) for i, step in enumerate(steps)]
    else:
        return
    for step_path, step in items:
        if not isinstance(step, dict) or not step:
            continue
        name, *extra = list(step)
        if isinstance(name, str) and name.startswith(PREFECT2_STEP_PREFIX):
            short = name[len(PREFECT2_STEP_PREFIX) :]
            replacement = f"prefect.deployments.steps.{PREFECT2_STEP_RENAMES.get(short, short)}"
            yield _diag(
                Severity.ERROR,
                "S004",
                f"{label}: step '{name}' is a Prefect 2.10 name that Prefect 3 cannot import: "
                "`prefect deploy` fails on it as a build or push step, every run as a pull step",
                source,
                (*step_path, name),
                resource=resource,
                hint=f"use '{replacement}'",
            )
        if extra:
            yield _diag(
                Severity.ERROR,
                "S003",
                f"{label}: step '{name}' has {_names(extra)} beside it; Prefect refuses a step "
                "with more than one key",
                source,
                (*step_path, extra[0]),
                resource=resource,
                hint=f"indent the step's inputs under '{name}:'",
            )


# -- one deployment --------------------------------------------------------------------------


def _deployment(entry: DeploymentEntry, project: Project) -> Iterator[Diagnostic]:
    raw: dict[Any, Any] = entry.raw
    yield from _name_problems(entry)
    yield from _deployment_key_problems(entry, project)
    work_pool = raw.get("work_pool")
    if isinstance(work_pool, dict):
        yield from _work_pool(entry, work_pool, project)
    yield from _schedules(entry)
    limit = raw.get("concurrency_limit")
    if isinstance(limit, dict):
        yield from _concurrency_limit_keys(entry, limit)
    for section in STEP_SECTIONS:
        yield from _steps(
            entry.file,
            (*entry.path, section),
            raw.get(section),
            label=entry.label,
            resource=entry.resource,
        )


def _name_problems(entry: DeploymentEntry) -> Iterator[Diagnostic]:
    raw: dict[Any, Any] = entry.raw
    base = entry.path
    name = raw.get("name")
    if name is None or (isinstance(name, str) and not name.strip()):
        yield Diagnostic(
            Severity.ERROR,
            "S009",
            f"{entry.label} has no `name`; `prefect deploy` needs one to create it",
            entry.file.span((*base, "name") if "name" in raw else base, key=True),
            path=format_path((*base, "name")),
            resource=entry.resource,
            hint="add `name: <deployment-name>` to this item",
        )
    elif isinstance(name, str):
        bad = banned_name_chars(name)
        if bad:
            yield _diag(
                Severity.ERROR,
                "S013",
                f"{entry.label}: the name contains {' '.join(bad)}, which Prefect rejects",
                entry.file,
                (*base, "name"),
                resource=entry.resource,
                key=False,
            )


def _deployment_key_problems(entry: DeploymentEntry, project: Project) -> Iterator[Diagnostic]:
    raw: dict[Any, Any] = entry.raw
    source, label, resource = entry.file, entry.label, entry.resource
    job_variables: set[str] | None = None
    for key in raw:
        path = (*entry.path, key)
        if key in KNOWN_DEPLOYMENT_KEYS:
            continue
        if key in MISPLACED_IN_DEPLOYMENT:
            target = MISPLACED_IN_DEPLOYMENT[key]
            beside = " beside `work_pool`" if "work_pool" in raw else ""
            yield _diag(
                Severity.WARNING,
                "S003",
                f"{label}: `{key}` is at the deployment level{beside}; Prefect reads it only "
                f"as `{target}`, so `prefect deploy` drops it here and runs do not get it",
                source,
                path,
                resource=resource,
                hint=f"move it to `{target}`",
            )
        elif key in PREFECT2_DEPLOYMENT_KEYS:
            yield _diag(
                Severity.WARNING,
                "S004",
                f"{label}: `{key}` is a Prefect 2 deployment key that Prefect 3 ignores",
                source,
                path,
                resource=resource,
                hint=f"Prefect 3 replacement: {PREFECT2_DEPLOYMENT_KEYS[key]}",
            )
        else:
            suggestion = did_you_mean(str(key), KNOWN_DEPLOYMENT_KEYS)
            if job_variables is None:
                job_variables = _job_variable_names(_pool_name(raw), project)
            if suggestion is None and key in job_variables:
                yield _misplaced_job_variable(entry, key, path, "at the deployment level")
                continue
            yield _diag(
                Severity.WARNING,
                "S001",
                f"{label}: unknown key '{key}' (Prefect ignores it)",
                source,
                path,
                resource=resource,
                hint=suggestion,
            )


def _concurrency_limit_keys(entry: DeploymentEntry, limit: dict[Any, Any]) -> Iterator[Diagnostic]:
    for key in limit:
        if key not in KNOWN_CONCURRENCY_KEYS:
            yield _diag(
                Severity.WARNING,
                "S001",
                f"{entry.label}: unknown key '{key}' in `concurrency_limit` (Prefect ignores it)",
                entry.file,
                (*entry.path, "concurrency_limit", key),
                resource=entry.resource,
                hint=did_you_mean(str(key), KNOWN_CONCURRENCY_KEYS),
            )


def _job_variable_names(pool_name: Any, project: Project) -> set[str]:
    names = set(COMMON_JOB_VARIABLES)
    pool = project.pool(pool_name) if isinstance(pool_name, str) else None
    template = pool.template if pool is not None else None
    if isinstance(template, dict):
        properties = (template.get("variables") or {}).get("properties")
        if isinstance(properties, dict):
            names.update(str(k) for k in properties)
    return names


def _pool_name(raw: Mapping[Any, Any]) -> Any:
    work_pool = raw.get("work_pool")
    return work_pool.get("name") if isinstance(work_pool, dict) else None


def _misplaced_job_variable(
    entry: DeploymentEntry, key: Any, path: JsonPath, where: str
) -> Diagnostic:
    return _diag(
        Severity.WARNING,
        "S003",
        f"{entry.label}: job variable `{key}` is {where}; Prefect reads job variables only "
        "from `work_pool.job_variables`, so `prefect deploy` drops it and runs do not get it",
        entry.file,
        path,
        resource=entry.resource,
        hint="move it under `work_pool:` -> `job_variables:`",
    )


def _work_pool(
    entry: DeploymentEntry, work_pool: Mapping[Any, Any], project: Project
) -> Iterator[Diagnostic]:
    job_variables: set[str] | None = None
    for key in work_pool:
        if key in KNOWN_WORK_POOL_KEYS:
            continue
        path = (*entry.path, "work_pool", key)
        suggestion = did_you_mean(str(key), KNOWN_WORK_POOL_KEYS)
        if job_variables is None:
            job_variables = _job_variable_names(work_pool.get("name"), project)
        if suggestion is None and key in job_variables:
            yield _misplaced_job_variable(entry, key, path, "directly under `work_pool`")
            continue
        yield _diag(
            Severity.WARNING,
            "S001",
            f"{entry.label}: unknown key '{key}' in `work_pool` (Prefect ignores it)",
            entry.file,
            path,
            resource=entry.resource,
            hint=suggestion or "`work_pool` takes `name`, `work_queue_name` and `job_variables`",
        )


def _schedules(entry: DeploymentEntry) -> Iterator[Diagnostic]:
    raw: dict[Any, Any] = entry.raw
    base = entry.path
    single = raw.get("schedule")
    if isinstance(single, dict) and not single:
        yield _diag(
            Severity.WARNING,
            "S004",
            f"{entry.label}: `schedule: {{}}` does nothing in Prefect 3 (the deployment's "
            "existing schedules are left as they are)",
            entry.file,
            (*base, "schedule"),
            resource=entry.resource,
            hint="remove it, or use `schedules:` with a list of schedules",
        )
    elif single and "schedules" in raw:
        yield _diag(
            Severity.ERROR,
            "S014",
            f"{entry.label} has both `schedule` and `schedules`; Prefect refuses the deployment",
            entry.file,
            (*base, "schedule"),
            resource=entry.resource,
            hint="move the single schedule into the `schedules:` list",
        )
    if isinstance(single, dict) and single:
        yield from _schedule_item(entry, single, (*base, "schedule"))
    items = raw.get("schedules")
    if isinstance(items, list):
        for i, item in enumerate(items):
            if isinstance(item, dict):
                yield from _schedule_item(entry, item, (*base, "schedules", i))


def _schedule_item(
    entry: DeploymentEntry, item: Mapping[Any, Any], path: JsonPath
) -> Iterator[Diagnostic]:
    full = "schedule" in item
    allowed = FULL_SCHEDULE_KEYS if full else RAW_SCHEDULE_KEYS
    where = format_path(path)
    for key in item:
        if key in allowed:
            continue
        if key == "is_schedule_active":
            yield _diag(
                Severity.ERROR,
                "S004",
                f"{entry.label}: `is_schedule_active` in `{where}` is a Prefect 2 key; Prefect 3 "
                "refuses the whole file because of it",
                entry.file,
                (*path, key),
                resource=entry.resource,
                hint="use `active: false` on the schedule",
            )
            continue
        yield _diag(
            Severity.ERROR,
            "S001",
            f"{entry.label}: unknown key '{key}' in `{where}`; Prefect refuses the whole file "
            "because of it",
            entry.file,
            (*path, key),
            resource=entry.resource,
            hint=did_you_mean(str(key), allowed) or f"a schedule takes {_names(sorted(allowed))}",
        )
    inner = item.get("schedule") if full else None
    if isinstance(inner, dict):
        for key in inner:
            if key not in INNER_SCHEDULE_KEYS:
                yield _diag(
                    Severity.ERROR,
                    "S001",
                    f"{entry.label}: unknown key '{key}' in `{where}.schedule`; Prefect refuses "
                    "the whole file because of it",
                    entry.file,
                    (*path, "schedule", key),
                    resource=entry.resource,
                    hint=did_you_mean(str(key), INNER_SCHEDULE_KEYS),
                )


# -- names across the project ----------------------------------------------------------------


def _entrypoint_key(entry: DeploymentEntry) -> str | None:
    """The entrypoint with its file part relative to the repository root (no file access)."""
    entrypoint = entry.raw.get("entrypoint")
    if not isinstance(entrypoint, str):
        return None
    entrypoint = entrypoint.strip()
    if ":" not in entrypoint:
        return entrypoint  # a module path: `package.module.flow`
    file_part, _, func = entrypoint.rpartition(":")
    here = posixpath.dirname(entry.file.rel)
    return f"{posixpath.normpath(posixpath.join(here, file_part))}:{func}"


def _duplicate_deployments(project: Project) -> Iterator[Diagnostic]:
    seen: dict[tuple[str, str | None], DeploymentEntry] = {}
    for entry in project.deployments:
        if not isinstance(entry.raw, dict) or not isinstance(entry.name, str):
            continue
        key = (entry.name, _entrypoint_key(entry))
        first = seen.get(key)
        if first is None:
            seen[key] = entry
            continue
        where = first.span("name", key=True)
        yield entry.diagnostic(
            Severity.ERROR,
            "S005",
            f"{entry.label} is defined twice with the same entrypoint (first at "
            f"{where.file}:{where.line}); Prefect would keep only the last one",
            ("name",),
            key=True,
            hint="rename one of them",
        )


def _pools(pools: list[PoolEntry]) -> Iterator[Diagnostic]:
    seen: dict[str, PoolEntry] = {}
    for pool in pools:
        if pool.spec is None:
            continue
        name = pool.spec.name
        name_span = pool.file.span(("name",), key=True)
        first = seen.get(name)
        if first is not None:
            other = first.file.span(("name",), key=True)
            yield Diagnostic(
                Severity.ERROR,
                "S006",
                f"{pool.label} is defined twice: in {first.file.rel}:{other.line} and here",
                name_span,
                path="name",
                resource=pool.resource,
                hint="each work pool needs its own unique name",
            )
        else:
            seen[name] = pool
        if name.lower().startswith("prefect"):
            yield Diagnostic(
                Severity.ERROR,
                "S008",
                f"{pool.label}: names starting with 'prefect' are reserved by the Prefect server",
                pool.file.span(("name",)),
                path="name",
                resource=pool.resource,
                hint="choose a name that does not start with 'prefect'",
            )
        queues: dict[str, int] = {}
        for i, queue in enumerate(pool.spec.queues):
            if queue.name in queues:
                first_line = pool.file.span(("queues", queues[queue.name], "name")).line
                yield Diagnostic(
                    Severity.ERROR,
                    "S007",
                    f"{pool.label}: queue '{queue.name}' is defined twice (first at line "
                    f"{first_line})",
                    pool.file.span(("queues", i, "name")),
                    path=format_path(("queues", i, "name")),
                    resource=pool.resource,
                    hint="queue names must be unique within a pool",
                )
            else:
                queues[queue.name] = i
