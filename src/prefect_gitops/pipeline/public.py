"""The Python API: validate, plan and apply a repository from a script, as the commands do.

    import prefect_gitops

    checked = prefect_gitops.validate("infra/")
    planned = prefect_gitops.plan("infra/", api_url="http://127.0.0.1:4200/api")
    if planned.plan.has_changes():
        applied = prefect_gitops.apply("infra/", api_url=..., auto_approve=True)

Nothing is printed: results are returned, and the notes the CLI shows on stderr go to
`notify` (default: dropped). Problems raise `ReconcilerError` (a repository with errors:
`InvalidRepository`, carrying the diagnostics). The API is resolved as the CLI resolves it
(`api_url`/`profile`, the environment's server, Prefect's settings, else the embedded
local server).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..errors import ReconcilerError
from ..prefect.api import ApiClient
from ..prefect.target import Target, settings_for
from ..repo.project import Project
from .applied import Applied, ApplyOptions, Hooks, apply_client, apply_project
from .checked import Checked, check
from .planned import Planned, PlanOptions, plan_with, project_target
from .source import Notify, Source, ignore


class InvalidRepository(ReconcilerError):
    """The repository has errors: nothing was planned or applied. `checked` holds them."""

    def __init__(self, checked: Checked, action: str) -> None:
        count = checked.summary.errors
        super().__init__(f"the repository has {count} error(s); nothing was {action}")
        self.checked = checked


def validate(
    path: str | Path = ".",
    *,
    config_path: str | Path | None = None,
    environment: str | None = None,
    strict: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Checked:
    """Check the repository offline, like `prefect-gitops validate` (every declared
    environment too, unless one is named)."""
    source = _source(path, config_path, environment, environ)
    return check(source, strict=strict, every_environment=True)


def plan(
    path: str | Path = ".",
    *,
    api_url: str | None = None,
    profile: str | None = None,
    config_path: str | Path | None = None,
    environment: str | None = None,
    prune: bool | None = None,
    step_outputs: Mapping[str, Any] | None = None,
    run_steps: bool = False,
    environ: Mapping[str, str] | None = None,
    notify: Notify = ignore,
) -> Planned:
    """What `apply` would change, like `prefect-gitops plan`; reads only."""
    source = _source(path, config_path, environment, environ)
    project = _checked(source, "planned", run_steps)
    options = PlanOptions(prune, step_outputs=dict(step_outputs or {}), run_steps=run_steps)
    target = project_target(project, Target(api_url, profile), source.environ)
    with ApiClient(settings_for(target, source.environ, notify)) as client:
        return plan_with(client, project, source.environ, options, notify)


def apply(
    path: str | Path = ".",
    *,
    api_url: str | None = None,
    profile: str | None = None,
    config_path: str | Path | None = None,
    environment: str | None = None,
    prune: bool | None = None,
    adopt: bool = False,
    auto_approve: bool = False,
    approve: Callable[[Planned], bool] | None = None,
    parallelism: int = 8,
    lock_timeout: float = 60.0,
    environ: Mapping[str, str] | None = None,
    notify: Notify = ignore,
) -> Applied:
    """Make the server match the repository, like `prefect-gitops apply`. Writes only when
    `auto_approve` is set or `approve(planned)` says yes; else `ReconcilerError`."""
    source = _source(path, config_path, environment, environ)
    project = _checked(source, "applied", False)
    options = ApplyOptions(PlanOptions(prune, adopt), auto_approve, parallelism, lock_timeout)
    review = approve or (lambda _planned: auto_approve)
    target = project_target(project, Target(api_url, profile), source.environ)
    with apply_client(settings_for(target, source.environ, notify), parallelism) as client:
        return apply_project(client, project, options, source.environ, Hooks(notify, review))


def _source(
    path: str | Path,
    config_path: str | Path | None,
    environment: str | None,
    environ: Mapping[str, str] | None,
) -> Source:
    config = Path(config_path) if config_path is not None else None
    if environ is None:
        return Source(Path(path), config, environment)
    return Source(Path(path), config, environment, environ)


def _checked(source: Source, action: str, runs_steps: bool) -> Project:
    checked = check(source, runs_steps=runs_steps)
    if not checked.ok:
        raise InvalidRepository(checked, action)
    return checked.project
