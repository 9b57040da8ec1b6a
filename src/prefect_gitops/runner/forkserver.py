"""A pre-imported fork server: Prefect is imported once, each flow run is a fork of it.

Prefect's worker spends ~4 s between PENDING and RUNNING, most of it importing Prefect twice
(supervisor, then engine). Here a helper process imports the engine once and forks a child per
run that goes straight to the pull steps and the engine (``child.execute``). The runner starts
it with the first run and stops it when idle (``LazyForkServer``): it holds ~80 MiB of imports.

Protocol over a ``SOCK_SEQPACKET`` socket pair (one JSON message per packet):

- server -> runner ``{"ready": true}`` once the imports are done (or ``{"error": "..."}``);
- runner -> server ``{"id", "flow_run_id", "env", "cwd"}`` plus the child's output fd (SCM_RIGHTS);
- server -> runner ``{"id", "pid"}``, later ``{"id", "exit": code}`` (negative: signal).

The server stays single-threaded (forking a threaded process is unsafe) and reaps children on
SIGCHLD. It and every forked run are subreapers; when a run ends, the server kills what it left
behind (``reaper.kill_leftovers``: group, session, adopted orphans) before reporting the exit.
When the runner's end closes (the runner exited, even by SIGKILL), the server kills every run
and its leftovers and exits, so no flow-run process outlives both of them.

The runner side (``ForkServerLauncher``) never imports Prefect.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from .process import Child, LaunchError, LaunchSpec
from .reaper import become_subreaper, kill_leftovers

MAX_MESSAGE = 4 * 1024 * 1024
READY_TIMEOUT = 120.0
FAILED_RETRY_SECONDS = 60.0


class _ForkChild:
    def __init__(self) -> None:
        self._pid: int | None = None
        self._code: int | None = None
        self._started = threading.Event()
        self._exited = threading.Event()
        self.error: str | None = None

    @property
    def pid(self) -> int:
        assert self._pid is not None
        return self._pid

    def wait(self, timeout: float | None = None) -> int | None:
        if not self._exited.wait(timeout):
            return None
        return self._code

    def _set_pid(self, pid: int) -> None:
        self._pid = pid
        self._started.set()

    def _set_exit(self, code: int) -> None:
        self._code = code
        self._exited.set()


class ForkServerLauncher:
    """Runner side: starts the server process and asks it for children."""

    def __init__(self, env: dict[str, str], python: str = sys.executable) -> None:
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._send_lock = threading.Lock()
        self._children: dict[int, _ForkChild] = {}
        self._ids = itertools.count(1)
        self._ready = threading.Event()
        self._failed: str | None = None
        self._closed = False
        self._idle_since: float | None = time.monotonic()
        try:
            self._process = subprocess.Popen(
                [python, "-m", "prefect_gitops.runner.forkserver", str(theirs.fileno())],
                env=env,
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            theirs.close()
        self._reader = threading.Thread(target=self._read, name="fork server", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self._process.pid

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> bool:
        return self._ready.wait(timeout) and self._failed is None

    def launch(self, spec: LaunchSpec) -> Child:
        if spec.command is not None:
            raise LaunchError("the fork server only starts Prefect's default command")
        if not self.wait_ready():
            raise LaunchError(f"the fork server is not available: {self._failed or 'not ready'}")
        child = _ForkChild()
        request_id = next(self._ids)
        self._children[request_id] = child
        self._idle_since = None
        message = {
            "id": request_id,
            "flow_run_id": spec.flow_run_id,
            "env": spec.env,
            "cwd": str(spec.cwd),
        }
        try:
            with self._send_lock:
                socket.send_fds(self._sock, [json.dumps(message).encode()], [spec.output_fd])
        except OSError as exc:
            self._forget(request_id)
            raise LaunchError(f"the fork server is gone: {exc}") from None
        if not child._started.wait(30.0) or child.error is not None or child._pid is None:
            self._forget(request_id)
            raise LaunchError(f"the fork server could not fork: {child.error or 'no answer'}")
        return child

    def _read(self) -> None:
        while True:
            try:
                data = self._sock.recv(MAX_MESSAGE)
            except OSError:
                data = b""
            if not data:
                break
            message = json.loads(data)
            if "ready" in message:
                self._ready.set()
                continue
            child = self._children.get(message.get("id", -1))
            if "error" in message and child is None:
                self._failed = str(message["error"])
                self._ready.set()
            elif child is not None and "error" in message:
                child.error = str(message["error"])
                child._started.set()
            elif child is not None and "pid" in message:
                child._set_pid(int(message["pid"]))
            elif child is not None and "exit" in message:
                self._forget(message["id"])
                child._set_exit(int(message["exit"]))
        if self._failed is None:
            self._failed = "the fork server exited"
        self._ready.set()
        for child in list(self._children.values()):
            child._started.set()
            child._set_exit(-int(signal.SIGKILL))
        self._children.clear()
        self._idle_since = time.monotonic()

    def _forget(self, request_id: int) -> None:
        self._children.pop(request_id, None)
        if not self._children:
            self._idle_since = time.monotonic()

    def idle_seconds(self) -> float:
        """How long no child of ours has been running (0 while one is)."""
        since = self._idle_since
        return 0.0 if since is None else time.monotonic() - since

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        try:
            self._process.wait(15.0)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(5.0)


class LazyForkServer:
    """A ``ForkServerLauncher`` started on the first launch and stopped when idle.

    The fork server holds Prefect imported (about 90 MiB); a runner with nothing to run
    should not. The first run after an idle stop pays Prefect's import once, as every run
    does under ``prefect worker``.
    """

    def __init__(self, env: dict[str, str], python: str, idle_seconds: float) -> None:
        self._env = env
        self._python = python
        self._idle_seconds = idle_seconds
        self._server: ForkServerLauncher | None = None
        self._retry_at = 0.0  # after a failure, runs use a fresh interpreter until then
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._watcher = threading.Thread(target=self._stop_when_idle, name="fork server idle")
        self._watcher.daemon = True
        self._watcher.start()

    def launch(self, spec: LaunchSpec) -> Child:
        with self._lock:
            if self._closed.is_set():
                raise LaunchError("the runner is shutting down")
            if self._server is None:
                if time.monotonic() < self._retry_at:
                    raise LaunchError("it failed recently")
                self._server = ForkServerLauncher(self._env, self._python)
            try:
                return self._server.launch(spec)
            except LaunchError:
                # Not at every run: a server that cannot import Prefect costs seconds to fail.
                self._retry_at = time.monotonic() + max(FAILED_RETRY_SECONDS, self._idle_seconds)
                self._close_server()
                raise

    def _stop_when_idle(self) -> None:
        interval = min(5.0, max(0.05, self._idle_seconds / 4))
        while not self._closed.wait(interval):
            with self._lock:
                server = self._server
                if server is not None and server.idle_seconds() >= self._idle_seconds:
                    self._close_server()

    def _close_server(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            self._close_server()


# -- server side (runs in its own process) ----------------------------------------------------


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        sock.send(json.dumps(message).encode())


def _run_child(
    sock: socket.socket, wakeup: tuple[int, int], request: dict[str, Any], out_fd: int
) -> None:
    """In the forked child: become a session leader with the run's env, then run the flow."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        sock.close()
        for fd in wakeup:
            os.close(fd)
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        os.close(devnull)
        os.close(out_fd)
        from .child import execute_and_sweep, settings_changed

        refresh = settings_changed(os.environ, request["env"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        code = execute_and_sweep(
            str(request["flow_run_id"]), Path(request["cwd"]), refresh_settings=refresh
        )
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def serve(fd: int) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=fd)
    try:
        from .child import preload

        preload()
    except BaseException as exc:
        _send(sock, {"error": f"{type(exc).__name__}: {exc}"})
        return 1
    # Orphans of a run whose process died (SIGKILL, crash) come to us, not to init, and are
    # killed when we reap that run (`_reap`).
    become_subreaper()
    wakeup = os.pipe()
    os.set_blocking(wakeup[0], False)
    os.set_blocking(wakeup[1], False)
    signal.signal(signal.SIGCHLD, lambda _s, _f: None)
    signal.set_wakeup_fd(wakeup[1])
    children: dict[int, tuple[int, str]] = {}  # pid -> (request id, flow run id)
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    selector.register(wakeup[0], selectors.EVENT_READ)
    _send(sock, {"ready": True})
    running = True
    while running:
        for key, _ in selector.select(timeout=5.0):
            if key.fileobj is sock:
                try:
                    data, fds, _flags, _addr = socket.recv_fds(sock, MAX_MESSAGE, 4)
                except OSError:
                    data, fds = b"", []
                if not data:
                    running = False
                    break
                _fork_run(sock, wakeup, json.loads(data), fds, children)
            else:
                with contextlib.suppress(BlockingIOError):
                    while os.read(wakeup[0], 512):
                        pass
        _reap(sock, children)
    # The runner is gone: nothing of ours may outlive it.
    for pid, (_request_id, flow_run_id) in children.items():
        kill_leftovers(pid, flow_run_id=flow_run_id, adopted_by=os.getpid())
    for pid in list(children):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    return 0


def _fork_run(
    sock: socket.socket,
    wakeup: tuple[int, int],
    request: dict[str, Any],
    fds: list[int],
    children: dict[int, tuple[int, str]],
) -> None:
    if not fds:
        _send(sock, {"id": request.get("id"), "error": "no output descriptor"})
        return
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = os.fork()
    except OSError as exc:
        _send(sock, {"id": request["id"], "error": str(exc)})
        pid = -1
    if pid == 0:
        _run_child(sock, wakeup, request, fds[0])
    for extra in fds:
        os.close(extra)
    if pid > 0:
        children[pid] = (int(request["id"]), str(request["flow_run_id"]))
        _send(sock, {"id": request["id"], "pid": pid})


def _reap(sock: socket.socket, children: dict[int, tuple[int, str]]) -> None:
    """Reap every exited child (runs and adopted orphans); a run's leftovers die with it."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        run = children.pop(pid, None)
        if run is None:
            continue
        request_id, flow_run_id = run
        kill_leftovers(pid, flow_run_id=flow_run_id, adopted_by=os.getpid(), spare=children)
        _send(sock, {"id": request_id, "exit": os.waitstatus_to_exitcode(status)})


if __name__ == "__main__":
    raise SystemExit(serve(int(sys.argv[1])))
