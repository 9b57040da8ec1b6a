"""The desired state: a validated project as `prefect deploy` 3.9.1 would write it to the server.

Pure: flow facts come from an injected lookup (`analyze_flows` builds the real one, which reads
the flow files statically and never imports them).

How each deployment is derived (Prefect's `_run_single_deploy`, section 6.3 of the internals):

1. Prefect's defaults are merged in (`tags: []`, `parameters: {}`, `work_pool: {...}`), and the
   deprecated single `schedule` becomes `schedules`.
2. The pull steps are captured *before* any templating (placeholders stay for run time).
3. `{{ prefect.variables.x }}` is resolved from the variables this project declares in its root
   config. **Blocks are never resolved**: `prefect deploy` would write a block's secret into the
   deployment in plain text; we keep the `{{ prefect.blocks.* }}` reference instead, and such
   values (and variables we do not declare) are *opaque*: `plan` never reports a change on them.
4. The environment pass (`{{ $VAR }}`, and standard placeholders named like env variables).
5. The step-output pass: we run no build/push steps, so a deployment with such steps keeps its
   remaining standard placeholders (opaque, "known after apply"); without steps, Prefect drops
   them and so do we. `{{ ctx.* }}` is kept for the worker.
6. Defaults that `prefect deploy` fills in: the flow's name and parameter schema (static
   analysis), `description` from the flow's docstring, `version` as the flow file's md5 (what
   `Flow.__init__` hashes when `@flow(version=...)` is absent; a literal decorator version is
   not seen statically, so set `version:` in the YAML in that case), `enforce_parameter_schema`
   true, `work_queue_name` "default", and the default pull step `set_working_directory` to the
   prefect.yaml's folder (Prefect uses the directory it runs in), or `/opt/prefect[/<dir>]` for
   images, exactly as Prefect chooses.

Schedules: always slugged. A schedule without a slug gets a stable generated one
(`schedule-<n>`, by position); `plan` matches such schedules to the server's unslugged ones by
content so that a repository deployed with `prefect deploy` plans as "No changes". A deployment
that omits `schedules` leaves the server's schedules alone (as `prefect deploy` does); an explicit
`schedules: []` means "no schedules".

Triggers: each item of a deployment's `triggers` becomes its own resource,
`automation.<flow>/<deployment>/<automation name>`, shaped by `automations.py`. The same rule as
schedules: `triggers` omitted leaves the server's automations alone, a list (even `[]`) is the
deployment's whole set.
"""

from __future__ import annotations

import copy
import functools
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from . import schedules as schedule_shapes
from .automations import TriggerError
from .automations import build_automation as automation_spec
from .automations import default_name as default_automation_name
from .errors import ReconcilerError
from .loader import DeploymentEntry, PoolEntry, Project
from .state import Address, Resource, State, join_path
from .templating import (
    NotSet,
    Placeholder,
    PlaceholderKind,
    apply_values,
    find_placeholders,
    resolve_env,
    resolve_variables,
)

DEFAULT_QUEUE = "default"
SET_WORKING_DIRECTORY = "prefect.deployments.steps.set_working_directory"
BUILD_DOCKER_IMAGE = "prefect_docker.deployments.steps.build_docker_image"
_JSON = TypeAdapter(Any)


@dataclass(frozen=True)
class FlowFacts:
    """What `prefect deploy` learns by loading a flow."""

    name: str
    parameter_schema: dict[str, Any] | None  # None: not statically readable (opaque)
    description: str | None
    version: str | None  # None: unknown (opaque)


FlowLookup = Callable[[str, Path], "FlowFacts | str"]
"""(entrypoint, prefect.yaml folder) -> facts, or a one-line problem."""


