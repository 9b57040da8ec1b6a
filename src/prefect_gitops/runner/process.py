"""Starting, signalling and reaping flow-run child processes.

The only module (with the fork server in ``forkserver.py``) that creates processes. Every
child gets its own session, so one signal to its process group reaches what it started; what
is left when it ends is killed by ``reaper.kill_leftovers`` (which also finds processes that
left the group or the session).
"""

from __future__ import annotations

import codecs
import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

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


MAX_LINE_CHARS = 64 * 1024  # a longer line is emitted in pieces of this size
MAX_BACKLOG_CHARS = 16 * 1024 * 1024  # output a slow sink has not taken yet, at most
MAX_BATCH_CHARS = 1024 * 1024  # per sink call (other runs' output waits for the call)
READ_SIZE = 64 * 1024


class LineSplitter:
    """Splits a text stream into lines in linear time; a line longer than ``limit`` comes
    out in pieces of ``limit`` characters, so one line never holds more than that in memory."""

    def __init__(self, limit: int = MAX_LINE_CHARS) -> None:
        if limit < 1:
            raise ValueError("limit must be positive")
        self._limit = limit
        self._partial: list[str] = []
        self._size = 0
        self._split = False  # the current line was already emitted in part

    def feed(self, text: str) -> list[str]:
        lines: list[str] = []
        *complete, rest = text.split("\n")
        for line in complete:
            self._append(line, lines)
            if self._size or not self._split:
                lines.append("".join(self._partial))
            self._partial, self._size, self._split = [], 0, False
        self._append(rest, lines)
        return lines

    def flush(self) -> list[str]:
        """The unterminated last line, if any."""
        lines = ["".join(self._partial)] if self._size else []
        self._partial, self._size, self._split = [], 0, False
        return lines

    def _append(self, text: str, lines: list[str]) -> None:
        start = 0
        while start < len(text):
            piece = text[start : start + self._limit - self._size]
            start += len(piece)
            self._partial.append(piece)
            self._size += len(piece)
            if self._size >= self._limit:
                lines.append("".join(self._partial))
                self._partial, self._size, self._split = [], 0, True


class OutputPump:
    """Copies a child's output to ``sink``, each line prefixed (``stream_output``).

    ``sink`` gets whole lines joined by newlines (no trailing one), up to ``MAX_BATCH_CHARS``
    per call: one write per batch, not one per line, keeps up with chatty flows. One thread
    only drains the pipe (so the child never waits on us), another feeds ``sink``.
    When ``sink`` falls more than ``max_backlog`` characters behind, further output is dropped
    and counted, and a notice says so once ``sink`` catches up.
    """

    def __init__(
        self,
        prefix: str,
        sink: Callable[[str], None],
        *,
        max_line: int = MAX_LINE_CHARS,
        max_backlog: int = MAX_BACKLOG_CHARS,
    ) -> None:
        self._read_fd, self.write_fd = os.pipe()
        self._prefix = prefix
        self._sink = sink
        self._splitter = LineSplitter(max_line)
        self._max_backlog = max_backlog
        self._pending: deque[str] = deque()
        self._backlog = 0
        self._dropped = 0
        self._eof = False
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._drain, name=f"output {prefix}", daemon=True)
        self._writer = threading.Thread(target=self._deliver, name=f"sink {prefix}", daemon=True)
        self._reader.start()
        self._writer.start()

    def _drain(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        try:
            while chunk := os.read(self._read_fd, READ_SIZE):
                self._queue(self._splitter.feed(decoder.decode(chunk)))
            self._queue(self._splitter.feed(decoder.decode(b"", final=True)))
            self._queue(self._splitter.flush())
        except OSError:
            pass
        finally:
            os.close(self._read_fd)
            with self._changed:
                self._eof = True
                self._changed.notify()

    def _queue(self, lines: list[str]) -> None:
        if not lines:
            return
        with self._changed:
            for line in lines:
                if self._backlog + len(line) > self._max_backlog:
                    self._dropped += len(line) + 1
                    continue
                self._pending.append(line)
                self._backlog += len(line)
            self._changed.notify()

    def _deliver(self) -> None:
        while True:
            with self._changed:
                while not self._pending and not self._eof:
                    self._changed.wait()
                lines = list(self._pending)
                self._pending.clear()
                self._backlog = 0
                dropped, self._dropped = self._dropped, 0
                finished = self._eof
            if dropped:
                lines.append(
                    f"[prefect-gitops: {dropped} characters of output dropped: the output "
                    "could not be written as fast as the flow run produced it]"
                )
            try:
                for batch in self._batches(lines):
                    self._sink(batch)
            except (OSError, ValueError):
                # Our stdout is gone (closed pipe): keep draining the child, show nothing.
                self._sink = lambda _line: None
            if finished and not lines:
                return

    def _batches(self, lines: list[str]) -> Iterator[str]:
        batch: list[str] = []
        size = 0
        for line in lines:
            batch.append(f"{self._prefix} | {line}")
            size += len(batch[-1]) + 1
            if size >= MAX_BATCH_CHARS:
                yield "\n".join(batch)
                batch, size = [], 0
        if batch:
            yield "\n".join(batch)

    def close_write_end(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.write_fd)

    def join(self, timeout: float) -> None:
        """Wait (bounded) until the output is drained and handed to ``sink``."""
        deadline = time.monotonic() + timeout
        self._reader.join(timeout)
        self._writer.join(max(0.0, deadline - time.monotonic()))


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds passed (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
