"""The desired state: a validated project as `prefect deploy` 3.9.1 would write it to the server.

Pure: flow facts come from an injected lookup (`analyze_flows` builds the real one, which reads
the flow files statically and never imports them).

How each deployment is derived (Prefect's `_run_single_deploy`, section 6.3 of the internals):

1. Prefect's defaults are merged in (`tags: []`, `parameters: {}`, `work_pool: {...}`), and the
   deprecated single `schedule` becomes `schedules`.
2. The pull steps are captured *before* any templating (placeholders stay for run time).
3. `{{ prefect.variables.x }}` is resolved from the variables this project declares in its root
   config, then (online: `DeployInputs.server_variables`) from the server, as Prefect does;
   offline an undeclared one stays opaque. **Blocks are never resolved**: `prefect deploy` would
   write a block's secret into the deployment in plain text; we keep the `{{ prefect.blocks.* }}`
   reference instead, and such values are *opaque*: `plan` never reports a change on them.
4. The environment pass (`{{ $VAR }}`, and standard placeholders named like env variables).
5. The step-output pass, with the outputs given (`--step-output`) or produced by running the
   steps (`--run-steps`). What a deployment with steps still holds is recorded in
   `meta["step_outputs"]` (opaque for `plan`; `apply` refuses to write it); without steps,
   Prefect drops unresolved placeholders and so do we. `{{ ctx.* }}` is kept for the worker.
6. Defaults that `prefect deploy` fills in: the flow's name and parameter schema (static
   analysis), `description` from the flow's docstring, `version` from version control online
   (`DeployInputs.inferred_version`, the commit's), else as `flow_version` computes it (the
   decorator's constant, else the file's md5 or null: see there), `enforce_parameter_schema`
   true, `work_queue_name` "default", and the default pull step `set_working_directory` to the
   prefect.yaml's folder (Prefect uses the directory it runs in), or `/opt/prefect[/<dir>]` for
   images, exactly as Prefect chooses.

Pools declared with a `type` and no template get the server's default for that type when it is
known (`DeployInputs.pool_templates`), else the shipped one.

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

import ast
import copy
import dataclasses
import functools
import hashlib
import importlib.util
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from ..errors import ReconcilerError
from ..prefect import schedules as schedule_shapes
from ..prefect.automations import TriggerError
from ..prefect.automations import build_automation as automation_spec
from ..prefect.automations import default_name as default_automation_name
from ..prefect.steps import StepRunner, own_steps
from ..prefect.templating import (
    VARIABLE_PREFIX,
    NotSet,
    Placeholder,
    PlaceholderKind,
    TemplateTypeError,
    apply_values,
    find_placeholders,
    may_hold_placeholders,
    resolve_env,
    resolve_variables,
)
from ..repo.project import DeploymentEntry, PoolEntry, Project
from .resources import Address, Resource, State, join_path

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
    version: str | None  # what `prefect deploy` writes here when the YAML sets none
    version_alternatives: tuple[str | None, ...] = ()  # what it writes elsewhere (plan: equal)
    # Fields the flow would give but we cannot read (its file is not here): unless the YAML
    # sets them, they stay as they are on the server.
    unknown: tuple[str, ...] = ()
    # why `parameter_schema` is None, one sentence per parameter that cannot be read
    opaque_parameters: tuple[str, ...] = ()


FlowLookup = Callable[[str, Path], "FlowFacts | str"]
"""(entrypoint, prefect.yaml folder) -> facts, or a one-line problem."""


@dataclass(frozen=True)
class DeployInputs:
    """What `prefect deploy` learns beyond the files: from the server and from its steps.

    The defaults are the offline view (validate): undeclared variables and step outputs stay
    unknown, pools without a template get the shipped default of their type."""

    step_outputs: Mapping[str, Any] = field(default_factory=dict)  # nested, `--step-output`
    run_steps: StepRunner | None = None  # `--run-steps`
    server_variables: Mapping[str, Any] | None = None  # None: offline
    pool_templates: Mapping[str, dict[str, Any]] | None = None  # type -> server default
    # (prefect.yaml's folder, version_type) -> the commit's version `prefect deploy` run there
    # infers for a deployment that sets none (prefect/versioning.py), or None; offline: not asked
    inferred_version: Callable[[Path, str | None], str | None] | None = None


OFFLINE = DeployInputs()


def parse_step_outputs(items: Iterable[str]) -> dict[str, Any]:
    """`--step-output build_image.image=registry/app:sha` (repeatable) -> nested outputs
    `{"build_image": {"image": "registry/app:sha"}}`, as Prefect's steps return them."""
    outputs: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise ReconcilerError(
                f"--step-output {item!r}: expected STEP_ID.KEY=VALUE",
                hint="e.g. --step-output build_image.image=registry/app:sha",
            )
        node = outputs
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ReconcilerError(f"--step-output {item!r}: {part!r} is already a value")
            node = child
        node[parts[-1]] = value
    return outputs


