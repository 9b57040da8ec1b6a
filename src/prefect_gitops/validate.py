"""All offline checks on a loaded project. Pure: files were read by the loader."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from .diagnostics import Diagnostic, Diagnostics
from .loader import Project
from .rules import deployments, entrypoints, job_variables, pools, references, schedules, structure


@dataclass(frozen=True)
class ValidateOptions:
    strict: bool = False
    pool_types: Mapping[str, str] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=dict)


Rule = Callable[[Project, ValidateOptions], Iterable[Diagnostic]]


def rules() -> list[Rule]:
    """The rules, in the order they run. Each is independent and only adds diagnostics."""
    return [
        structure.check,
        deployments.check,
        entrypoints.check,
        schedules.check,
        references.check,
        pools.check,
        job_variables.check,
    ]


def validate_project(project: Project, options: ValidateOptions) -> Diagnostics:
    diags = Diagnostics()
    for rule in rules():
        diags.extend(rule(project, options))
    return diags
