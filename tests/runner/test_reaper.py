"""Killing what a flow run leaves behind: real processes, bounded by timeouts."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from prefect_gitops.runner.process import LaunchSpec, SubprocessLauncher
from prefect_gitops.runner.reaper import (
    ProcessInfo,
    kill_leftovers,
    leftovers,
    parse_stat,
)
from tests.runner.helpers import DAEMON, is_alive, wait_until

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc"),
]


def test_parse_stat_reads_ids_after_a_command_name_with_parentheses() -> None:
    raw = b"4242 (we ird) (name)) S 7 4242 4240 0 -1 4194560 100 0 0 0"
    assert parse_stat(4242, raw) == ProcessInfo(4242, ppid=7, pgid=4242, sid=4240, zombie=False)
    assert parse_stat(1, b"1 (x) Z 0 1 1")
    assert parse_stat(1, b"garbage") is None


def test_leftovers_are_the_group_session_adopted_orphans_and_their_descendants() -> None:
    me = os.getpid()
    procs = {
        p.pid: p
        for p in [
            ProcessInfo(100, 1, 100, 100, False),  # the run leader
            ProcessInfo(101, 100, 100, 100, False),  # in its group
            ProcessInfo(102, 100, 102, 100, False),  # own group, same session
            ProcessInfo(103, 102, 103, 103, False),  # setsid'ed child of a leftover
            ProcessInfo(200, me, 200, 200, False),  # adopted orphan of an ended run
            ProcessInfo(201, me, 201, 201, False),  # a live run we must spare
            ProcessInfo(202, 201, 201, 201, False),  # ... and its child
            ProcessInfo(300, 1, 300, 300, False),  # unrelated
        ]
    }
    assert leftovers(procs, 100) == {100, 101, 102, 103}
    assert leftovers(procs, 100, adopted_by=me, spare={201}) == {100, 101, 102, 103, 200}
    assert me not in leftovers({me: ProcessInfo(me, 1, 100, 100, False)}, 100)


def _launch(command: str, tmp_path: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run ``command`` in its own session like a flow run; its exit code and output."""
    out = tmp_path / "out"
    with open(out, "wb") as sink:
        child = SubprocessLauncher().launch(LaunchSpec("id", command, env, tmp_path, sink.fileno()))
    code = child.wait(30)
    assert code is not None
    kill_leftovers(child.pid, flow_run_id="run-1")
    return child.pid, out.read_text()


def test_background_processes_of_the_group_and_session_die_with_the_run(tmp_path: Path) -> None:
    # `sleep &` stays in the group; `setsid -f`-like moves (own group, same session) too.
    script = "import os, subprocess; a = subprocess.Popen(['sleep', '1000']); b = subprocess.Popen(['sleep', '1000'], process_group=0); print(a.pid, b.pid)"
    _pid, output = _launch(f'{sys.executable} -c "{script}"', tmp_path, dict(os.environ))
    pids = [int(p) for p in output.split()]
    assert len(pids) == 2
    assert wait_until(lambda: not any(is_alive(p) for p in pids), 5)


def test_a_double_forked_daemon_that_kept_the_run_environment_dies(tmp_path: Path) -> None:
    (tmp_path / "daemon.py").write_text(DAEMON)
    env = {**os.environ, "PREFECT__FLOW_RUN_ID": "run-1"}
    _pid, output = _launch(f"{sys.executable} daemon.py", tmp_path, env)
    daemon = int(output.split()[-1])
    assert wait_until(lambda: not is_alive(daemon), 5)


def test_a_subreaper_finds_a_daemon_that_left_the_session_and_scrubbed_its_env(
    tmp_path: Path,
) -> None:
    (tmp_path / "daemon.py").write_text(DAEMON)
    # In a process of its own: a subreaper keeps adopted orphans for the rest of its life.
    script = textwrap.dedent(
        f"""
        import os, subprocess, sys
        from prefect_gitops.runner.reaper import become_subreaper, kill_leftovers
        assert become_subreaper()
        out = subprocess.run([sys.executable, {str(tmp_path / "daemon.py")!r}], env={{}},
                             capture_output=True, text=True, check=True).stdout
        daemon = int(out.split()[-1])
        assert os.path.exists(f"/proc/{{daemon}}")
        print(daemon, sorted(kill_leftovers(os.getpid(), adopted_by=os.getpid())))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    daemon, killed = result.stdout.split(" ", 1)
    assert killed.strip() == f"[{daemon}]"
    assert wait_until(lambda: not is_alive(int(daemon)), 5)


def test_kill_leftovers_spares_this_process_and_other_runs(tmp_path: Path) -> None:
    # In a process of its own: sweeping with `adopted_by=os.getpid()` kills every child of
    # the caller, and the test session's children include its Prefect servers.
    script = textwrap.dedent(
        """
        import os, subprocess
        from prefect_gitops.runner.reaper import kill_leftovers, read_processes
        other = subprocess.Popen(["sleep", "1000"], start_new_session=True)
        try:
            killed = kill_leftovers(os.getpid(), adopted_by=os.getpid(), spare={other.pid})
            alive = read_processes().get(other.pid)
            print(sorted(killed), bool(alive and not alive.zombie), os.getpid() in read_processes())
        finally:
            other.kill()
            other.wait(10)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[]", "True", "True"]


def test_without_proc_a_run_sweeping_itself_survives_and_its_group_dies(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import os, subprocess
        from prefect_gitops.runner import reaper
        reaper.has_proc = lambda: False
        reaper.kill_leftovers(os.getpid())  # this process leads its group: spared
        group = subprocess.Popen(["sleep", "1000"], process_group=0)
        reaper.kill_leftovers(group.pid)
        print("alive", group.wait(10))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        start_new_session=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["alive", "-9"]
