from __future__ import annotations

import json
import os
import signal
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

from prefect_gitops.runner.flowruns import crash_message
from prefect_gitops.runner.health import HealthServer
from prefect_gitops.runner.process import (
    LaunchSpec,
    OutputPump,
    SubprocessLauncher,
    stop_child,
)


def test_explicit_command_runs_in_its_own_group_with_env_and_cwd(tmp_path: Path) -> None:
    lines: list[str] = []
    pump = OutputPump("my-run", lines.append)
    spec = LaunchSpec(
        "id",
        f"{sys.executable} -c \"import os; print(os.environ['X'], os.getcwd(), os.getpgid(0) == os.getpid())\"",
        {"X": "from-env", "PATH": os.environ["PATH"]},
        tmp_path,
        pump.write_fd,
    )
    child = SubprocessLauncher().launch(spec)
    pump.close_write_end()
    assert child.wait(30) == 0
    pump.join(5)
    assert lines == [f"my-run | from-env {tmp_path} True"]


def test_stop_child_kills_a_process_that_ignores_sigterm(tmp_path: Path) -> None:
    script = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    read_fd, write_fd = os.pipe()
    child = SubprocessLauncher().launch(
        LaunchSpec("id", f'{sys.executable} -c "{script}"', dict(os.environ), tmp_path, write_fd)
    )
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as reader:
        assert reader.readline().strip() == b"ready"
        code = stop_child(child, grace=0.5)
    assert code == -signal.SIGKILL


def test_crash_message_has_code_explanation_and_hint() -> None:
    assert crash_message(3).startswith(
        "Process exited with status code: 3. Process exited with an unexpected"
    )
    assert "memory" in crash_message(137)


def test_health_server_reports_stalls() -> None:
    healthy = threading.Event()
    healthy.set()
    server = HealthServer("127.0.0.1", 0, healthy.is_set)
    server.start()
    try:
        with urllib.request.urlopen(server.address, timeout=5) as response:
            assert response.status == 200
            assert json.loads(response.read()) == {"message": "OK"}
        healthy.clear()
        try:
            urllib.request.urlopen(server.address, timeout=5)
            raise AssertionError("expected 503")
        except urllib.error.HTTPError as exc:
            assert exc.code == 503
    finally:
        server.close()
