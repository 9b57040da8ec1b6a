"""The runner against a real Prefect server, executing real Prefect flows."""

from __future__ import annotations

import signal
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from prefect_gitops.prefect.api import ApiClient
from tests.prefect_server import RunningServer
from tests.runner.helpers import (
    DAEMON,
    client_for,
    create_deployment,
    create_pool,
    create_run,
    create_secret_block,
    descendants_with_env,
    history,
    is_alive,
    process_pool,
    request_cancel,
    run_once,
    runner_env,
    runner_process,
    state_of,
    unique,
    wait_final,
    wait_until,
    write_flows,
)

pytestmark = [pytest.mark.server, pytest.mark.both_backends, pytest.mark.timeout(300)]


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _intervals(client: Any, run_ids: list[str]) -> dict[str, tuple[datetime, datetime]]:
    """When each run held a slot: from PENDING to its final state."""
    spans = {}
    for run_id in run_ids:
        states = history(client, run_id)
        start = next(_ts(s["timestamp"]) for s in states if s["type"] == "PENDING")
        end = _ts(states[-1]["timestamp"])
        spans[run_id] = (start, end)
    return spans


def _max_overlap(spans: list[tuple[datetime, datetime]]) -> int:
    events = sorted(
        [(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda x: (x[0], x[1])
    )
    current = peak = 0
    for _, delta in events:
        current += delta
        peak = max(peak, current)
    return peak


def test_twenty_runs_with_limit_four(prefect_server: RunningServer, tmp_path: Path) -> None:
    client, pool, flows = process_pool(prefect_server, tmp_path, "limit")
    deployment = create_deployment(
        client, pool=pool, flows_dir=flows, job_variables={"env": {"MY_ENV": "x"}}
    )
    run_ids = [
        create_run(client, deployment["id"], parameters={"sleep": 0.5})["id"] for _ in range(20)
    ]
    samples: list[int] = []
    with runner_process(prefect_server, pool, "--limit", "4", log=tmp_path / "runner.log"):

        def all_done() -> bool:
            active = client.post(
                "/flow_runs/count",
                json={
                    "work_pools": {"name": {"any_": [pool]}},
                    "flow_runs": {"state": {"type": {"any_": ["PENDING", "RUNNING"]}}},
                },
            )
            samples.append(int(active))
            done = client.post(
                "/flow_runs/count",
                json={
                    "work_pools": {"name": {"any_": [pool]}},
                    "flow_runs": {
                        "state": {"type": {"any_": ["COMPLETED", "FAILED", "CRASHED", "CANCELLED"]}}
                    },
                },
            )
            return int(done) == 20

        wait_until(all_done, 240, 0.25)
    states = wait_final(client, run_ids, 5)
    assert set(states.values()) == {"COMPLETED"}, (tmp_path / "runner.log").read_text()[-3000:]
    assert max(samples) <= 4
    assert max(samples) >= 2  # it did run several at once
    assert _max_overlap(list(_intervals(client, run_ids).values())) <= 4


def test_pool_limit_and_queue_priorities_decide_start_order(
    prefect_server: RunningServer, tmp_path: Path
) -> None:
    client = client_for(prefect_server)
    pool = unique("prio")
    create_pool(client, pool, concurrency_limit=1, queues={"critical": 1, "high": 5, "low": 10})
    flows = write_flows(tmp_path / "flows")
    by_queue: dict[str, str] = {}
    run_ids = []
    # Oldest first: low, then high, then critical; priority must still win.
    for queue in ("low", "high", "critical"):
        deployment = create_deployment(client, pool=pool, flows_dir=flows, queue=queue)
        for _ in range(2):
            run_id = create_run(client, deployment["id"])["id"]
            by_queue[run_id] = queue
            run_ids.append(run_id)
    with runner_process(prefect_server, pool, log=tmp_path / "runner.log"):
        states = wait_final(client, run_ids, 200)
    assert set(states.values()) == {"COMPLETED"}, (tmp_path / "runner.log").read_text()[-3000:]
    spans = _intervals(client, run_ids)
    order = [by_queue[run_id] for run_id in sorted(run_ids, key=lambda r: spans[r][0])]
    assert order == ["critical", "critical", "high", "high", "low", "low"]
    assert _max_overlap(list(spans.values())) == 1


def test_three_runners_run_each_flow_run_exactly_once(
    prefect_server: RunningServer, tmp_path: Path
) -> None:
    client, pool, flows = process_pool(prefect_server, tmp_path, "three")
    deployment = create_deployment(client, pool=pool, flows_dir=flows)
    run_ids = [create_run(client, deployment["id"])["id"] for _ in range(9)]
    logs = [tmp_path / f"runner{i}.log" for i in range(3)]
    with (
        runner_process(prefect_server, pool, "--name", "r0", log=logs[0]),
        runner_process(prefect_server, pool, "--name", "r1", log=logs[1]),
        runner_process(prefect_server, pool, "--name", "r2", log=logs[2]),
    ):
        states = wait_final(client, run_ids, 240)
    assert set(states.values()) == {"COMPLETED"}
    text = "".join(log.read_text() for log in logs)
    for run_id in run_ids:
        assert text.count(f"({run_id}) started as process") == 1
        kinds = [s["type"] for s in history(client, run_id)]
        assert kinds.count("RUNNING") == 1 and kinds.count("PENDING") == 1
    workers = client.post(f"/work_pools/{pool}/workers/filter", json={})
    assert {w["name"] for w in workers} == {"r0", "r1", "r2"}
    assert {w["status"] for w in workers} == {"ONLINE"}
    assert client.get(f"/work_pools/{pool}")["status"] == "READY"


def test_crash_exit_code_marks_the_run_crashed(
    prefect_server: RunningServer, tmp_path: Path
) -> None:
    client, pool, flows = process_pool(prefect_server, tmp_path, "crash")
    deployment = create_deployment(client, pool=pool, flows_dir=flows, flow="crashes")
    run_id = create_run(client, deployment["id"])["id"]
    with runner_process(prefect_server, pool, log=tmp_path / "runner.log"):
        states = wait_final(client, [run_id], 120)
    assert states[run_id] == "CRASHED"
    final = client.get(f"/flow_runs/{run_id}")["state"]
    assert "status code: 3" in final["message"]


def _wait_running(client: Any, run_id: str) -> None:
    assert wait_until(lambda: state_of(client, run_id) == "RUNNING", 120)


def test_cancelling_a_sleeping_run_cancels_it(
    prefect_server: RunningServer, tmp_path: Path
) -> None:
    client, pool, flows = process_pool(prefect_server, tmp_path, "cancel")
    deployment = create_deployment(client, pool=pool, flows_dir=flows)
    run_id = create_run(client, deployment["id"], parameters={"sleep": 120})["id"]
    with runner_process(prefect_server, pool, log=tmp_path / "runner.log"):
        _wait_running(client, run_id)
        request_cancel(client, run_id)
        cancelled = wait_until(lambda: state_of(client, run_id) == "CANCELLED", 10, 0.2)
        assert cancelled, (tmp_path / "runner.log").read_text()[-3000:]
        assert wait_until(lambda: not descendants_with_env(f"PREFECT__FLOW_RUN_ID={run_id}"), 10)


def test_sigterm_to_the_runner_leaves_no_orphans(
    prefect_server: RunningServer, tmp_path: Path
) -> None:
    client, pool, flows = process_pool(prefect_server, tmp_path, "sigterm")
    deployment = create_deployment(client, pool=pool, flows_dir=flows)
    run_id = create_run(client, deployment["id"], parameters={"sleep": 120})["id"]
    marker = uuid.uuid4().hex
    env = {**runner_env(prefect_server), "PG_TEST_MARKER": marker}
    log = tmp_path / "runner.log"
    with runner_process(
        prefect_server,
        pool,
        "--shutdown-grace-seconds",
        "1",
        "--kill-grace-seconds",
        "5",
        log=log,
        env=env,
    ) as process:
        _wait_running(client, run_id)
        assert (
            len(descendants_with_env(f"PG_TEST_MARKER={marker}")) >= 3
        )  # runner, fork server, run
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0, log.read_text()[-3000:]
    assert wait_until(lambda: not descendants_with_env(f"PG_TEST_MARKER={marker}"), 10)
    assert state_of(client, run_id) == "CANCELLED"


def test_run_once_exits_after_one_poll(prefect_server: RunningServer, tmp_path: Path) -> None:
    client, pool, flows = process_pool(prefect_server, tmp_path, "once")
    deployment = create_deployment(client, pool=pool, flows_dir=flows)
    soon = create_run(client, deployment["id"])["id"]
    later_time = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    later = create_run(
        client,
        deployment["id"],
        state={"type": "SCHEDULED", "state_details": {"scheduled_time": later_time}},
    )["id"]
    result = run_once(prefect_server, pool, "--no-fork-server")
    assert result.returncode == 0, result.stderr[-3000:]
    assert state_of(client, soon) == "COMPLETED"
    assert state_of(client, later) == "SCHEDULED"  # outside the prefetch window: not taken


def test_runner_refuses_a_pool_that_is_not_process(prefect_server: RunningServer) -> None:
    client = client_for(prefect_server)
    pool = unique("docker")
    create_pool(client, pool, pool_type="docker")
    result = run_once(prefect_server, pool, timeout=60)
    assert result.returncode == 1
    assert "only executes 'process' pools" in result.stderr


def test_job_variables_reach_the_child(prefect_server: RunningServer, tmp_path: Path) -> None:
    client, pool, flows = process_pool(prefect_server, tmp_path, "jobvars")
    deployment = create_deployment(
        client,
        pool=pool,
        flows_dir=flows,
        job_variables={"env": {"MY_ENV": "from-deployment"}, "stream_output": False},
    )
    # A Prefect setting in the job env must reach the engine even though the fork server
    # imported Prefect under the runner's settings.
    run_id = create_run(
        client,
        deployment["id"],
        job_variables={"env": {"MY_ENV": "from-run", "PREFECT_LOGGING_LEVEL": "DEBUG"}},
    )["id"]
    result = run_once(prefect_server, pool, "--log-dir", str(tmp_path / "logs"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert state_of(client, run_id) == "COMPLETED"
    output = (tmp_path / "logs" / f"{run_id}.log").read_text()
    assert "MY_ENV=from-run" in output
    assert "| DEBUG   |" in output
    assert f"in {flows}" in output  # the pull step chose the working directory
    assert "MY_ENV" not in result.stdout  # stream_output false: captured, not streamed


def _runs_leaving_processes(
    prefect_server: RunningServer, tmp_path: Path, then: str
) -> tuple[ApiClient, str, list[str], list[Path]]:
    """Two runs of `leaves_processes` (one scrubbing the daemon's environment), each writing
    the pids it left behind to a file: (client, pool, run ids, pid files)."""
    client, pool, flows = process_pool(prefect_server, tmp_path, "leftovers")
    (tmp_path / "daemon.py").write_text(DAEMON)
    deployment = create_deployment(client, pool=pool, flows_dir=flows, flow="leaves_processes")
    pid_files = {scrub: tmp_path / f"pids-{scrub}" for scrub in (False, True)}
    run_ids = [
        create_run(
            client,
            deployment["id"],
            parameters={
                "pid_file": str(pid_file),
                "daemon_script": str(tmp_path / "daemon.py"),
                "scrub_env": scrub,
                "then": then,
            },
        )["id"]
        for scrub, pid_file in pid_files.items()
    ]
    return client, pool, run_ids, list(pid_files.values())


@pytest.mark.parametrize("launcher", ["--fork-server", "--no-fork-server"])
def test_processes_a_completed_run_left_behind_are_killed(
    prefect_server: RunningServer, tmp_path: Path, launcher: str
) -> None:
    client, pool, run_ids, pid_files = _runs_leaving_processes(prefect_server, tmp_path, "return")
    log = tmp_path / "runner.log"
    with runner_process(prefect_server, pool, launcher, log=log):
        states = wait_final(client, run_ids, 120)
        assert set(states.values()) == {"COMPLETED"}, log.read_text()[-3000:]
        # A `sleep &` in the run's group, and a double-forked daemon that left the session
        # (with its environment, and with the environment scrubbed).
        pids = [int(p) for f in pid_files for p in f.read_text().split()]
        assert len(pids) == 4
        assert wait_until(lambda: not any(is_alive(p) for p in pids), 15), log.read_text()[-3000:]
        markers = [f"PREFECT__FLOW_RUN_ID={run_id}" for run_id in run_ids]
        # The run's own process may still be exiting after it reported COMPLETED.
        assert wait_until(lambda: not any(descendants_with_env(m) for m in markers), 15)


@pytest.mark.parametrize("ending", ["crash", "cancel"])
def test_processes_a_crashed_or_cancelled_run_left_behind_are_killed(
    prefect_server: RunningServer, tmp_path: Path, ending: str
) -> None:
    then = "crash" if ending == "crash" else "sleep"
    client, pool, run_ids, pid_files = _runs_leaving_processes(prefect_server, tmp_path, then)
    log = tmp_path / "runner.log"
    with runner_process(prefect_server, pool, "--kill-grace-seconds", "5", log=log):
        assert wait_until(lambda: all(f.exists() for f in pid_files), 120)
        pids = [int(p) for f in pid_files for p in f.read_text().split()]
        if ending == "cancel":
            for run_id in run_ids:
                request_cancel(client, run_id)
        states = wait_final(client, run_ids, 60)
        expected = "CRASHED" if ending == "crash" else "CANCELLED"
        assert set(states.values()) == {expected}, log.read_text()[-3000:]
        assert wait_until(lambda: not any(is_alive(p) for p in pids), 15), log.read_text()[-3000:]


def test_the_fork_server_starts_with_the_first_run_and_stops_when_idle(
    prefect_server: RunningServer, tmp_path: Path
) -> None:
    client, pool, flows = process_pool(prefect_server, tmp_path, "lazy")
    deployment = create_deployment(client, pool=pool, flows_dir=flows)
    marker = f"PG_TEST_MARKER={uuid.uuid4().hex}"
    env = {**runner_env(prefect_server), marker.split("=")[0]: marker.split("=")[1]}
    log = tmp_path / "runner.log"
    with runner_process(
        prefect_server, pool, "--fork-server-idle-seconds", "2", log=log, env=env
    ) as process:
        assert wait_until(lambda: "polling work pool" in log.read_text(), 60)
        assert descendants_with_env(marker) == [process.pid]  # idle: no fork server yet
        for _ in range(2):  # the second run starts it again
            run_id = create_run(client, deployment["id"])["id"]
            assert wait_final(client, [run_id], 120)[run_id] == "COMPLETED", log.read_text()
            assert "fork server unavailable" not in log.read_text()
            assert wait_until(lambda: descendants_with_env(marker) == [process.pid], 30)


@pytest.mark.parametrize("launcher", ["--fork-server", "--no-fork-server"])
def test_a_secret_block_in_env_is_resolved_at_run_time_and_never_shown(
    prefect_server: RunningServer, tmp_path: Path, launcher: str
) -> None:
    client, pool, flows = process_pool(prefect_server, tmp_path, "blocks")
    secret_name = unique("my-secret")
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    create_secret_block(client, secret_name, secret)
    deployment = create_deployment(
        client,
        pool=pool,
        flows_dir=flows,
        flow="writes_env",
        job_variables={
            "env": {"MY_SECRET": f"{{{{ prefect.blocks.secret.{secret_name} }}}}"},
            "name": "run-{{ prefect.blocks.secret." + secret_name + " }}",
        },
    )
    seen = tmp_path / "seen"
    run_id = create_run(
        client, deployment["id"], parameters={"name": "MY_SECRET", "path": str(seen)}
    )["id"]
    result = run_once(prefect_server, pool, launcher)
    assert result.returncode == 0, result.stderr[-3000:]
    assert state_of(client, run_id) == "COMPLETED", result.stderr[-3000:]
    assert seen.read_text() == secret
    assert secret not in result.stdout + result.stderr
    assert "run-***" in result.stdout + result.stderr  # the label is redacted, not dropped
    # The server still holds the reference, not the value.
    stored = client.get(f"/deployments/{deployment['id']}")["job_variables"]
    assert secret not in str(stored)
    assert secret not in str(client.get(f"/flow_runs/{run_id}"))


def test_a_missing_block_crashes_the_run_with_a_message_naming_it(
    prefect_server: RunningServer, tmp_path: Path
) -> None:
    client, pool, flows = process_pool(prefect_server, tmp_path, "noblock")
    deployment = create_deployment(
        client,
        pool=pool,
        flows_dir=flows,
        job_variables={"env": {"X": "{{ prefect.blocks.secret.was-deleted }}"}},
    )
    run_id = create_run(client, deployment["id"])["id"]
    result = run_once(prefect_server, pool)
    assert result.returncode == 0, result.stderr[-3000:]
    final = client.get(f"/flow_runs/{run_id}")["state"]
    assert final["type"] == "CRASHED"
    assert "block 'was-deleted' of type 'secret'" in final["message"]
    assert "Traceback" not in result.stderr
