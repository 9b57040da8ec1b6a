"""Apply a plan: plan (or check the saved plan), ask, take the owner's lock, re-read the
live state, record what is about to be written as owned, execute, record the ownership
inventory, release the lock.

Nothing is written before the whole repository validated and the plan was made. Under the
lock, a live state that moved while waiting refuses a reviewed or saved plan; an
auto-approved one is planned again and checked on the same terms. Ctrl-C or SIGTERM stop
sending at once (a second one raises `KeyboardInterrupt`); what was done is recorded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from ..errors import ReconcilerError, StalePlanError
from ..execution.effective import changed_fields
from ..execution.executor import Cancel, apply_plan, check_prune_guard
from ..execution.inventory import inventory_after, inventory_before, record_inventory
from ..execution.lock import LockInfo, acquire
from ..execution.results import ApplyResult, Outcome
from ..plans.build import Action, Plan, ResourceChange
from ..plans.saved import check_saved, plan_key
from ..prefect.api import ApiClient, Throttle
from ..prefect.settings import Settings
from ..render.escaping import visible
from ..render.masking import plan_secrets
from ..repo.project import Project
from ..state.desired import refuse_unresolved_steps
from ..state.live import EarlyReads, LiveState
from ..state.ownership import Inventory
from ..state.resources import State
from .planned import (
    Planned,
    PlanOptions,
    compute_plan,
    desired_while_reading,
    masked_document,
    owner_of,
)
from .source import Notify, ignore

APPLY_RETRIES = 8
LOCK_LOST = "the apply lock was removed while applying (force-unlock, or judged stale)"
Progress = Callable[[Outcome, int, int], None]


@dataclass(frozen=True)
class ApplyOptions:
    plan: PlanOptions = field(default_factory=PlanOptions)
    auto_approve: bool = False
    parallelism: int = 8
    lock_timeout: float = 60.0
    saved: Plan | None = None  # `apply plan.json`: planning again must give this plan
    saved_doc: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hooks:
    """What the caller sees and decides along the way. `review` is asked before writing
    (not for a saved plan, which was reviewed when saved); `progress_for(hidden)` gives the
    callback for each outcome, `hidden` being the plan's secrets to mask in it."""

    notify: Notify = ignore
    review: Callable[[Planned], bool] = lambda _planned: False
    progress_for: Callable[[Collection[str]], Progress | None] = lambda _hidden: None


@dataclass(frozen=True)
class Applied:
    """The outcome. `nothing`: no change and the inventory up to date, so nothing was
    written and no lock taken; `signalled`: a signal stopped it; `hidden`: the plan's
    secrets, to mask in any report."""

    planned: Planned
    result: ApplyResult
    nothing: bool = False
    signalled: bool = False
    hidden: Collection[str] = ()


def apply_client(settings: Settings, parallelism: int) -> ApiClient:
    """A client for apply: its writes adapt to the server (`Throttle`), and a 503 (never
    processed by the server) is retried longer than a read would be."""
    settings = dataclasses.replace(settings, max_retries=max(settings.max_retries, APPLY_RETRIES))
    return ApiClient(settings, throttle=Throttle(parallelism))


def apply_project(
    client: ApiClient,
    project: Project,
    options: ApplyOptions,
    environ: Mapping[str, str],
    hooks: Hooks = Hooks(),
) -> Applied:
    """Plan `project` through `client` (made by `apply_client`) and apply it as `options` say."""
    desired, early = desired_while_reading(client, project, environ, options.plan, hooks.notify)
    run = _Run(project, desired, options, environ, hooks.notify, early)
    live, plan = run.plan(client)
    planned = Planned(project, desired, live, plan, client.settings)
    if not _needs_writes(planned):
        result = ApplyResult((), client.request_count, client.write_count)
        return Applied(planned, result, nothing=True)
    if options.saved is None and not hooks.review(planned):
        raise ReconcilerError("apply cancelled; nothing was written")
    hidden = plan_secrets(
        plan.to_dict(), mask_keys=project.config.mask_keys, mask_values=client.settings.secrets()
    )
    result, signalled = run.under_lock(client, plan, hooks.progress_for(hidden))
    return Applied(planned, result, signalled=signalled, hidden=hidden)


def _written_fields(rc: ResourceChange) -> set[str] | None:
    """The top-level fields apply sends for `rc`; None when it writes the whole resource."""
    if rc.action in (Action.CREATE, Action.REPLACE):
        return None
    fields = changed_fields(rc)
    return None if "labels" in fields else fields  # labels: a full upsert


def _needs_writes(planned: Planned) -> bool:
    plan = planned.plan
    if plan.has_changes():
        return True
    live = planned.live
    items, fingerprint = inventory_after(
        plan, ApplyResult(()), desired=planned.desired, live=live.state,
        project=owner_of(planned.project), inventory=live.inventory,
    )  # fmt: skip
    if live.inventory is None:
        return bool(items)
    return dict(live.inventory.items) != items or live.inventory.desired != fingerprint


