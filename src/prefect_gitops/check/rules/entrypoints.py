"""Entrypoint and parameter rules, from a static reading of the flow code (never imported).

`prefect deploy` 3.9.1 sends `enforce_parameter_schema: true` unless the deployment says
otherwise, so by default the server checks parameters on redeploy (409) and on every run:
missing required parameters and type mismatches are errors then, warnings otherwise.
Unknown parameters fail every run (the flow is called with an unexpected keyword) unless
the flow takes `**kwargs`.
"""

from __future__ import annotations

import string
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from ...prefect.templating import find_placeholders
from ...repo.diagnostics import Diagnostic, Severity
from ...repo.models import banned_name_chars
from ...repo.project import DeploymentEntry, Project
from ...repo.suggest import did_you_mean
from ..flows.analysis import analyze_entrypoint
from ..flows.facts import (
    PLANNED_DESPITE,
    EntrypointProblem,
    FlowInfo,
    default_flow_name,
    fallback_flow_name,
)
from ..flows.pysource import FileMemo
from ..quickvalid import surely_valid

if TYPE_CHECKING:
    from ..options import ValidateOptions

_PROBLEM = {
    "format": ("E001", Severity.ERROR),
    "missing_file": ("E002", Severity.ERROR),
    "outside_repo": ("E003", Severity.ERROR),
    "module_not_found": ("E004", Severity.WARNING),
    "unreadable_file": ("E005", Severity.ERROR),
    "syntax_error": ("E005", Severity.ERROR),
    "too_complex": ("E005", Severity.ERROR),
    "no_function": ("E006", Severity.ERROR),
    "not_a_flow": ("E007", Severity.ERROR),
    "not_analysable": ("E008", Severity.INFO),
    # environment-dependent: the CI that runs `prefect deploy` may have what is missing here
    "import_fails": ("E004", Severity.WARNING),
    # pydantic refused it on the Python validate runs on: `prefect deploy` fails the same way
    # on that Python (typing.TypedDict is refused before 3.12 only)
    "schema_fails": ("E005", Severity.ERROR),
}


def check(project: Project, options: ValidateOptions) -> Iterator[Diagnostic]:
    del options
    memo = FileMemo()
    for entry in project.deployments:
        if not isinstance(entry.raw, dict):
            continue
        entrypoint = entry.raw.get("entrypoint")
        if not isinstance(entrypoint, str) or not entrypoint.strip():
            continue  # a missing or mistyped entrypoint is the structure rules'
        if find_placeholders(entrypoint):
            yield entry.diagnostic(
                Severity.INFO,
                "E008",
                f"{entry.label}: the entrypoint '{entrypoint}' is templated; its flow is "
                "checked only once `prefect deploy` resolves it",
                ("entrypoint",),
            )
            continue
        result = analyze_entrypoint(entrypoint, entry.base_dir, project.root, memo=memo)
        if isinstance(result, EntrypointProblem):
            code, severity = _PROBLEM[result.kind]
            planned = (
                f"; plan treats it as flow '{fallback_flow_name(entrypoint)}' (Prefect's "
                "fallback name) and leaves its parameter schema, description and version as "
                "they are on the server"
                if result.kind in PLANNED_DESPITE
                else ""
            )
            yield entry.diagnostic(
                severity, code, f"{entry.label}: {result.message}{planned}", ("entrypoint",)
            )
            continue
        yield from _flow(entry, result)


def _enforced(entry: DeploymentEntry) -> bool:
    value = entry.raw.get("enforce_parameter_schema")
    return value is not False  # prefect deploy's default is true


def _flow(entry: DeploymentEntry, info: FlowInfo) -> Iterator[Diagnostic]:
    where = f"{info.file}:{info.line}"
    if info.name is not None and (bad := banned_name_chars(info.name)):
        yield entry.diagnostic(
            Severity.ERROR,
            "E009",
            f"{entry.label}: flow name '{info.name}' ({where}) contains {' '.join(bad)}, "
            "which Prefect rejects",
            ("entrypoint",),
        )
    if info.load_problem is not None:
        code, severity = _PROBLEM[info.load_problem.kind]
        yield entry.diagnostic(
            severity, code, f"{entry.label}: {info.load_problem.message}", ("entrypoint",)
        )
    if info.unread_name is not None:
        fallback = default_flow_name(info.function)
        yield entry.diagnostic(
            Severity.WARNING,
            "E015",
            f"{entry.label}: the flow name `{info.unread_name}` ({where}) cannot be read "
            f"without running the flow's module; planned as flow '{fallback}', Prefect's "
            "fallback when it cannot evaluate it. Where `prefect deploy` can import the "
            "flow it uses the evaluated name, and plan then shows another deployment",
            ("entrypoint",),
        )
    if info.unreadable:
        yield entry.diagnostic(
            Severity.INFO,
            "E014",
            f"{entry.label}: parts of flow '{info.function}' ({where}) cannot be read "
            f"without importing it, so the checks that need them are skipped: "
            f"{'; '.join(info.unreadable)}",
            ("entrypoint",),
        )
    yield from _flow_run_name(entry, info, where)
    enforced = _enforced(entry)
    parameters = entry.raw.get("parameters")
    if isinstance(parameters, Mapping):
        yield from _parameters(entry, info, parameters, ("parameters",), enforced)
        yield from _required(entry, info, parameters, enforced)
    for sub, item in _schedule_parameters(entry):
        yield from _parameters(entry, info, item, sub, enforced)