def analyze_flows(project: Project) -> FlowLookup:
    """The real lookup: static analysis of the entrypoint plus the md5 of its file (cached)."""
    from .flows import EntrypointProblem, analyze_entrypoint

    cache: dict[tuple[str, Path], FlowFacts | str] = {}

    def lookup(entrypoint: str, base_dir: Path) -> FlowFacts | str:
        key = (entrypoint, base_dir)
        if key not in cache:
            info = analyze_entrypoint(entrypoint, base_dir, project.root)
            if isinstance(info, EntrypointProblem):
                cache[key] = info.message
            elif info.name is None:
                cache[key] = f"{entrypoint}: the flow's `name=` is not a literal string"
            else:
                version = None
                path = project.root / info.file
                try:
                    version = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
                except OSError:
                    version = None
                cache[key] = FlowFacts(
                    name=info.name,
                    parameter_schema=info.parameter_schema,
                    description=info.description,
                    version=version,
                )
        return cache[key]

    return lookup


def project_name(project: Project) -> str:
    """The name that marks ownership: the root config's `project`, else the first
    prefect.yaml's `name`, else the repository folder's name."""
    if project.config.project:
        return project.config.project
    for pf in project.prefect_files:
        if pf.top is not None and pf.top.name:
            return pf.top.name
    return project.root.name


def build_desired(
    project: Project, *, environ: Mapping[str, str], flow_lookup: FlowLookup
) -> State:
    """Every resource the project declares, normalized. Raises `ReconcilerError` listing the
    deployments whose flow cannot be read (validation reports them with locations)."""
    resources: list[Resource] = []
    for pool in project.pools:
        resources.extend(_pool_resources(pool))
    variables = {v.name: v.value for v in project.config.variables}
    for var in project.config.variables:
        resources.append(
            Resource(
                Address.variable(var.name),
                {"name": var.name, "value": _json(var.value), "tags": sorted(set(var.tags))},
            )
        )
    for limit in project.config.concurrency_limits:
        resources.append(
            Resource(
                Address.limit(limit.name),
                {
                    "name": limit.name,
                    "limit": limit.limit,
                    "active": limit.active,
                    "slot_decay_per_second": float(limit.slot_decay_per_second),
                },
            )
        )
    problems: list[str] = []
    flows: set[str] = set()
    for entry in project.deployments:
        result = _deployment(entry, project, variables, environ, flow_lookup)
        if isinstance(result, str):
            problems.append(f"{entry.file.rel}: {entry.label}: {result}")
            continue
        flows.add(str(result[0].spec["flow_name"]))
        resources.extend(result)
    if problems:
        raise ReconcilerError(
            "cannot compute the desired state: " + "; ".join(problems),
            hint="run `prefect-gitops validate` for details",
        )
    resources.extend(Resource(Address.flow(name), {"name": name}) for name in sorted(flows))
    seen: dict[Address, Resource] = {}
    for res in resources:
        if res.address in seen:
            raise ReconcilerError(f"{res.address} is declared twice")
        seen[res.address] = res
    return State(seen)


# -- pools and queues ------------------------------------------------------------------------


def _pool_resources(entry: PoolEntry) -> list[Resource]:
    spec = entry.spec
    if spec is None:
        return []
    template = copy.deepcopy(entry.template) if entry.template is not None else {}
    out = [
        Resource(
            Address.pool(spec.name),
            {
                "name": spec.name,
                "type": spec.type,
                "description": spec.description,
                "base_job_template": _json(template),
                "is_paused": spec.paused,
                "concurrency_limit": spec.concurrency_limit,
            },
        )
    ]
    for queue in spec.queues:
        unmanaged = [f for f in ("description", "priority") if getattr(queue, f) is None]
        out.append(
            Resource(
                Address.queue(spec.name, queue.name),
                {
                    "pool": spec.name,
                    "name": queue.name,
                    "description": queue.description,
                    "is_paused": queue.paused,
                    "concurrency_limit": queue.concurrency_limit,
                    "priority": queue.priority,
                },
                {"unmanaged": unmanaged},
            )
        )
    return out


# -- deployments -----------------------------------------------------------------------------


_DEFAULTS: dict[str, Any] = {
    "name": None,
    "version": None,
    "tags": [],
    "concurrency_limit": None,
    "description": None,
    "flow_name": None,
    "entrypoint": None,
    "parameters": {},
    "work_pool": {"name": None, "work_queue_name": None, "job_variables": {}},
}


