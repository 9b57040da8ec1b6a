"""`prefect-gitops apply` and `force-unlock`: converge the live server to the repository.

Sequence (nothing is written before the whole repository validates and the plan is made):

1. load and validate everything; build the desired state; read the live state; plan
   (`apply plan.json`: the saved plan, refused as stale unless planning again gives the same
   fingerprints and changes; the plan made again is applied, with the values the file masks);
2. nothing to change and the ownership inventory up to date: stop, with zero writes;
3. show the plan and ask (on a terminal), or require `--auto-approve`;
4. take the owner's lock on the server (`lock.py`, renewed in the background), re-read the
   live state: if it moved while we waited, a reviewed or saved plan is refused, an
   auto-approved one is re-planned;
5. record what is about to be written as owned, execute (`apply.py`; Ctrl-C or SIGTERM stop
   sending), record the ownership inventory, release the lock, report.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import click

from ..api import ApiClient, Throttle
from ..apply import (
    DEFAULT_PARALLELISM,
    MAX_PARALLELISM,
    ApplyResult,
    Cancel,
    Outcome,
    apply_plan,
    changed_fields,
    check_prune_guard,
    inventory_after,
    inventory_before,
    record_inventory,
)
from ..desired import parse_step_outputs, refuse_unresolved_steps
from ..environments import api_target
from ..errors import ReconcilerError, StalePlanError
from ..live import EarlyReads
from ..loader import Project, load_project
from ..lock import LockInfo, acquire, force_unlock
from ..ownership import Inventory, owner_key
from ..plan import Action, Plan, ResourceChange
from ..render.apply_json import render_apply_json
from ..render.apply_text import progress_bar, progress_line, render_apply_text
from ..render.escaping import visible
from ..render.masking import plan_secrets
from ..savedplan import check_saved, plan_key
from ..settings import Settings
from ..state import State
from . import EXIT_OK, EXIT_PROBLEM, cli
from .common import api_options, open_client, resolve_settings
from .options import Seconds, batch_gc, config_option, env_option, format_option, use_color
from .plan import (
    compute_plan,
    desired_while_reading,
    load_valid_project,
    masked_document,
    owner_of,
    render_plan,
    step_options,
)

DEFAULT_LOCK_TIMEOUT = 60.0
APPLY_RETRIES = 8


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
    environ = os.environ
    project = load_valid_project(
        repo or (Path(".") if saved else target),
        config_path,
        environ,
        action="applied",
        environment=environment,
        output_format=output_format,
        runs_steps=run_steps,
    )
    if project is None:
        return EXIT_PROBLEM
    outputs = parse_step_outputs(step_outputs)
    if saved is not None:  # the saved plan's flag: planning again must give that same plan
        prune = saved.prune
    should_prune = project.config.prune if prune is None else prune
    throttle = Throttle(parallelism)
    settings = resolve_settings(*api_target(project, api_url, profile))
    with _apply_client(settings, throttle) as client:
        desired, early = desired_while_reading(client, project, environ, outputs, run_steps)
        run = _Run(project, desired, saved, saved_doc, should_prune, adopt, output_format,
                   auto_approve, early)  # fmt: skip
        plan = run.plan(client)
        if plan is None:
            return EXIT_OK
        hidden = plan_secrets(
            plan.to_dict(), mask_keys=project.config.mask_keys, mask_values=settings.secrets()
        )
        result, signalled = run.under_lock(
            client, plan, lock_timeout, _Execution(parallelism, hidden)
        )
    _finish(plan, result, output_format, project, nothing=False, hidden=hidden)
    return _exit_status(result, signalled=signalled)


def _written_fields(rc: ResourceChange) -> set[str] | None:
    """The top-level fields apply sends for `rc`; None when it writes the whole resource."""
    if rc.action in (Action.CREATE, Action.REPLACE):
        return None
    fields = changed_fields(rc)
    return None if "labels" in fields else fields  # labels: a full upsert


def _exit_status(result: ApplyResult, *, signalled: bool) -> int:
    if result.interrupted is not None:
        click.echo(f"Stopped early: {result.interrupted}; the changes not attempted are "
                   "listed as skipped, what was done is recorded as owned.", err=True)  # fmt: skip
        return EXIT_INTERRUPTED if signalled else EXIT_PROBLEM
    return EXIT_OK if result.ok else EXIT_PROBLEM


def _apply_client(settings: Settings, throttle: Throttle) -> ApiClient:
    # A 503 is never processed by the server: retry writes longer than a read would.
    settings = dataclasses.replace(settings, max_retries=max(settings.max_retries, APPLY_RETRIES))
    return ApiClient(settings, throttle=throttle)


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


LOCK_LOST = "the apply lock was removed while applying (force-unlock, or judged stale)"
EXIT_INTERRUPTED = 130


def _waiting(lock_timeout: float) -> Callable[[LockInfo], None]:
    def waiting(info: LockInfo) -> None:
        click.echo(
            f"Waiting up to {lock_timeout:g} s for the apply lock ({visible(info.describe())})...",
            err=True,
        )

    return waiting


@contextlib.contextmanager
def _signals_stop(cancel: Cancel) -> Iterator[list[int]]:
    """Ctrl-C, or a CI timeout's SIGTERM, stops apply at once: nothing new is sent, requests
    in flight finish, the inventory is recorded and the report printed. A second one
    raises `KeyboardInterrupt`: apply exits once the requests in flight end. Yields the
    signals received (empty: none)."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def stop(signum: int, frame: object) -> None:
        if received:
            raise KeyboardInterrupt
        received.append(signum)
        cancel.set()
        click.echo("Stopping: finishing the requests in flight, sending nothing new...", err=True)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


