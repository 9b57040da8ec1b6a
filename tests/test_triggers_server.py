"""Deployment triggers against real servers: apply, change one trigger, plan shows exactly that,
apply writes only that automation, "No changes"; and `prefect deploy` of the same repository
writes equivalent automations that plan as "No changes"."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prefect_gitops.prefect.api import ApiClient
from prefect_gitops.prefect.settings import Settings
from tests.plans.test_build_server import edit, prefect_deploy, seed_infrastructure
from tests.prefect_server import RunningServer, running_server
from tests.run_cli import CliResult, run_cli

pytestmark = pytest.mark.server

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "triggers"
NIGHTLY = "automation.rebuild-order-tables/transform-orders/transform-orders-nightly-catch-up"
FIRST = "automation.rebuild-order-tables/transform-orders/transform-orders__automation_1"


@pytest.fixture(scope="module")
def ours() -> Iterator[RunningServer]:
    with running_server() as server:
        yield server


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("triggers") / "triggers"
    shutil.copytree(EXAMPLE, root)
    return root


def cli(command: str, root: Path, url: str, *args: str) -> CliResult:
    extra = ("--auto-approve",) if command == "apply" else ("--detailed-exitcode",)
    env = {"PREFECT_API_KEY": None, "PREFECT_PROFILE": None}
    return run_cli(command, str(root), "--api-url", url, "--format", "json", *extra, *args, env=env)


def changes(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {rc["address"]: rc for rc in plan["resource_changes"] if rc["actions"] != ["no-op"]}


def automations(url: str) -> dict[str, dict[str, Any]]:
    """`<flow>/<deployment>/<name>` -> the automation as the server returns it, minus ids and
    timestamps; the action's deployment id as `<flow>/<deployment>`, set-valued fields sorted."""
    with ApiClient(Settings(api_url=url)) as client:
        flows = {f["id"]: f["name"] for f in client.paginate("/flows/filter")}
        names = {
            d["id"]: f"{flows[d['flow_id']]}/{d['name']}"
            for d in client.paginate("/deployments/filter")
        }
        found = client.paginate("/automations/filter")

    def clean(trigger: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in trigger.items() if k != "id"}
        for key in ("after", "expect", "for_each"):
            if key in out:
                out[key] = sorted(out[key])
        if "triggers" in out:
            out["triggers"] = [clean(t) for t in out["triggers"]]
        return out

    result: dict[str, dict[str, Any]] = {}
    for obj in found:
        item = {k: v for k, v in obj.items() if k not in ("id", "created", "updated")}
        item["trigger"] = clean(item["trigger"])
        (action,) = item["actions"]
        owner = names[action.pop("deployment_id")]
        action["deployment"] = owner
        result[f"{owner}/{item['name']}"] = item
    return result


def ids(url: str) -> dict[str, str]:
    with ApiClient(Settings(api_url=url)) as client:
        return {a["name"]: a["id"] for a in client.paginate("/automations/filter")}


def test_apply_change_one_trigger_then_no_changes(ours: RunningServer, repo: Path) -> None:
    applied = cli("apply", repo, ours.url)
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    created = {rc["address"] for rc in applied.json()["resource_changes"]}
    assert {FIRST, NIGHTLY} <= created
    assert cli("plan", repo, ours.url).exit_code == 0
    before = ids(ours.url)

    # One changed field of one trigger: exactly that change, written with one PUT.
    restore = edit(repo / "prefect.yaml", "within: 86400", "within: 43200")
    try:
        planned = cli("plan", repo, ours.url)
        assert planned.exit_code == 2
        (rc,) = changes(planned.json()).values()
        assert rc["address"] == NIGHTLY and rc["actions"] == ["update"]
        assert [(f["path"], f["before"], f["after"]) for f in rc["changed_fields"]] == [
            ("trigger.within", 86400.0, 43200.0)
        ]
        assert cli("apply", repo, ours.url).exit_code == 0
        assert cli("plan", repo, ours.url).exit_code == 0
        assert ids(ours.url) == before  # updated in place, nothing re-created
        nightly = automations(ours.url)[NIGHTLY.removeprefix("automation.")]
        assert nightly["trigger"]["within"] == 43200.0
    finally:
        restore()

    # Disable the first trigger (a PATCH) and drop the second from the list (a DELETE).
    text = (repo / "prefect.yaml").read_text(encoding="utf-8")
    start = text.index("      - name: transform-orders-nightly-catch-up")
    edited = text[:start].replace("      - enabled: true", "      - enabled: false")
    (repo / "prefect.yaml").write_text(edited, encoding="utf-8")
    try:
        planned = cli("plan", repo, ours.url)
        found = changes(planned.json())
        assert sorted(found) == [NIGHTLY, FIRST]
        assert found[NIGHTLY]["actions"] == ["delete"]
        assert [(f["path"], f["after"]) for f in found[FIRST]["changed_fields"]] == [
            ("enabled", False)
        ]
        assert cli("apply", repo, ours.url).exit_code == 0
        assert cli("plan", repo, ours.url).exit_code == 0
        after = ids(ours.url)
        assert after == {"transform-orders__automation_1": before["transform-orders__automation_1"]}
    finally:
        (repo / "prefect.yaml").write_text(text, encoding="utf-8")
    # Back to the repository as committed: the dropped trigger is created again, owned.
    assert cli("apply", repo, ours.url).exit_code == 0
    assert cli("plan", repo, ours.url).exit_code == 0


def test_prefect_deploy_writes_equivalent_automations(
    ours: RunningServer, repo: Path, tmp_path: Path
) -> None:
    assert cli("apply", repo, ours.url).exit_code == 0
    with running_server() as native:
        with ApiClient(Settings(api_url=native.url)) as client:
            seed_infrastructure(client, repo)
        prefect_deploy(native, repo)
        theirs = automations(native.url)
        planned = cli("plan", repo, native.url)
        assert planned.exit_code == 0, planned.stdout
        # `prefect deploy` owns them by the deployment: ours must be owned the same way, so
        # deleting by owner (what `prefect deploy` does on redeploy) removes them too.
        with ApiClient(Settings(api_url=ours.url)) as client:
            owner = client.paginate(
                "/deployments/filter", {"deployments": {"name": {"any_": ["transform-orders"]}}}
            )[0]["id"]
            mine = automations(ours.url)
            client.delete(f"/automations/owned-by/prefect.deployment.{owner}")
            left = automations(ours.url)
    assert sorted(theirs) == sorted(mine) and len(theirs) == 2
    for key, want in theirs.items():
        assert mine[key] == want, key
    assert left == {}