def _steps(value: Any) -> Any:
    """A single non-empty step mapping counts as a one-step list (Prefect's model does this)."""
    if isinstance(value, dict) and value:
        return [value]
    return value


def _deployment(
    entry: DeploymentEntry,
    project: Project,
    variables: Mapping[str, Any],
    environ: Mapping[str, str],
    flow_lookup: FlowLookup,
) -> list[Resource] | str:
    """The deployment, then the automations of its `triggers`."""
    if not isinstance(entry.raw, dict):
        return "not a mapping"
    top = next((pf.top for pf in project.prefect_files if pf.file is entry.file), None)
    top_build = _steps(top.build) if top is not None else None
    top_push = _steps(top.push) if top is not None else None
    top_pull = _steps(top.pull) if top is not None else None

    cfg: dict[str, Any] = _json(entry.raw)
    for key in ("build", "push", "pull"):
        if key in cfg:
            cfg[key] = _steps(cfg[key])
    for key, value in _DEFAULTS.items():
        if key not in cfg:
            cfg[key] = copy.deepcopy(value)
        if isinstance(value, dict):
            if not isinstance(cfg[key], dict):
                cfg[key] = {}
            for sub, sub_default in value.items():
                cfg[key].setdefault(sub, copy.deepcopy(sub_default))
    if cfg.get("schedule") and isinstance(cfg["schedule"], dict) and "schedules" not in cfg:
        cfg["schedules"] = [cfg["schedule"]]
    if cfg.get("work_pool", {}).get("job_variables") is None:
        cfg["work_pool"]["job_variables"] = {}

    build_steps = cfg.get("build", top_build) or []
    push_steps = cfg.get("push", top_push) or []
    effective_pull = cfg.get("pull", top_pull)
    explicit_no_pull = effective_pull == []
    pull_steps = copy.deepcopy(effective_pull) or []

    # 3. variables from the root config; anything else stays as written (opaque).
    cfg = resolve_variables(cfg, variables, on_missing=lambda p: p.full_match)
    # 4. the environment pass
    cfg = resolve_env(cfg, environ)

    entrypoint = cfg.get("entrypoint")
    if not isinstance(entrypoint, str) or not entrypoint:
        return "no entrypoint"
    name = cfg.get("name")
    if not isinstance(name, str) or not name:
        return "no name"
    facts = flow_lookup(entrypoint, entry.base_dir)
    if isinstance(facts, str):
        return facts
    work_pool = cfg.get("work_pool") or {}
    pool_name = work_pool.get("name")
    if not isinstance(pool_name, str) or not pool_name:
        return "no work pool (prefect deploy needs `work_pool.name`)"

    has_steps = bool(build_steps) or bool(push_steps)
    if not cfg.get("description"):
        cfg["description"] = facts.description

    schedules_given = "schedules" in cfg and cfg["schedules"] is not None
    raw_schedules = cfg.pop("schedules", None)
    cfg.pop("schedule", None)
    # Set aside before the step-output pass, like Prefect (templated on their own below).
    raw_triggers = cfg.pop("triggers", None)
    # 5. the step-output pass: no outputs here; without steps Prefect drops what is left.
    cfg = apply_values(
        cfg, {}, remove_notset=not has_steps, skip_prefixes=["ctx."], environ=environ
    )
    if schedules_given and isinstance(raw_schedules, list):
        raw_schedules = apply_values(
            raw_schedules, {}, remove_notset=not has_steps, environ=environ
        )

    concurrency_limit = cfg.get("concurrency_limit")
    concurrency_options: dict[str, Any] | None = None
    if isinstance(concurrency_limit, dict):
        # The server stores (and returns) both keys; `grace_period_seconds` null means the
        # server-wide default.
        concurrency_options = {
            "collision_strategy": concurrency_limit.get("collision_strategy"),
            "grace_period_seconds": concurrency_limit.get("grace_period_seconds"),
        }
        concurrency_limit = concurrency_limit.get("limit")

    job_variables = (cfg.get("work_pool") or {}).get("job_variables") or {}
    if explicit_no_pull:
        pull: list[Any] = []
    elif pull_steps:
        pull = apply_values(pull_steps, {}, remove_notset=False, environ=environ)
    else:
        pull = _default_pull(build_steps, job_variables, entrypoint, entry.base_dir)

    version = cfg.get("version") or facts.version
    description = cfg.get("description")
    tags = cfg.get("tags") or []
    if isinstance(tags, str):
        tags = [tags]
    enforce = cfg.get("enforce_parameter_schema")
    queue = (cfg.get("work_pool") or {}).get("work_queue_name") or DEFAULT_QUEUE
    try:
        schedules = _schedules(raw_schedules) if schedules_given else []
    except schedule_shapes.ScheduleError as exc:
        return f"schedules: {exc}"
    spec: dict[str, Any] = {
        "name": name,
        "flow_name": facts.name,
        "entrypoint": entrypoint,
        "path": None,
        "description": None if description is None else str(description),
        "version": None if version is None else str(version),
        "tags": sorted({str(t) for t in tags}),
        "labels": {},
        "parameters": cfg.get("parameters") or {},
        "parameter_openapi_schema": facts.parameter_schema,
        "enforce_parameter_schema": True if enforce is None else bool(enforce),
        "job_variables": job_variables,
        "work_pool_name": pool_name,
        "work_queue_name": queue,
        "paused": bool(cfg.get("paused") or False),
        "concurrency_limit": concurrency_limit,
        "concurrency_options": concurrency_options,
        "pull_steps": pull,
        "schedules": schedules,
    }
    unmanaged: list[str] = []
    if not schedules_given:
        unmanaged.append("schedules")
    if facts.parameter_schema is None:
        unmanaged.append("parameter_openapi_schema")
    if spec["version"] is None:
        unmanaged.append("version")
    opaque = _opaque_paths(spec, has_steps)
    source = f"{entry.file.rel}:{entry.span().line}"
    meta = {
        "unmanaged": unmanaged,
        "opaque": opaque,
        "generated_slugs": [s["slug"] for s in spec["schedules"] if s.pop("_generated", False)],
        "source": source,
        "manages_triggers": isinstance(raw_triggers, list),
    }
    address = Address.deployment(facts.name, name)
    automations = _automations(raw_triggers, address, name, has_steps, environ, source)
    if isinstance(automations, str):
        return automations
    return [Resource(address, _json(spec), meta), *automations]


