"""`prefect-gitops apply` and `force-unlock`: converge the live server to the repository.

Sequence (nothing is written before the whole repository validates and the plan is made):

1. load and validate everything; build the desired state; read the live state; plan
   (`apply plan.json`: the saved plan, refused as stale if either fingerprint moved);
2. nothing to change and the ownership inventory up to date: stop, with zero writes;
3. show the plan and ask (on a terminal), or require `--auto-approve`;
4. take the project's lock on the server (`lock.py`), re-read the live state: if it moved
   while we waited, a reviewed or saved plan is refused, an auto-approved one is re-planned;
5. execute (`apply.py`), record the ownership inventory, release the lock, report.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from ..api import ApiClient, ApiError
from ..apply import (
    DEFAULT_PARALLELISM,
    MAX_PARALLELISM,
    ApplyResult,
    Outcome,
    Throttle,
    apply_plan,
    check_prune_guard,
    check_stale,
    inventory_after,
    record_inventory,
)
from ..desired import analyze_flows, build_desired, project_name
from ..environments import api_target
from ..errors import ReconcilerError, StalePlanError
from ..loader import Project, load_project
from ..lock import acquire, force_unlock
from ..plan import Action, Plan
from ..render.apply_json import render_apply_json
from ..render.apply_text import progress_bar, progress_line, render_apply_text
from ..render.plan import PLAN_RENDERERS
from ..state import State
from . import EXIT_OK, EXIT_PROBLEM, cli
from .common import api_options, open_client, resolve_settings
from .options import config_option, env_option, format_option, use_color
from .plan import compute_plan, load_valid_project

DEFAULT_LOCK_TIMEOUT = 60.0
APPLY_RETRIES = 8


def _stdin_is_tty() -> bool:
    return sys.stdin.isatty()


def _stderr_is_tty() -> bool:
    return sys.stderr.isatty()


def read_saved_plan(path: Path) -> Plan:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Plan.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
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
    help="Requests in flight at once.",
)
@click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=DEFAULT_LOCK_TIMEOUT,
    show_default=True,
    help="Seconds to wait for another apply of this project to finish.",
)
@env_option
@api_options
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
    environment: str | None,
    api_url: str | None,
    profile: str | None,
) -> int:
    """Make the Prefect server match the repository: create, update (only the fields that
    changed) and, with --prune, delete what this project owns and no longer declares.

    TARGET is a repository directory or prefect.yaml (default: the current directory), or a
    plan saved by `plan --out`, which is applied exactly as saved (refused if stale).
    Exit status: 0 applied (or nothing to do), 1 error or some changes failed.
    """
    saved = read_saved_plan(target) if target.is_file() and target.suffix == ".json" else None
    if saved is None and repo is not None:
        raise click.UsageError("--repo is only for applying a saved plan")
    if saved is None and not auto_approve and not _stdin_is_tty():
        raise ReconcilerError(
            "refusing to apply without confirmation: stdin is not a terminal",
            hint="review with `prefect-gitops plan`, then run `apply --auto-approve` "
            "(or apply a saved plan: `plan --out plan.json`, `apply plan.json`)",
        )
    environ = os.environ
    project = load_valid_project(
        repo or (Path(".") if saved else target),
        config_path,
        environ,
        action="applied",
        environment=environment,
        output_format=output_format,
    )
    if project is None:
        return EXIT_PROBLEM
    desired = build_desired(project, environ=environ, flow_lookup=analyze_flows(project))
    name = project_name(project)
    if saved is not None:
        should_prune = saved.prune
    else:
        should_prune = project.config.prune if prune is None else prune
    report_to = sys.stderr if output_format == "json" else sys.stdout

    throttle = Throttle(parallelism)
    settings = resolve_settings(*api_target(project, api_url, profile))
    # A 503 is never processed by the server: retry writes longer than a read would.
    settings = dataclasses.replace(settings, max_retries=max(settings.max_retries, APPLY_RETRIES))
    with ApiClient(settings, sleep=throttle.backoff) as client:
        live, plan = compute_plan(client, project, desired, prune=should_prune, adopt=adopt)
        if saved is not None:
            if saved.api_url and saved.api_url != client.shown_base_url:
                raise StalePlanError(
                    f"saved plan is stale: it was made for {saved.api_url}, not "
                    f"{client.shown_base_url}; nothing was written"
                )
            check_stale(saved, desired, live.state)
            plan = saved
        check_prune_guard(plan, desired, allow_empty=project.config.allow_empty)

        if not _needs_writes(plan, desired, live.state, name, live.inventory):
            result = ApplyResult((), client.request_count, client.write_count)
            _finish(plan, result, output_format, project, nothing=True)
            return EXIT_OK

        if saved is None and output_format == "text":
            click.echo(
                PLAN_RENDERERS["text"](
                    plan, use_color=use_color(), mask_keys=project.config.mask_keys
                )
            )
        if saved is None and not auto_approve and not _confirm():
            raise ReconcilerError("apply cancelled; nothing was written")

        def waiting(info: Any) -> None:
            click.echo(
                f"Waiting up to {lock_timeout:g} s for the apply lock ({info.describe()})...",
                err=True,
            )

        lease = acquire(client, name, timeout=lock_timeout, on_wait=waiting)
        try:
            live, fresh = compute_plan(client, project, desired, prune=should_prune, adopt=adopt)
            if fresh.live_fingerprint != plan.live_fingerprint:
                if saved is not None or not auto_approve:
                    raise StalePlanError(
                        "the server changed while waiting for the lock; nothing was written",
                        hint="run apply again to see the new plan",
                    )
                plan = fresh
                check_prune_guard(plan, desired, allow_empty=project.config.allow_empty)
            progress = _progress(report_to, output_format)
            result = apply_plan(
                client,
                plan,
                desired=desired,
                live=live.state,
                project=name,
                ignore=project.config.ignore,
                parallelism=parallelism,
                progress=progress,
                throttle=throttle,
            )
            items, fingerprint = inventory_after(
                plan, result, desired=desired, live=live.state, project=name,
                inventory=live.inventory,
            )  # fmt: skip
            written = _record(client, name, items, fingerprint, live.inventory)
            if isinstance(written, Outcome):
                result = dataclasses.replace(result, outcomes=(*result.outcomes, written))
                written = False
        finally:
            lease.release()
        result = dataclasses.replace(
            result,
            inventory_written=bool(written),
            requests=client.request_count,
            writes=client.write_count,
        )
    _finish(plan, result, output_format, project, nothing=False)
    return EXIT_OK if result.ok else EXIT_PROBLEM


def _needs_writes(plan: Plan, desired: State, live: State, project: str, inventory: Any) -> bool:
    if plan.has_changes():
        return True
    items, fingerprint = inventory_after(
        plan, ApplyResult(()), desired=desired, live=live, project=project, inventory=inventory
    )
    if inventory is None:
        return bool(items)
    return dict(inventory.items) != items or inventory.desired != fingerprint


def _record(
    client: ApiClient,
    project: str,
    items: dict[str, str],
    fingerprint: str | None,
    previous: Any,
) -> bool | Outcome:
    try:
        return record_inventory(client, project, items, fingerprint, previous=previous)
    except ApiError as exc:
        return Outcome(
            f"variable.{project}", "variable", "ownership inventory", Action.UPDATE, "failed",
            f"recording the ownership inventory failed: {exc}",
        )  # fmt: skip


def _confirm() -> bool:
    click.echo("Do you want to perform these actions? Only 'yes' will be accepted to approve.")
    answer: str = click.prompt("  Enter a value", default="", show_default=False)
    return answer.strip() == "yes"


def _progress(stream: Any, output_format: str) -> Any:
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
            click.echo(progress_line(outcome, done, total), file=stream)

    return show


def _finish(
    plan: Plan, result: ApplyResult, output_format: str, project: Project, *, nothing: bool
) -> None:
    if output_format == "json":
        click.echo(render_apply_json(plan, result), nl=False)
        return
    if nothing:
        click.echo("No changes. Live state matches the repository; nothing was written.")
        return
    click.echo(
        render_apply_text(result, use_color=use_color(), with_outcomes=_stderr_is_tty()),
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
@api_options
def force_unlock_command(
    path: Path,
    config_path: Path | None,
    project_option: str | None,
    api_url: str | None,
    profile: str | None,
) -> int:
    """Remove a stuck apply lock (left by a killed apply) of the project at PATH."""
    if project_option is None:
        project, _diags = load_project(path, config_path=config_path, environ=os.environ)
        project_option = project_name(project)
    with open_client(api_url, profile) as client:
        info = force_unlock(client, project_option)
    if info is None:
        click.echo(f"No apply lock is held for project '{project_option}'.")
    else:
        click.echo(f"Removed the apply lock of project '{project_option}' ({info.describe()}).")
    return EXIT_OK