@dataclasses.dataclass(frozen=True)
class _Execution:
    """How the changes are sent: on `parallelism` threads (the client's throttle adapts the
    writes in flight); `hidden`: the plan's secrets, masked in the progress lines."""

    parallelism: int
    hidden: Collection[str]


@dataclasses.dataclass
class _Run:
    """One apply: what it plans and executes (the command parses, this does the work)."""

    project: Project
    desired: State
    saved: Plan | None
    saved_doc: dict[str, Any]
    prune: bool
    adopt: bool
    output_format: str
    auto_approve: bool
    early: Future[EarlyReads] | None = None  # the live reads begun with the desired state

    @property
    def owner(self) -> str:
        return owner_of(self.project)

    def refuse(self, plan: Plan) -> None:
        """What no plan may do: prune every object of a kind, write unresolved step outputs."""
        check_prune_guard(plan, self.desired, allow_empty=self.project.config.allow_empty)
        written = {rc.address: _written_fields(rc) for rc in plan.changes}
        refuse_unresolved_steps(self.desired, written)

    def plan(self, client: ApiClient) -> Plan | None:
        """Plan (or check the saved plan), show it and ask; None when nothing is to be done
        (the result is then already reported)."""
        project, desired, saved = self.project, self.desired, self.saved
        live, plan = compute_plan(
            client, project, desired, prune=self.prune, adopt=self.adopt, early=self.early
        )
        if saved is not None:
            # Apply `plan`, the saved one made again: it holds the values the file masks.
            masked = masked_document(plan, project, client.settings.secrets())
            check_saved(self.saved_doc, plan, masked, plan_key(os.environ))
        self.refuse(plan)
        if not _needs_writes(plan, desired, live.state, self.owner, live.inventory):
            result = ApplyResult((), client.request_count, client.write_count)
            _finish(plan, result, self.output_format, project, nothing=True)
            return None
        if saved is None and self.output_format == "text":
            shown = masked_document(plan, project, client.settings.secrets())
            click.echo(render_plan(shown, project, desired, "text"))
        if saved is None and not self.auto_approve and not _confirm():
            raise ReconcilerError("apply cancelled; nothing was written")
        return plan

    def under_lock(
        self, client: ApiClient, plan: Plan, lock_timeout: float, how: _Execution
    ) -> tuple[ApplyResult, bool]:
        """Take the lock, execute while it is renewed, release it. Returns the result (with
        the whole run's request counts, planning included) and whether a signal stopped it."""
        lease = acquire(client, self.owner, timeout=lock_timeout, on_wait=_waiting(lock_timeout))
        cancel = Cancel()
        lease.keep_alive(on_lost=lambda: cancel.set(LOCK_LOST))
        try:
            with _signals_stop(cancel) as signalled:
                result = self.execute(client, plan, how, cancel)
        finally:
            lease.release()
        if result.interrupted is None and cancel.reason == LOCK_LOST:  # lost after the sends
            result = dataclasses.replace(result, interrupted=LOCK_LOST)
        result = dataclasses.replace(
            result, requests=client.request_count, writes=client.write_count
        )
        return result, bool(signalled)

    def execute(
        self, client: ApiClient, plan: Plan, how: _Execution, cancel: Cancel
    ) -> ApplyResult:
        """Under the lock: re-plan, record what is about to be written as owned, apply,
        record the inventory (also after an interruption)."""
        project, desired, name = self.project, self.desired, self.owner
        live, fresh = compute_plan(
            client, project, desired, prune=self.prune, adopt=self.adopt, known=plan
        )  # only the live reads are redone; the diff too if the live state moved
        if fresh.live_fingerprint != plan.live_fingerprint:
            if self.saved is not None or not self.auto_approve:
                raise StalePlanError(
                    "the server changed while waiting for the lock; nothing was written",
                    hint="run apply again to see the new plan",
                )
            plan = fresh
            self.refuse(plan)
        pending = inventory_before(plan, live.inventory)
        record_inventory(client, name, pending, _fingerprint(live.inventory),
                         previous=live.inventory)  # fmt: skip
        previous = Inventory(name, pending, None, _fingerprint(live.inventory))
        report_to = sys.stderr if self.output_format == "json" else sys.stdout
        result = apply_plan(
            client, plan, desired=desired, live=live.state, project=name,
            ignore=project.config.ignore, parallelism=how.parallelism,
            progress=_progress(report_to, how.hidden), cancel=cancel,
        )  # fmt: skip
        items, fingerprint = inventory_after(
            plan, result, desired=desired, live=live.state, project=name,
            inventory=live.inventory,
        )  # fmt: skip
        written = _record(client, name, items, fingerprint, previous)
        if isinstance(written, Outcome):
            return dataclasses.replace(result, outcomes=(*result.outcomes, written))
        return dataclasses.replace(result, inventory_written=written)


def _fingerprint(inventory: Inventory | None) -> str | None:
    return inventory.desired if inventory is not None else None


def _needs_writes(
    plan: Plan, desired: State, live: State, project: str, inventory: Inventory | None
) -> bool:
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
    previous: Inventory,
) -> bool | Outcome:
    try:
        return record_inventory(client, project, items, fingerprint, previous=previous)
    except ReconcilerError as exc:
        return Outcome(
            f"variable.{project}", "variable", "ownership inventory", Action.UPDATE, "failed",
            f"recording the ownership inventory failed: {exc.message}",
        )  # fmt: skip


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


def _finish(
    plan: Plan,
    result: ApplyResult,
    output_format: str,
    project: Project,
    *,
    nothing: bool,
    hidden: Collection[str] = (),
) -> None:
    """The report; `hidden`: the plan's secrets, masked in the server's messages too."""
    if output_format == "json":
        click.echo(render_apply_json(plan, result, mask_values=hidden), nl=False)
        return
    if nothing:
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
