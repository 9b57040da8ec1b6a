"""Start and stop real Prefect servers for tests and benchmarks (127.0.0.1).

Backends: "sqlite" (a file in the server's temporary PREFECT_HOME) or "postgres" (a database
of its own on the throwaway cluster of tests/postgres.py: the one `.ci/run` started, named by
PREFECT_GITOPS_TEST_POSTGRES, else one this process starts on first use and stops at exit).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests import postgres

STARTUP_TIMEOUT = 180.0
BACKENDS = ("sqlite", "postgres")
_cluster: dict[str, str] = {}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    url: str  # the API root, e.g. http://127.0.0.1:8123/api
    home: Path
    process: subprocess.Popen[bytes]
    log: Path
    backend: str = "sqlite"

    def env(self) -> dict[str, str]:
        """Environment for a Prefect CLI or flow process talking to this server."""
        env = dict(os.environ)
        env.update(
            PREFECT_API_URL=self.url,
            PREFECT_HOME=str(self.home / "client-home"),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_CLI_PROMPT="false",
        )
        env.pop("PREFECT_API_KEY", None)
        env.pop("PREFECT_PROFILE", None)
        return env


def server_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
        PREFECT_SERVER_UI_ENABLED="false",
        PREFECT_LOGGING_SERVER_LEVEL="WARNING",
    )
    return env


def postgres_admin_url() -> str:
    """The test cluster's admin URL: `.ci/run`'s, else one started now for this process."""
    if os.environ.get(postgres.ENV_URL):
        return os.environ[postgres.ENV_URL]
    if "url" not in _cluster:
        root = Path(tempfile.mkdtemp(prefix="prefect-gitops-pg-"))
        _cluster["url"] = postgres.start(root)
        atexit.register(postgres.stop, root)
    return _cluster["url"]


def start_server(
    home: Path | None = None,
    *,
    python: str | None = None,
    backend: str = "sqlite",
    extra_env: Mapping[str, str] | None = None,
) -> RunningServer:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
    home = home or Path(tempfile.mkdtemp(prefix="pg-server-"))
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = home / "server.log"
    env = {**server_env(home), **(extra_env or {})}
    if backend == "postgres":
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = postgres.create_database(
            postgres_admin_url()
        )
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                python or sys.executable,
                "-m",
                "prefect",
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text()[-3000:]
            raise RuntimeError(f"prefect server exited with {process.returncode}:\n{tail}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/health", timeout=2) as resp,
        ):
            if resp.status == 200:
                return RunningServer(url, home, process, log, backend)
        time.sleep(0.2)
    stop_server(RunningServer(url, home, process, log))
    raise RuntimeError(f"prefect server did not become healthy in {STARTUP_TIMEOUT}s")


def stop_server(server: RunningServer, *, remove: bool = False) -> None:
    if server.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=10)
    if remove:
        shutil.rmtree(server.home, ignore_errors=True)


@contextlib.contextmanager
def running_server(
    backend: str = "sqlite", extra_env: Mapping[str, str] | None = None
) -> Iterator[RunningServer]:
    server = start_server(backend=backend, extra_env=extra_env)
    try:
        yield server
    finally:
        stop_server(server, remove=True)
