"""A throwaway PostgreSQL cluster for tests and benchmarks (Debian's `postgresql` package).

`initdb` with `--locale=C.UTF-8` in a temporary folder (as the `postgres` user when we run as
root, since PostgreSQL refuses to run as root), listening on 127.0.0.1 on a free port only,
its Unix socket in the same temporary folder; stopped and deleted at the end. Each Prefect
server gets a database of its own (`create_database`).

`.ci/run` starts one for the whole test run:

    python -m tests.postgres start DIR   # prints the admin URL; the cluster keeps running
    python -m tests.postgres stop DIR

and the test session reads its URL from PREFECT_GITOPS_TEST_POSTGRES; without it, the
session starts its own (see tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

ENV_URL = "PREFECT_GITOPS_TEST_POSTGRES"
START_TIMEOUT = 60.0


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(
            f"PostgreSQL's `{name}` is not installed (Debian: apt-get install -y postgresql)"
        )
    return path


def _as_owner() -> list[str]:
    # PostgreSQL refuses to run as root: run its programs as the `postgres` user then.
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(argv: list[str], timeout: float = 120) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}")


def start(root: Path) -> str:
    """Create and start a cluster under `root`; returns its admin URL (user `postgres`)."""
    data, sockets = root / "data", root / "sock"
    root.mkdir(parents=True, exist_ok=True)
    sockets.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
    _run([*_as_owner(), _bin("initdb"), "-D", str(data), "-U", "postgres",
          "--locale=C.UTF-8", "--encoding=UTF8", "--auth=trust"])  # fmt: skip
    port = _free_port()
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} -c fsync=off"
    options += " -c max_connections=300"
    _run([*_as_owner(), _bin("pg_ctl"), "-D", str(data), "-o", options,
          "-l", str(root / "postgres.log"), "-w", "-t", str(int(START_TIMEOUT)), "start"])  # fmt: skip
    (root / "port").write_text(str(port), encoding="utf-8")
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


def stop(root: Path) -> None:
    if (root / "data" / "postmaster.pid").exists():
        _run([*_as_owner(), _bin("pg_ctl"), "-D", str(root / "data"), "-m", "fast", "-w", "stop"])
    shutil.rmtree(root, ignore_errors=True)


def create_database(admin_url: str) -> str:
    """A new empty database on the cluster; returns Prefect's connection URL for it."""
    name = f"prefect_{uuid.uuid4().hex[:12]}"
    port = admin_url.rsplit(":", 1)[1].split("/", 1)[0]
    _run([_bin("psql"), "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", "postgres",
          "-v", "ON_ERROR_STOP=1", "-c", f'CREATE DATABASE "{name}"'], timeout=60)  # fmt: skip
    return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/{name}"


@contextlib.contextmanager
def running_cluster() -> Iterator[str]:
    root = Path(tempfile.mkdtemp(prefix="prefect-gitops-pg-"))
    try:
        yield start(root)
    finally:
        stop(root)


def wait_until_ready(admin_url: str, timeout: float = START_TIMEOUT) -> None:
    port = int(admin_url.rsplit(":", 1)[1].split("/", 1)[0])
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"PostgreSQL on 127.0.0.1:{port} did not answer in {timeout:g} s")
        time.sleep(0.2)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print("usage: python -m tests.postgres start|stop DIR", file=sys.stderr)
        return 2
    root = Path(argv[1])
    if argv[0] == "start":
        print(start(root))
    else:
        stop(root)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
