"""Acceptance: export a real server populated by `prefect deploy` of every example plus
hand-made objects; the exported files validate, and `plan` on them says "No changes".

One server for the module. The hand-made objects: a process pool with a custom template and
three queues (one paused, one with a limit), variables (one with a secret-looking name), a
global concurrency limit, and deployments whose job variables hold a clear-text password and
whose schedules have no slugs.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from prefect_gitops.prefect import templates
from prefect_gitops.prefect.api import ApiClient
from prefect_gitops.prefect.settings import Settings
from prefect_gitops.state.ownership import inventory_base_name
from tests.plans.test_build_server import (
    EXAMPLE_NAMES,
    EXAMPLES,
    prefect_deploy,
    seed_infrastructure,
)
from tests.prefect_server import RunningServer, running_server
from tests.run_cli import CliResult, run_cli

pytestmark = [pytest.mark.server, pytest.mark.both_backends]

SECRET = "hunter2-clear-text"
EXTRA_DEPLOYMENTS = f"""
  - name: hello-secret
    entrypoint: flows/hello.py:hello
    work_pool:
      name: hand-made
      work_queue_name: fast
      job_variables:
        env:
          DB_PASSWORD: {SECRET}
          MODE: adopt
    schedules:
      - cron: "0 4 * * *"
      - interval: 600
  - name: hello-paused
    entrypoint: flows/hello.py:hello
    paused: true
    enforce_parameter_schema: false
    concurrency_limit:
      limit: 2
      collision_strategy: CANCEL_NEW
    work_pool:
      name: hand-made
      work_queue_name: fast
      job_variables:
        env:
          MODE: adopt
  - name: hello-twin
    entrypoint: flows/hello.py:hello
    work_pool:
      name: hand-made
      work_queue_name: fast
      job_variables:
        env:
          MODE: adopt
  - name: hello-slow
    entrypoint: flows/hello.py:hello
    work_pool:
      name: hand-made
      work_queue_name: slow
      job_variables:
        env:
          MODE: adopt
"""


def _custom_template() -> dict[str, Any]:
    template = templates.default_template("process")
    assert template is not None
    props = template["variables"]["properties"]
    props["env"]["default"] = {"TEAM": "platform"}
    props["working_dir"]["default"] = "/srv/flows"
    return template


def _env() -> dict[str, str | None]:
    return {"PREFECT_API_KEY": None, "PREFECT_PROFILE": None}


def _cli(*args: str) -> CliResult:
    return run_cli(*args, env=_env())


@pytest.fixture(scope="module")
def server(backend: str) -> Iterator[RunningServer]:
    with running_server(backend) as running:
        yield running


@pytest.fixture(scope="module")
def populated(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server, populated; returns a folder holding every example's flow code."""
    base = tmp_path_factory.mktemp("populate")
    code = base / "code"
    (code / "flows").mkdir(parents=True)
    with ApiClient(Settings(api_url=server.url)) as client:
        client.post(
            "/work_pools/",
            json={"name": "hand-made", "type": "process", "base_job_template": _custom_template(),
                  "concurrency_limit": 3, "description": "made by hand in the UI"},
        )  # fmt: skip
        client.post("/work_pools/hand-made/queues", json={"name": "fast", "priority": 1})
        client.post(
            "/work_pools/hand-made/queues",
            json={"name": "slow", "priority": 2, "concurrency_limit": 1, "is_paused": True},
        )
        client.post("/variables/", json={"name": "team_channel", "value": "#data", "tags": ["ops"]})
        client.post("/variables/", json={"name": "feature_flags", "value": {"new_ui": True}})
        client.post("/variables/", json={"name": "slack_token", "value": "xoxb-not-exported"})
        client.post(
            "/v2/concurrency_limits/",
            json={"name": "db-connections", "limit": 5, "slot_decay_per_second": 0.5},
        )
        for name in EXAMPLE_NAMES:
            root = base / name
            shutil.copytree(EXAMPLES / name, root)
            if name == "quickstart":
                with open(root / "prefect.yaml", "a", encoding="utf-8") as fh:
                    fh.write(EXTRA_DEPLOYMENTS)
            seed_infrastructure(client, root)
            prefect_deploy(server, root)
            shutil.copytree(root / "flows", code / "flows", dirs_exist_ok=True)
    return code


