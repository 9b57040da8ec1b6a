from __future__ import annotations

import dataclasses
import json
import stat
import threading
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from prefect_gitops.api import ApiClient, ApiError
from prefect_gitops.cli import plan as cli_plan
from prefect_gitops.loader import load_project
from prefect_gitops.plan import Plan
from prefect_gitops.settings import Settings, load_settings
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


def test_a_step_prefect_cannot_import_stops_plan_only_with_run_steps(tmp_path: Path) -> None:
    # Without --run-steps plan and apply never import the build steps (their outputs come
    # from --step-output): `prefect deploy` would fail on it, plan need not
    root = write_repo(tmp_path, "p")
    text = (root / "prefect.yaml").read_text()
    (root / "prefect.yaml").write_text("build:\n  - pg_not_installed_steps.build: {}\n" + text)
    target = (str(root), "--api-url", "http://127.0.0.1:9/api")
    run = run_cli("plan", *target, "--run-steps")
    assert run.exit_code == 1 and "nothing was planned" in run.stderr
    assert "error[S016]" in run.stderr and "connect" not in run.stderr.lower()
    planned = run_cli("plan", *target)
    assert planned.exit_code == 1 and "nothing was planned" not in planned.stderr
    assert "connect" in planned.stderr.lower()  # past validation, on to the (absent) server


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
        "plan",
        *(str(root), "--api-url", prefect_server.url, "--detailed-exitcode", "--out", str(out)),
        env={"PREFECT_GITOPS_HOME": str(tmp_path / "home")},
    )
    assert result.exit_code == 2, result.stderr
    assert f"work_pool.{pool} will be created" in result.stdout
    assert "Plan: 3 to add, 0 to change, 0 to destroy." in result.stdout
    (client,) = clients
    assert client.write_count == 0
    assert client.request_count <= 10
    saved: dict[str, Any] = json.loads(out.read_text())
    plan = Plan.from_dict(saved)
    assert plan.live_fingerprint.startswith("hmac-sha256:")
    assert plan.desired_fingerprint.startswith("hmac-sha256:")
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


@pytest.mark.server
def test_saved_plan_holds_no_secret_and_apply_takes_it_from_the_repo(
    tmp_path: Path, prefect_server: RunningServer
) -> None:
    pool = f"saved-{uuid.uuid4().hex[:8]}"
    root = write_repo(tmp_path / "repo", pool)
    prefect_yaml = root / "prefect.yaml"
    prefect_yaml.write_text(
        prefect_yaml.read_text()
        + "      job_variables:\n        env:\n          DB_PASSWORD: '4711'\n"
    )
    out = tmp_path / "plan.json"
    out.write_text("{}")
    out.chmod(0o644)
    machine = {"PREFECT_GITOPS_HOME": str(tmp_path / "home"), "PREFECT_GITOPS_PLAN_KEY": None}
    args = ("--api-url", prefect_server.url)
    result = run_cli("plan", str(root), *args, "--out", str(out), env=machine)
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    text = out.read_text()
    assert "4711" not in text
    saved = json.loads(text)
    assert saved["desired_fingerprint"].startswith("hmac-sha256:")

    applied = run_cli("apply", str(out), "--repo", str(root), *args, env=machine)
    assert applied.exit_code == 0, applied.stderr
    with ApiClient(load_settings({}, api_url=prefect_server.url)) as client:
        found = client.post(
            "/deployments/filter", json={"deployments": {"name": {"any_": [f"{pool}-etl"]}}}
        )
    assert [d["job_variables"]["env"]["DB_PASSWORD"] for d in found] == ["4711"]

    # Another machine (another plan key) cannot apply it: nothing is written.
    elsewhere = {**machine, "PREFECT_GITOPS_HOME": str(tmp_path / "other")}
    refused = run_cli("apply", str(out), "--repo", str(root), *args, env=elsewhere)
    assert refused.exit_code == 1 and "another plan key" in refused.stderr


def test_error_messages_print_user_text_visibly(tmp_path: Path) -> None:
    root = write_repo(tmp_path, "p")
    result = run_cli("plan", str(root), "--env", "dev\n::add-mask::x\x1b[2J")
    assert result.exit_code == 1
    assert "unknown environment 'dev\\n::add-mask::x\\x1b[2J'" in result.stderr
    assert not [ln for ln in result.stderr.splitlines() if ln.lstrip().startswith("::")]


