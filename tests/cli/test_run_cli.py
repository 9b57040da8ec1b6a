"""`prefect-gitops run` against a real server with real flows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from prefect_gitops.cli.run import parse_assignments, parse_params_json
from tests.prefect_server import RunningServer
from tests.runner.helpers import (
    create_deployment,
    process_pool,
    run_command,
)


def test_assignments_parse_json_values_and_fall_back_to_strings() -> None:
    assert parse_assignments(("a=1", "b=x", 'c={"k": [1]}', "d="), "--param") == {
        "a": 1,
        "b": "x",
        "c": {"k": [1]},
        "d": "",
    }
    assert parse_params_json('{"x": true}') == {"x": True}


def _run(server: RunningServer, *args: str) -> subprocess.CompletedProcess[str]:
    return run_command(server, "run", *args, timeout=240)


@pytest.mark.server
@pytest.mark.both_backends
@pytest.mark.timeout(300)
def test_run_local_completes_and_a_failing_flow_exits_1(
    prefect_server: RunningServer, tmp_path: Path
) -> None:
    client, pool, flows = process_pool(prefect_server, tmp_path, "local")
    good = create_deployment(client, pool=pool, flows_dir=flows, flow="hello")
    bad = create_deployment(client, pool=pool, flows_dir=flows, flow="fails")

    result = _run(
        prefect_server,
        f"hello/{good['name']}",
        "--local",
        "--param",
        "name=ci",
        "--job-variable",
        "env.MY_ENV=from-cli",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "hello ci" in result.stdout and "MY_ENV=from-cli" in result.stdout
    runs = client.post("/flow_runs/filter", json={"deployments": {"id": {"any_": [good["id"]]}}})
    assert [r["state_type"] for r in runs] == ["COMPLETED"]
    assert runs[0]["parameters"] == {"name": "ci"}

    failed = _run(prefect_server, f"fails/{bad['name']}", "--local")
    assert failed.returncode == 1
    assert "FAILED" in failed.stderr


@pytest.mark.server
def test_run_unknown_deployment_is_a_clear_error(prefect_server: RunningServer) -> None:
    result = _run(prefect_server, "nope/missing", "--watch", "--timeout", "5")
    assert result.returncode == 1
    assert "deployment 'nope/missing' not found" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("--params", '{"x": 1e999}'),
        ("--params", '{"x": [-1e400]}'),
        ("--params", '{"x": NaN}'),
        ("--param", "x=Infinity"),
        ("--param", "x=1e999"),
        ("--job-variable", 'env={"A": -Infinity}'),
    ],
)
def test_numbers_json_cannot_carry_are_one_error_exit_1(args: tuple[str, str]) -> None:
    from tests.run_cli import run_cli

    result = run_cli("run", "hello/hello", *args, env={"PREFECT_API_URL": "http://127.0.0.1:9/api"})
    assert result.exit_code == 1, result.stderr
    assert result.stderr.startswith(f"Error: {args[0]}")
    assert "crashed" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("timeout", ["nan", "inf"])
def test_a_watch_timeout_must_be_finite(timeout: str) -> None:
    from tests.run_cli import run_cli

    result = run_cli("run", "hello/hello", "--watch", "--timeout", timeout)
    assert result.exit_code == 2
    assert "not a finite number of seconds" in result.stderr


def test_finite_json_numbers_still_parse() -> None:
    assert parse_params_json('{"x": 1e308, "y": -0.5}') == {"x": 1e308, "y": -0.5}
    assert parse_assignments(("x=1e3", "s=NaNa"), "--param") == {"x": 1000.0, "s": "NaNa"}


def test_run_env_sends_the_run_to_the_environments_server(tmp_path: Path) -> None:
    from tests.cli.test_doctor import _bare_env, _env_repo

    repo = _env_repo(tmp_path / "repo", "http://127.0.0.1:9/api")
    command = [sys.executable, "-m", "prefect_gitops", "run", "etl/etl", "--env"]
    env = _bare_env(tmp_path / "home")
    result = subprocess.run(
        [*command, "prod"], cwd=repo, capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 1
    assert "127.0.0.1:9" in result.stderr and "Traceback" not in result.stderr
    unknown = subprocess.run(
        [*command, "staging"], cwd=repo, capture_output=True, text=True, timeout=120, env=env
    )
    assert unknown.returncode == 1 and "staging" in unknown.stderr


def test_run_without_flow_slash_deployment_is_a_usage_error_before_any_request() -> None:
    from tests.run_cli import run_cli

    for name in ("local", "etl/", "/daily"):
        result = run_cli("run", name, "--api-url", "http://127.0.0.1:9/api")
        assert result.exit_code == 2
        assert "is not FLOW_NAME/DEPLOYMENT_NAME" in result.stderr
        assert "127.0.0.1:9" not in result.stderr
