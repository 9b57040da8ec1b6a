"""`prefect-gitops apply` and `force-unlock`: converge the live server to the repository.

The sequence (plan, ask, lock, re-plan, record, execute, record) is `pipeline.applied`; this
module parses the options, asks on a terminal, shows progress and renders the report.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Any

import click

from ..errors import ReconcilerError
from ..execution.executor import DEFAULT_PARALLELISM, MAX_PARALLELISM
from ..execution.lock import force_unlock
from ..execution.results import Outcome
from ..pipeline.applied import Applied, ApplyOptions, Hooks, apply_client, apply_project
from ..pipeline.planned import Planned, PlanOptions, owner_of
from ..pipeline.source import Source
from ..plans.build import Plan
from ..render.apply_json import render_apply_json
from ..render.apply_text import progress_bar, progress_line, render_apply_text
from ..render.escaping import visible
from ..repo.environments import api_target
from ..repo.loader import load_project
from ..state.desired import parse_step_outputs
from ..state.ownership import owner_key
from .common import api_options, echo_err, open_client, resolve_settings
from .group import EXIT_OK, EXIT_PROBLEM, cli
from .options import Seconds, batch_gc, config_option, env_option, format_option, use_color
from .plan import render_plan, step_options
from .project import checked_project

DEFAULT_LOCK_TIMEOUT = 60.0


def _stdin_is_tty() -> bool:
    return sys.stdin.isatty()


def _stderr_is_tty() -> bool:
    return sys.stderr.isatty()


def read_saved_plan(path: Path) -> tuple[Plan, dict[str, Any]]:
    """The saved plan and its document (for `savedplan.check_saved`)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Plan.from_dict(data), data
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ReconcilerError(
            f"{path} is not a saved plan: {exc}",
            hint="save one with `prefect-gitops plan --out plan.json`",
        ) from exc


@cli.command("apply")
@click.argument(
    "target",
    required=False,
    default=".",
    type=click.Path(exists=True, file_okay=True, dir_okay=True, path_type=Path),
)
@config_option
@click.option(
    "--repo",
    "repo",
    type=click.Path(exists=True, file_okay=True, dir_okay=True, path_type=Path),
    default=None,
    help="With a saved plan: the repository it was made from (default: the current directory).",
)
@format_option("text", "json")
@click.option("--auto-approve", is_flag=True, help="Apply without asking (needed off a terminal).")
@click.option(
    "--prune/--no-prune",
    default=None,
    help="Delete what this project owns but no longer declares (default: `prune` in the config).",
)
@click.option("--adopt", is_flag=True, help="Take over existing objects the repository declares.")
@click.option(
    "--parallelism",
    type=click.IntRange(1, MAX_PARALLELISM),
    default=DEFAULT_PARALLELISM,
    show_default=True,
    help="Changes sent at once (writes in flight drop when the server pushes back).",
)
@click.option(
    "--lock-timeout",
    type=Seconds(min=0),
    default=DEFAULT_LOCK_TIMEOUT,
    show_default=True,
    help="Seconds to wait for another apply of this project to finish.",
)
@step_options
@env_option
@api_options
@batch_gc
def apply_command(
    target: Path,
    config_path: Path | None,
    repo: Path | None,
    output_format: str,
    auto_approve: bool,
    prune: bool | None,
    adopt: bool,
    parallelism: int,
    lock_timeout: float,
    step_outputs: tuple[str, ...],
    run_steps: bool,
    environment: str | None,
    api_url: str | None,
    profile: str | None,
) -> int:
    """Make the Prefect server match the repository: create, update (only the fields that
    changed) and, with --prune, delete what this project owns and no longer declares.

    TARGET is a repository directory or prefect.yaml (default: the current directory), or a
    plan saved by `plan --out`, applied only if planning again gives that same plan (else it
    is refused as stale).
    Exit status: 0 applied (or nothing to do), 1 error or some changes failed, 130
    interrupted (Ctrl-C or SIGTERM: what was done is reported and recorded).
    """
    saved, saved_doc = _saved_plan(target, repo, auto_approve)
    source = Source(repo or (Path(".") if saved else target), config_path, environment)
    project = checked_project(source, action="applied", output_format=output_format,
                              runs_steps=run_steps)  # fmt: skip
    if project is None:
        return EXIT_PROBLEM
    plan_options = PlanOptions(prune, adopt, parse_step_outputs(step_outputs), run_steps)
    options = ApplyOptions(plan_options, auto_approve, parallelism, lock_timeout, saved, saved_doc)
    settings = resolve_settings(*api_target(project, api_url, profile))
    with apply_client(settings, parallelism) as client:
        applied = apply_project(client, project, options, source.environ,
                                _hooks(output_format, auto_approve))  # fmt: skip
    _finish(applied, output_format)
    return _exit_status(applied)


