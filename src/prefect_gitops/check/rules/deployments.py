"""What stops `plan` before it reaches the server: a deployment without a work pool, a
templated name or entrypoint that resolves to nothing, a trigger Prefect's models refuse,
two triggers of one deployment with one name.

`prefect deploy --no-prompt` refuses a deployment without `work_pool.name` ("A work pool is
required to deploy this flow"), and `plan` cannot place it either. Triggers are read as
`desired` reads them (templated like `prefect deploy`, then Prefect's trigger models); `plan`
addresses each automation by its name within the deployment, so a name may appear once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ...prefect.automations import TriggerError, build_automation, default_name
from ...prefect.templating import apply_values, find_placeholders, resolve_env, resolve_variables
from ...repo.diagnostics import Diagnostic, Severity
from ...repo.project import DeploymentEntry, Project
from ...repo.source import format_path
from .job_variables import has_steps

if TYPE_CHECKING:
    from ..options import ValidateOptions


def check(project: Project, options: ValidateOptions) -> Iterator[Diagnostic]:
    variables = {v.name: v.value for v in project.config.variables}
    for entry in project.deployments:
        raw = entry.raw
        if not isinstance(raw, dict):
            continue
        for key in ("name", "entrypoint"):
            yield from _templated_empty(entry, raw, key, variables, options.environ)
        yield from _no_entrypoint(entry, raw)
        yield from _work_pool(entry, raw, variables, options.environ)
        triggers = raw.get("triggers")
        if isinstance(triggers, list):
            yield from _triggers(entry, raw, triggers, options.environ)
        if has_steps(entry):
            yield from _step_outputs(entry, raw, options.environ)


_NOT_TEMPLATED = ("build", "push", "pull", "triggers")


def _step_outputs(
    entry: DeploymentEntry, raw: Mapping[Any, Any], environ: Mapping[str, str]
) -> Iterator[Diagnostic]:
    """A step output (`{{ build_image.image }}`) exists only once the steps ran: `apply`
    needs it given (`--step-output`) or the steps run (`--run-steps`), else it refuses."""

    def walk(value: Any, sub: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], list[str]]]:
        if isinstance(value, str):
            names = sorted(
                p.full_match
                for p in find_placeholders(value)
                if p.is_step_output and p.name not in environ  # the environment pass resolves those
            )
            if names:
                yield sub, names
        elif isinstance(value, dict):
            for key, item in value.items():
                yield from walk(item, (*sub, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield from walk(item, (*sub, index))

    for key, value in raw.items():
        if key in _NOT_TEMPLATED:
            continue
        for sub, names in walk(value, (key,)):
            yield entry.diagnostic(
                Severity.WARNING,
                "R006",
                f"{entry.label}: `{format_path(sub)}` uses the step output "
                f"{', '.join(names)}, known only once the build/push steps ran",
                sub,
                hint="plan/apply need it: --step-output STEP_ID.KEY=VALUE, or --run-steps",
            )


def _resolved(value: Any, variables: Mapping[str, Any], environ: Mapping[str, str]) -> Any:
    """`value` as `desired` reads it: root-config variables, then the environment."""
    if not (isinstance(value, str) and find_placeholders(value)):
        return value
    resolved = resolve_variables(value, variables, on_missing=lambda p: p.full_match)
    return resolve_env(resolved, environ)


def _templated_empty(
    entry: DeploymentEntry,
    raw: Mapping[Any, Any],
    key: str,
    variables: Mapping[str, Any],
    environ: Mapping[str, str],
) -> Iterator[Diagnostic]:
    """A templated `name` or `entrypoint` that resolves to nothing (a missing one is the
    structure rules' S009)."""
    value = raw.get(key)
    if not (isinstance(value, str) and find_placeholders(value)):
        return
    resolved = _resolved(value, variables, environ)
    if isinstance(resolved, str) and resolved.strip():
        return
    yield entry.diagnostic(
        Severity.ERROR,
        "S009",
        f"{entry.label}: `{key}` {value!r} resolves to {resolved!r}; `prefect deploy` and "
        "`plan` need a value",
        (key,),
    )


def _no_entrypoint(entry: DeploymentEntry, raw: Mapping[Any, Any]) -> Iterator[Diagnostic]:
    """`prefect --no-prompt deploy` raises "An entrypoint must be provided", and `plan` cannot
    read a flow for it."""
    entrypoint = raw.get("entrypoint")
    if isinstance(entrypoint, str) and entrypoint.strip():
        return
    if entrypoint is not None and not isinstance(entrypoint, str):
        return  # a wrong type: the structure rules report it (S002)
    sub: tuple[Any, ...] = ("entrypoint",) if "entrypoint" in raw else ()
    yield entry.diagnostic(
        Severity.ERROR,
        "S009",
        f"{entry.label} has {'an empty' if sub else 'no'} `entrypoint`: `prefect deploy` "
        'refuses it ("An entrypoint must be provided") and `plan` cannot read its flow',
        sub,
        key=not sub,
        hint="add `entrypoint: path/to/file.py:flow_function` to the deployment",
    )


def _work_pool(
    entry: DeploymentEntry,
    raw: Mapping[Any, Any],
    variables: Mapping[str, Any],
    environ: Mapping[str, str],
) -> Iterator[Diagnostic]:
    work_pool = raw.get("work_pool")
    name = work_pool.get("name") if isinstance(work_pool, dict) else None
    name = _resolved(name, variables, environ)
    if isinstance(name, str) and name.strip():
        return
    if name is not None and not isinstance(name, str):
        return  # a wrong type: the structure rules report it (S002)
    if isinstance(work_pool, dict) and "name" in work_pool:
        sub: tuple[Any, ...] = ("work_pool", "name")
        what = "an empty `work_pool.name`"
    elif isinstance(work_pool, dict):
        sub, what = ("work_pool",), "a `work_pool` without `name`"
    else:
        sub, what = (), "no `work_pool`"
    yield entry.diagnostic(
        Severity.ERROR,
        "S009",
        f'{entry.label} has {what}: `prefect deploy` refuses it ("A work pool is required '
        'to deploy this flow") and `plan` cannot place it',
        sub,
        key=sub != ("work_pool", "name"),
        hint="add `work_pool: {name: <pool>}` to the deployment",
    )


def _triggers(
    entry: DeploymentEntry, raw: Mapping[Any, Any], triggers: list[Any], environ: Mapping[str, str]
) -> Iterator[Diagnostic]:
    name = raw.get("name")
    if not isinstance(name, str):
        return
    steps = has_steps(entry)
    first_of: dict[str, int] = {}
    for index, item in enumerate(triggers):
        try:
            spec = build_automation(
                _templated(item, steps, environ),
                deployment=entry.label,
                default=default_name(name, index + 1),
            )
        except TriggerError as exc:
            sub = ("triggers", index, exc.key) if exc.key else ("triggers", index)
            yield entry.diagnostic(
                Severity.ERROR, "S002", f"{entry.label}: `triggers[{index}]`: {exc}", sub
            )
            continue
        first = first_of.setdefault(str(spec["name"]), index)
        if first != index:
            has_name = isinstance(item, dict) and "name" in item
            yield entry.diagnostic(
                Severity.ERROR,
                "S015",
                f"{entry.label}: triggers[{first}] and triggers[{index}] are both named "
                f"'{spec['name']}'; each trigger of a deployment needs its own name",
                ("triggers", index, "name") if has_name else ("triggers", index),
            )


def _templated(item: Any, steps: bool, environ: Mapping[str, str]) -> Any:
    """As `desired`: templated like `prefect deploy`, except `parameters` (run-time events)."""
    if not isinstance(item, dict):
        return item
    item = dict(item)
    parameters = item.pop("parameters", None)
    item = apply_values(item, {}, remove_notset=not steps, environ=environ)
    if parameters is not None:
        item["parameters"] = parameters
    return item
