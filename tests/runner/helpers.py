"""Real Prefect flows in temporary folders, deployments created over REST, runner processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prefect_gitops.prefect.api import ApiClient
from prefect_gitops.prefect.settings import Settings
from prefect_gitops.prefect.templates import default_template
from tests.prefect_server import RunningServer

FLOWS = """
import os
import sys
import time
from prefect import flow


@flow(log_prints=True)
def hello(name: str = "world", sleep: float = 0.0) -> str:
    print(f"hello {name} from {os.getpid()} in {os.getcwd()}")
    print(f"MY_ENV={os.environ.get('MY_ENV')}")
    time.sleep(sleep)
    return name


@flow
def writes_env(name: str, path: str) -> None:
    value = os.environ.get(name)
    with open(path, "w") as out:
        out.write("" if value is None else value)


@flow
def marks(marker_dir: str) -> None:
    # One file per flow run, one line per execution of it (appends are atomic).
    from prefect.runtime import flow_run

    with open(os.path.join(marker_dir, str(flow_run.id)), "a") as out:
        out.write(f"{os.getpid()}\\n")


@flow
def fails() -> None:
    raise ValueError("this flow fails on purpose")


@flow
def crashes() -> None:
    sys.stdout.flush()
    os._exit(3)


@flow
def leaves_processes(
    pid_file: str, daemon_script: str, scrub_env: bool = False, then: str = "return"
) -> None:
    import subprocess

    background = subprocess.Popen(["sleep", "1000"])
    daemon = subprocess.run(
        [sys.executable, daemon_script],
        env={} if scrub_env else None,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[-1]
    with open(pid_file, "w") as out:
        out.write(f"{background.pid} {daemon}")
    if then == "crash":
        os._exit(3)
    if then == "sleep":
        time.sleep(120)
"""

# Double fork: the grandchild leaves the session, prints its pid and sleeps, detached from
# every descriptor but the one it reports on.
DAEMON = """
import os
import time

read_end, write_end = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.write(write_end, str(os.getpid()).encode())
        os.close(write_end)
        time.sleep(1000)
    os._exit(0)
os.close(write_end)
print(os.read(read_end, 32).decode(), flush=True)
"""

FINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}


def client_for(server: RunningServer) -> ApiClient:
    return ApiClient(Settings(api_url=server.url, timeout=30, max_retries=8))


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def write_flows(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "flows.py").write_text(textwrap.dedent(FLOWS))
    return directory


def create_pool(
    client: ApiClient,
    name: str,
    *,
    concurrency_limit: int | None = None,
    queues: dict[str, int] | None = None,
    pool_type: str = "process",
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "type": pool_type}
    if concurrency_limit is not None:
        body["concurrency_limit"] = concurrency_limit
    if pool_type == "process":
        body["base_job_template"] = PROCESS_TEMPLATE
    pool: dict[str, Any] = client.post("/work_pools/", json=body)
    for queue, priority in (queues or {}).items():
        client.post(f"/work_pools/{name}/queues", json={"name": queue, "priority": priority})
    return pool


def process_pool(server: RunningServer, tmp_path: Path, prefix: str) -> tuple[ApiClient, str, Path]:
    """A client, a new process pool named from `prefix`, and the test flows under `tmp_path`."""
    client = client_for(server)
    pool = unique(prefix)
    create_pool(client, pool)
    return client, pool, write_flows(tmp_path / "flows")


def create_deployment(
    client: ApiClient,
    *,
    pool: str,
    flows_dir: Path,
    flow: str = "hello",
    name: str | None = None,
    job_variables: dict[str, Any] | None = None,
    queue: str | None = None,
) -> dict[str, Any]:
    flow_row = client.post("/flows/", json={"name": flow})
    body: dict[str, Any] = {
        "name": name or unique("dep"),
        "flow_id": flow_row["id"],
        "work_pool_name": pool,
        "entrypoint": f"flows.py:{flow}",
        "path": str(flows_dir),
        "pull_steps": [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(flows_dir)}}
        ],
        "job_variables": job_variables or {},
        "enforce_parameter_schema": False,
    }
    if queue:
        body["work_queue_name"] = queue
    deployment: dict[str, Any] = client.post("/deployments/", json=body)
    deployment["flow_name"] = flow
    return deployment


def create_run(client: ApiClient, deployment_id: str, **body: Any) -> dict[str, Any]:
    run: dict[str, Any] = client.post(f"/deployments/{deployment_id}/create_flow_run", json=body)
    return run


def create_secret_block(client: ApiClient, name: str, value: str) -> dict[str, Any]:
    """A document of Prefect's system `secret` block type (registered by the server)."""
    block_type = client.get("/block_types/slug/secret")
    schemas = client.post(
        "/block_schemas/filter",
        json={"block_schemas": {"block_type_id": {"any_": [block_type["id"]]}}},
    )
    document: dict[str, Any] = client.post(
        "/block_documents/",
        json={
            "name": name,
            "block_type_id": block_type["id"],
            "block_schema_id": schemas[0]["id"],
            "data": {"value": value},
        },
    )
    return document


def request_cancel(client: ApiClient, run_id: str) -> None:
    """Ask for a run's cancellation as the UI does: force it into CANCELLING."""
    client.post(
        f"/flow_runs/{run_id}/set_state",
        json={"state": {"type": "CANCELLING", "name": "Cancelling"}, "force": True},
    )


def read_run(client: ApiClient, run_id: str) -> dict[str, Any]:
    run: dict[str, Any] = client.get(f"/flow_runs/{run_id}")
    return run


def state_of(client: ApiClient, run_id: str) -> str:
    return str(read_run(client, run_id)["state"]["type"])


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def wait_final(client: ApiClient, run_ids: list[str], timeout: float) -> dict[str, str]:
    states: dict[str, str] = {}

    def done() -> bool:
        for run_id in run_ids:
            if states.get(run_id) not in FINAL:
                states[run_id] = state_of(client, run_id)
        return all(s in FINAL for s in states.values()) and len(states) == len(run_ids)

    wait_until(done, timeout, 0.5)
    return states


def history(client: ApiClient, run_id: str) -> list[dict[str, Any]]:
    states: list[dict[str, Any]] = client.get("/flow_run_states/", params={"flow_run_id": run_id})
    return sorted(states, key=lambda s: s["timestamp"])


def runner_env(server: RunningServer) -> dict[str, str]:
    env = server.env()
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_command(
    server: RunningServer, *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """`prefect-gitops ARGS` run to its end against `server`, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "prefect_gitops", *args],
        env=runner_env(server),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_once(
    server: RunningServer, pool: str, *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """`prefect-gitops runner start --pool POOL --run-once ARGS` run to its end."""
    return run_command(
        server, "runner", "start", "--pool", pool, "--run-once", *args, timeout=timeout
    )


@contextlib.contextmanager
def runner_process(
    server: RunningServer, pool: str, *args: str, log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """`prefect-gitops runner start` as a real process; always stopped (and its group killed)."""
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prefect_gitops",
                "runner",
                "start",
                "--pool",
                pool,
                "--query-seconds",
                "0.5",
                "--cancel-check-seconds",
                "0.5",
                "--heartbeat-seconds",
                "5",
                *args,
            ],
            env=env or runner_env(server),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


def descendants_with_env(marker: str) -> list[int]:
    """PIDs of live processes whose environment contains ``marker`` (for orphan checks)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if marker.encode() in (entry / "environ").read_bytes():
                status = (entry / "status").read_text()
                if "State:\tZ" not in status:
                    found.append(int(entry.name))
    return found


def is_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie has finished running)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat.rpartition(b")")[2].split()[0] not in (b"Z", b"X")


PROCESS_TEMPLATE: dict[str, Any] = default_template("process") or {}
