"""Acceptance: after the real `prefect --no-prompt deploy --all`, our `plan` says "No changes";
changing one field of each kind shows exactly that one change.

One server for this module (the examples use fixed names, so the shared session server is not
used). Pools, queues, variables and limits are created over REST from our desired state (what
`prefect deploy` expects to exist); deployments come from the real Prefect CLI.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from prefect_gitops.prefect.api import ApiClient
from prefect_gitops.prefect.settings import Settings
from prefect_gitops.repo.loader import load_project
from prefect_gitops.state.desired import DeployInputs, analyze_flows, build_desired
from prefect_gitops.state.live import read_deploy_inputs
from tests.prefect_server import RunningServer, running_server
from tests.run_cli import run_cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_NAMES = sorted(p.name for p in EXAMPLES.iterdir() if (p / "prefect.yaml").is_file())
DEPLOY_TIMEOUT = 300

pytestmark = [pytest.mark.server, pytest.mark.both_backends]


def seed_infrastructure(client: ApiClient, root: Path) -> None:
    """Create what `prefect deploy` needs to exist: pools (full template: for a declared type
    without one, the server's default, as `prefect work-pool create --type X` writes it),
    queues, variables, global concurrency limits."""
    project, _ = load_project(root)
    pool_types = [
        p.spec.type for p in project.pools if p.spec is not None and p.template_is_default
    ]
    defaults = read_deploy_inputs(client, [], pool_types)
    inputs = DeployInputs(pool_templates=defaults.pool_templates)
    desired = build_desired(project, environ={}, flow_lookup=analyze_flows(project), inputs=inputs)
    for res in desired.of_type("work_pool"):
        client.post("/work_pools/", json=dict(res.spec))
    queues = desired.of_type("work_queue")
    for res in sorted(queues, key=lambda r: (r.spec["priority"] is None, r.spec["priority"] or 0)):
        body = {k: v for k, v in res.spec.items() if k != "pool" and v is not None}
        pool = res.spec["pool"]
        if client.post(f"/work_pools/{pool}/queues", json=body, allow=(409,)) is None:
            body.pop("name")
            client.patch(f"/work_pools/{pool}/queues/{res.spec['name']}", json=body)
    for res in desired.of_type("variable"):
        client.post("/variables/", json=dict(res.spec))
    for res in desired.of_type("concurrency_limit"):
        client.post("/v2/concurrency_limits/", json=dict(res.spec))


def prefect_deploy(server: RunningServer, root: Path) -> None:
    env = server.env()
    env["PREFECT_HOME"] = str(root.parent / "prefect-home")
    done = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEPLOY_TIMEOUT,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.fixture(scope="module")
def server(backend: str) -> Iterator[RunningServer]:
    with running_server(backend) as running:
        yield running


@pytest.fixture(scope="module")
def deployed(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every example copied, its infrastructure created, then `prefect deploy --all` run on it."""
    out: dict[str, Path] = {}
    with ApiClient(Settings(api_url=server.url)) as client:
        for name in EXAMPLE_NAMES:
            root = tmp_path_factory.mktemp(name) / name
            shutil.copytree(EXAMPLES / name, root)
            seed_infrastructure(client, root)
            prefect_deploy(server, root)
            out[name] = root
    return out


def plan_json(server: RunningServer, root: Path) -> tuple[int, dict[str, Any]]:
    result = run_cli(
        "plan", str(root), "--format", "json", "--detailed-exitcode", "--api-url", server.url,
        env={"PREFECT_API_KEY": None, "PREFECT_PROFILE": None},
    )  # fmt: skip
    assert result.exit_code in (0, 2), result.stderr
    return result.exit_code, result.json()


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_no_changes_after_prefect_deploy(
    server: RunningServer, deployed: dict[str, Path], example: str
) -> None:
    result = run_cli("plan", str(deployed[example]), "--detailed-exitcode", "--api-url", server.url)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "No changes. Live state matches the repository." in result.stdout


def edit(path: Path, old: str, new: str) -> Callable[[], None]:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} must occur once in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return lambda: path.write_text(text, encoding="utf-8")


