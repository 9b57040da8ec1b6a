from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from prefect_gitops.api import ApiClient
from prefect_gitops.cli import plan as cli_plan
from prefect_gitops.plan import Plan
from tests.prefect_server import RunningServer
from tests.run_cli import run_cli

FLOW = '@flow\ndef etl(n: int = 1) -> None:\n    """Load things."""\n'


def write_repo(root: Path, pool: str, *, broken: bool = False) -> Path:
    files = {
        "prefect.yaml": (
            "deployments:\n"
            f"  - name: {pool}-etl\n"
            "    entrypoint: flows/etl.py:etl\n"
            + ("    schedules: not-a-list\n" if broken else "")
            + f"    work_pool:\n      name: {pool}\n"
        ),
        "flows/etl.py": "from prefect import flow\n\n\n" + FLOW,
        "work-pools/pool.yaml": f"name: {pool}\ntype: process\nconcurrency_limit: 2\n",
    }
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return root


def test_validation_errors_stop_before_any_request(tmp_path: Path) -> None:
    root = write_repo(tmp_path, "p", broken=True)
    # Port 9 (discard) on loopback: any connection attempt would fail loudly with exit 1
    # *and* a connection error message; validation must stop first.
    result = run_cli("plan", str(root), "--api-url", "http://127.0.0.1:9/api")
    assert result.exit_code == 1
    assert "nothing was planned" in result.stderr
    assert "Cannot connect" not in result.stderr and "connect" not in result.stderr.lower()


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> list[ApiClient]:
    """Every client `plan` opens, to inspect its request counters afterwards."""
    opened: list[ApiClient] = []
    real = cli_plan.open_client

    def recording(api_url: str | None, profile: str | None) -> ApiClient:
        client = real(api_url, profile)
        opened.append(client)
        return client

    monkeypatch.setattr(cli_plan, "open_client", recording)
    return opened


@pytest.mark.server
def test_plan_against_a_real_server_never_writes(
    tmp_path: Path, prefect_server: RunningServer, clients: list[ApiClient]
) -> None:
    pool = f"plan-cli-{uuid.uuid4().hex[:8]}"
    root = write_repo(tmp_path / "repo", pool)
    out = tmp_path / "plan.json"
    result = run_cli(
        "plan", str(root), "--api-url", prefect_server.url, "--detailed-exitcode", "--out", str(out)
    )
    assert result.exit_code == 2, result.stderr
    assert f"work_pool.{pool} will be created" in result.stdout
    assert "Plan: 3 to add, 0 to change, 0 to destroy." in result.stdout
    (client,) = clients
    assert client.write_count == 0
    assert client.request_count <= 10
    saved: dict[str, Any] = json.loads(out.read_text())
    plan = Plan.from_dict(saved)
    assert plan.live_fingerprint.startswith("sha256:")
    assert plan.desired_fingerprint.startswith("sha256:")
    assert {rc.address for rc in plan.changes} == {
        f"work_pool.{pool}",
        "flow.etl",
        f"deployment.etl/{pool}-etl",
    }

    as_json = run_cli("plan", str(root), "--api-url", prefect_server.url, "--format", "json")
    assert as_json.exit_code == 0
    assert as_json.json()["summary"]["add"] == 3


def test_unreachable_server_is_one_line_exit_1(tmp_path: Path) -> None:
    root = write_repo(tmp_path, "p")
    result = run_cli(
        "plan",
        str(root),
        "--api-url",
        "http://127.0.0.1:9/api",
        env={"PREFECT_CLIENT_MAX_RETRIES": "0"},
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert "Traceback" not in result.stderr
