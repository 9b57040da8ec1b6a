"""The runner: heartbeats, polling, claiming, launching and watching flow runs of one pool.

Threads, no event loop: the main thread polls; a heartbeat thread keeps the worker ONLINE and
the pool's base job template fresh; each claimed run gets one thread that renders its job
configuration, starts the child and waits for it. The server decides which runs are handed
out (pause, queue priority, pool and queue concurrency); we add only the local ``--limit``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import FrameType
from typing import Any

from ..errors import ConfigError, ReconcilerError
from ..prefect.api import ApiClient, ApiError
from ..prefect.settings import Settings
from .blocks import ServerBlocks, redact
from .config import (
    DEFAULT_PROCESS_TEMPLATE,
    JobConfigError,
    JobConfiguration,
    merge_job_variables,
    render_job_configuration,
    variable_names,
)
from .flowruns import FINAL_TYPES, crash_message, iso, propose_state, read_flow_run, state_type
from .process import (
    Child,
    Launcher,
    LaunchError,
    LaunchSpec,
    OutputPump,
    SubprocessLauncher,
    stop_child,
)
from .reaper import kill_leftovers

Log = Callable[[str], None]

# Keys that must not leak from the runner's own environment into a child.
_DROPPED_ENV = ("PREFECT__CONTROL_PORT", "PREFECT__CONTROL_TOKEN")


@dataclass(frozen=True)
class RunnerOptions:
    pool: str
    name: str = field(
        default_factory=lambda: f"prefect-gitops-runner-{uuid.uuid4().hex[:12]}"
    )  # like `ProcessWorker <uuid4>`
    queues: tuple[str, ...] = ()
    limit: int | None = None
    prefetch_seconds: float = 10.0
    query_seconds: float = 10.0
    heartbeat_seconds: float = 30.0
    run_once: bool = False
    cancel_check_seconds: float = 5.0
    kill_grace_seconds: float = 30.0
    shutdown_grace_seconds: float = 30.0
    fork_server: bool = True
    fork_server_idle_seconds: float = 60.0
    log_dir: Path | None = None
    python: str = sys.executable

    def __post_init__(self) -> None:
        # As Prefect's own workers refuse them (prefect/workers/base.py).
        if "/" in self.name or "%" in self.name:
            raise ConfigError(f"worker name {self.name!r} must not contain '/' or '%'")


@dataclass
class ActiveRun:
    flow_run: dict[str, Any]
    child: Child | None = None
    default_command: bool = True
    cancel_reason: str | None = None
    done: threading.Event = field(default_factory=threading.Event)
    final_state: str | None = None
    secrets: frozenset[str] = frozenset()  # read from blocks; redacted from what we print

    @property
    def id(self) -> str:
        return str(self.flow_run["id"])


class Runner:
    """A process worker for one work pool, speaking REST only."""

    def __init__(
        self,
        client: ApiClient,
        settings: Settings,
        options: RunnerOptions,
        *,
        environ: Mapping[str, str] | None = None,
        log: Log = lambda msg: print(msg, file=sys.stderr, flush=True),
        output: Log = lambda line: print(line, flush=True),
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.client = client
        self.settings = settings
        self.options = options
        self.environ = dict(os.environ if environ is None else environ)
        self._log = log
        self._output_lock = threading.Lock()
        self._output = output
        self._now = now
        self._active: dict[str, ActiveRun] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._hurry = threading.Event()
        self._wake = threading.Event()
        self._pool: dict[str, Any] = {}
        self._launcher: Launcher | None = None
        self._fallback = SubprocessLauncher(options.python)
        self._heartbeat_thread: threading.Thread | None = None
        self.last_poll = time.monotonic()
        self._next_cancel_check = time.monotonic()
        self.polls = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Check the pool, send the first heartbeat, start the helpers (fork server)."""
        self._pool = self._read_pool()
        pool_type = self._pool.get("type")
        if pool_type != "process":
            raise ConfigError(
                f"work pool {self.options.pool!r} has type {pool_type!r}; "
                "the prefect-gitops runner only executes 'process' pools",
                hint=f"use `prefect worker start --pool {self.options.pool} --type {pool_type}` "
                "for this pool, or point the runner at a process pool",
            )
        if self._pool.get("is_paused"):
            self._log(
                f"warning: work pool {self.options.pool!r} is paused; no runs will be handed out"
            )
        self._heartbeat()
        if self.options.fork_server and sys.platform == "linux":
            from .forkserver import LazyForkServer

            self._launcher = LazyForkServer(
                self._base_env(), self.options.python, self.options.fork_server_idle_seconds
            )
        self._heartbeat_thread = threading.Thread(
            target=self._heartbeat_loop, name="heartbeat", daemon=True
        )
        self._heartbeat_thread.start()

    def stop(self, *, hurry: bool = False) -> None:
        """Stop polling (what SIGTERM/SIGINT do); a second call skips the grace period."""
        if self._stop.is_set() or hurry:
            self._hurry.set()
        self._stop.set()
        self._wake.set()

    def install_signal_handlers(self) -> None:
        def handler(signum: int, _frame: FrameType | None) -> None:
            self._log(f"received {signal.Signals(signum).name}: stopping")
            self.stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def run(self) -> None:
        """Poll until stopped (or once with ``run_once``), then shut down cleanly."""
        try:
            self._next_cancel_check = time.monotonic() + self.options.cancel_check_seconds
            while not self._stop.is_set():
                self._wake.clear()
                self.poll_once()
                if self.options.run_once:
                    self._wait_for_runs(None)
                    break
                deadline = time.monotonic() + self.options.query_seconds
                while not self._stop.is_set() and time.monotonic() < deadline:
                    self._maybe_check_cancellations()
                    timeout = min(deadline, self._next_cancel_check) - time.monotonic()
                    if self._wake.wait(max(0.0, timeout)):
                        break
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        grace = 0.0 if self._hurry.is_set() else self.options.shutdown_grace_seconds
        if self.active_ids() and grace > 0:
            self._log(f"waiting up to {grace:g}s for {len(self.active_ids())} running flow run(s)")
            self._wait_for_runs(grace)
        for run in self.active_runs():
            self.cancel(run, "The prefect-gitops runner shut down before the flow run finished.")
        self._wait_for_runs(self.options.kill_grace_seconds + 15.0, check=False)
        self._stop.set()
        if self._launcher is not None:
            self._launcher.close()

    def _maybe_check_cancellations(self) -> None:
        if time.monotonic() >= self._next_cancel_check:
            self.check_cancellations()
            self._next_cancel_check = time.monotonic() + self.options.cancel_check_seconds

    def _wait_for_runs(self, timeout: float | None, *, check: bool = True) -> None:
        """Wait (bounded when ``timeout`` is given) until no run is active."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            runs = self.active_runs()
            if not runs:
                return
            if deadline is not None and (time.monotonic() >= deadline or self._hurry.is_set()):
                return
            runs[0].done.wait(0.2)
            if check:
                self._maybe_check_cancellations()

    def active_runs(self) -> list[ActiveRun]:
        with self._lock:
            return list(self._active.values())

    def active_ids(self) -> list[str]:
        with self._lock:
            return list(self._active)

    def is_healthy(self) -> bool:
        return time.monotonic() - self.last_poll < 30 * self.options.query_seconds

    # -- heartbeat and pool ------------------------------------------------------------------

    def _read_pool(self) -> dict[str, Any]:
        pool = self.client.get(f"/work_pools/{self.options.pool}", allow=(404,))
        if not isinstance(pool, dict):
            raise ConfigError(
                f"work pool {self.options.pool!r} does not exist on {self.client.shown_base_url}",
                hint="create it first (`prefect-gitops apply`), or check --pool",
            )
        return pool

    def _heartbeat(self) -> None:
        self.client.post(
            f"/work_pools/{self.options.pool}/workers/heartbeat",
            json={
                "name": self.options.name,
                "heartbeat_interval_seconds": int(self.options.heartbeat_seconds),
            },
        )

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(self.options.heartbeat_seconds):
            try:
                self._heartbeat()
                pool = self._read_pool()
                self._pool = pool
            except ReconcilerError as exc:
                self._log(f"heartbeat failed: {exc}")

    # -- polling and claiming ----------------------------------------------------------------

    def free_slots(self) -> int | None:
        if self.options.limit is None:
            return None
        return max(0, self.options.limit - len(self.active_ids()))

    def poll_once(self) -> None:
        """One ``get_scheduled_flow_runs`` call; claim and start what fits in ``--limit``."""
        self.polls += 1
        self.last_poll = time.monotonic()
        free = self.free_slots()
        if free == 0:
            return
        body: dict[str, Any] = {
            "scheduled_before": iso(self._now() + timedelta(seconds=self.options.prefetch_seconds))
        }
        if self.options.queues:
            body["work_queue_names"] = list(self.options.queues)
        try:
            responses = self.client.post(
                f"/work_pools/{self.options.pool}/get_scheduled_flow_runs", json=body
            )
        except ApiError as exc:
            if exc.status == 404:
                raise ConfigError(
                    f"polling work pool {self.options.pool!r} failed: {exc.detail}"
                ) from None
            self._log(f"polling failed: {exc}")
            return
        for item in responses or []:
            flow_run = item.get("flow_run") if isinstance(item, dict) else None
            if not isinstance(flow_run, dict):
                continue
            if self._stop.is_set() or free == 0:
                break
            with self._lock:
                if str(flow_run["id"]) in self._active:
                    continue
            run = self.claim(flow_run)
            if run is None:
                continue
            if free is not None:
                free -= 1
            threading.Thread(
                target=self._execute, args=(run,), name=f"run {run.id}", daemon=True
            ).start()

    def claim(self, flow_run: dict[str, Any]) -> ActiveRun | None:
        """Propose PENDING; a run another worker claimed first is answered ABORT and skipped."""
        run_id = str(flow_run["id"])
        if state_type(flow_run) == "CANCELLING":
            propose_state(
                self.client,
                run_id,
                "CANCELLED",
                message="Flow run was cancelled before it started.",
                force=True,
            )
            return None
        try:
            status = propose_state(self.client, run_id, "PENDING")
        except ApiError as exc:
            self._log(f"could not claim flow run {run_id}: {exc}")
            return None
        if status != "ACCEPT":
            self._log(
                f"flow run {flow_run.get('name')!r} ({run_id}) not claimed: the server answered {status}"
            )
            return None
        run = ActiveRun(flow_run)
        with self._lock:
            self._active[run_id] = run
        return run

    # -- executing one run -------------------------------------------------------------------

    def execute_flow_run(self, flow_run: dict[str, Any]) -> str | None:
        """Claim one flow run, run it here and wait for it (``run --local``).

        Returns its final state type, or None when the server refused the claim. Ctrl-C
        cancels the run properly before returning.
        """
        run = self.claim(flow_run)
        if run is None:
            return None
        thread = threading.Thread(
            target=self._execute, args=(run,), name=f"run {run.id}", daemon=True
        )
        thread.start()
        try:
            while not run.done.wait(0.2):
                self._maybe_check_cancellations()
        except KeyboardInterrupt:
            self.cancel(run, "Flow run was cancelled from the command line.")
            run.done.wait(self.options.kill_grace_seconds + 15.0)
            raise
        return run.final_state

    def job_configuration(
        self, flow_run: dict[str, Any]
    ) -> tuple[JobConfiguration, dict[str, str]]:
        """The rendered job configuration and the child's environment."""
        deployment: dict[str, Any] = {}
        if flow_run.get("deployment_id"):
            found = self.client.get(f"/deployments/{flow_run['deployment_id']}", allow=(404,))
            if not isinstance(found, dict):
                raise JobConfigError(f"Deployment {flow_run['deployment_id']} no longer exists")
            deployment = found
        flow = self.client.get(f"/flows/{flow_run['flow_id']}", allow=(404,)) or {}
        template = self._template_for(flow_run)
        variables = merge_job_variables(
            deployment.get("job_variables"), flow_run.get("job_variables")
        )
        prefect_variables: dict[str, Any] = {}
        for name in sorted(variable_names(template, variables)):
            found = self.client.get(f"/variables/name/{name}", allow=(404,))
            if isinstance(found, dict):
                prefect_variables[name] = found.get("value")
        config = render_job_configuration(
            template,
            variables,
            prefect_variables=prefect_variables,
            blocks=ServerBlocks(self.client),
            environ=self.environ,
        )
        env = self._base_env()
        attribution = {
            "PREFECT__WORKER_NAME": self.options.name,
            "PREFECT__FLOW_ID": str(flow_run.get("flow_id") or ""),
            "PREFECT__FLOW_NAME": str(flow.get("name") or ""),
            "PREFECT__DEPLOYMENT_ID": str(deployment.get("id") or ""),
            "PREFECT__DEPLOYMENT_NAME": str(deployment.get("name") or ""),
        }
        env.update({k: v for k, v in attribution.items() if v})
        env.update(config.env)
        env["PREFECT__FLOW_RUN_ID"] = str(flow_run["id"])
        return config, env

    def _template_for(self, flow_run: dict[str, Any]) -> dict[str, Any]:
        pool_name = flow_run.get("work_pool_name")
        pool = self._pool
        if pool_name and pool_name != pool.get("name"):
            found = self.client.get(f"/work_pools/{pool_name}", allow=(404,))
            pool = found if isinstance(found, dict) else {}
        template = pool.get("base_job_template") if pool else None
        if not template or not template.get("job_configuration"):
            return DEFAULT_PROCESS_TEMPLATE
        return dict(template)

    def _base_env(self) -> dict[str, str]:
        env = {k: v for k, v in self.environ.items() if k not in _DROPPED_ENV}
        if self.settings.api_url:
            env["PREFECT_API_URL"] = self.settings.api_url
        if self.settings.api_key:
            env["PREFECT_API_KEY"] = self.settings.api_key
        if self.settings.auth_string:
            env["PREFECT_API_AUTH_STRING"] = self.settings.auth_string
        return env

    def _emit(self, line: str) -> None:
        with self._output_lock:
            self._output(line)

    def _execute(self, run: ActiveRun) -> None:
        temp_dir: str | None = None
        pump: OutputPump | None = None
        log_fd: int | None = None
        try:
            try:
                config, env = self.job_configuration(run.flow_run)
            except (ReconcilerError, JobConfigError) as exc:
                hint = f" ({exc.hint})" if exc.hint else ""
                self._crash(run, f"Failed to submit flow run to infrastructure: {exc}{hint}")
                return
            run.secrets = config.secrets
            if config.working_dir is None:
                temp_dir = tempfile.mkdtemp(suffix="prefect")
                cwd = Path(temp_dir)
            else:
                cwd = config.working_dir
                cwd.mkdir(parents=True, exist_ok=True)
            label = redact(config.name or str(run.flow_run.get("name") or run.id), run.secrets)
            if config.stream_output:
                pump = OutputPump(label, self._emit)
                output_fd = pump.write_fd
            else:
                output_fd = log_fd = self._open_output_file(run.id, label)
            spec = LaunchSpec(run.id, config.command, env, cwd, output_fd)
            run.default_command = config.command is None
            try:
                run.child = self._launch(spec)
            except LaunchError as exc:
                self._crash(run, f"Failed to submit flow run to infrastructure: {exc}")
                return
            finally:
                if pump is not None:
                    pump.close_write_end()
                if log_fd is not None:
                    os.close(log_fd)
                    log_fd = None
            self._watch(run, run.child, pump, label)
        except Exception as exc:
            self._log(
                redact(
                    f"flow run {run.id}: unexpected error: {type(exc).__name__}: {exc}", run.secrets
                )
            )
            with contextlib.suppress(Exception):
                self._crash(run, f"The prefect-gitops runner failed: {type(exc).__name__}: {exc}")
        finally:
            if log_fd is not None:
                os.close(log_fd)
            if temp_dir is not None:
                shutil.rmtree(temp_dir, ignore_errors=True)
            with self._lock:
                self._active.pop(run.id, None)
            run.done.set()
            self._wake.set()

    def _open_output_file(self, run_id: str, label: str) -> int:
        """A descriptor appending to the run's own log file (output not streamed)."""
        log_dir = self.options.log_dir or Path(tempfile.gettempdir()) / "prefect-gitops-runs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{run_id}.log"
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._log(f"flow run {label!r}: output goes to {log_path}")
        return log_fd

    def _watch(self, run: ActiveRun, child: Child, pump: OutputPump | None, label: str) -> None:
        """Wait for the started child, kill what it left behind, report the final state."""
        self._log(f"flow run {label!r} ({run.id}) started as process {child.pid}")
        with contextlib.suppress(ApiError):
            self.client.patch(
                f"/flow_runs/{run.id}",
                json={"infrastructure_pid": f"{socket.gethostname()}:{child.pid}"},
            )
        if run.cancel_reason is not None:
            self._terminate(run)
        code = child.wait()
        # Whatever the run started dies with it (it also holds the output pipe open).
        left = kill_leftovers(child.pid, flow_run_id=run.id)
        if left:
            self._log(f"flow run {label!r} ({run.id}): killed {len(left)} leftover process(es)")
        if pump is not None:
            pump.join(5.0)
        self._finish(run, code if code is not None else -int(signal.SIGKILL), label)

    def _launch(self, spec: LaunchSpec) -> Child:
        if spec.command is None and self._launcher is not None:
            try:
                return self._launcher.launch(spec)
            except LaunchError as exc:
                self._log(f"fork server unavailable ({exc}); starting a fresh interpreter")
        return self._fallback.launch(spec)

    def _finish(self, run: ActiveRun, code: int, label: str) -> None:
        flow_run = read_flow_run(self.client, run.id)
        current = state_type(flow_run) if flow_run else None
        if run.cancel_reason is not None:
            if current not in ("COMPLETED", "FAILED", "CANCELLED"):
                propose_state(
                    self.client, run.id, "CANCELLED", message=run.cancel_reason, force=True
                )
                current = "CANCELLED"
        elif code != 0 and current not in FINAL_TYPES:
            message = crash_message(code)
            self._log(f"flow run {label!r} ({run.id}) crashed: {message}")
            propose_state(self.client, run.id, "CRASHED", message=message)
            current = "CRASHED"
        run.final_state = current
        self._log(f"flow run {label!r} ({run.id}) finished: exit code {code}, state {current}")

    def _crash(self, run: ActiveRun, message: str) -> None:
        message = redact(message, run.secrets)
        self._log(f"flow run {run.id}: {message}")
        propose_state(self.client, run.id, "CRASHED", message=message)
        run.final_state = "CRASHED"

    # -- cancellation ------------------------------------------------------------------------

    def check_cancellations(self) -> None:
        """Find our runs that were moved to CANCELLING and stop them."""
        candidates = [r.id for r in self.active_runs() if r.cancel_reason is None]
        if not candidates:
            return
        try:
            found = self.client.post(
                "/flow_runs/filter",
                json={
                    "flow_runs": {
                        "id": {"any_": candidates},
                        "state": {"type": {"any_": ["CANCELLING"]}},
                    },
                    "limit": 200,
                },
            )
        except ApiError as exc:
            self._log(f"checking for cancellations failed: {exc}")
            return
        with self._lock:
            runs = [self._active[str(f["id"])] for f in found or [] if str(f["id"]) in self._active]
        for run in runs:
            self.cancel(run, "Flow run was cancelled successfully.")

    def cancel(self, run: ActiveRun, reason: str) -> None:
        """Stop a run's process (SIGTERM, SIGKILL after the grace period); it ends CANCELLED."""
        if run.cancel_reason is not None:
            return
        run.cancel_reason = reason
        if run.child is not None:
            self._log(f"cancelling flow run {run.id} (process {run.child.pid})")
            threading.Thread(
                target=self._terminate, args=(run,), name=f"cancel {run.id}", daemon=True
            ).start()

    def _terminate(self, run: ActiveRun) -> None:
        assert run.child is not None
        # Our default child turns SIGUSR1 into Prefect's "cancel" intent, then SIGTERMs itself,
        # so the engine reports CANCELLED (as with Prefect's control channel).
        stop_child(
            run.child,
            grace=self.options.kill_grace_seconds,
            graceful_signal=signal.SIGUSR1 if run.default_command else signal.SIGTERM,
            to_group=not run.default_command,
            log=self._log,
        )