@pytest.mark.server
def test_plan_compares_repository_typed_schemas_and_warns_about_opaque_ones(
    tmp_path: Path, prefect_server: RunningServer
) -> None:
    pool = f"typed-{uuid.uuid4().hex[:8]}"
    root = write_repo(tmp_path / "repo", pool)
    models = root / "flows" / "models.py"
    models.write_text(
        "from enum import Enum\nfrom pydantic import BaseModel\n"
        "class Fmt(str, Enum):\n    CSV = 'csv'\n    PARQUET = 'parquet'\n"
        "class Config(BaseModel):\n    region: str = 'eu'\n"
        "class Custom(BaseModel):\n    a: int\n"
        "    def __get_pydantic_json_schema__(cls, schema, handler): ...\n"
    )
    (root / "flows" / "etl.py").write_text(
        "from prefect import flow\nfrom models import Config, Custom, Fmt\n"
        "@flow\ndef etl(config: Config, formats: list[Fmt] = [Fmt.PARQUET]) -> None: ...\n"
        "@flow\ndef custom(c: Custom) -> None: ...\n"
    )
    prefect_yaml = root / "prefect.yaml"
    prefect_yaml.write_text(
        prefect_yaml.read_text()
        + f"  - name: {pool}-custom\n    entrypoint: flows/etl.py:custom\n"
        + f"    work_pool:\n      name: {pool}\n"
    )
    env = {"PREFECT_GITOPS_HOME": str(tmp_path / "home")}
    args = ("--api-url", prefect_server.url)
    applied = run_cli("apply", str(root), *args, "--auto-approve", env=env)
    assert applied.exit_code == 0, applied.stderr
    with ApiClient(load_settings({}, api_url=prefect_server.url)) as client:
        (written,) = client.post(
            "/deployments/filter", json={"deployments": {"name": {"any_": [f"{pool}-etl"]}}}
        )
    schema = written["parameter_openapi_schema"]
    assert set(schema["definitions"]) == {"Config", "Fmt"}
    assert schema["properties"]["formats"]["default"] == ["parquet"]

    unchanged = run_cli("plan", str(root), *args, "--detailed-exitcode", env=env)
    assert unchanged.exit_code == 0, unchanged.stdout + unchanged.stderr
    assert "No changes" in unchanged.stdout
    # the opaque schema is not silently "No changes": the warning names the parameter
    (warning,) = [line for line in unchanged.stderr.splitlines() if "opaque" in line]
    assert warning.startswith("warning: prefect.yaml:")
    assert f"deployment.custom/{pool}-custom" in warning
    assert "parameter 'c': class `Custom` (flows/models.py:8)" in warning

    # a change in the models module is a change of the deployment's schema
    models.write_text(models.read_text().replace("region: str = 'eu'", "region: str = 'us'"))
    changed = run_cli("plan", str(root), *args, "--detailed-exitcode", "--format", "json", env=env)
    assert changed.exit_code == 2, changed.stdout + changed.stderr
    paths = {
        (rc["address"], c["path"])
        for rc in changed.json()["resource_changes"]
        for c in rc["changed_fields"]
    }
    assert paths == {
        (
            f"deployment.etl/{pool}-etl",
            "parameter_openapi_schema.definitions.Config.properties.region.default",
        )
    }


class ReadsServer:
    """An empty server's read endpoints; `deployments_read` is set when the deployments'
    read begins (its count), `fail` answers that read with a 400."""

    def __init__(self, *, fail: bool = False) -> None:
        self.deployments_read = threading.Event()
        self.fail = fail
        self.paths: list[str] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api")
        self.paths.append(path)
        if path == "/deployments/count":
            self.deployments_read.set()
            if self.fail:
                return httpx.Response(400, json={"detail": "bad filter"})
            return httpx.Response(200, json=0)
        return httpx.Response(200, json=[])


def reads_client(server: ReadsServer) -> ApiClient:
    settings = Settings(api_url="http://test/api")
    return ApiClient(settings, transport=httpx.MockTransport(server.handler))


def test_the_deployments_are_read_while_the_desired_state_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reads need only the declared names: they are under way before the desired state
    is built (which waits, bounded, to see them begin), and not sent again after it."""
    project, _ = load_project(write_repo(tmp_path / "repo", "early"), environ={})
    server = ReadsServer()
    seen_before_building: list[bool] = []
    real = cli_plan.build_desired

    def waiting_build(*args: Any, **kwargs: Any) -> Any:
        seen_before_building.append(server.deployments_read.wait(timeout=30))
        return real(*args, **kwargs)

    monkeypatch.setattr(cli_plan, "build_desired", waiting_build)
    with reads_client(server) as client:
        desired, early = cli_plan.desired_while_reading(client, project, {}, {}, False)
        _live, plan = cli_plan.compute_plan(client, project, desired, prune=False, early=early)
    assert seen_before_building == [True]
    assert server.paths.count("/deployments/count") == 1
    assert "deployment.etl/early-etl" in {rc.address for rc in plan.changes}


def test_a_read_error_begun_early_surfaces_when_planning(tmp_path: Path) -> None:
    project, _ = load_project(write_repo(tmp_path / "repo", "early"), environ={})
    with reads_client(ReadsServer(fail=True)) as client:
        desired, early = cli_plan.desired_while_reading(client, project, {}, {}, False)
        with pytest.raises(ApiError, match="bad filter"):
            cli_plan.compute_plan(client, project, desired, prune=False, early=early)
    assert early is not None and early.done()


def test_planning_again_on_an_unmoved_live_state_skips_the_diff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Apply plans again under the lock: only the live reads are redone; the plan is made
    again only when the live state moved (its fingerprint differs)."""
    project, _ = load_project(write_repo(tmp_path / "repo", "again"), environ={})
    with reads_client(ReadsServer()) as client:
        desired = cli_plan.desired_online(client, project, {}, {}, False)
        _live, first = cli_plan.compute_plan(client, project, desired, prune=False)
        built: list[object] = []
        monkeypatch.setattr(cli_plan, "build_plan", lambda *a, **k: built.append(a) or first)
        _live, again = cli_plan.compute_plan(client, project, desired, prune=False, known=first)
        assert again is first and built == []
        moved = dataclasses.replace(first, live_fingerprint="sha256:other")
        cli_plan.compute_plan(client, project, desired, prune=False, known=moved)
        assert len(built) == 1