def _hooks(output_format: str, auto_approve: bool) -> Hooks:
    report_to = sys.stderr if output_format == "json" else sys.stdout

    def review(planned: Planned) -> bool:
        if output_format == "text":
            click.echo(render_plan(planned.masked(), planned.project, planned.desired, "text"))
        return auto_approve or _confirm()

    return Hooks(echo_err, review, lambda hidden: _progress(report_to, hidden))


def _exit_status(applied: Applied) -> int:
    """0 applied or nothing to do; 130 stopped by a signal; 1 some changes failed or were
    not attempted."""
    result = applied.result
    if applied.nothing:
        return EXIT_OK
    if result.interrupted is not None:
        click.echo(f"Stopped early: {result.interrupted}; the changes not attempted are "
                   "listed as skipped, what was done is recorded as owned.", err=True)  # fmt: skip
        return EXIT_INTERRUPTED if applied.signalled else EXIT_PROBLEM
    return EXIT_OK if result.ok else EXIT_PROBLEM


def _saved_plan(
    target: Path, repo: Path | None, auto_approve: bool
) -> tuple[Plan | None, dict[str, Any]]:
    """The saved plan TARGET names and its document (None: TARGET is a repository), after
    checking the options that go with each."""
    saved, saved_doc = (
        read_saved_plan(target) if target.is_file() and target.suffix == ".json" else (None, {})
    )
    if saved is None and repo is not None:
        raise click.UsageError("--repo is only for applying a saved plan")
    if saved is None and not auto_approve and not _stdin_is_tty():
        raise ReconcilerError(
            "refusing to apply without confirmation: stdin is not a terminal",
            hint="review with `prefect-gitops plan`, then run `apply --auto-approve` "
            "(or apply a saved plan: `plan --out plan.json`, `apply plan.json`)",
        )
    return saved, saved_doc


EXIT_INTERRUPTED = 130


def _confirm() -> bool:
    click.echo("Do you want to perform these actions? Only 'yes' will be accepted to approve.")
    answer: str = click.prompt("  Enter a value", default="", show_default=False)
    return answer.strip() == "yes"


def _progress(stream: Any, hidden: Collection[str]) -> Any:
    on_tty = _stderr_is_tty()
    failed = [0]

    def show(outcome: Outcome, done: int, total: int) -> None:
        if outcome.status == "failed":
            failed[0] += 1
        if on_tty:
            end = "\n" if done == total else ""
            click.echo("\r" + progress_bar(done, total, failed[0]), nl=False, err=True)
            if end:
                click.echo("", err=True)
        else:
            click.echo(progress_line(outcome, done, total, mask_values=hidden), file=stream)

    return show


def _finish(applied: Applied, output_format: str) -> None:
    """The report; the plan's secrets (`applied.hidden`) masked in the server's messages too."""
    plan, result, hidden = applied.planned.plan, applied.result, applied.hidden
    if output_format == "json":
        click.echo(render_apply_json(plan, result, mask_values=hidden), nl=False)
        return
    if applied.nothing:
        click.echo("No changes. Live state matches the repository; nothing was written.")
        return
    click.echo(
        render_apply_text(
            result, use_color=use_color(), with_outcomes=_stderr_is_tty(), mask_values=hidden
        ),
        nl=False,
    )


@cli.command("force-unlock")
@click.argument(
    "path",
    required=False,
    default=".",
    type=click.Path(exists=True, file_okay=True, dir_okay=True, path_type=Path),
)
@config_option
@click.option(
    "--project", "project_option", default=None, help="Project name (default: from PATH)."
)
@env_option
@api_options
def force_unlock_command(
    path: Path,
    config_path: Path | None,
    project_option: str | None,
    environment: str | None,
    api_url: str | None,
    profile: str | None,
) -> int:
    """Remove a stuck apply lock (left by a killed apply) of the project at PATH."""
    if project_option is None:
        project, _diags = load_project(
            path, config_path=config_path, environ=os.environ, environment=environment
        )
        project_option = owner_of(project)
    else:
        project_option = owner_key(project_option, environment)
    with open_client(api_url, profile) as client:
        info = force_unlock(client, project_option)
    if info is None:
        click.echo(f"No apply lock is held for project '{visible(project_option)}'.")
    else:
        shown = visible(f"project '{project_option}' ({info.describe()})")
        click.echo(f"Removed the apply lock of {shown}.")
    return EXIT_OK