@pytest.fixture(scope="module")
def exported(
    server: RunningServer, populated: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    target = tmp_path_factory.mktemp("export") / "adopted"
    shutil.copytree(populated, target)
    result = _cli("export", str(target), "--api-url", server.url)
    assert result.exit_code == 0, result.stderr
    return target


def test_export_writes_the_expected_files(exported: Path) -> None:
    files = sorted(p.relative_to(exported).as_posix() for p in exported.rglob("*.y*ml"))
    assert files == [
        "prefect-gitops.yaml",
        "prefect.yaml",
        "work-pools/docker-etl.yaml",
        "work-pools/etl.yaml",
        "work-pools/event-driven.yaml",
        "work-pools/hand-made.yaml",
        "work-pools/k8s-analytics.yaml",
        "work-pools/local.yaml",
    ]
    docker = yaml.safe_load((exported / "work-pools/docker-etl.yaml").read_text())
    assert "base_job_template" not in docker  # the type's default
    custom = yaml.safe_load((exported / "work-pools/hand-made.yaml").read_text())
    assert custom["base_job_template"] == "templates/hand-made.json"
    template = json.loads((exported / "work-pools/templates/hand-made.json").read_text())
    assert template == _custom_template()
    queues = {q["name"]: q for q in custom["queues"]}
    assert queues["slow"] == {"name": "slow", "priority": 2, "concurrency_limit": 1, "paused": True}
    config = yaml.safe_load((exported / "prefect-gitops.yaml").read_text())
    assert config["project"] == "adopted"
    assert {v["name"] for v in config["variables"]} == {
        "team_channel",
        "feature_flags",
        "etl_target_schema",  # from the docker example
    }
    assert config["concurrency_limits"] == [
        {"name": "db-connections", "limit": 5, "slot_decay_per_second": 0.5},
        {"name": "warehouse-writes", "limit": 3},
    ]


def test_export_is_idiomatic_and_keeps_secrets_out(exported: Path) -> None:
    text = (exported / "prefect.yaml").read_text()
    every_file = "".join(
        p.read_text() for p in exported.rglob("*") if p.suffix in (".yaml", ".json")
    )
    assert SECRET not in every_file and "xoxb-not-exported" not in every_file
    assert "{{ prefect.blocks.secret.hello-hello-secret-db-password }}" in text
    doc = yaml.safe_load(text)
    assert set(doc["definitions"]) >= {"work_pools", "job_variables", "tags", "pull"}
    assert "*" in text and "&" in text  # anchors and aliases, not copies
    by_name = {d["name"]: d for d in doc["deployments"]}
    # What `prefect deploy` derives from the code is left out.
    assert "version" not in by_name["hello"] and "description" in by_name["hello"]
    assert by_name["orders"]["version"] == "2024.06.1"
    assert by_name["hello-paused"]["concurrency_limit"] == {
        "limit": 2,
        "collision_strategy": "CANCEL_NEW",
    }
    assert "slug" not in by_name["hello-secret"]["schedules"][0]


def test_exported_files_validate(exported: Path) -> None:
    result = _cli("validate", str(exported), "--format", "json")
    assert result.exit_code == 0, result.stdout
    findings = [d for d in result.json()["diagnostics"] if d["severity"] in ("error", "warning")]
    assert findings == []


def test_plan_after_export_says_no_changes(server: RunningServer, exported: Path) -> None:
    result = _cli("plan", str(exported), "--detailed-exitcode", "--api-url", server.url)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "No changes. Live state matches the repository." in result.stdout


def test_export_never_overwrites_without_force(server: RunningServer, exported: Path) -> None:
    before = (exported / "prefect.yaml").read_text()
    result = _cli("export", str(exported), "--api-url", server.url)
    assert result.exit_code == 1
    assert "--force" in result.stderr and "prefect.yaml" in result.stderr
    assert (exported / "prefect.yaml").read_text() == before


def test_subset_export(server: RunningServer, populated: Path, tmp_path: Path) -> None:
    target = tmp_path / "subset"
    shutil.copytree(populated, target)
    result = _cli("export", str(target), "--pool", "hand-*", "--api-url", server.url)
    assert result.exit_code == 0, result.stderr
    doc = yaml.safe_load((target / "prefect.yaml").read_text())
    assert sorted(d["name"] for d in doc["deployments"]) == [
        "hello-paused",
        "hello-secret",
        "hello-slow",
        "hello-twin",
    ]
    assert sorted(p.name for p in (target / "work-pools").glob("*.yaml")) == ["hand-made.yaml"]
    assert "variables" not in yaml.safe_load((target / "prefect-gitops.yaml").read_text())
    result = _cli("export", str(target), "--force", "--tag", "reporting", "--api-url", server.url)
    assert result.exit_code == 0, result.stderr
    doc = yaml.safe_load((target / "prefect.yaml").read_text())
    assert [d["name"] for d in doc["deployments"]] == ["daily-report"]
    plan = _cli("plan", str(target), "--detailed-exitcode", "--api-url", server.url)
    assert plan.exit_code == 0, plan.stdout + plan.stderr


def test_adopt_records_ownership(server: RunningServer, populated: Path, tmp_path: Path) -> None:
    target = tmp_path / "owned"
    shutil.copytree(populated, target)
    result = _cli(
        "export", str(target), "--adopt", "--project", "adopters", "--api-url", server.url
    )
    assert result.exit_code == 0, result.stderr
    plan = _cli(
        "plan", str(target), "--format", "json", "--detailed-exitcode", "--api-url", server.url
    )
    assert plan.exit_code == 0, plan.stderr
    notes = [n for rc in plan.json()["resource_changes"] for n in rc["notes"]]
    assert not [n for n in notes if "not yet recorded as owned" in n]
    with ApiClient(Settings(api_url=server.url)) as client:
        found = client.paginate(
            "/variables/filter", {"variables": {"name": {"like_": inventory_base_name("adopters")}}}
        )
    items = found[0]["value"]["items"]
    assert {"work_pool.hand-made", "deployment.hello/hello-secret", "variable.team_channel",
            "concurrency_limit.db-connections", "work_queue.hand-made/slow"} <= set(items)  # fmt: skip
    # The inventory itself is bookkeeping: a second export leaves it out.
    again = tmp_path / "again"
    shutil.copytree(populated, again)
    assert _cli("export", str(again), "--api-url", server.url).exit_code == 0
    config = yaml.safe_load((again / "prefect-gitops.yaml").read_text())
    assert all(not v["name"].startswith("prefect_gitops") for v in config["variables"])
    # Named for the owner the server records, not for the folder: the objects stay owned.
    assert config["project"] == "adopters"
    replan = _cli("plan", str(again), "--format", "json", "--api-url", server.url)
    notes = [n for rc in replan.json()["resource_changes"] for n in rc["notes"]]
    assert not [n for n in notes if "not yet recorded as owned" in n]
