"""Execute a `Plan` against the live server: ordered, concurrent, and with the narrowest calls.

Order: flows, pools, queues (per pool in priority order), variables and limits, then
deployments; deletes after all of them, deployments first and pools last. Independent requests
run concurrently on a bounded thread pool. A failure is reported and does not stop independent
resources; what depends on it is skipped. Progress goes to a callback; nothing is printed.

What each change sends is in `writers`; the ownership inventory recorded around an apply is in
`inventory`; what the run reports is in `results`.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import ReconcilerError
from ..plans.build import Action, Plan, Reason, ResourceChange, sort_key
from ..prefect.api import MAX_IN_FLIGHT, ApiClient, ApiError
from ..repo.models import IgnoreRule
from ..state.diff import align
from ..state.resources import Address, State
from .results import ApplyResult, Outcome, Progress, Status
from .writers import UNREACHABLE, Applier, Task

# Worker threads: enough to hide ~50 ms of latency to a remote server (2.9x faster than one
# behind 50 ms on PostgreSQL). The API client's `Throttle` lowers the writes actually in
# flight when the server pushes back: to one against a locked SQLite database.
DEFAULT_PARALLELISM = 8
MAX_PARALLELISM = MAX_IN_FLIGHT

__all__ = ["DEFAULT_PARALLELISM", "Cancel", "apply_plan", "check_prune_guard"]


# -- guards before anything is written -------------------------------------------------------


PRUNE_GUARDED_KINDS = {
    "deployment": "deployments",
    "work_pool": "work pools",
    "work_queue": "work queues",
    "variable": "variables",
    "concurrency_limit": "concurrency limits",
}


def check_prune_guard(plan: Plan, desired: State, *, allow_empty: bool) -> None:
    """Argo CD's `allowEmpty`, per kind: never prune every owned object of a kind (deployments,
    pools, queues, variables, limits) because the repository suddenly declares none of it."""
    if allow_empty:
        return
    deletes = [rc for rc in plan.resource_changes if rc.action is Action.DELETE]
    deleted_pools = {rc.name for rc in deletes if rc.type == "work_pool"}
    emptied: dict[str, int] = {}
    for type_ in PRUNE_GUARDED_KINDS:
        count = sum(
            1
            for rc in deletes
            # A queue deleted with its pool follows the pool (which the pool kind guards).
            if rc.type == type_
            and not (type_ == "work_queue" and rc.name.split("/", 1)[0] in deleted_pools)
        )
        if count and not desired.of_type(type_):
            emptied[type_] = count
    if emptied:
        kinds = " and no ".join(PRUNE_GUARDED_KINDS[t] for t in emptied)
        counts = ", ".join(f"{n} {PRUNE_GUARDED_KINDS[t]}" for t, n in emptied.items())
        raise ReconcilerError(
            f"the repository declares no {kinds}, and prune would delete all {counts} "
            "this project owns; nothing was written",
            hint="if that is really wanted, set `allow_empty: true` in prefect-gitops.yaml",
        )


# -- the executor ----------------------------------------------------------------------------


def _tasks(plan: Plan, desired: State) -> list[Task]:
    changes = [rc for rc in plan.resource_changes if rc.action is not Action.NOOP]
    replaced = {rc.name for rc in changes if rc.type == "work_pool" and rc.action is Action.REPLACE}
    tasks: dict[str, Task] = {}

    def add(rc: ResourceChange, **kw: Any) -> Task:
        task = Task(rc, **kw)
        tasks[rc.address] = task
        return task

    for rc in changes:
        add(rc)
    for pool in sorted(replaced):
        _add_replacement_tasks(pool, desired, tasks, add)

    writes = [t for t in tasks.values() if t.change.action is not Action.DELETE]
    deletes = [t for t in tasks.values() if t.change.action is Action.DELETE]
    # Dependencies first: every other create/update settles before deployments. One set for
    # all of them (built per deployment, it made 10k deployments 10^8 steps).
    before_deployments = frozenset(
        t.change.address for t in writes if t.change.type not in ("deployment", "automation")
    )
    for task in writes:
        rc = task.change
        if rc.type == "work_queue":
            task.needs |= _created(tasks, str(Address.pool(rc.name.split("/", 1)[0])))
        elif rc.type == "deployment":
            want = desired.get(Address(rc.type, rc.name))
            spec = want.spec if want is not None else {}
            flow, pool_name = spec.get("flow_name"), spec.get("work_pool_name")
            task.needs |= _created(tasks, str(Address.flow(str(flow))))
            if isinstance(pool_name, str):
                task.needs |= _created(tasks, str(Address.pool(pool_name)))
                queue_name = str(spec.get("work_queue_name") or "default")
                queue = str(Address.queue(pool_name, queue_name))
                task.needs |= _created(tasks, queue)
            task.after |= before_deployments
        elif rc.type == "automation":
            task.needs |= _created(tasks, str(Address(rc.type, rc.name).owner))
    # Queues of one pool in priority order: the server renumbers the others on each write.
    by_pool: dict[str, list[Task]] = {}
    for task in writes:
        if task.change.type == "work_queue":
            by_pool.setdefault(task.change.name.split("/", 1)[0], []).append(task)
    for queue_tasks in by_pool.values():
        queue_tasks.sort(key=lambda t: (_priority(t, desired), t.change.address))
        for before, task in itertools.pairwise(queue_tasks):
            task.after.add(before.change.address)
    _order_deletes(writes, deletes)
    return sorted(tasks.values(), key=lambda t: sort_key(t.change))


def _add_replacement_tasks(
    pool: str, desired: State, tasks: Mapping[str, Task], add: Callable[..., Task]
) -> None:
    """A replaced pool loses its queues and detaches its deployments: recreate and re-point."""
    for res in desired.of_type("work_queue"):
        if res.spec.get("pool") == pool and str(res.address) not in tasks:
            add(
                ResourceChange(str(res.address), res.type, res.name, Action.CREATE, None,
                               dict(res.spec), (), Reason.IMMUTABLE_FIELD),
                note=f"recreated with work_pool.{pool}",
            )  # fmt: skip
    for res in desired.of_type("deployment"):
        if res.spec.get("work_pool_name") != pool:
            continue
        task = tasks.get(str(res.address))
        if task is None:
            task = add(
                ResourceChange(str(res.address), res.type, res.name, Action.UPDATE,
                               dict(res.spec), dict(res.spec), (), Reason.IMMUTABLE_FIELD),
                note=f"re-pointed to the recreated work_pool.{pool}",
            )  # fmt: skip
        task.extra_fields |= {"work_pool_name", "work_queue_name"}


def _order_deletes(writes: list[Task], deletes: list[Task]) -> None:
    """Deletes last, in reverse order: deployments, then limits/variables/queues, then pools
    (children before their parent: a pool's own queues are deleted before it)."""
    write_addresses = frozenset(t.change.address for t in writes)
    deployments = frozenset(t.change.address for t in deletes if t.change.type == "deployment")
    not_pools = frozenset(t.change.address for t in deletes if t.change.type != "work_pool")
    for task in deletes:
        rc = task.change
        task.after |= write_addresses
        if rc.type != "deployment":
            task.after |= deployments
        if rc.type == "work_pool":
            task.after |= not_pools


def _priority(task: Task, desired: State) -> int:
    want = desired.get(Address(task.change.type, task.change.name))
    value = want.spec.get("priority") if want is not None else None
    return value if isinstance(value, int) else 1 << 30


def _created(tasks: Mapping[str, Task], address: str) -> set[str]:
    """`{address}` when that resource is being created (or recreated) by this apply."""
    task = tasks.get(address)
    if task is None:
        return set()
    action = task.change.action
    return {address} if action in (Action.CREATE, Action.REPLACE) else set()


def apply_plan(
    client: ApiClient,
    plan: Plan,
    *,
    desired: State,
    live: State,
    project: str,
    ignore: Sequence[IgnoreRule] = (),
    parallelism: int = DEFAULT_PARALLELISM,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
    cancel: Cancel | None = None,
) -> ApplyResult:
    """Execute the plan's changes (no-ops send nothing). `live` is the live state read right
    before (its ids are used); the plan must have been computed from it.
    `parallelism` threads send the changes; the client's `Throttle` decides how many writes
    are in flight at once.
    Setting `cancel` (or Ctrl-C) stops sending: `ApplyResult.interrupted` says why."""
    if not 1 <= parallelism <= MAX_PARALLELISM:
        raise ReconcilerError(f"--parallelism must be between 1 and {MAX_PARALLELISM}")
    started = clock()
    requests, writes = client.request_count, client.write_count
    applier = Applier(client, desired, align(desired, live), project, ignore)
    tasks = _tasks(plan, desired)
    executor = _Executor(tasks, applier, progress, cancel or Cancel())
    outcomes = executor.run(parallelism)
    return ApplyResult(
        outcomes=tuple(outcomes[t.change.address] for t in tasks),
        requests=client.request_count - requests,
        writes=client.write_count - writes,
        seconds=clock() - started,
        interrupted=executor.cancel.reason,
    )


INTERRUPTED = "apply was interrupted"


class Cancel:
    """Tells a running apply to stop sending, and why: the first reason given is kept (Ctrl-C,
    a lost lock, the server gone, ...). Set from any thread, or a signal handler."""

    def __init__(self) -> None:
        self._lock = threading.RLock()  # a signal handler may set it inside a `set`
        self.reason: str | None = None

    def set(self, reason: str = INTERRUPTED) -> None:
        with self._lock:
            if self.reason is None:
                self.reason = reason

    def is_set(self) -> bool:
        return self.reason is not None


class _Executor:
    """Runs the tasks on `parallelism` worker threads in dependency order. Once `cancel` is set
    (Ctrl-C here, or whoever passed it in: a lost lock), nothing new is sent: what has not
    started is settled as not attempted, what is in flight finishes. The workers record what
    they did themselves, so Ctrl-C at any point of the main thread's bookkeeping loses nothing."""

    def __init__(
        self,
        tasks: list[Task],
        applier: Applier,
        progress: Progress | None,
        cancel: Cancel,
    ) -> None:
        self.tasks = tasks
        self.by_address = {t.change.address: t for t in tasks}
        self.applier = applier
        self.progress = progress
        self.cancel = cancel
        self.outcomes: dict[str, Outcome] = {}
        self.finished: dict[str, tuple[Status, str | None]] = {}  # written by the workers
        self.crashes: list[BaseException] = []  # bugs in a handler, raised after the run
        self.parallelism = 1
        self._lock = threading.Lock()
        self._work: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[str] = queue.SimpleQueue()

    def not_attempted(self) -> str:
        return f"not attempted: {self.cancel.reason or INTERRUPTED}"

    def work(self) -> None:
        """A worker thread: runs tasks until told to end (bounded: each task comes once)."""
        for _ in range(len(self.tasks) + 1):
            task = self._work.get()
            if task is None:
                return
            try:
                status, detail = self._attempt(task)
            except Exception as exc:  # a bug: reported by the main thread after the run
                with self._lock:
                    self.crashes.append(exc)
                status, detail = "failed", f"internal error: {type(exc).__name__}"
            with self._lock:
                self.finished[task.change.address] = (status, detail)
            self._done.put(task.change.address)

    def _attempt(self, task: Task) -> tuple[Status, str | None]:
        if self.cancel.is_set():  # queued before apply was told to stop
            return "skipped", self.not_attempted()
        try:
            return "applied", self.applier.run(task)
        except ApiError as exc:
            if exc.status is None and exc.detail.startswith(UNREACHABLE):
                self.cancel.set(f"the server stopped answering ({exc.detail})")
            return "failed", str(exc)
        except ReconcilerError as exc:
            return "failed", exc.message

    def settle(self, task: Task, status: Status, detail: str | None) -> None:
        rc = task.change
        outcome = Outcome(rc.address, rc.type, rc.name, rc.action, status, detail)
        self.outcomes[rc.address] = outcome
        if self.progress is not None:
            self.progress(outcome, len(self.outcomes), len(self.tasks))

    def settle_finished(self, task: Task) -> bool:
        with self._lock:
            result = self.finished.get(task.change.address)
        if result is not None and task.change.address not in self.outcomes:
            self.settle(task, *result)
        return result is not None

    def release(self, pending: list[Task], queued: set[str]) -> None:
        """Queue (or settle as skipped) pending tasks whose waits have settled, never more
        than there are workers: after Ctrl-C, only what is in flight still goes out."""
        for task in list(pending):
            if len(queued) >= self.parallelism:
                return
            waits = (task.needs | task.after) & self.by_address.keys()
            if any(a not in self.outcomes for a in waits):
                continue
            pending.remove(task)
            failed = sorted(
                a for a in task.needs & self.by_address.keys()
                if self.outcomes[a].status != "applied"
            )  # fmt: skip
            if failed:
                self.settle(task, "skipped", f"skipped because {', '.join(failed)} "
                            f"{'was' if len(failed) == 1 else 'were'} not applied")  # fmt: skip
            elif self.cancel.is_set():
                self.settle(task, "skipped", self.not_attempted())
            else:
                self._work.put(task)
                queued.add(task.change.address)

    def step(self, pending: list[Task], queued: set[str]) -> bool:
        """One round: settle what finished, queue what is ready, wait for a worker to finish
        one. False when everything is settled."""
        for address in sorted(queued):
            if self.settle_finished(self.by_address[address]):
                queued.discard(address)
        self.release(pending, queued)
        if not queued:
            return bool(pending)  # newly settled skips may release more tasks
        self._done.get()  # each task sends one: a stale one only costs a round
        return True

    def run(self, parallelism: int) -> dict[str, Outcome]:
        self.parallelism = max(1, min(parallelism, len(self.tasks)))
        workers = [
            threading.Thread(target=self.work, name=f"apply-{i}", daemon=True)
            for i in range(self.parallelism)
        ]
        for worker in workers:
            worker.start()
        pending, queued = list(self.tasks), set[str]()
        try:
            # Bounded: each round settles a task or consumes one of its finish messages.
            for _ in range(2 * len(self.tasks) + 2 + MAX_INTERRUPTS):
                try:
                    if not self.step(pending, queued):
                        break
                except KeyboardInterrupt:
                    # Ctrl-C: stop sending; what is in flight finishes; the report says what
                    # was done. Once already stopping (pipeline/applied.py turns the first Ctrl-C or
                    # SIGTERM into `cancel`), the user insists: give up on the report.
                    if self.cancel.is_set():
                        raise
                    self.cancel.set(INTERRUPTED)
        except BaseException:
            self.cancel.set("apply stopped on an internal error")  # queued tasks are not sent
            raise
        finally:
            for _ in workers:
                self._work.put(None)
            for worker in workers:
                worker.join()
        if self.crashes:
            raise self.crashes[0]
        for task in self.tasks:
            if task.change.address in self.outcomes or self.settle_finished(task):
                continue
            if self.cancel.is_set():
                self.settle(task, "skipped", self.not_attempted())
            else:  # only a dependency cycle leaves tasks here (a bug)
                self.settle(task, "skipped", "skipped: unresolvable ordering")
        return self.outcomes


MAX_INTERRUPTS = 10
