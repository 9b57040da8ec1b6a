"""Finding and killing what a flow run left behind, through Linux ``/proc``.

Every flow run starts as the leader of its own session, so whatever it starts shares its
process group and session id unless it moves itself out. When a run ends (completed, crashed
or cancelled), ``kill_leftovers`` SIGKILLs, until none is left:

- every process in the run's process group or session;
- every process whose environment holds the run's ``PREFECT__FLOW_RUN_ID`` (a daemon that
  called ``setsid`` and double-forked usually keeps the environment it inherited);
- with ``adopted_by``: the children of that subreaper it does not ``spare`` (orphans it
  adopted: the fork server and each default flow-run process are subreapers, see
  ``become_subreaper``, so a double-forked daemon stays in its run's tree);
- every descendant of all of the above.

Limit (no cgroup): a process that leaves the session, scrubs its environment, and whose
parent exits while no subreaper of ours is an ancestor (a custom ``command`` started without
the fork server) is reparented to init and not found. Without ``/proc`` (not Linux), only the
process group is killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass

PR_SET_CHILD_SUBREAPER = 36
FLOW_RUN_ENV = "PREFECT__FLOW_RUN_ID"
_PROC = "/proc"


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    ppid: int
    pgid: int
    sid: int
    zombie: bool


def has_proc() -> bool:
    return sys.platform.startswith("linux") and os.path.isdir(_PROC)


def become_subreaper() -> bool:
    """Adopt orphaned descendants instead of init (``PR_SET_CHILD_SUBREAPER``); Linux only."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes  # here: the runner itself never needs it (it stays small)

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def parse_stat(pid: int, raw: bytes) -> ProcessInfo | None:
    """One ``/proc/<pid>/stat`` line; the command name may hold spaces and parentheses."""
    _name, closing, rest = raw.rpartition(b")")
    fields = rest.split()
    if not closing or len(fields) < 4:
        return None
    try:
        ppid, pgid, sid = int(fields[1]), int(fields[2]), int(fields[3])
    except ValueError:
        return None
    return ProcessInfo(pid, ppid, pgid, sid, zombie=fields[0] in (b"Z", b"X"))


def read_processes() -> dict[int, ProcessInfo]:
    found: dict[int, ProcessInfo] = {}
    try:
        names = os.listdir(_PROC)
    except OSError:
        return found
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"{_PROC}/{name}/stat", "rb") as stat:
                raw = stat.read()
        except OSError:
            continue  # exited meanwhile
        info = parse_stat(int(name), raw)
        if info is not None:
            found[info.pid] = info
    return found


def _environment_has(pid: int, entry: bytes) -> bool:
    try:
        with open(f"{_PROC}/{pid}/environ", "rb") as environ:
            return entry in environ.read().split(b"\0")
    except OSError:
        return False  # another user's process, or gone


def leftovers(
    processes: Mapping[int, ProcessInfo],
    leader: int,
    *,
    flow_run_id: str | None = None,
    adopted_by: int | None = None,
    spare: Collection[int] = (),
) -> set[int]:
    """The pids ``kill_leftovers`` kills (see the module docstring), never this process."""
    seeds = [p.pid for p in processes.values() if leader in (p.pgid, p.sid)]
    if adopted_by is not None:
        seeds += [p.pid for p in processes.values() if p.ppid == adopted_by]
    if flow_run_id:
        entry = f"{FLOW_RUN_ENV}={flow_run_id}".encode()
        seeds += [pid for pid in processes if _environment_has(pid, entry)]
    children: dict[int, list[int]] = {}
    for info in processes.values():
        children.setdefault(info.ppid, []).append(info.pid)
    excluded = {os.getpid(), *spare}
    found: set[int] = set()
    while seeds:
        pid = seeds.pop()
        if pid in found or pid in excluded:
            continue
        found.add(pid)
        seeds.extend(children.get(pid, ()))
    return found


def kill_leftovers(
    leader: int,
    *,
    flow_run_id: str | None = None,
    adopted_by: int | None = None,
    spare: Collection[int] = (),
    timeout: float = 5.0,
) -> set[int]:
    """SIGKILL what the run led by ``leader`` left running; returns the pids killed.

    Repeats until nothing is left, since a process may fork between a scan and the kill, and a
    killed parent's children reappear as our adopted orphans (bounded by ``timeout``). Reaps
    the zombies that are this process's children and not spared.
    """
    if not has_proc():
        if leader != os.getpgrp():  # a run sweeping itself would kill itself
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(leader, signal.SIGKILL)
        return set()
    me = os.getpid()
    killed: set[int] = set()
    deadline = time.monotonic() + timeout
    while True:
        processes = read_processes()
        targets = leftovers(
            processes, leader, flow_run_id=flow_run_id, adopted_by=adopted_by, spare=spare
        )
        for pid in targets:
            if processes[pid].zombie and processes[pid].ppid == me:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
        alive = [pid for pid in targets if not processes[pid].zombie]
        if not alive or time.monotonic() >= deadline:
            return killed
        for pid in alive:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
        time.sleep(0.01)
