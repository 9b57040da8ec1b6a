"""Environments: `--env NAME` rewrites the project before validation, desired state and plan;
validation runs per environment; the example applies to two real servers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from prefect_gitops.errors import ConfigError, ReconcilerError
from prefect_gitops.repo.environments import api_target, merge
from prefect_gitops.repo.loader import load_project
from prefect_gitops.state.desired import analyze_flows, build_desired
from prefect_gitops.state.resources import Address
from tests.prefect_server import running_server
from tests.run_cli import run_cli

EXAMPLE = Path(__file__).resolve().parents[2] / "examples/environments"
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


# -- which server: the repository names the one it expects, the machine chooses ---------------

PROD_URL = "https://prefect.example.com/api"


def _machine(tmp_path: Path, **values: str) -> dict[str, str]:
    """An environment with no profile file and only `values` set."""
    return {"PREFECT_HOME": str(tmp_path / "prefect-home"), **values}


def _with_prod_url(tmp_path: Path, url: str) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLE, root)
    config = root / "prefect-gitops.yaml"
    config.write_text(config.read_text().replace(PROD_URL, url))
    return root


def test_repository_api_url_never_redirects_the_credentials(tmp_path: Path) -> None:
    project, _ = load_project(EXAMPLE, environment="prod")
    machine = _machine(tmp_path, PREFECT_API_URL="https://ci.example.org/api", PREFECT_API_KEY="k")
    with pytest.raises(ConfigError, match="expects the Prefect API at") as info:
        api_target(project, None, None, machine)
    assert "prefect-gitops.yaml:22:" in info.value.message
    assert "https://ci.example.org/api (from environment)" in info.value.message
    # No URL configured here: a credential (or a remote URL) never goes where the repo says.
    for machine in (_machine(tmp_path, PREFECT_API_KEY="k"), _machine(tmp_path)):
        with pytest.raises(ConfigError, match="no API URL is configured on this machine"):
            api_target(project, None, None, machine)


def test_repository_api_url_is_checked_against_the_configured_one(tmp_path: Path) -> None:
    project, _ = load_project(EXAMPLE, environment="prod")
    same = _machine(tmp_path, PREFECT_API_URL="HTTPS://Prefect.Example.com:443/api/")
    assert api_target(project, None, None, same) == (None, None)
    # The options choose explicitly; the dev environment only selects a profile.
    assert api_target(project, "http://x:1/api", None, same) == ("http://x:1/api", None)
    dev, _ = load_project(EXAMPLE, environment="dev")
    profiles = tmp_path / "prefect-home" / "profiles.toml"
    profiles.parent.mkdir(parents=True)
    profiles.write_text('[profiles.dev]\nPREFECT_API_URL = "http://dev.internal:4200/api"\n')
    assert api_target(dev, None, None, same) == (None, "dev")


def test_repository_api_url_against_prefect_settings_files_of_the_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, _ = load_project(EXAMPLE, environment="prod")
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    monkeypatch.chdir(checkout)  # Prefect reads .env and prefect.toml from here
    (checkout / ".env").write_text("PREFECT_API_URL=https://other.example/api\n")
    with pytest.raises(ConfigError, match=r"point at https://other.example/api \(from \.env\)"):
        api_target(project, None, None, _machine(tmp_path))
    (checkout / ".env").write_text(f"PREFECT_API_URL={PROD_URL}\n")
    assert api_target(project, None, None, _machine(tmp_path)) == (None, None)
    # Both names come from the checkout: this machine's key is not sent there.
    with pytest.raises(ConfigError, match=r"PREFECT_API_URL comes from \.env:1"):
        api_target(project, None, None, _machine(tmp_path, PREFECT_API_KEY="k"))


def test_a_selected_profile_never_receives_the_environments_key(tmp_path: Path) -> None:
    """The repository picks a profile; a key set in the environment is not the profile's."""
    dev, _ = load_project(EXAMPLE, environment="dev")
    profiles = tmp_path / "prefect-home" / "profiles.toml"
    profiles.parent.mkdir(parents=True)
    profiles.write_text('[profiles.dev]\nPREFECT_API_URL = "http://dev.internal:4200/api"\n')
    assert api_target(dev, None, None, _machine(tmp_path)) == (None, "dev")
    with pytest.raises(ConfigError, match="would receive the PREFECT_API_KEY") as info:
        api_target(dev, None, None, _machine(tmp_path, PREFECT_API_KEY="pnu_ci"))
    assert "prefect-gitops.yaml:8:" in info.value.message
    # Prefect reads the variable in any case, so the check does too.
    with pytest.raises(ConfigError, match="would receive the PREFECT_API_AUTH_STRING"):
        api_target(dev, None, None, _machine(tmp_path, prefect_api_auth_string="admin:pw"))
    # With the environment's own URL the profile's is not used: the key goes with its URL.
    paired = _machine(tmp_path, PREFECT_API_KEY="pnu_ci", PREFECT_API_URL="http://ci:1/api")
    assert api_target(dev, None, None, paired) == (None, "dev")