def analyze_flows(project: Project) -> FlowLookup:
    """The real lookup: static analysis of the entrypoint plus the version Prefect would give
    the flow (see `flow_version`), cached."""
    from ..check.flows.analysis import analyze_entrypoint
    from ..check.flows.facts import (
        PLANNED_DESPITE,
        EntrypointProblem,
        default_flow_name,
        fallback_flow_name,
    )

    cache: dict[tuple[str, Path], FlowFacts | str] = {}

    def lookup(entrypoint: str, base_dir: Path) -> FlowFacts | str:
        key = (entrypoint, base_dir)
        if key not in cache:
            info = analyze_entrypoint(entrypoint, base_dir, project.root)
            if isinstance(info, EntrypointProblem) and info.kind in PLANNED_DESPITE:
                cache[key] = FlowFacts(
                    name=fallback_flow_name(entrypoint),
                    parameter_schema=None,
                    description=None,
                    version=None,
                    unknown=("description", "version"),
                    opaque_parameters=(info.message,),
                )
            elif isinstance(info, EntrypointProblem):
                cache[key] = info.message
            else:
                version, alternatives = flow_version(
                    project.root / info.file, info.function, (base_dir, project.root)
                )
                cache[key] = FlowFacts(
                    # A name= we cannot read: Prefect's own static fallback (E015 says so).
                    name=info.name if info.name is not None else default_flow_name(info.function),
                    parameter_schema=info.parameter_schema,
                    description=info.description,
                    version=version,
                    version_alternatives=alternatives,
                    opaque_parameters=info.opaque_parameters,
                )
        return cache[key]

    return lookup


def flow_version(
    path: Path, function: str, search: tuple[Path, ...] = ()
) -> tuple[str | None, tuple[str | None, ...]]:
    """The version `prefect deploy` writes for a flow whose YAML sets none, and the values
    that are just as right (what it writes elsewhere).

    - `@flow(version=X)` with a literal or a module-level constant: `str(X)` (both the import
      and Prefect's static fallback evaluate it).
    - Otherwise Prefect hashes the file (md5) when it can import the flow, and writes null
      when it falls back to static loading because an import is missing. We write what it
      would write *here*: the md5 if every module-level import of the file resolves in this
      interpreter (or in the repository), else null; `plan` accepts either, since both are
      what `prefect deploy` writes for this very file depending on where it ran."""
    try:
        source = path.read_bytes()
        tree = ast.parse(source)
    except (OSError, SyntaxError, ValueError):
        return None, ()
    declared = _decorator_version(tree, function)
    if declared is not None:
        return declared, ()
    digest = hashlib.md5(source, usedforsecurity=False).hexdigest()
    if _imports_resolve(tree, (path.parent, *search)):
        return digest, (None,)
    return None, (digest,)


