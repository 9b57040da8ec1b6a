"""Build and push steps `prefect deploy` cannot import (S016).

`prefect deploy` 3.9.1 runs each deployment's build steps (its own `build:` when it has the
key, else the file's) and push steps (its own `push:` when not empty, else the file's) with
`run_steps`, which imports each step's function; a step without `requires:` whose module is
not installed raises, and the deploy fails. With `requires:` Prefect installs the package
first, which may work where it runs. Pull steps are only stored: they run with each flow run,
on the worker, whose environment is not this one.

Whether the package is there is a fact of the environment validate runs in: an error where
Prefect is installed too (`prefect deploy` would fail here), a warning where it is not (e.g. a
pre-commit hook's environment, which is not where `prefect deploy` runs). The step's module is
only looked up, never imported. `plan` and `apply` import the steps only with --run-steps;
without it the outputs come from --step-output, so the step does not stop them (a warning).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...prefect import steps
from ...prefect.steps import own_steps
from ...repo.diagnostics import Diagnostic, Severity
from ...repo.project import DeploymentEntry, Project
from ...repo.source import JsonPath, format_path

if TYPE_CHECKING:
    from ..options import ValidateOptions


@dataclass(frozen=True)
class _Step:
    section: str  # build or push
    path: JsonPath  # where it is written: the deployment's section or the file's
    name: str
    requires: tuple[str, ...]  # the import names of its `requires:` packages


def check(project: Project, options: ValidateOptions) -> Iterator[Diagnostic]:
    prefect_here: bool | None = None
    for pf in project.prefect_files:
        # `prefect deploy --all` deploys a file's deployments in order, in one process: what
        # a `requires:` installed stays importable for every later step
        installed: set[str] = set()
        found: dict[_Step, tuple[str | steps.NotAnImportPath, list[DeploymentEntry]]] = {}
        for entry in pf.deployments:
            for step in _steps_run(entry):
                problem = _unimportable(step, installed, pf.base_dir)
                if problem is not None:
                    found.setdefault(step, (problem, []))[1].append(entry)
        for step, (problem, entries) in found.items():
            if isinstance(problem, steps.NotAnImportPath):
                diagnostic = _diag(entries, step, Severity.ERROR, f"is not an import path: "
                                   f"{problem}; `prefect deploy` fails on it", None)  # fmt: skip
            else:
                if prefect_here is None:
                    prefect_here = steps.prefect_installed()
                diagnostic = _missing(entries, step, problem, prefect_here)
            yield diagnostic if options.runs_steps else _not_run(diagnostic)


def _not_run(diagnostic: Diagnostic) -> Diagnostic:
    return replace(
        diagnostic,
        severity=Severity.WARNING,
        message=f"{diagnostic.message} (this command does not run the steps: their outputs "
        "come from --step-output)",
    )


def _unimportable(
    step: _Step, installed: set[str], base_dir: Path
) -> str | steps.NotAnImportPath | None:
    """The package of the step's function when it is missing here, or why its name cannot be
    imported at all; what its `requires:` installs joins `installed`."""
    try:
        package = steps.step_package(step.name)
    except steps.NotAnImportPath as exc:
        return exc
    if package is None or package == "prefect":
        return None  # a script's path; Prefect itself is there wherever `prefect deploy` runs
    if step.requires:
        installed.update((*step.requires, package))
        return None
    if package in installed or steps.package_found(package, base_dir):
        return None
    return package


def _steps_run(entry: DeploymentEntry) -> Iterator[_Step]:
    """The build then push steps `prefect deploy` runs for this deployment, where written."""
    raw = entry.raw if isinstance(entry.raw, dict) else {}
    top = entry.file.data if isinstance(entry.file.data, dict) else {}
    own = own_steps(raw)
    for section in ("build", "push"):
        path: JsonPath = (*entry.path, section) if own[section] else (section,)
        value = (raw if own[section] else top).get(section)
        if isinstance(value, dict):  # one step written without its list
            items: list[tuple[JsonPath, Any]] = [(path, value)]
        elif isinstance(value, list):
            items = [((*path, i), step) for i, step in enumerate(value)]
        else:
            continue
        for step_path, step in items:
            # a step of another shape is the structure rules' (S003, S002)
            if isinstance(step, dict) and len(step) == 1:
                name, inputs = next(iter(step.items()))
                if isinstance(name, str):
                    requires = inputs.get("requires") if isinstance(inputs, dict) else None
                    yield _Step(section, (*step_path, name), name, _import_names(requires))


def _import_names(requires: Any) -> tuple[str, ...]:
    """What Prefect imports for each `requires:` package (`_get_function_for_step`): the name
    without its version, dashes as underscores. Empty when it installs nothing."""
    packages = requires if isinstance(requires, list) else [requires] if requires else []
    names = (re.split(r"[<>=!~\[]", str(p))[0].strip().replace("-", "_") for p in packages)
    return tuple(name for name in names if name)


def _missing(
    entries: list[DeploymentEntry], step: _Step, package: str, prefect_here: bool
) -> Diagnostic:
    distribution = package.replace("_", "-")
    found_nowhere = (
        f"its package '{package}' is neither installed here nor in the prefect.yaml's folder"
    )
    if prefect_here:
        return _diag(entries, step, Severity.ERROR,
                     f"cannot be imported: {found_nowhere}, and the step has no `requires:`; "
                     "`prefect deploy` fails on it (StepExecutionError)",
                     f"install it where `prefect deploy` runs (e.g. `pip install {distribution}`)"
                     f", or add `requires: {distribution}` to the step so that Prefect installs "
                     "it first")  # fmt: skip
    return _diag(entries, step, Severity.WARNING,
                 f"cannot be checked: {found_nowhere}, nor is Prefect, so this is not where "
                 "`prefect deploy` runs; it fails there unless the package is installed, as the "
                 "step has no `requires:`",
                 f"install it beside Prefect (e.g. `pip install {distribution}`), or add "
                 f"`requires: {distribution}` to the step")  # fmt: skip


def _diag(
    entries: list[DeploymentEntry], step: _Step, severity: Severity, what: str, hint: str | None
) -> Diagnostic:
    labels = ", ".join(e.label for e in entries)
    return Diagnostic(
        severity,
        "S016",
        f"{labels}: {step.section} step '{step.name}' {what}",
        entries[0].file.span(step.path, key=True),
        path=format_path(step.path),
        resource=entries[0].resource if len(entries) == 1 else None,
        hint=hint,
    )
