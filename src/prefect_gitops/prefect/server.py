"""The embedded local Prefect server, used when no Prefect API is configured.

It is the real Prefect server (the ``server`` extra: ``pip install 'prefect-gitops[server]'``),
run as ``python -m uvicorn --factory prefect.server.api.server:create_app`` -- exactly what
``prefect server start --background`` runs, scheduler and other services included -- on a free
127.0.0.1 port. It is a detached background process: it outlives the command that started it and
later commands reuse it while it is running and healthy. Stop it with
``prefect-gitops server stop``.

Where its state lives: ``~/.prefect-gitops/server/`` by default, or ``$PREFECT_GITOPS_HOME/server/``
when ``PREFECT_GITOPS_HOME`` is set. That folder holds

- ``prefect.db``: the SQLite database (deployments, pools, runs: delete it to start afresh);
- ``server.json``: pid, port and URL of the running server;
- ``server.log``: the server's output (read it when the server does not start);
- ``server.lock``: serialises concurrent starts.

The server process gets its own ``PREFECT_HOME`` (that folder), none of the caller's ``PREFECT_*``
settings, analytics and the UI off, and runs in that folder so that no project ``.env`` or
``prefect.toml`` leaks into it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import ServerUnavailableError

STARTUP_TIMEOUT = 180.0  # a fresh database migrates in ~15 s; slow CI machines need more
STOP_TIMEOUT = 20.0
LOCK_TIMEOUT = STARTUP_TIMEOUT + 30.0
HEALTH_POLL_INTERVAL = 0.2
INSTALL_HINT = (
    "install the server extra: pip install 'prefect-gitops[server]', or set PREFECT_API_URL"
)

# Popen objects of servers started by this process, kept so that they are reaped on stop and
# never trigger "subprocess is still running" warnings.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    healthy: bool
    url: str | None
    pid: int | None
    state_dir: Path
    log: Path


def state_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The folder holding the embedded server's database, pid file and log."""
    home = environ.get("PREFECT_GITOPS_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".prefect-gitops"
    return base / "server"


def ensure_running(
    state_dir: Path | None = None,
    environ: Mapping[str, str] = os.environ,
    *,
    timeout: float = STARTUP_TIMEOUT,
    port: int | None = None,
) -> str:
    """The API URL of the running embedded server, starting one if none runs (on `port` of
    127.0.0.1 when given, else on a free one)."""
    folder = _resolve(state_dir, environ)
    if os.name == "nt":  # pragma: no cover - detaching and signalling below are POSIX-only
        raise ServerUnavailableError(
            "the embedded Prefect server is not supported on Windows",
            hint="run `prefect server start` and set PREFECT_API_URL=http://127.0.0.1:4200/api",
        )
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder, timeout=timeout + 30.0):
        record = _read_record(folder)
        if record is not None and _pid_alive(record.pid) and _is_our_server(record.pid):
            if port is not None and record.port != port:
                raise ServerUnavailableError(
                    f"the embedded Prefect server already runs at {record.url}, not on port {port}",
                    hint="stop it first: prefect-gitops server stop",
                )
            if _healthy(record.url) or _wait_healthy(record.url, record.pid, timeout=timeout):
                return record.url
            raise ServerUnavailableError(
                f"the embedded Prefect server (pid {record.pid}) runs but {record.url}/health does "
                f"not answer; its log is {folder / 'server.log'}",
                hint="restart it with: prefect-gitops server stop && prefect-gitops server start",
            )
        _check_installed()
        return _start(folder, environ, timeout=timeout, port=port)


def status(state_dir: Path | None = None, environ: Mapping[str, str] = os.environ) -> ServerStatus:
    folder = _resolve(state_dir, environ)
    record = _read_record(folder)
    log = folder / "server.log"
    if record is None or not _pid_alive(record.pid) or not _is_our_server(record.pid):
        return ServerStatus(False, False, None, None, folder, log)
    return ServerStatus(True, _healthy(record.url), record.url, record.pid, folder, log)


def stop(
    state_dir: Path | None = None,
    environ: Mapping[str, str] = os.environ,
    *,
    timeout: float = STOP_TIMEOUT,
) -> bool:
    """Stop the embedded server (SIGTERM, then SIGKILL). True if one was running."""
    folder = _resolve(state_dir, environ)
    record = _read_record(folder)
    if record is None:
        return False
    was_running = _pid_alive(record.pid) and _is_our_server(record.pid)
    if was_running:
        _terminate(record.pid, timeout=timeout)
    with contextlib.suppress(FileNotFoundError):
        (folder / "server.json").unlink()
    return was_running


# -- starting ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Record:
    pid: int
    port: int
    url: str


def _resolve(folder: Path | None, environ: Mapping[str, str]) -> Path:
    return (folder if folder is not None else state_dir(environ)).expanduser().resolve()