def _schedule_parameters(
    entry: DeploymentEntry,
) -> Iterator[tuple[tuple[Any, ...], Mapping[Any, Any]]]:
    schedules = entry.raw.get("schedules")
    if not isinstance(schedules, list):
        return
    for i, item in enumerate(schedules):
        if isinstance(item, dict) and isinstance(item.get("parameters"), Mapping):
            yield ("schedules", i, "parameters"), item["parameters"]


def _parameters(
    entry: DeploymentEntry,
    info: FlowInfo,
    values: Mapping[Any, Any],
    base: tuple[Any, ...],
    enforced: bool,
) -> Iterator[Diagnostic]:
    known = {p.name for p in info.parameters}
    severity = Severity.ERROR if enforced else Severity.WARNING
    for name, value in values.items():
        param = info.parameter(str(name))
        if param is None or param.kind in ("VAR_POSITIONAL", "VAR_KEYWORD"):
            if info.has_var_keyword:
                continue
            yield entry.diagnostic(
                Severity.ERROR,
                "E010",
                f"{entry.label}: flow '{info.function}' has no parameter '{name}'; every "
                "run would fail with an unexpected keyword argument",
                (*base, name),
                hint=did_you_mean(str(name), known),
            )
            continue
        if param.schema is None or _templated(value) or surely_valid(param.schema, value):
            continue
        schema = {**param.schema, "definitions": info.definitions}
        error = best_match(Draft202012Validator(schema).iter_errors(value))
        if error is not None:
            inner = "".join(f"[{p!r}]" for p in error.absolute_path)
            yield entry.diagnostic(
                severity,
                "E012",
                f"{entry.label}: parameter `{name}{inner}`: {error.message} "
                f"(flow '{info.function}' declares {_describe(param.schema)})",
                (*base, name, *error.absolute_path),
                hint=None
                if enforced
                else "enforce_parameter_schema is off, so the server "
                "will not reject it; the flow may still fail",
            )


def _required(
    entry: DeploymentEntry, info: FlowInfo, values: Mapping[Any, Any], enforced: bool
) -> Iterator[Diagnostic]:
    missing = [p.name for p in info.parameters if p.required and p.name not in values]
    if not missing:
        return
    names = ", ".join(f"'{n}'" for n in missing)
    sub = ("parameters",) if "parameters" in entry.raw else ("entrypoint",)
    yield entry.diagnostic(
        Severity.WARNING,
        "E011",
        f"{entry.label}: required parameter{'s' if len(missing) > 1 else ''} {names} of flow "
        f"'{info.function}' {'are' if len(missing) > 1 else 'is'} not set; Prefect deploys it, "
        f"but scheduled runs will fail unless they pass {names}, and so will any other run "
        + ("that does not (the server refuses it)" if enforced else "that does not"),
        sub,
        hint="set it under `parameters:`, or give the flow parameter a default",
    )


def _flow_run_name(entry: DeploymentEntry, info: FlowInfo, where: str) -> Iterator[Diagnostic]:
    if info.flow_run_name is None or info.has_var_keyword:
        return
    known = {p.name for p in info.parameters}
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(info.flow_run_name) if f]
    except ValueError as exc:
        yield entry.diagnostic(
            Severity.ERROR,
            "E013",
            f"{entry.label}: flow_run_name {info.flow_run_name!r} ({where}) is not a valid "
            f"format string: {exc}",
            ("entrypoint",),
        )
        return
    for field_name in fields:
        base = field_name.split(".", 1)[0].split("[", 1)[0]
        if base not in known:
            yield entry.diagnostic(
                Severity.ERROR,
                "E013",
                f"{entry.label}: flow_run_name {info.flow_run_name!r} ({where}) uses "
                f"'{{{field_name}}}', which is not a parameter of the flow; every run "
                "would fail naming itself",
                ("entrypoint",),
                hint=did_you_mean(base, known),
            )


def _templated(value: Any) -> bool:
    try:
        return bool(find_placeholders(value))
    except (TypeError, ValueError):
        return False


def _describe(schema: Mapping[str, Any]) -> str:
    if "type" in schema:
        return f"type {schema['type']}"
    if "enum" in schema:
        return f"one of {schema['enum']}"
    if "anyOf" in schema:
        kinds = [str(s.get("type", s.get("$ref", "?"))) for s in schema["anyOf"]]
        return f"any of {', '.join(kinds)}"
    return "a schema"
