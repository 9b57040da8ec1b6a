"""Load the repository as one environment sees it and run every check on it."""

from __future__ import annotations

from dataclasses import dataclass

from ..check.options import ValidateOptions
from ..check.validate import environment_diagnostics, validate_project
from ..repo.diagnostics import Diagnostics, Summary
from ..repo.loader import load_for_environment
from ..repo.project import Project
from .source import Source


@dataclass(frozen=True)
class Checked:
    """The loaded project and every diagnostic about it (loading and checking)."""

    project: Project
    diagnostics: Diagnostics

    @property
    def ok(self) -> bool:
        return not self.diagnostics.has_errors

    @property
    def summary(self) -> Summary:
        project = self.project
        return Summary.of(
            self.diagnostics,
            files=project.files_read,
            deployments=len(project.deployments),
            work_pools=len(project.pools),
        )


def check(
    source: Source,
    *,
    strict: bool = False,
    runs_steps: bool = True,
    every_environment: bool = False,
) -> Checked:
    """`source` loaded and checked. `runs_steps`: whether the build/push steps will run
    (`prefect deploy` runs them; plan and apply only with --run-steps). With
    `every_environment` and no environment named, each declared environment is checked too."""
    project, load_diags = load_for_environment(
        source.path, source.config_path, source.environ, source.environment
    )
    options = ValidateOptions(
        strict=strict or project.config.strict,
        pool_types=dict(project.config.pool_types),
        environ=source.environ,
        runs_steps=runs_steps,
    )
    diags = Diagnostics(load_diags)
    diags.extend(validate_project(project, options))
    if every_environment and source.environment is None and project.config.environments:
        diags.extend(
            environment_diagnostics(
                source.path, source.config_path, source.environ, strict=options.strict, base=diags
            )
        )
    return Checked(project, diags)
