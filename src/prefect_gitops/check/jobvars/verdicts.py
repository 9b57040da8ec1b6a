"""The server's verdicts: on a deployment's job variables (`POST /deployments/`: the pool's
valid defaults merged under them with a shallow `dict.update`, then validated) and on a base
job template at pool creation (both keys, every placeholder declared, every default valid);
and what the server lets through, which strict mode reports: unknown keys, variables the job
configuration never uses, required ones without a value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...prefect import templating
from ...prefect.templating import PlaceholderKind
from ...repo.suggest import did_you_mean
from .deploytime import Resolved, resolve_for_deploy
from .problems import Path, Problem, ProblemKind, rejected
from .schema import compile_schema, compiled_for, keyable, schema_key, schema_problems


@dataclass
class JobVariablesReport:
    problems: list[Problem]
    sent: Any  # what prefect deploy would send (unknowns marked), or the input when not resolved
    merged: dict[str, Any] | None  # pool defaults + sent, as validated; None when not validated

    @property
    def rejected(self) -> bool:
        return rejected(self.problems)


def check_job_variables(
    job_variables: Any,
    template: Mapping[str, Any] | None,
    *,
    environ: Mapping[str, str] | None = None,
    variables: Mapping[str, Any] | None = None,
    has_steps: bool = False,
    resolve: bool = True,
) -> JobVariablesReport:
    """The server's verdict on a deployment's job variables (`POST /deployments/`).

    `resolve=False` validates the values literally, as the REST API receives them;
    otherwise they are first templated as `prefect deploy` would (`resolve_for_deploy`).
    """
    shown: Resolved | None = None
    problems: list[Problem] = []
    sent = job_variables
    if resolve:
        shown = resolve_for_deploy(
            job_variables, environ=environ, variables=variables, has_steps=has_steps
        )
        problems.extend(shown.problems)
        sent = shown.value
        if rejected(problems):
            return JobVariablesReport(problems, sent, None)
    # The server skips validation for empty job variables or a template without variables.
    if not sent or not isinstance(sent, dict) or not template:
        return JobVariablesReport(problems, sent, None)
    variables_schema = template.get("variables")
    if not variables_schema:
        return JobVariablesReport(problems, sent, None)
    compiled = compiled_for(variables_schema)
    if compiled is None:
        problems.extend(schema_problems(variables_schema))
        return JobVariablesReport(problems, sent, None)
    merged = {**compiled.defaults, **sent}
    problems.extend(compiled.validate(merged, shown))
    return JobVariablesReport(problems, sent, merged)


def check_pool_template(template: Any) -> list[Problem]:
    """The server's verdict on a base job template at pool creation; paths are in the template.

    `validate_base_job_template` (both keys, every placeholder declared) and then
    `validate_job_variable_defaults_for_work_pool` (schema valid, defaults valid).
    """
    if template is None or template == {}:
        return []
    if not isinstance(template, dict):
        return [Problem(ProblemKind.INVALID, (), "the base job template must be a mapping", "type")]
    problems: list[Problem] = []
    job_config = template.get("job_configuration")
    variables = template.get("variables")
    if not (job_config and variables):
        missing = [k for k in ("job_configuration", "variables") if not template.get(k)]
        problems.append(
            Problem(
                ProblemKind.INVALID,
                (),
                "the base job template must contain both a non-empty `job_configuration` and "
                f"a non-empty `variables` (missing or empty: {', '.join(missing)})",
                "required",
            )
        )
        return problems
    if not isinstance(job_config, dict):
        return [
            Problem(
                ProblemKind.INVALID,
                ("job_configuration",),
                "`job_configuration` must be a mapping",
                "type",
            )
        ]
    if not isinstance(variables, dict):
        return [
            Problem(
                ProblemKind.INVALID,
                ("variables",),
                "`variables` must be a mapping (a JSON Schema)",
                "type",
            )
        ]
    properties = variables.get("properties", {})
    declared = set(properties) if isinstance(properties, dict) else set()
    for name, where in undeclared_placeholders(job_config, declared):
        problems.append(
            Problem(
                ProblemKind.INVALID,
                ("job_configuration", *where),
                f"job_configuration uses {{{{ {name} }}}}, which is not a variable of the "
                "template (the server requires every placeholder to be declared in "
                "`variables.properties`)",
                "placeholder",
            )
        )
    if not keyable(variables):
        return [*problems, *schema_problems(variables)]
    problems.extend(compile_schema(schema_key(variables)).pool_default_problems())
    return problems


def undeclared_placeholders(
    job_config: Mapping[str, Any], declared: set[str]
) -> list[tuple[str, Path]]:
    """Placeholders (all kinds) the server finds in `job_configuration` that are not declared.

    The server searches `json.dumps` of each value (so keys count, and non-ASCII is escaped).
    """
    out: list[tuple[str, Path]] = []
    for key, value in job_config.items():
        try:
            text = json.dumps(value)
        except (TypeError, ValueError):
            continue
        names = {p.name for p in templating.find_placeholders(text)} - declared
        for name in sorted(names):
            out.append((name, (key, *_locate(value, name))))
    return out


def _locate(value: Any, name: str, path: Path = ()) -> Path:
    if isinstance(value, str):
        return path
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and any(
                p.name == name for p in templating.find_placeholders(key)
            ):
                return (*path, key)
            if name in json.dumps(item, default=str):
                return _locate(item, name, (*path, key))
    if isinstance(value, list):
        for index, item in enumerate(value):
            if name in json.dumps(item, default=str):
                return _locate(item, name, (*path, index))
    return path


def referenced_variables(job_config: Any) -> set[str]:
    """Variables the job configuration uses: first segment of each standard placeholder."""
    names: set[str] = set()
    try:
        placeholders = templating.find_placeholders(json.dumps(job_config))
    except (TypeError, ValueError):
        return names
    for p in placeholders:
        if p.kind is PlaceholderKind.STANDARD:
            names.add(p.name.replace("[", ".").split(".", 1)[0])
    if isinstance(job_config, dict) and isinstance(job_config.get("env"), dict):
        names.add("env")  # a literal env in job_configuration is merged with `env` values
    return names


def strict_problems(
    job_variables: Mapping[str, Any], template: Mapping[str, Any] | None
) -> list[Problem]:
    """What the server lets through: unknown keys, unused variables, required ones unset."""
    if not template or not isinstance(template.get("variables"), dict):
        return []
    variables = template["variables"]
    properties = variables.get("properties")
    if not isinstance(properties, dict):
        return []
    job_config = template.get("job_configuration") or {}
    used = referenced_variables(job_config)
    problems: list[Problem] = []
    for key in job_variables:
        base = str(key).split(".", 1)[0]  # "env.FOO" is expanded into env at run time
        if key not in properties and base not in properties:
            hint = did_you_mean(str(key), [str(p) for p in properties])
            problems.append(
                Problem(
                    ProblemKind.UNKNOWN_KEY,
                    (key,),
                    f"'{key}' is not a variable of the pool: the server accepts it and Prefect "
                    "drops it, so it has no effect" + (f"; {hint}" if hint else ""),
                    "additionalProperties",
                )
            )
        elif base not in used:
            problems.append(
                Problem(
                    ProblemKind.UNREFERENCED,
                    (key,),
                    f"'{key}' has no effect: the pool's job_configuration never uses {{{{ {base} }}}}",
                    "job_configuration",
                )
            )
    required = variables.get("required")
    if isinstance(required, list):
        set_keys = {str(k).split(".", 1)[0] for k in job_variables}
        for name in required:
            if not isinstance(name, str):
                continue  # a broken schema, reported as such (J002)
            attrs = properties.get(name)
            has_default = isinstance(attrs, dict) and "default" in attrs
            if name not in set_keys and not has_default:
                problems.append(
                    Problem(
                        ProblemKind.MISSING_REQUIRED,
                        (),
                        f"the pool requires '{name}' and has no default for it: every flow run "
                        "fails to be created unless it sets it",
                        "required",
                    )
                )
    return problems


def variable_names(template: Mapping[str, Any] | None) -> list[str]:
    if not template or not isinstance(template.get("variables"), dict):
        return []
    properties = template["variables"].get("properties")
    return sorted(properties) if isinstance(properties, dict) else []