def _decorator_version(tree: ast.Module, function: str) -> str | None:
    constants = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    body: list[ast.stmt] = tree.body
    found: ast.stmt | None = None
    for part in function.split("."):
        found = next(
            (n for n in body if isinstance(n, _DEFS) and n.name == part),
            None,
        )
        if found is None:
            return None
        body = found.body
    if not isinstance(found, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    for decorator in found.decorator_list:
        if not isinstance(decorator, ast.Call):
            continue
        for keyword in decorator.keywords:
            if keyword.arg != "version":
                continue
            value = keyword.value
            if isinstance(value, ast.Constant) and value.value is not None:
                return str(value.value)
            if isinstance(value, ast.Name) and constants.get(value.id) is not None:
                return str(constants[value.id])
    return None


_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _imports_resolve(tree: ast.Module, folders: tuple[Path, ...]) -> bool:
    """Whether every unconditional module-level import can be found (never imported)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return all(_module_found(name, folders) for name in names)


@functools.lru_cache(maxsize=256)
def _module_found(name: str, folders: tuple[Path, ...]) -> bool:
    if any((f / f"{name}.py").is_file() or (f / name).is_dir() for f in folders):
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def used_variables(project: Project) -> set[str]:
    """The names of the `{{ prefect.variables.* }}` the project's deployments use."""
    names: set[str] = set()
    for entry in project.deployments:
        if not may_hold_placeholders(entry.raw):
            continue
        try:
            found = find_placeholders(_json(entry.raw))
        except TemplateTypeError:
            continue
        names.update(
            p.name.removeprefix(VARIABLE_PREFIX)
            for p in found
            if p.kind is PlaceholderKind.VARIABLE
        )
    return names


def declared_deployments(project: Project, flow_lookup: FlowLookup) -> set[Address]:
    """The deployments (and their flows) the project declares, by the names as written:
    known before the desired state is built, what the live reads need (`live.start_reads`).
    A name or entrypoint holding a placeholder is left out (templating may change it)."""
    found: set[Address] = set()
    for entry in project.deployments:
        raw = entry.raw if isinstance(entry.raw, dict) else {}
        name, entrypoint = raw.get("name"), raw.get("entrypoint")
        if not isinstance(name, str) or not isinstance(entrypoint, str):
            continue
        if "{{" in name or "{{" in entrypoint:
            continue
        facts = flow_lookup(entrypoint, entry.base_dir)
        if isinstance(facts, FlowFacts):
            found.update((Address.deployment(facts.name, name), Address.flow(facts.name)))
    return found


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
    project: Project,
    *,
    environ: Mapping[str, str],
    flow_lookup: FlowLookup,
    inputs: DeployInputs = OFFLINE,
) -> State:
    """Every resource the project declares, normalized. Raises `ReconcilerError` listing the
    deployments whose flow cannot be read (validation reports them with locations)."""
    resources: list[Resource] = []
    for pool in project.pools:
        resources.extend(_pool_resources(pool, inputs.pool_templates))
    # Declared variables win; online, the others are read from the server as Prefect does.
    variables = {**(inputs.server_variables or {})}
    variables.update({v.name: v.value for v in project.config.variables})
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
        result = _deployment(entry, project, variables, environ, flow_lookup, inputs)
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


def _pool_resources(
    entry: PoolEntry, server_templates: Mapping[str, dict[str, Any]] | None
) -> list[Resource]:
    spec = entry.spec
    if spec is None:
        return []
    template = copy.deepcopy(entry.template) if entry.template is not None else {}
    if entry.template_is_default and server_templates and spec.type in server_templates:
        # `prefect work-pool create --type X` on that server writes its own default.
        template = copy.deepcopy(server_templates[spec.type])
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


_STEP_KEYS = ("build", "push", "pull")


