"""`prefect-gitops doctor` against a real server."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.prefect_server import RunningServer
from tests.runner.helpers import (
    client_for,
    create_deployment,
    create_pool,
    create_run,
    runner_env,
    unique,
    write_flows,
)

pytestmark = pytest.mark.server


def _doctor(server: RunningServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prefect_gitops", "doctor", *args],
        env=runner_env(server),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_doctor_explains_late_runs_and_passes_a_healthy_pool(
    prefect_server: RunningServer, tmp_path: Path
) -> None:
    client = client_for(prefect_server)
    stuck, healthy = unique("stuck"), unique("healthy")
    create_pool(client, stuck)
    create_pool(client, healthy)
    client.patch(f"/work_pools/{stuck}", json={"is_paused": True})
    deployment = create_deployment(client, pool=stuck, flows_dir=write_flows(tmp_path))
    past = (datetime.now(timezone.utc) - timedelta(minutes=5)).isoformat()
    create_run(
        client,
        deployment["id"],
        state={"type": "SCHEDULED", "state_details": {"scheduled_time": past}},
    )
    client.post(
        f"/work_pools/{healthy}/workers/heartbeat",
        json={"name": "w1", "heartbeat_interval_seconds": 30},
    )

    result = _doctor(prefect_server, "--pool", stuck, "--pool", healthy, str(tmp_path / "no-repo"))
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("OK   API ")
    stuck_line = next(line for line in lines if f"'{stuck}'" in line)
    assert stuck_line.startswith("FAIL")
    assert "the pool is paused" in stuck_line and "no worker is ONLINE" in stuck_line
    assert "1 late run(s)" in stuck_line and f"prefect work-pool resume {stuck}" in stuck_line
    assert f"prefect-gitops runner start --pool {stuck}" in stuck_line
    healthy_line = next(line for line in lines if f"'{healthy}'" in line)
    assert healthy_line.startswith("OK") and "1 worker(s) online" in healthy_line

    only_healthy = _doctor(prefect_server, "--pool", healthy)
    assert only_healthy.returncode == 0


def test_doctor_reports_a_missing_pool(prefect_server: RunningServer) -> None:
    result = _doctor(prefect_server, "--pool", "no-such-pool-here")
    assert result.returncode == 1
    assert "does not exist" in result.stdout


def test_doctor_reports_an_unreachable_api() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "prefect_gitops",
            "doctor",
            "--api-url",
            "http://127.0.0.1:9/api",
            "--pool",
            "x",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PREFECT_CLIENT_MAX_RETRIES": "0", "HOME": "/tmp"},
    )
    assert result.returncode == 1
    assert "unreachable" in result.stdout


def _env_repo(root: Path, api_url: str) -> Path:
    files = {
        "prefect-gitops.yaml": (
            "environments:\n"
            "  prod:\n"
            f"    api_url: {api_url}\n"
            "    work_pools:\n"
            "      local: local-prod\n"
        ),
        "prefect.yaml": (
            "deployments:\n"
            "  - name: etl\n"
            "    entrypoint: flows.py:etl\n"
            "    work_pool:\n"
            "      name: local\n"
        ),
        "flows.py": "from prefect import flow\n\n\n@flow\ndef etl() -> None:\n    pass\n",
        "work-pools/local.yaml": "name: local\ntype: process\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def _bare_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), PREFECT_CLIENT_MAX_RETRIES="0")
    return env


def test_doctor_env_checks_the_environments_server(tmp_path: Path) -> None:
    repo = _env_repo(tmp_path / "repo", "http://127.0.0.1:9/api")
    result = subprocess.run(
        [sys.executable, "-m", "prefect_gitops", "doctor", str(repo), "--env", "prod"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_bare_env(tmp_path / "home"),
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("FAIL API http://127.0.0.1:9/api: unreachable")
    unknown = subprocess.run(
        [sys.executable, "-m", "prefect_gitops", "doctor", str(repo), "--env", "staging"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_bare_env(tmp_path / "home"),
    )
    assert unknown.returncode == 1
    assert "staging" in unknown.stderr and "Traceback" not in unknown.stderr


def test_doctor_env_checks_the_pools_under_their_environment_names(
    prefect_server: RunningServer, tmp_path: Path
) -> None:
    client = client_for(prefect_server)
    create_pool(client, "local-prod")
    repo = _env_repo(tmp_path / "repo", prefect_server.url)
    env = prefect_server.env()
    del env["PREFECT_API_URL"]
    result = subprocess.run(
        [sys.executable, "-m", "prefect_gitops", "doctor", str(repo), "--env", "prod"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.stdout.startswith(f"OK   API {prefect_server.url}"), result.stderr
    assert "'local-prod'" in result.stdout and "'local'" not in result.stdout