def _automations(
    raw: Any,
    deployment: Address,
    deployment_name: str,
    has_steps: bool,
    environ: Mapping[str, str],
    source: str,
) -> list[Resource] | str:
    """`triggers:` -> the deployment's automations (`automations.py`). Omitted or null: none
    managed (the server's are left alone); a list, even empty, is the whole set.

    Prefect templates each trigger with the step outputs except its `parameters`, which keep
    event templates such as `{{ event.name }}` for run time."""
    if not isinstance(raw, list):
        return []
    out: list[Resource] = []
    for index, item in enumerate(raw, start=1):
        if isinstance(item, dict):
            item = dict(item)
            parameters = item.pop("parameters", None)
            item = apply_values(item, {}, remove_notset=not has_steps, environ=environ)
            if parameters is not None:
                item["parameters"] = parameters
        try:
            spec = automation_spec(
                item,
                deployment=deployment.name,
                default=default_automation_name(deployment_name, index),
            )
        except TriggerError as exc:
            return f"triggers[{index - 1}]: {exc}"
        action = spec["actions"][0]
        opaque = _opaque_paths({k: v for k, v in spec.items() if k != "actions"}, has_steps)
        run_time = {k: v for k, v in action.items() if k != "parameters"}
        opaque += [f"actions[0].{p}" for p in _opaque_paths(run_time, has_steps)]
        params = {"parameters": action["parameters"]}
        opaque += [f"actions[0].{p}" for p in _opaque_paths(params, False)]
        out.append(
            Resource(
                Address.automation(deployment, str(spec["name"])),
                spec,
                {"opaque": opaque, "source": source, "index": index},
            )
        )
    return out