def test_loopback_api_url_is_used_only_without_credentials(tmp_path: Path) -> None:
    project, _ = load_project(
        _with_prod_url(tmp_path, "http://127.0.0.1:4200/api"), environment="prod"
    )
    assert api_target(project, None, None, _machine(tmp_path)) == (
        "http://127.0.0.1:4200/api",
        None,
    )
    keyed = _machine(tmp_path, PREFECT_API_AUTH_STRING="admin:pass")
    with pytest.raises(ConfigError, match="no API URL is configured"):
        api_target(project, None, None, keyed)


def test_cli_refuses_a_repository_that_points_elsewhere(tmp_path: Path) -> None:
    root = _with_prod_url(tmp_path, "https://attacker.example.net/api")
    machine = {
        **NO_PROFILE,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": "http://127.0.0.1:9/api",
        "PREFECT_API_KEY": "pnu_ci_key_0123456789",
        "PREFECT_CLIENT_MAX_RETRIES": "0",
    }
    for args in (
        ("plan", str(root)),
        ("apply", str(root), "--auto-approve"),
        ("export", str(root)),
    ):
        result = run_cli(*args, "--env", "prod", env=machine)
        assert result.exit_code == 1, result.stderr
        assert "expects the Prefect API at https://attacker.example.net/api" in result.stderr
        assert "prefect-gitops.yaml:22:" in result.stderr
        assert "connect" not in result.stderr.lower() and "Traceback" not in result.stderr
        assert "pnu_ci_key_0123456789" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("old", "new", "line", "message", "hint"),
    [
        (
            "      nightly-load:\n",
            "      nightly-lod:\n",
            18,
            "environment 'dev': `deployments` pattern 'nightly-lod' matches no deployment "
            "of the repository",
            "did you mean 'nightly-load'?",
        ),
        (
            '      "*-load":\n',
            '      "*-loads":\n',
            27,
            "environment 'prod': `deployments` pattern '*-loads' matches no deployment "
            "of the repository",
            None,
        ),
        (
            "      etl: etl-dev",
            "      etls: etl-dev",
            12,
            "environment 'dev': `work_pools` renames 'etls', which no pool file declares and "
            "no deployment uses",
            "did you mean 'etl'?",
        ),
    ],
)
def test_an_override_naming_nothing_is_a_located_error(
    tmp_path: Path, old: str, new: str, line: int, message: str, hint: str | None
) -> None:
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLE, root)
    config = root / "prefect-gitops.yaml"
    assert old in config.read_text()
    config.write_text(config.read_text().replace(old, new))
    env = "prod" if "prod" in message else "dev"
    _, diags = load_project(root, environment=env)
    (diag,) = list(diags)
    assert (diag.code, diag.span.file, diag.span.line) == ("S001", "prefect-gitops.yaml", line)
    assert (diag.message, diag.hint) == (message, hint)
    result = run_cli("validate", str(root), "--format", "json", env=NO_PROFILE)
    assert result.exit_code == 1 and result.codes() == ["S001"]


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