def _deployment(
    entry: DeploymentEntry,
    project: Project,
    variables: Mapping[str, Any],
    environ: Mapping[str, str],
    flow_lookup: FlowLookup,
    inputs: DeployInputs,
) -> list[Resource] | str:
    """The deployment, then the automations of its `triggers`."""
    if not isinstance(entry.raw, dict):
        return "not a mapping"
    top = next((pf.top for pf in project.prefect_files if pf.file is entry.file), None)
    top_steps = {key: _steps(getattr(top, key)) if top is not None else None for key in _STEP_KEYS}
    cfg = _with_defaults(entry.raw)
    own = own_steps(cfg)
    build_steps = (cfg["build"] if own["build"] else top_steps["build"]) or []
    push_steps = (cfg["push"] if own["push"] else top_steps["push"]) or []
    declared_pull = copy.deepcopy(cfg.get("pull", top_steps["pull"]))

    # 3. variables (declared, or read from the server online); offline, an undeclared one
    # stays as written (opaque); online, a missing one becomes "" as in Prefect.
    online = inputs.server_variables is not None
    if may_hold_placeholders(cfg):  # most deployments hold none: the passes would copy it
        cfg = resolve_variables(
            cfg, variables, on_missing=(lambda p: NotSet) if online else (lambda p: p.full_match)
        )
        # 4. the environment pass
        cfg = resolve_env(cfg, environ)

    identity = _identity(cfg, entry, flow_lookup, inputs)
    if isinstance(identity, str):
        return identity
    entrypoint, name, pool_name, facts = identity

    has_steps = bool(build_steps) or bool(push_steps)
    # Prefect picks the default pull step from the raw `image` (before the step-output pass).
    raw_job_variables = copy.deepcopy(cfg["work_pool"].get("job_variables") or {})
    outputs = _step_outputs(inputs, build_steps, push_steps, entry.base_dir) if has_steps else {}
    if not cfg.get("description"):
        cfg["description"] = facts.description

    cfg, raw_schedules, raw_triggers = _step_output_pass(cfg, outputs, has_steps, environ)
    schedules_given = raw_schedules is not None
    pull = _pull(declared_pull, cfg, top_steps["build"], raw_job_variables, outputs, entry, environ)
    try:
        schedules = _schedules(raw_schedules) if schedules_given else []
    except schedule_shapes.ScheduleError as exc:
        return f"schedules: {exc}"
    spec = _spec(cfg, facts, entrypoint, name, pool_name, pull, schedules)
    source = f"{entry.file.rel}:{entry.span().line}"
    meta = _meta(
        spec, cfg, facts, source,
        schedules_given=schedules_given, has_steps=has_steps,
        manages_triggers=isinstance(raw_triggers, list),
    )  # fmt: skip
    address = Address.deployment(facts.name, name)
    automations = _automations(raw_triggers, address, name, has_steps, outputs, environ, source)
    if isinstance(automations, str):
        return automations
    return [Resource(address, _json(spec), meta), *automations]


def _with_inferred_version(
    cfg: Mapping[str, Any], facts: FlowFacts, folder: Path, inputs: DeployInputs
) -> FlowFacts:
    """Prefect replaces the flow's version with the commit's when the YAML sets none and
    version control tells it (RunnerDeployment._get_deployment_version_info)."""
    if cfg.get("version") or inputs.inferred_version is None:
        return facts
    version_type = cfg.get("version_type")
    version = inputs.inferred_version(folder, str(version_type) if version_type else None)
    return facts if version is None else _versioned(facts, version)


def _versioned(facts: FlowFacts, version: str) -> FlowFacts:
    unknown = tuple(f for f in facts.unknown if f != "version")
    return dataclasses.replace(facts, version=version, version_alternatives=(), unknown=unknown)


def versioned_lookup(
    lookup: FlowLookup, inferred_version: Callable[[Path, str | None], str | None]
) -> FlowLookup:
    """`lookup` whose facts carry the version `prefect deploy` writes for a deployment that
    sets none, version control included: what `export` may leave out of the files."""

    def versioned(entrypoint: str, base_dir: Path) -> FlowFacts | str:
        facts = lookup(entrypoint, base_dir)
        version = None if isinstance(facts, str) else inferred_version(base_dir, None)
        return facts if isinstance(facts, str) or version is None else _versioned(facts, version)

    return versioned


