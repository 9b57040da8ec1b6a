from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prefect_gitops.errors import ServerUnavailableError
from prefect_gitops.prefect import server


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "gitops-home" / "server"
    yield folder
    server.stop(folder)  # never leave a server behind, whatever the test did


def environ_for(folder: Path) -> dict[str, str]:
    return {**os.environ, "PREFECT_GITOPS_HOME": str(folder.parent)}


def health(url: str) -> bool:
    with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
        return bool(response.status == 200)


def test_state_dir_default_and_override(tmp_path: Path) -> None:
    assert server.state_dir({}) == Path.home() / ".prefect-gitops" / "server"
    assert server.state_dir({"PREFECT_GITOPS_HOME": str(tmp_path)}) == tmp_path / "server"


def test_status_when_nothing_ever_ran(state: Path) -> None:
    info = server.status(state)
    assert (info.running, info.healthy, info.url, info.pid) == (False, False, None, None)
    assert info.state_dir == state.resolve()
    assert server.stop(state) is False


def test_stale_pid_file_is_not_running(state: Path) -> None:
    state.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=30)
    (state / "server.json").write_text(
        f'{{"pid": {dead.pid}, "port": 1, "url": "http://127.0.0.1:1/api"}}', encoding="utf-8"
    )
    assert server.status(state).running is False
    assert server.stop(state) is False
    assert not (state / "server.json").exists()


def test_missing_prefect_package_says_how_to_install(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec

    def without_prefect(name: str, *args: Any) -> Any:
        return None if name == "prefect" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_prefect)
    with pytest.raises(ServerUnavailableError) as info:
        server.ensure_running(state)
    message = str(info.value)
    assert "pip install 'prefect-gitops[server]'" in message
    assert "PREFECT_API_URL" in message


def test_server_environment_is_isolated(tmp_path: Path) -> None:
    env = server.server_environment(
        tmp_path, {"PATH": "/bin", "PREFECT_API_URL": "http://elsewhere/api", "PREFECT_HOME": "/x"}
    )
    assert env["PATH"] == "/bin"
    assert "PREFECT_API_URL" not in env
    assert env["PREFECT_HOME"] == str(tmp_path)
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert env["PREFECT_SERVER_DATABASE_CONNECTION_URL"].endswith(str(tmp_path / "prefect.db"))
    assert "--host" in server.server_command(1234)
    assert (
        server.server_command(1234)[server.server_command(1234).index("--host") + 1] == "127.0.0.1"
    )


@pytest.mark.server
def test_startup_timeout_is_bounded_and_names_the_log(state: Path) -> None:
    with pytest.raises(ServerUnavailableError) as info:
        server.ensure_running(state, timeout=0.5)
    assert str(state.resolve() / "server.log") in str(info.value)
    assert "within 0.5s" in str(info.value)
    assert server.status(state).running is False  # the half-started server was stopped


@pytest.mark.server
def test_start_reuse_status_stop(state: Path) -> None:
    # Two CLI-like processes racing: one server is started, both get its URL, and it outlives them.
    code = "from prefect_gitops.prefect import server; print(server.ensure_running())"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            env=environ_for(state),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [racer.communicate(timeout=server.STARTUP_TIMEOUT + 60) for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0], outputs
    urls = {out.strip() for out, _err in outputs}
    assert len(urls) == 1, outputs
    url = urls.pop()
    assert url.startswith("http://127.0.0.1:") and url.endswith("/api")
    assert health(url)
    assert (state / "prefect.db").exists()
    assert (state / "server.log").exists()

    info = server.status(environ=environ_for(state))
    assert (info.running, info.healthy, info.url) == (True, True, url)
    assert info.pid is not None

    assert server.ensure_running(state) == url  # reused, not restarted
    assert server.status(state).pid == info.pid

    assert server.stop(state) is True
    after = server.status(state)
    assert (after.running, after.url) == (False, None)
    with pytest.raises(ProcessLookupError):
        os.kill(info.pid, 0)
    assert server.stop(state) is False
