from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from prefect_gitops.runner.flowruns import crash_message
from prefect_gitops.runner.health import HealthServer
from prefect_gitops.runner.process import (
    LaunchSpec,
    LineSplitter,
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


def _pump_command(script: str, tmp_path: Path, pump: OutputPump, timeout: float = 60) -> int | None:
    (tmp_path / "writer.py").write_text(script)
    spec = LaunchSpec(
        "id", f"{sys.executable} writer.py", dict(os.environ), tmp_path, pump.write_fd
    )
    child = SubprocessLauncher().launch(spec)
    pump.close_write_end()
    return child.wait(timeout)


@pytest.mark.timeout(60)
def test_100_mb_without_a_newline_streams_in_linear_time(tmp_path: Path) -> None:
    sizes: list[int] = []
    pump = OutputPump("big", lambda batch: sizes.extend(len(line) for line in batch.split("\n")))
    started = time.monotonic()
    code = _pump_command(
        "import sys\nfor _ in range(100):\n    sys.stdout.buffer.write(b'x' * 1_000_000)\n",
        tmp_path,
        pump,
    )
    pump.join(30)
    elapsed = time.monotonic() - started
    assert code == 0
    prefix = len("big | ")
    assert sum(size - prefix for size in sizes) == 100_000_000
    assert max(sizes) == prefix + 64 * 1024  # emitted in capped pieces
    assert elapsed < 20, f"took {elapsed:.1f}s"


@pytest.mark.timeout(60)
def test_a_stalled_sink_does_not_block_the_child(tmp_path: Path) -> None:
    release = threading.Event()
    lines: list[str] = []

    def stalled_sink(batch: str) -> None:
        release.wait(300)  # released by the test; the bound only stops a hang
        lines.extend(batch.split("\n"))

    pump = OutputPump("slow", stalled_sink, max_backlog=1_000_000)
    script = "import sys\nfor i in range(100_000):\n    print(f'line {i:06d} ' + 'y' * 90)\n"
    code = _pump_command(script, tmp_path, pump, timeout=20)
    assert code == 0  # exited (10 MB written) while the sink was still stuck on line one
    release.set()
    pump.join(30)
    assert lines[0] == "slow | line 000000 " + "y" * 90
    assert len(lines) < 100_000
    assert "characters of output dropped" in lines[-1]


def test_stderr_and_multibyte_text_split_across_reads_arrive_whole(tmp_path: Path) -> None:
    lines: list[str] = []
    pump = OutputPump("mb", lambda batch: lines.extend(batch.split("\n")), max_line=100_000)
    script = (
        "import os, sys\n"
        "sys.stdout.buffer.write(b'a' + 'é'.encode() * 70_000 + b'\\n')\n"
        "sys.stdout.flush()\n"
        "os.write(2, b'to stderr, no newline')\n"
    )
    assert _pump_command(script, tmp_path, pump) == 0
    pump.join(10)
    assert lines == ["mb | a" + "é" * 70_000, "mb | to stderr, no newline"]


@pytest.mark.parametrize("limit", [1, 3, 4, 10])
def test_line_splitter_pieces_and_lines(limit: int) -> None:
    text = "abcd\n\nabcdefghij\nxy"
    for step in (1, 2, 5, len(text)):
        splitter = LineSplitter(limit)
        out: list[str] = []
        for start in range(0, len(text), step):
            out.extend(splitter.feed(text[start : start + step]))
        out.extend(splitter.flush())
        expected: list[str] = []
        for line in text.split("\n"):
            pieces = [line[i : i + limit] for i in range(0, len(line), limit)] or [""]
            expected.extend(pieces)
        assert out == expected, (limit, step)
        assert all(len(piece) <= limit for piece in out)


def test_a_closed_output_does_not_stop_the_draining(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    errors: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    calls: list[str] = []

    def closed_stdout(line: str) -> None:
        calls.append(line)
        raise BrokenPipeError(32, "Broken pipe")

    pump = OutputPump("gone", closed_stdout)
    script = "for i in range(200_000):\n    print(f'line {i} ' + 'z' * 50)\n"
    assert _pump_command(script, tmp_path, pump, timeout=30) == 0
    pump.join(10)
    assert errors == []
    assert len(calls) == 1  # tried once, then the output is discarded


@pytest.mark.timeout(60)
def test_a_million_short_lines_reach_the_sink_in_few_calls(tmp_path: Path) -> None:
    batches: list[str] = []
    pump = OutputPump("many", batches.append)
    script = "import sys\nsys.stdout.write(''.join(f'{i}\\n' for i in range(1_000_000)))\n"
    assert _pump_command(script, tmp_path, pump) == 0
    pump.join(30)
    lines = [line for batch in batches for line in batch.split("\n")]
    assert lines == [f"many | {i}" for i in range(1_000_000)]
    assert len(batches) < 1000