def _step_output_pass(
    cfg: dict[str, Any], outputs: Mapping[str, Any], has_steps: bool, environ: Mapping[str, str]
) -> tuple[dict[str, Any], Any, Any]:
    """5. The step-output pass: no outputs here; without steps Prefect drops what is left.
    Returns the config and, set aside before it like Prefect does, its schedules (None: not
    given; templated on their own) and its triggers (templated with the automations)."""
    raw_schedules = cfg.pop("schedules", None)
    cfg.pop("schedule", None)
    raw_triggers = cfg.pop("triggers", None)
    if may_hold_placeholders(cfg):
        cfg = apply_values(
            cfg, outputs, remove_notset=not has_steps, skip_prefixes=["ctx."], environ=environ
        )
    if isinstance(raw_schedules, list) and may_hold_placeholders(raw_schedules):
        raw_schedules = apply_values(
            raw_schedules, outputs, remove_notset=not has_steps, environ=environ
        )
    return cfg, raw_schedules, raw_triggers


def _pull(
    declared: Any,
    cfg: Mapping[str, Any],
    top_build: Any,
    raw_job_variables: Mapping[str, Any],
    outputs: Mapping[str, Any],
    entry: DeploymentEntry,
    environ: Mapping[str, str],
) -> list[Any]:
    """The pull steps: the declared ones (`[]`: none at all), else Prefect's default."""
    if declared == []:
        return []
    if declared:
        pulled: list[Any] = apply_values(declared, outputs, remove_notset=False, environ=environ)
        return pulled
    docker_source = _steps(cfg.get("build")) or top_build or []
    return _default_pull(docker_source, raw_job_variables, entry.base_dir)


def _with_defaults(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the deployment entry with Prefect's defaults filled in (as `prefect deploy`
    merges its deployment template), step lists normalised."""
    cfg: dict[str, Any] = _json(raw)
    for key in _STEP_KEYS:
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
    return cfg


def _identity(
    cfg: Mapping[str, Any], entry: DeploymentEntry, flow_lookup: FlowLookup, inputs: DeployInputs
) -> tuple[str, str, str, FlowFacts] | str:
    """The entrypoint, deployment name, pool name and flow (its version as `prefect deploy`
    settles it), or why there is none."""
    entrypoint = cfg.get("entrypoint")
    if not isinstance(entrypoint, str) or not entrypoint:
        return "no entrypoint"
    name = cfg.get("name")
    if not isinstance(name, str) or not name:
        return "no name"
    facts = flow_lookup(entrypoint, entry.base_dir)
    if isinstance(facts, str):
        return facts
    pool_name = (cfg.get("work_pool") or {}).get("name")
    if not isinstance(pool_name, str) or not pool_name:
        return "no work pool (prefect deploy needs `work_pool.name`)"
    return entrypoint, name, pool_name, _with_inferred_version(cfg, facts, entry.base_dir, inputs)


def _spec(
    cfg: Mapping[str, Any],
    facts: FlowFacts,
    entrypoint: str,
    name: str,
    pool_name: str,
    pull: list[Any],
    schedules: list[dict[str, Any]],
) -> dict[str, Any]:
    """The deployment's fields as the server stores them."""
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
    work_pool = cfg.get("work_pool") or {}
    version = cfg.get("version") or facts.version
    description = cfg.get("description")
    tags = cfg.get("tags") or []
    if isinstance(tags, str):
        tags = [tags]
    enforce = cfg.get("enforce_parameter_schema")
    return {
        "name": name,
        "flow_name": facts.name,
        "entrypoint": entrypoint,
        "path": None,
        "description": None if description is None else str(description),
        "version": None if version is None else str(version),
        "tags": [str(t) for t in tags],  # as written, duplicates included (like Prefect)
        "labels": {},
        "parameters": cfg.get("parameters") or {},
        "parameter_openapi_schema": facts.parameter_schema,
        "enforce_parameter_schema": True if enforce is None else bool(enforce),
        "job_variables": work_pool.get("job_variables") or {},
        "work_pool_name": pool_name,
        "work_queue_name": work_pool.get("work_queue_name") or DEFAULT_QUEUE,
        "paused": bool(cfg.get("paused") or False),
        "concurrency_limit": concurrency_limit,
        "concurrency_options": concurrency_options,
        "pull_steps": pull,
        "schedules": schedules,
    }


