"""Starting, signalling and reaping flow-run child processes.

The only module (with the fork server in ``forkserver.py``) that creates processes. Every
child gets its own session, so one signal to its process group reaches everything it started,
and the runner can always clean up without leaving orphans.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

CHILD_MODULE = "prefect_gitops.runner.child"


@dataclass(frozen=True)
class LaunchSpec:
    """One child to start. ``command`` None means Prefect's default (pull steps + engine)."""

    flow_run_id: str
    command: str | None
    env: dict[str, str]
    cwd: Path
    output_fd: int  # the child's stdout and stderr


class Child(Protocol):
    @property
    def pid(self) -> int: ...

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code (negative: killed by that signal), or None on timeout."""
        ...


class Launcher(Protocol):
    def launch(self, spec: LaunchSpec) -> Child: ...

    def close(self) -> None: ...


def command_argv(spec: LaunchSpec, python: str) -> list[str]:
    if spec.command is not None:
        return shlex.split(spec.command)
    return [python, "-m", CHILD_MODULE, spec.flow_run_id, str(spec.cwd)]


class _PopenChild:
    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process

    @property
    def pid(self) -> int:
        return self._process.pid

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            return self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None


class SubprocessLauncher:
    """A fresh interpreter per run (what Prefect does; imports Prefect in every child)."""

    def __init__(self, python: str = sys.executable) -> None:
        self.python = python

    def launch(self, spec: LaunchSpec) -> Child:
        try:
            process = subprocess.Popen(
                command_argv(spec, self.python),
                env=spec.env,
                cwd=spec.cwd,
                stdin=subprocess.DEVNULL,
                stdout=spec.output_fd,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise LaunchError(f"cannot start {spec.command or CHILD_MODULE!r}: {exc}") from None
        return _PopenChild(process)

    def close(self) -> None:
        return None


class LaunchError(Exception):
    """The child process could not be started."""


def signal_group(pid: int, sig: int) -> bool:
    """Send ``sig`` to the process group led by ``pid``; False if it is gone."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


def signal_process(pid: int, sig: int) -> bool:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stop_child(
    child: Child,
    *,
    grace: float,
    graceful_signal: int = signal.SIGTERM,
    to_group: bool = True,
    log: Callable[[str], None] = lambda _msg: None,
) -> int | None:
    """Ask the child to stop, then SIGKILL its whole group after ``grace`` seconds.

    ``graceful_signal`` goes to the process only (SIGUSR1: the engine's cancel intent) or to
    the group (SIGTERM). Returns the exit code, or None if it survived SIGKILL (not expected).
    """
    if to_group:
        signal_group(child.pid, graceful_signal)
    else:
        signal_process(child.pid, graceful_signal)
    code = child.wait(grace)
    if code is None:
        log(f"process {child.pid} did not exit within {grace:g}s; sending SIGKILL")
        signal_group(child.pid, signal.SIGKILL)
        code = child.wait(10.0)
    # Anything the child started and left behind in its group goes too.
    signal_group(child.pid, signal.SIGKILL)
    return code


class OutputPump:
    """Copies a child's output to ``sink`` line by line, each prefixed (``stream_output``)."""

    def __init__(self, prefix: str, sink: Callable[[str], None]) -> None:
        read_fd, self.write_fd = os.pipe()
        self._reader: IO[bytes] = os.fdopen(read_fd, "rb", buffering=0)
        self._prefix = prefix
        self._sink = sink
        self._thread = threading.Thread(target=self._pump, name=f"output {prefix}", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        with self._reader:
            buffered = b""
            while True:
                chunk = self._reader.read(65536)
                if not chunk:
                    break
                buffered += chunk
                *lines, buffered = buffered.split(b"\n")
                for line in lines:
                    self._sink(f"{self._prefix} | {line.decode('utf-8', 'replace')}")
            if buffered:
                self._sink(f"{self._prefix} | {buffered.decode('utf-8', 'replace')}")

    def close_write_end(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.write_fd)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds passed (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