def _check_installed() -> None:
    missing = [name for name in ("prefect", "uvicorn") if importlib.util.find_spec(name) is None]
    if missing:
        raise ServerUnavailableError(
            "no Prefect API is configured and the embedded server needs the 'prefect' package, "
            f"which is not installed; {INSTALL_HINT}"
        )


def server_command(port: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn",
        "--factory", "prefect.server.api.server:create_app",
        "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "warning",
        "--timeout-keep-alive", "5",
    ]  # fmt: skip


def server_environment(folder: Path, environ: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(folder),
        PREFECT_PROFILES_PATH=str(folder / "profiles.toml"),
        PREFECT_SERVER_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{folder / 'prefect.db'}",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
        PREFECT_SERVER_UI_ENABLED="false",
        PREFECT_SERVER_LOGGING_LEVEL="WARNING",
        PREFECT__SERVER_FINAL="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def _start(
    folder: Path, environ: Mapping[str, str], *, timeout: float, port: int | None = None
) -> str:
    log = folder / "server.log"
    env = server_environment(folder, environ)
    chosen = port
    for _attempt in range(3):  # another program may grab the free port before uvicorn binds it
        port = chosen or _free_port()
        url = f"http://127.0.0.1:{port}/api"
        with open(log, "wb") as out:
            out.write(f"# prefect-gitops: starting {url} at {_now()}\n".encode())
            out.flush()
            process = subprocess.Popen(
                server_command(port),
                cwd=folder,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # detached: survives the CLI and its terminal's ^C
                close_fds=True,
            )
        _CHILDREN[process.pid] = process
        _write_record(folder, _Record(process.pid, port, url))
        if _wait_healthy(url, process.pid, timeout=timeout):
            return url
        exited = process.poll() is not None
        if not exited:
            _terminate(process.pid, timeout=STOP_TIMEOUT)
        with contextlib.suppress(FileNotFoundError):
            (folder / "server.json").unlink()
        tail = _tail(log)
        if exited and "address already in use" in tail.lower():
            if chosen is not None:
                raise ServerUnavailableError(
                    f"port {chosen} of 127.0.0.1 is already in use; the embedded Prefect server "
                    "did not start",
                    hint="choose another --port, or leave it out to use a free one",
                )
            continue
        if exited:
            raise ServerUnavailableError(
                f"the embedded Prefect server exited with code {process.returncode} while starting; "
                f"see its log {log}: {_last_line(tail)}",
            )
        raise ServerUnavailableError(
            f"the embedded Prefect server did not answer {url}/health within {timeout:g}s; "
            f"see its log {log}",
        )
    raise ServerUnavailableError(f"could not find a free port for the embedded server; see {log}")


def _wait_healthy(
    url: str, pid: int, *, timeout: float, sleep: Callable[[float], None] = time.sleep
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return False
        if _healthy(url):
            return True
        sleep(HEALTH_POLL_INTERVAL)
    return False


# Loopback needs no proxy, whatever HTTP_PROXY says.
_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _healthy(url: str) -> bool:
    try:
        with _NO_PROXY_OPENER.open(f"{url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError, ValueError):
        return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- stopping ------------------------------------------------------------------------------


def _terminate(pid: int, *, timeout: float) -> None:
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        _signal(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                _CHILDREN.pop(pid, None)
                return
            time.sleep(0.1)
    raise ServerUnavailableError(f"the embedded Prefect server (pid {pid}) did not stop")


def _signal(pid: int, sig: signal.Signals) -> None:
    # The server leads its own session (start_new_session), so signal the whole group.
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # pragma: no cover - os.kill(pid, 0) would terminate it on Windows
        return False
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        # Reap it if it is a zombie child of ours (started by an earlier call in this process).
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_our_server(pid: int) -> bool:
    """Guard against pid reuse before signalling: on Linux, check the command line."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        return b"prefect.server.api.server:create_app" in cmdline.read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no /proc (macOS): trust the pid file
    except OSError:
        return True


# -- the state folder ----------------------------------------------------------------------


def _read_record(folder: Path) -> _Record | None:
    try:
        data: Any = json.loads((folder / "server.json").read_text(encoding="utf-8"))
        return _Record(int(data["pid"]), int(data["port"]), str(data["url"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_record(folder: Path, record: _Record) -> None:
    tmp = folder / "server.json.tmp"
    tmp.write_text(
        json.dumps({"pid": record.pid, "port": record.port, "url": record.url, "started": _now()}),
        encoding="utf-8",
    )
    tmp.replace(folder / "server.json")


@contextlib.contextmanager
def _locked(folder: Path, *, timeout: float) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no cross-process lock
        yield
        return
    with open(folder / "server.lock", "a+") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ServerUnavailableError(
                        f"another prefect-gitops is starting the embedded server ({folder}); "
                        "gave up waiting"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _tail(log: Path, chars: int = 4000) -> str:
    try:
        return log.read_text(encoding="utf-8", errors="replace")[-chars:]
    except OSError:
        return ""


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(empty log)"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