def _meta(
    spec: dict[str, Any],
    cfg: Mapping[str, Any],
    facts: FlowFacts,
    source: str,
    *,
    schedules_given: bool,
    has_steps: bool,
    manages_triggers: bool,
) -> dict[str, Any]:
    """What the diff and apply need to know about `spec` beyond its fields."""
    unmanaged: list[str] = []
    if not schedules_given:
        unmanaged.append("schedules")
    opaque_schema: list[str] = []
    if facts.parameter_schema is None:
        unmanaged.append("parameter_openapi_schema")
        opaque_schema = list(facts.opaque_parameters) or ["the flow's signature cannot be read"]
    unmanaged.extend(f for f in facts.unknown if not cfg.get(f))
    return {
        "unmanaged": unmanaged,
        "opaque_schema": opaque_schema,
        "opaque": _opaque_paths(spec, has_steps),
        "generated_slugs": [s["slug"] for s in spec["schedules"] if s.pop("_generated", False)],
        "source": source,
        "manages_triggers": manages_triggers,
        # Placeholders left for build/push steps we did not run: apply refuses to write them.
        "step_outputs": _step_placeholders(spec) if has_steps else {},
        "version_alternatives": [] if cfg.get("version") else list(facts.version_alternatives),
    }


def _automations(
    raw: Any,
    deployment: Address,
    deployment_name: str,
    has_steps: bool,
    outputs: Mapping[str, Any],
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
            item = apply_values(item, outputs, remove_notset=not has_steps, environ=environ)
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


def _step_outputs(
    inputs: DeployInputs, build_steps: list[Any], push_steps: list[Any], base_dir: Path
) -> dict[str, Any]:
    """The outputs of the build/push steps: run (`--run-steps`), then those given
    (`--step-output`, which win, like Prefect's variable overrides)."""
    outputs: dict[str, Any] = {}
    if inputs.run_steps is not None:
        outputs.update(inputs.run_steps(build_steps, push_steps, base_dir))
    for key, value in inputs.step_outputs.items():
        merged = outputs.get(key)
        if isinstance(merged, dict) and isinstance(value, dict):
            outputs[key] = {**merged, **value}
        else:
            outputs[key] = value
    return outputs


def _step_placeholders(spec: Mapping[str, Any]) -> dict[str, list[str]]:
    """Field path -> the step-output placeholders still in it (what `prefect deploy` would
    have filled in by running the steps). Pull steps keep theirs for run time."""
    found: dict[str, list[str]] = {}

    def walk(value: Any, parts: tuple[str | int, ...]) -> None:
        if isinstance(value, str):
            names = sorted(p.full_match for p in find_placeholders(value) if p.is_step_output)
            if names:
                found[join_path(parts)] = names
        elif isinstance(value, dict):
            for key, sub in value.items():
                walk(sub, (*parts, str(key)))
        elif isinstance(value, list):
            for index, sub in enumerate(value):
                walk(sub, (*parts, index))

    for name, value in spec.items():
        if name not in ("pull_steps", "parameter_openapi_schema"):
            walk(value, (name,))
    return found


def opaque_schema_warnings(desired: State) -> list[str]:
    """One warning per deployment whose parameter schema cannot be derived statically: plan
    cannot compare it, so a "No changes" would otherwise hide it."""
    return [
        f"{res.meta.get('source')}: {res.address}: parameter_openapi_schema is opaque, so "
        "plan shows no change to it and apply leaves the server's as it is (a new deployment "
        f"gets an empty one); it cannot be derived without importing the flow: "
        f"{'; '.join(res.meta['opaque_schema'])}"
        for res in desired.of_type("deployment")
        if res.meta.get("opaque_schema")
    ]


def refuse_unresolved_steps(desired: State, writes: Mapping[str, Collection[str] | None]) -> None:
    """Raise a located `ReconcilerError` when apply is about to write a build/push step output
    unresolved: the server would store the placeholder and every run would use it literally
    (e.g. pull the image `{{ build_image.image }}`).

    `writes`: address -> the top-level fields apply sends, None for the whole resource."""
    by_name = {str(res.address): res for res in desired.of_type("deployment")}
    problems = []
    for address, fields in writes.items():
        res = by_name.get(address)
        if res is None:
            continue
        for path, names in (res.meta.get("step_outputs") or {}).items():
            if fields is not None and re.split(r"[.\[]", path, maxsplit=1)[0] not in fields:
                continue
            problems.append(
                f"{res.meta.get('source')}: {address}: {path} uses the step output "
                f"{', '.join(names)}, which no build/push step has produced"
            )
    if problems:
        raise ReconcilerError(
            "refusing to write unresolved step outputs: " + "; ".join(problems),
            hint="pass each value with --step-output STEP_ID.KEY=VALUE (e.g. from the CI job "
            "that built the image), or run the steps with --run-steps",
        )


def _default_pull(
    build_steps: list[Any], job_variables: Mapping[str, Any], base_dir: Path
) -> list[dict[str, Any]]:
    """`_generate_default_pull_action` in non-interactive mode, with the prefect.yaml's folder
    standing in for the directory `prefect deploy` runs in.

    `job_variables` must be the *raw* value (after the environment pass, before the step-output
    pass): Prefect looks at `image` before dropping an unresolved placeholder, so
    `image: "{{ image }}"` still selects `/opt/prefect`."""
    docker = next(
        (
            s[BUILD_DOCKER_IMAGE]
            for s in build_steps
            if isinstance(s, dict) and s.get(BUILD_DOCKER_IMAGE)
        ),
        None,
    )
    if docker is not None:
        # Non-interactive: only `dockerfile: auto` picks the image folder; any other
        # Dockerfile falls through to the local directory, as in Prefect.
        if isinstance(docker, dict) and docker.get("dockerfile") == "auto":
            return [
                {SET_WORKING_DIRECTORY: {"directory": f"/opt/prefect/{_resolved(base_dir).name}"}}
            ]
    elif job_variables.get("image"):
        return [{SET_WORKING_DIRECTORY: {"directory": "/opt/prefect"}}]
    return [{SET_WORKING_DIRECTORY: {"directory": str(_resolved(base_dir))}}]


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
        return has_steps and p.is_step_output

    found: list[str] = []
    unwalked = ("pull_steps", "parameter_openapi_schema")  # the schema: most of the text
    if not may_hold_placeholders({k: v for k, v in spec.items() if k not in unwalked}):
        return found

    def walk(value: Any, parts: tuple[str | int, ...]) -> None:
        if isinstance(value, str):
            if any(deploy_time(p) for p in find_placeholders(value)):
                found.append(join_path(parts))
        elif isinstance(value, dict):
            for key, sub in value.items():
                walk(sub, (*parts, str(key)))
        elif isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
            # A list of plain values changes as a whole (diff.py): opaque as a whole.
            if any(deploy_time(p) for v in value for p in find_placeholders(v)):
                found.append(join_path(parts))
        elif isinstance(value, list):
            for index, sub in enumerate(value):
                walk(sub, (*parts, index))

    for name in spec:
        if name in (*unwalked, "schedules"):
            continue  # pull steps keep their placeholders on the server too
        walk(spec[name], (name,))
    for sched in spec.get("schedules") or []:
        if find_placeholders(_json({k: v for k, v in sched.items() if k != "_generated"})):
            found.append(join_path(("schedules", f"[{sched.get('slug')}]")))
    return found


def _json(value: Any) -> Any:
    """JSON-able data as pydantic's `mode="json"` dump makes it (dates -> ISO strings)."""
    if value is NotSet:
        return None
    return _JSON.dump_python(value, mode="json")
