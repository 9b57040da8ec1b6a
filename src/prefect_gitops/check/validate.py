"""All offline checks on a loaded project. Pure: files were read by the loader."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from ..repo.diagnostics import Diagnostic, Diagnostics, Severity
from ..repo.environments import label
from ..repo.loader import load_project
from ..repo.project import Project
from .codes import PROMOTED_BY_STRICT, STRICT_ERROR_CODES
from .options import ValidateOptions
from .rules import (
    deployments,
    entrypoints,
    job_variables,
    pools,
    references,
    schedules,
    steps,
    structure,
)

Rule = Callable[[Project, ValidateOptions], Iterable[Diagnostic]]


def rules() -> list[Rule]:
    """The rules, in the order they run. Each is independent and only adds diagnostics."""
    return [
        structure.check,
        steps.check,
        deployments.check,
        entrypoints.check,
        schedules.check,
        references.check,
        pools.check,
        job_variables.check,
    ]


def validate_project(project: Project, options: ValidateOptions) -> Diagnostics:
    strict = options.strict or project.config.strict
    diags = Diagnostics()
    for rule in rules():
        diags.extend(within_contract(d, strict) for d in rule(project, options))
    return diags


def within_contract(diagnostic: Diagnostic, strict: bool) -> Diagnostic:
    """The severity contract (codes.SEVERITY), whatever the rule that found it judged: what
    `prefect deploy` accepts is at most a warning unless --strict promotes it."""
    severity = diagnostic.severity
    if strict and severity is Severity.WARNING and diagnostic.code in PROMOTED_BY_STRICT:
        return replace(diagnostic, severity=Severity.ERROR)
    if not strict and severity is Severity.ERROR and diagnostic.code in STRICT_ERROR_CODES:
        return replace(diagnostic, severity=Severity.WARNING)
    return diagnostic


def environment_diagnostics(
    path: Path,
    config_path: Path | None,
    environ: Mapping[str, str],
    *,
    strict: bool,
    base: Iterable[Diagnostic],
) -> list[Diagnostic]:
    """Validate the repository as each declared environment sees it: the diagnostics that
    the plain run (`base`) did not already report, each saying its environment."""
    project, _ = load_project(path, config_path=config_path, environ=environ)
    seen = {(d.code, d.span) for d in base}
    out: list[Diagnostic] = []
    for name in sorted(project.config.environments):
        env_project, diags = load_project(
            path, config_path=config_path, environ=environ, environment=name
        )
        options = ValidateOptions(
            strict=strict or env_project.config.strict,
            pool_types=dict(env_project.config.pool_types),
            environ=environ,
        )
        diags.extend(validate_project(env_project, options))
        for diag in label(diags, name):
            if (diag.code, diag.span) not in seen:
                seen.add((diag.code, diag.span))
                out.append(diag)
    return out