@contextlib.contextmanager
def _signals_stop(cancel: Cancel, notify: Notify) -> Iterator[list[int]]:
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
        notify("Stopping: finishing the requests in flight, sending nothing new...")

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def _fingerprint(inventory: Inventory | None) -> str | None:
    return inventory.desired if inventory is not None else None


@dataclass
class _Run:
    """One apply of `desired`: its plans (before and under the lock) and the execution."""

    project: Project
    desired: State
    options: ApplyOptions
    environ: Mapping[str, str]
    notify: Notify = ignore
    early: Future[EarlyReads] | None = None  # the live reads begun with the desired state

    @property
    def owner(self) -> str:
        return owner_of(self.project)

    def prune(self) -> bool:
        if self.options.saved is not None:  # the saved plan's flag: planning again must give it
            return self.options.saved.prune
        chosen = self.options.plan.prune
        return self.project.config.prune if chosen is None else chosen

    def refuse(self, plan: Plan) -> None:
        """What no plan may do: prune every object of a kind, write unresolved step outputs."""
        check_prune_guard(plan, self.desired, allow_empty=self.project.config.allow_empty)
        written = {rc.address: _written_fields(rc) for rc in plan.changes}
        refuse_unresolved_steps(self.desired, written)

    def plan(self, client: ApiClient) -> tuple[LiveState, Plan]:
        """Plan, check it against the saved plan if any, and refuse what no plan may do."""
        live, plan = compute_plan(
            client, self.project, self.desired, prune=self.prune(),
            adopt=self.options.plan.adopt, early=self.early,
        )  # fmt: skip
        if self.options.saved is not None:
            # Apply `plan`, the saved one made again: it holds the values the file masks.
            masked = masked_document(plan, self.project, client.settings.secrets())
            check_saved(dict(self.options.saved_doc), plan, masked, plan_key(self.environ))
        self.refuse(plan)
        return live, plan

    def under_lock(
        self, client: ApiClient, plan: Plan, progress: Progress | None
    ) -> tuple[ApplyResult, bool]:
        """Take the lock, execute while it is renewed, release it. Returns the result (with
        the whole run's request counts, planning included) and whether a signal stopped it."""
        timeout = self.options.lock_timeout
        lease = acquire(client, self.owner, timeout=timeout, on_wait=self._waiting)
        cancel = Cancel()
        lease.keep_alive(on_lost=lambda: cancel.set(LOCK_LOST))
        try:
            with _signals_stop(cancel, self.notify) as signalled:
                result = self.execute(client, plan, progress, cancel)
        finally:
            lease.release()
        if result.interrupted is None and cancel.reason == LOCK_LOST:  # lost after the sends
            result = dataclasses.replace(result, interrupted=LOCK_LOST)
        result = dataclasses.replace(
            result, requests=client.request_count, writes=client.write_count
        )
        return result, bool(signalled)

    def _waiting(self, info: LockInfo) -> None:
        timeout = self.options.lock_timeout
        self.notify(
            f"Waiting up to {timeout:g} s for the apply lock ({visible(info.describe())})..."
        )

    def replan(self, client: ApiClient, plan: Plan) -> tuple[LiveState, Plan]:
        """Under the lock: the live state again; a plan made on a state that moved is
        refused, unless auto-approved (then the new plan is checked like the first). Only
        the live reads are redone; the diff too only if the live state moved."""
        live, fresh = compute_plan(
            client, self.project, self.desired, prune=self.prune(),
            adopt=self.options.plan.adopt, known=plan,
        )  # fmt: skip
        if fresh.live_fingerprint == plan.live_fingerprint:
            return live, plan
        if self.options.saved is not None or not self.options.auto_approve:
            raise StalePlanError(
                "the server changed while waiting for the lock; nothing was written",
                hint="run apply again to see the new plan",
            )
        self.refuse(fresh)
        return live, fresh

    def execute(
        self, client: ApiClient, plan: Plan, progress: Progress | None, cancel: Cancel
    ) -> ApplyResult:
        """Under the lock: re-plan, record what is about to be written as owned, apply,
        record the inventory (also after an interruption)."""
        name, desired = self.owner, self.desired
        live, plan = self.replan(client, plan)
        pending = inventory_before(plan, live.inventory)
        record_inventory(client, name, pending, _fingerprint(live.inventory),
                         previous=live.inventory)  # fmt: skip
        previous = Inventory(name, pending, None, _fingerprint(live.inventory))
        result = apply_plan(
            client, plan, desired=desired, live=live.state, project=name,
            ignore=self.project.config.ignore, parallelism=self.options.parallelism,
            progress=progress, cancel=cancel,
        )  # fmt: skip
        items, fingerprint = inventory_after(
            plan, result, desired=desired, live=live.state, project=name,
            inventory=live.inventory,
        )  # fmt: skip
        written = _record(client, name, items, fingerprint, previous)
        if isinstance(written, Outcome):
            return dataclasses.replace(result, outcomes=(*result.outcomes, written))
        return dataclasses.replace(result, inventory_written=written)


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
