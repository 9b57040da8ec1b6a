"""All offline checks on a loaded project. Pure: files were read by the loader."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from ..repo.diagnostics import Diagnostic, Diagnostics, Severity
from ..repo.loader import Project
from .codes import PROMOTED_BY_STRICT, STRICT_ERROR_CODES
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


@dataclass(frozen=True)
class ValidateOptions:
    strict: bool = False
    pool_types: Mapping[str, str] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=dict)
    # Whether what follows runs the build/push steps: `prefect deploy` does, plan and apply
    # only with --run-steps (else a step they cannot import does not stop them).
    runs_steps: bool = True


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
