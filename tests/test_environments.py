"""Environments: `--env NAME` rewrites the project before validation, desired state and plan;
validation runs per environment; the example applies to two real servers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from prefect_gitops.desired import analyze_flows, build_desired
from prefect_gitops.environments import merge
from prefect_gitops.errors import ReconcilerError
from prefect_gitops.loader import load_project
from prefect_gitops.state import Address
from tests.prefect_server import running_server
from tests.run_cli import run_cli

EXAMPLE = Path(__file__).resolve().parents[1] / "examples/environments"
NO_PROFILE = {"PREFECT_API_KEY": None, "PREFECT_PROFILE": None, "PREFECT_GITOPS_ENV": None}


def test_merge_is_deep_for_mappings_only() -> None:
    base = {"env": {"A": "1", "B": "2"}, "image": "x", "networks": ["a"]}
    out = merge(base, {"env": {"B": "3"}, "networks": ["b"]})
    assert out == {"env": {"A": "1", "B": "3"}, "image": "x", "networks": ["b"]}
    assert base["env"] == {"A": "1", "B": "2"}


def test_dev_environment_rewrites_the_project() -> None:
    project, diags = load_project(EXAMPLE, environment="dev")
    assert not diags.has_errors and project.environment == "dev"
    desired = build_desired(project, environ={}, flow_lookup=analyze_flows(project))
    assert Address.pool("etl-dev") in desired and Address.pool("etl") not in desired
    nightly = desired[Address.deployment("load-rows", "nightly-load-dev")].spec
    assert nightly["work_pool_name"] == "etl-dev"
    assert nightly["job_variables"]["env"] == {"TARGET_ENV": "dev", "LOG_LEVEL": "DEBUG"}
    assert nightly["parameters"] == {"source": "s3://acme/rows", "rows": 10}
    assert [s["active"] for s in nightly["schedules"]] == [False]
    hourly = desired[Address.deployment("load-rows", "hourly-load-dev")].spec
    assert hourly["parameters"]["rows"] == 100


def test_prod_environment_and_the_base_project() -> None:
    project, _ = load_project(EXAMPLE, environment="prod")
    desired = build_desired(project, environ={}, flow_lookup=analyze_flows(project))
    nightly = desired[Address.deployment("load-rows", "nightly-load")].spec
    assert nightly["job_variables"] == {
        "env": {"TARGET_ENV": "prod", "LOG_LEVEL": "INFO"},
        "working_dir": "/srv/flows",
    }
    assert [s["active"] for s in nightly["schedules"]] == [True]
    base, _ = load_project(EXAMPLE)
    assert base.environment is None
    spec = build_desired(base, environ={}, flow_lookup=analyze_flows(base))
    assert spec[Address.deployment("load-rows", "nightly-load")].spec["job_variables"] == {
        "env": {"TARGET_ENV": "base", "LOG_LEVEL": "INFO"}
    }


def test_unknown_environment() -> None:
    with pytest.raises(ReconcilerError, match="unknown environment 'deev'") as info:
        load_project(EXAMPLE, environment="deev")
    assert info.value.hint is not None and "dev" in info.value.hint
    result = run_cli("plan", str(EXAMPLE), "--env", "deev", env=NO_PROFILE)
    assert result.exit_code == 1 and "unknown environment" in result.stderr


def _broken_copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLE, root)
    config = root / "prefect-gitops.yaml"
    config.write_text(
        config.read_text().replace(
            "      nightly-load:\n",
            "      nightly-load:\n        job_variables:\n          env: not-a-mapping\n",
        ),
    )
    return root


def test_validate_checks_every_environment(tmp_path: Path) -> None:
    root = _broken_copy(tmp_path)
    result = run_cli("validate", str(root), "--format", "json", env=NO_PROFILE)
    assert result.exit_code == 1
    errors = [d for d in result.json()["diagnostics"] if d["severity"] == "error"]
    assert [d["code"] for d in errors] == ["J001"]
    assert errors[0]["message"].startswith("environment 'dev': ")
    assert run_cli("validate", str(root), "--env", "prod", env=NO_PROFILE).exit_code == 0
    dev = run_cli("validate", str(root), "--env", "dev", "--format", "json", env=NO_PROFILE)
    assert dev.exit_code == 1 and dev.codes() == ["J001"]


@pytest.mark.server
def test_example_applies_to_two_servers(tmp_path: Path) -> None:
    """dev and prod on two real servers, with different overrides; each then plans clean."""
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLE, root)
    with running_server() as dev, running_server() as prod:
        for env, server in (("dev", dev), ("prod", prod)):
            args = (str(root), "--env", env, "--api-url", server.url)
            applied = run_cli("apply", *args, "--auto-approve", env=NO_PROFILE)
            assert applied.exit_code == 0, applied.stdout + applied.stderr
            planned = run_cli(
                "plan", *args, "--format", "json", "--detailed-exitcode", env=NO_PROFILE
            )
            assert planned.exit_code == 0, planned.stdout + planned.stderr
            assert planned.json()["environment"] == env
        dev_plan = run_cli(
            "plan",
            str(root),
            "--env",
            "dev",
            "--format",
            "json",
            "--api-url",
            dev.url,
            env=NO_PROFILE,
        ).json()
        addresses = {rc["address"] for rc in dev_plan["resource_changes"]}
        assert {"work_pool.etl-dev", "deployment.load-rows/nightly-load-dev"} <= addresses
        prod_plan = run_cli(
            "plan",
            str(root),
            "--env",
            "prod",
            "--format",
            "json",
            "--api-url",
            prod.url,
            env=NO_PROFILE,
        ).json()
        by_address = {rc["address"]: rc for rc in prod_plan["resource_changes"]}
        nightly = by_address["deployment.load-rows/nightly-load"]["before"]
        assert nightly["job_variables"]["env"]["TARGET_ENV"] == "prod"
        assert [s["active"] for s in nightly["schedules"]] == [True]
        # The dev server got the dev version: inactive schedules, its own pool name.
        dev_nightly = {rc["address"]: rc for rc in dev_plan["resource_changes"]}[
            "deployment.load-rows/nightly-load-dev"
        ]["before"]
        assert [s["active"] for s in dev_nightly["schedules"]] == [False]
        # Planning dev's repository against the prod server shows the differences.
        crossed = run_cli(
            "plan",
            str(root),
            "--env",
            "dev",
            "--detailed-exitcode",
            "--api-url",
            prod.url,
            env=NO_PROFILE,
        )
        assert crossed.exit_code == 2


@pytest.mark.parametrize("command", ["validate", "plan", "apply"])
@pytest.mark.parametrize("via", ["option", "variable"])
def test_unknown_environment_keeps_the_json_contract(command: str, via: str) -> None:
    args = ["--env", "nope"] if via == "option" else []
    env = {**NO_PROFILE, "PREFECT_API_URL": "http://127.0.0.1:9/api"}
    if via == "variable":
        env["PREFECT_GITOPS_ENV"] = "nope"
    extra = ["--auto-approve"] if command == "apply" else []
    result = run_cli(command, str(EXAMPLE), *args, *extra, "--format", "json", env=env)
    assert result.exit_code == 1
    document = result.json()  # stdout is one valid JSON document
    found = [d for d in document["diagnostics"] if d["code"] == "R005"]
    assert [(d["file"], d["line"]) for d in found] == [("prefect-gitops.yaml", 6)]
    assert "unknown environment 'nope'" in found[0]["message"]
    assert document["summary"]["errors"] >= 1


def test_unknown_environment_is_located_in_text_too(tmp_path: Path) -> None:
    result = run_cli("validate", str(EXAMPLE), "--env", "deev", env=NO_PROFILE)
    assert result.exit_code == 1
    assert "prefect-gitops.yaml:6:1: error[R005] unknown environment 'deev'" in result.stdout
    (tmp_path / "prefect.yaml").write_text("deployments: []\n")
    result = run_cli("validate", str(tmp_path), "--env", "dev", "--format", "json")
    assert result.exit_code == 1
    assert "R005" in result.codes()