def _default_pull(
    build_steps: list[Any], job_variables: Mapping[str, Any], entrypoint: str, base_dir: Path
) -> list[dict[str, Any]]:
    """`_generate_default_pull_action` in non-interactive mode, with the prefect.yaml's folder
    standing in for the directory `prefect deploy` runs in."""
    docker = next(
        (
            s[BUILD_DOCKER_IMAGE]
            for s in build_steps
            if isinstance(s, dict) and s.get(BUILD_DOCKER_IMAGE)
        ),
        None,
    )
    if (isinstance(docker, dict) and docker.get("dockerfile") == "auto") or docker is not None:
        directory = f"/opt/prefect/{_resolved(base_dir).name}"
    elif job_variables.get("image"):
        directory = "/opt/prefect"
    else:
        directory = str(_resolved(base_dir))
    return [{SET_WORKING_DIRECTORY: {"directory": directory}}]


@functools.lru_cache(maxsize=64)
def _resolved(path: Path) -> Path:
    return path.absolute().resolve()


def _schedules(raw: Any) -> list[dict[str, Any]]:
    """YAML schedules -> `{slug, schedule, active, parameters, max_scheduled_runs}`, slugged."""
    if not isinstance(raw, list):
        return []
    out: list[dict[str, Any]] = []
    used = {item.get("slug") for item in raw if isinstance(item, dict) and item.get("slug")}
    for index, item in enumerate(raw, start=1):
        if not isinstance(item, dict) or not item:
            continue
        normalized = normalize_schedule_item(schedule_shapes.to_server_schedule(item))
        if not normalized.get("slug"):
            slug = f"schedule-{index}"
            while slug in used:
                slug += "-"
            used.add(slug)
            normalized["slug"] = slug
            normalized["_generated"] = True
        out.append(normalized)
    return out


def normalize_schedule_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """One deployment schedule (create body or API object) in the compared shape:
    `{slug, schedule, active, parameters, max_scheduled_runs}`."""
    out = schedule_shapes.normalize_server_schedule(item)
    out["parameters"] = _json(out.get("parameters") or {})
    return out


def _opaque_paths(spec: Mapping[str, Any], has_steps: bool) -> list[str]:
    """Paths whose desired value holds a placeholder `prefect deploy` would have resolved:
    a block, a variable we do not declare, or (with build/push steps) a step output."""

    def deploy_time(p: Placeholder) -> bool:
        if p.kind in (PlaceholderKind.BLOCK, PlaceholderKind.VARIABLE):
            return True
        return has_steps and p.kind is PlaceholderKind.STANDARD and not p.name.startswith("ctx.")

    found: list[str] = []

    def walk(value: Any, parts: tuple[str | int, ...]) -> None:
        if isinstance(value, str):
            if any(deploy_time(p) for p in find_placeholders(value)):
                found.append(join_path(parts))
        elif isinstance(value, dict):
            for key, sub in value.items():
                walk(sub, (*parts, str(key)))
        elif isinstance(value, list):
            for index, sub in enumerate(value):
                walk(sub, (*parts, index))

    for field in spec:
        if field in ("pull_steps", "parameter_openapi_schema", "schedules"):
            continue  # pull steps keep their placeholders on the server too
        walk(spec[field], (field,))
    for sched in spec.get("schedules") or []:
        if find_placeholders(_json({k: v for k, v in sched.items() if k != "_generated"})):
            found.append(join_path(("schedules", f"[{sched.get('slug')}]")))
    return found


def _json(value: Any) -> Any:
    """JSON-able data as pydantic's `mode="json"` dump makes it (dates -> ISO strings)."""
    if value is NotSet:
        return None
    return _JSON.dump_python(value, mode="json")