# (example, file, old text, new text, expected address, expected field path, before, after)
ONE_FIELD_CHANGES = [
    pytest.param(
        "docker", "prefect.yaml", "LOG_LEVEL: INFO", "LOG_LEVEL: DEBUG",
        "deployment.load-orders/orders", "job_variables.env.LOG_LEVEL", "INFO", "DEBUG",
        id="job-variable",
    ),
    pytest.param(
        "quickstart", "prefect.yaml", '"*/30 * * * *"', '"*/15 * * * *"',
        "deployment.hello/hello", "schedules[every-30-minutes].schedule.cron", "*/30 * * * *", "*/15 * * * *",
        id="schedule-cron",
    ),
    pytest.param(
        "quickstart", "work-pools/local.yaml", "name: critical\n    priority: 1", "name: critical\n    priority: 4",
        "work_queue.local/critical", "priority", 1, 4,
        id="queue-priority",
    ),
    pytest.param(
        "quickstart", "work-pools/local.yaml", "concurrency_limit: 4", "concurrency_limit: 6",
        "work_pool.local", "concurrency_limit", 4, 6,
        id="pool-concurrency",
    ),
    pytest.param(
        "quickstart", "prefect.yaml", "name: GitOps", "name: World",
        "deployment.hello/hello", "parameters.name", "GitOps", "World",
        id="parameter",
    ),
    pytest.param(
        "kubernetes", "prefect.yaml", "tags: [analytics, kubernetes, ml]", "tags: [analytics, kubernetes, ml, gpu]",
        "deployment.train-model/train-churn-model", "tags",
        ["analytics", "kubernetes", "ml"], ["analytics", "kubernetes", "ml", "gpu"],
        id="tag",
    ),
    pytest.param(
        "triggers", "prefect.yaml", "within: 86400", "within: 43200",
        "automation.rebuild-order-tables/transform-orders/transform-orders-nightly-catch-up",
        "trigger.within", 86400.0, 43200.0,
        id="trigger",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("example", "file", "old", "new", "address", "path", "before", "after"), ONE_FIELD_CHANGES
)
def test_one_field_change_shows_exactly_that_change(
    server: RunningServer,
    deployed: dict[str, Path],
    example: str,
    file: str,
    old: str,
    new: str,
    address: str,
    path: str,
    before: Any,
    after: Any,
) -> None:
    root = deployed[example]
    restore = edit(root / file, old, new)
    try:
        code, plan = plan_json(server, root)
    finally:
        restore()
    changed = [rc for rc in plan["resource_changes"] if rc["actions"] != ["no-op"]]
    assert [rc["address"] for rc in changed] == [address]
    (rc,) = changed
    assert rc["actions"] == ["update"]
    assert [(f["path"], f["before"], f["after"]) for f in rc["changed_fields"]] == [
        (path, before, after)
    ]
    assert code == 2
    assert plan["summary"]["change"] == 1 and plan["summary"]["add"] == 0


def test_change_made_in_the_ui_shows_as_drift(
    server: RunningServer, deployed: dict[str, Path]
) -> None:
    """A field changed on the server (not in git) comes back as an ordinary update."""
    root = deployed["quickstart"]
    with ApiClient(Settings(api_url=server.url)) as client:
        client.patch("/work_pools/local/queues/low", json={"concurrency_limit": 9})
        try:
            code, plan = plan_json(server, root)
        finally:
            client.patch("/work_pools/local/queues/low", json={"concurrency_limit": 1})
    (rc,) = [rc for rc in plan["resource_changes"] if rc["actions"] != ["no-op"]]
    assert rc["address"] == "work_queue.local/low"
    assert [(f["path"], f["before"], f["after"]) for f in rc["changed_fields"]] == [
        ("concurrency_limit", 9, 1)
    ]
    assert code == 2


UNSLUGGED = """\
deployments:
  - name: unslugged
    entrypoint: flows/job.py:job
    work_pool:
      name: unslugged-pool
    schedules:
      - cron: "0 4 * * *"
      - interval: 600
      - rrule: "FREQ=WEEKLY;BYDAY=MO"
        timezone: Europe/Paris
"""
JOB = "from prefect import flow\n\n\n@flow\ndef job(x: int = 1) -> None:\n    pass\n"


def test_schedules_without_slugs_plan_as_no_changes(server: RunningServer, tmp_path: Path) -> None:
    """`prefect deploy` sends no slug (and no interval anchor) for such schedules; we generate
    stable slugs and match them to the server's schedules by content."""
    root = tmp_path / "unslugged"
    (root / "flows").mkdir(parents=True)
    (root / "work-pools").mkdir()
    (root / "prefect.yaml").write_text(UNSLUGGED, encoding="utf-8")
    (root / "flows/job.py").write_text(JOB, encoding="utf-8")
    (root / "work-pools/pool.yaml").write_text(
        "name: unslugged-pool\ntype: process\n", encoding="utf-8"
    )
    with ApiClient(Settings(api_url=server.url)) as client:
        seed_infrastructure(client, root)
    prefect_deploy(server, root)
    code, plan = plan_json(server, root)
    assert [rc["address"] for rc in plan["resource_changes"] if rc["actions"] != ["no-op"]] == []
    assert code == 0
    restore = edit(root / "prefect.yaml", '"0 4 * * *"', '"0 5 * * *"')
    try:
        code, plan = plan_json(server, root)
    finally:
        restore()
    (rc,) = [rc for rc in plan["resource_changes"] if rc["actions"] != ["no-op"]]
    assert [f["path"] for f in rc["changed_fields"]] == ["schedules[schedule-1].schedule.cron"]
