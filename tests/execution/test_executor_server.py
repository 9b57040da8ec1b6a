"""`apply` against REAL Prefect servers (issue 5's acceptance).

Two servers of this module's own: `ours` (everything applied by us, examples first) and, in
the comparison test, a `native` one where `prefect --no-prompt deploy --all` writes the same
examples. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from prefect_gitops.execution.executor import apply_plan
from prefect_gitops.plans.build import build_plan
from prefect_gitops.prefect.api import ApiClient
from prefect_gitops.prefect.settings import load_settings
from prefect_gitops.repo.loader import load_project
from prefect_gitops.state.desired import analyze_flows, build_desired
from prefect_gitops.state.resources import State
from tests.prefect_server import RunningServer, running_server
from tests.repo_factory import write_repo
from tests.run_cli import CliResult, run_cli

pytestmark = [pytest.mark.server, pytest.mark.both_backends]

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
EXAMPLES = ("quickstart", "docker", "kubernetes")
RUN_WAIT = 180.0  # the scheduler loops every 60 s


@pytest.fixture(scope="module")
def ours(backend: str) -> Iterator[RunningServer]:
    with running_server(backend) as server:
        yield server


@pytest.fixture(scope="module")
def applied_examples(ours: RunningServer) -> RunningServer:
    for example in EXAMPLES:
        result = apply(EXAMPLES_DIR / example, ours.url)
        assert result.exit_code == 0, result.stdout + result.stderr
        assert result.json()["ok"] is True
    return ours


def client_for(url: str) -> ApiClient:
    return ApiClient(load_settings({}, api_url=url))


def apply(path: Path, url: str, *args: str) -> CliResult:
    return run_cli(
        "apply", str(path), "--auto-approve", "--api-url", url, "--format", "json", *args
    )


def plan_text(path: Path, url: str) -> CliResult:
    return run_cli("plan", str(path), "--api-url", url, "--detailed-exitcode")


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(2)


def deployments_by_name(client: ApiClient, names: list[str]) -> dict[str, dict[str, Any]]:
    found = client.paginate("/deployments/filter", {"deployments": {"name": {"any_": names}}})
    return {d["name"]: d for d in found}


def scheduled_runs(client: ApiClient, deployment_ids: list[str]) -> list[dict[str, Any]]:
    return client.paginate(
        "/flow_runs/filter",
        {
            "flow_runs": {
                "deployment_id": {"any_": deployment_ids},
                "state": {"type": {"any_": ["SCHEDULED"]}},
            }
        },
    )


# -- examples from empty, compared with `prefect deploy` --------------------------------------

_SERVER_ONLY = {"id", "created", "updated", "flow_id", "work_queue_id", "last_polled",
                "status", "created_by", "updated_by", "version"}  # fmt: skip


def comparable_deployments(url: str) -> dict[str, dict[str, Any]]:
    """Deployments as API objects minus ids, timestamps and the version hash; system labels
    carry ids, our ownership label is bookkeeping, and tags are a set."""
    with client_for(url) as client:
        flows = {f["id"]: f["name"] for f in client.paginate("/flows/filter")}
        out = {}
        for dep in client.paginate("/deployments/filter"):
            key = f"{flows[dep['flow_id']]}/{dep['name']}"
            item = {k: v for k, v in dep.items() if k not in _SERVER_ONLY}
            item["labels"] = {
                k: v
                for k, v in item["labels"].items()
                if not k.startswith("prefect.") and k != "prefect-gitops.project"
            }
            item["tags"] = sorted(item["tags"])
            gcl = item.get("global_concurrency_limit")
            if gcl:
                item["global_concurrency_limit"] = {k: gcl[k] for k in ("limit", "active")}
            item["schedules"] = sorted(
                (
                    {
                        k: v
                        for k, v in s.items()
                        if k not in ("id", "created", "updated", "deployment_id")
                    }
                    for s in item["schedules"]
                ),
                key=lambda s: str(s["slug"]),
            )
            out[key] = item
        return out


def native_deploy(url: str, example: Path, home: Path) -> None:
    """Pools and queues through our apply (prefect deploy does not create them), then the
    real `prefect --no-prompt deploy --all` in the example's folder."""
    project, _ = load_project(example, environ=os.environ)
    desired = build_desired(project, environ=os.environ, flow_lookup=analyze_flows(project))
    infra = State({a: r for a, r in desired.items() if a.type in ("work_pool", "work_queue")})
    with client_for(url) as client:
        result = apply_plan(
            client, build_plan(infra, State(), project="infra"), desired=infra, live=State(),
            project="infra",
        )  # fmt: skip
        assert result.ok, result.outcomes
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_API_URL=url, PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"],
        cwd=example, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_examples_from_empty_plan_no_changes_and_equal_native_deploy(
    applied_examples: RunningServer, tmp_path: Path, backend: str
) -> None:
    for example in EXAMPLES:
        result = plan_text(EXAMPLES_DIR / example, applied_examples.url)
        assert result.exit_code == 0, result.stdout
        assert "No changes" in result.stdout
    with running_server(backend) as native:
        for example in EXAMPLES:
            native_deploy(native.url, EXAMPLES_DIR / example, tmp_path / "home")
        theirs = comparable_deployments(native.url)
    mine = {k: v for k, v in comparable_deployments(applied_examples.url).items() if k in theirs}
    assert sorted(mine) == sorted(theirs) and len(theirs) == 8
    for key, want in theirs.items():
        for field, value in want.items():
            assert mine[key].get(field) == value, f"{key}: {field}"
        assert set(mine[key]) == set(want)


def test_no_op_apply_writes_nothing_and_scheduled_runs_survive(
    applied_examples: RunningServer,
) -> None:
    url = applied_examples.url
    with client_for(url) as client:
        deps = deployments_by_name(client, ["hello", "daily-report", "health-check"])
        ids = [d["id"] for d in deps.values()]
        before = wait_for(lambda: scheduled_runs(client, ids), RUN_WAIT, "scheduled runs")
    result = apply(EXAMPLES_DIR / "quickstart", url)
    assert result.exit_code == 0
    doc = result.json()
    assert doc["requests"]["writes"] == 0
    assert {r["status"] for r in doc["resource_changes"]} == {"no-op"}
    with client_for(url) as client:
        after = {r["id"] for r in scheduled_runs(client, ids)}
    assert {r["id"] for r in before} <= after


def test_saved_plan_applies_exactly_and_a_stale_one_is_refused(
    ours: RunningServer, tmp_path: Path
) -> None:
    repo = write_repo(
        tmp_path / "repo", deployments=2, project="saved", prefix="saved-", pool_prefix="saved"
    )
    plan_file = tmp_path / "plan.json"
    assert run_cli("plan", str(repo), "--api-url", ours.url, "--out", str(plan_file)).exit_code == 0
    stale = tmp_path / "stale.json"
    shutil.copy(plan_file, stale)
    result = run_cli("apply", str(plan_file), "--repo", str(repo), "--api-url", ours.url)
    assert result.exit_code == 0, result.stderr
    assert "Apply complete! Resources: 4 added" in result.stdout
    # The server moved on since `stale.json` was made: refused, nothing written.
    with client_for(ours.url) as client:
        writes = client.write_count
        before = comparable_deployments(ours.url)
        refused = run_cli("apply", str(stale), "--repo", str(repo), "--api-url", ours.url)
        assert client.write_count == writes
    assert refused.exit_code == 1
    assert "saved plan is stale" in refused.stderr
    assert comparable_deployments(ours.url) == before


# -- schedules: one by one, by slug ------------------------------------------------------------

TWO_SCHEDULES = """\
name: sched
deployments:
  - name: twice-hourly
    entrypoint: flows/work.py:work
    work_pool: {{name: sched-00}}
    schedules:
      - cron: "0 * * * *"
        slug: on-the-hour
      - cron: "{cron}"
        slug: half-past
"""


def test_changing_one_cron_leaves_the_other_schedule_alone(
    ours: RunningServer, tmp_path: Path
) -> None:
    repo = write_repo(tmp_path / "repo", deployments=0, pool_prefix="sched", project="sched")
    (repo / "prefect.yaml").write_text(TWO_SCHEDULES.format(cron="30 * * * *"))
    assert apply(repo, ours.url).exit_code == 0
    with client_for(ours.url) as client:
        dep = deployments_by_name(client, ["twice-hourly"])["twice-hourly"]
        slugs = {s["slug"]: s for s in dep["schedules"]}
        keep = slugs["on-the-hour"]

        def kept_runs() -> dict[str, datetime]:
            runs = scheduled_runs(client, [dep["id"]])
            return {
                r["idempotency_key"]: datetime.fromisoformat(r["expected_start_time"])
                for r in runs
                if keep["id"] in str(r["idempotency_key"])
            }

        before = wait_for(kept_runs, RUN_WAIT, "runs of the kept schedule")

    (repo / "prefect.yaml").write_text(TWO_SCHEDULES.format(cron="45 * * * *"))
    result = apply(repo, ours.url)
    assert result.exit_code == 0
    changed = [r for r in result.json()["resource_changes"] if r["status"] != "no-op"]
    assert [r["address"] for r in changed] == ["deployment.work/twice-hourly"]
    with client_for(ours.url) as client:
        after = deployments_by_name(client, ["twice-hourly"])["twice-hourly"]
        now = {s["slug"]: s for s in after["schedules"]}
        assert now["on-the-hour"] == keep  # same id, same settings, not even `updated` moved
        assert now["half-past"]["id"] == slugs["half-past"]["id"]
        assert now["half-past"]["schedule"]["cron"] == "45 * * * *"

        # Prefect 3.9 itself deletes a deployment's future auto-scheduled runs on any schedule
        # PATCH; the scheduler recreates the kept schedule's runs with the same keys. It schedules
        # from "now", so a run whose time passed meanwhile (an hour boundary) is not recreated:
        # only the runs still well in the future must come back.
        def recreated() -> bool:
            cutoff = datetime.now(timezone.utc) + timedelta(minutes=10)
            due = {key for key, start in before.items() if start > cutoff}
            return bool(due) and due <= set(kept_runs())

        wait_for(recreated, RUN_WAIT, "the kept schedule's runs")
    assert "No changes" in plan_text(repo, ours.url).stdout


# -- prune -----------------------------------------------------------------------------------


def test_prune_deletes_only_what_the_project_owns(ours: RunningServer, tmp_path: Path) -> None:
    repo = write_repo(
        tmp_path / "repo", deployments=3, project="prune-me", prefix="pr-", pool_prefix="prune"
    )
    (repo / "prefect-gitops.yaml").write_text(
        "project: prune-me\nvariables:\n  - name: prune_me_var\n    value: 1\n"
    )
    assert apply(repo, ours.url).exit_code == 0
    with client_for(ours.url) as client:
        # Someone else, on the same server: a pool, a variable, and a deployment of the same
        # flow whose name only differs from ours.
        client.post("/work_pools/", json={"name": "someone-elses-pool", "type": "process"})
        client.post("/variables/", json={"name": "someone_elses_var", "value": "x"})
        flow = client.post("/flows/", json={"name": "work"})
        client.post("/deployments/", json={"name": "pr-9999", "flow_id": flow["id"],
                                           "work_pool_name": "prune-00"})  # fmt: skip
    write_repo(repo, deployments=2, project="prune-me", prefix="pr-", pool_prefix="prune")
    (repo / "prefect-gitops.yaml").write_text("project: prune-me\n")

    kept = apply(repo, ours.url)  # without --prune: nothing is deleted
    assert kept.exit_code == 0 and kept.json()["summary"]["destroyed"] == 0
    # The repository no longer declares any variable: pruning its last one needs allow_empty.
    refused = apply(repo, ours.url, "--prune")
    assert refused.exit_code == 1 and "declares no variables" in refused.stderr
    (repo / "prefect-gitops.yaml").write_text("project: prune-me\nallow_empty: true\n")
    pruned = apply(repo, ours.url, "--prune")
    assert pruned.exit_code == 0, pruned.stdout
    destroyed = {
        r["address"] for r in pruned.json()["resource_changes"] if r["actions"] == ["delete"]
    }
    assert destroyed == {"deployment.work/pr-0002", "variable.prune_me_var"}
    with client_for(ours.url) as client:
        names = set(deployments_by_name(client, ["pr-0000", "pr-0001", "pr-0002", "pr-9999"]))
        assert names == {"pr-0000", "pr-0001", "pr-9999"}
        assert client.get("/work_pools/someone-elses-pool")["name"] == "someone-elses-pool"
        assert client.get("/variables/name/someone_elses_var")["value"] == "x"
        assert client.get("/variables/name/prune_me_var", allow=(404,)) is None
    assert "No changes" in plan_text(repo, ours.url).stdout


# -- faults ----------------------------------------------------------------------------------


class FaultyProxy:
    """A loopback HTTP proxy that fails some `POST /api/deployments/` with a 500: every 7th
    after forwarding it (the server did create it), every 11th without forwarding it."""

    def __init__(self, upstream: str) -> None:
        host_port = upstream.split("//", 1)[1].split("/", 1)[0]
        self.host, port = host_port.split(":")
        self.port = int(port)
        self.count = 0
        self.failed = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                mode = proxy.decide(self.command, self.path)
                if mode != "drop":
                    conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=60)
                    # No gzip: the answer is relayed without its Content-Encoding.
                    headers = {
                        k: v
                        for k, v in self.headers.items()
                        if k.lower() not in ("host", "connection", "accept-encoding")
                    }
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    status, data, ctype = resp.status, resp.read(), resp.getheader("Content-Type")
                    conn.close()
                if mode != "pass":
                    status, data, ctype = (
                        500,
                        b'{"exception_message":"Internal Server Error"}',
                        "application/json",
                    )
                self.send_response(status)
                self.send_header("Content-Type", ctype or "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def decide(self, method: str, path: str) -> str:
        if method != "POST" or path.rstrip("/") != "/api/deployments":
            return "pass"
        with self.lock:
            self.count += 1
            if self.count % 11 == 0:
                self.failed += 1
                return "drop"
            if self.count % 7 == 0:
                self.failed += 1
                return "after"
        return "pass"

    @contextlib.contextmanager
    def running(self) -> Iterator[FaultyProxy]:
        self.thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


def test_failures_are_reported_and_a_rerun_converges(ours: RunningServer, tmp_path: Path) -> None:
    n = 200
    repo = write_repo(
        tmp_path / "repo",
        deployments=n,
        pools=10,
        project="faults",
        prefix="f-",
        pool_prefix="faults",
    )
    with FaultyProxy(ours.url).running() as proxy:
        first = apply(repo, proxy.url)
    assert first.exit_code == 1
    doc = first.json()
    failed = [r for r in doc["resource_changes"] if r["status"] == "failed"]
    injected = [r for r in failed if "HTTP 500" in r["detail"]]
    assert len(injected) == proxy.failed > 0  # every injected failure is reported
    assert {r["address"].split(".")[0] for r in failed} == {"deployment"}
    assert doc["ok"] is False
    applied = [r for r in doc["resource_changes"] if r["status"] == "applied"]
    assert doc["summary"]["added"] == len(applied) > 0
    assert doc["summary"]["failed"] == len(failed)

    again = apply(repo, ours.url)
    assert again.exit_code == 0, again.stdout
    with client_for(ours.url) as client:
        deps = client.paginate("/deployments/filter", {"deployments": {"name": {"like_": "f-"}}})
    names = [d["name"] for d in deps if d["name"].startswith("f-")]
    assert len(names) == n and len(set(names)) == n  # no duplicates
    assert "No changes" in plan_text(repo, ours.url).stdout


# -- ownership, prune, interruptions ---------------------------------------------------------


def write_owned_repo(
    root: Path,
    project: str,
    *,
    variables: Sequence[str] = (),
    limits: Sequence[str] = (),
    pools: dict[str, list[str]] | None = None,
    extra_config: str = "",
) -> Path:
    """A repository of pools (with their queues), variables and limits, no deployments."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "prefect.yaml").write_text(f"name: {project}\ndeployments: []\n")
    pool_dir = root / "work-pools"
    shutil.rmtree(pool_dir, ignore_errors=True)
    pool_dir.mkdir()
    for pool, queues in (pools or {}).items():
        lines = [f"name: {pool}", "type: process", "queues:" if queues else "queues: []"]
        lines += [f"  - name: {q}\n    priority: {i + 2}" for i, q in enumerate(queues)]
        (pool_dir / f"{pool}.yaml").write_text("\n".join(lines) + "\n")
    config = [f"project: {project}", extra_config]
    config += ["variables:" if variables else "variables: []"]
    config += [f"  - name: {v}\n    value: {i}" for i, v in enumerate(variables)]
    config += ["concurrency_limits:" if limits else "concurrency_limits: []"]
    config += [f"  - name: {name}\n    limit: 2" for name in limits]
    (root / "prefect-gitops.yaml").write_text("\n".join(config) + "\n")
    return root


def existing(client: ApiClient, *, pools: list[str], variables: list[str],
             limits: list[str]) -> set[str]:  # fmt: skip
    """Addresses of those objects (and the pools' non-default queues) on the server."""
    found = set()
    for pool in client.paginate("/work_pools/filter", {"work_pools": {"name": {"any_": pools}}}):
        found.add(f"work_pool.{pool['name']}")
    for q in client.paginate("/work_queues/filter"):
        if q.get("work_pool_name") in pools and q["name"] != "default":
            found.add(f"work_queue.{q['work_pool_name']}/{q['name']}")
    body = {"variables": {"name": {"any_": variables}}}
    found |= {f"variable.{v['name']}" for v in client.paginate("/variables/filter", body)}
    for name in limits:
        if client.get(f"/v2/concurrency_limits/{name}", allow=(404,)) is not None:
            found.add(f"concurrency_limit.{name}")
    return found


def test_pruning_a_pool_with_a_declared_queue_converges(
    ours: RunningServer, tmp_path: Path
) -> None:
    repo = write_owned_repo(tmp_path / "repo", "pq", variables=["pq_keep"],
                            pools={"pq-pool": ["pq-high", "pq-low"]})  # fmt: skip
    assert apply(repo, ours.url).exit_code == 0
    write_owned_repo(repo, "pq", variables=["pq_keep"], extra_config="allow_empty: true")
    pruned = apply(repo, ours.url, "--prune")
    assert pruned.exit_code == 0, pruned.stdout + pruned.stderr
    statuses = {r["address"]: r["status"] for r in pruned.json()["resource_changes"]}
    assert statuses == {"work_pool.pq-pool": "applied", "work_queue.pq-pool/pq-high": "applied",
                        "work_queue.pq-pool/pq-low": "applied", "variable.pq_keep": "no-op"}  # fmt: skip
    with client_for(ours.url) as client:
        assert client.get("/work_pools/pq-pool", allow=(404,)) is None
    again = run_cli("plan", str(repo), "--api-url", ours.url, "--prune", "--detailed-exitcode")
    assert again.exit_code == 0 and "No changes" in again.stdout


def test_the_prune_guard_holds_per_kind_on_a_real_server(
    ours: RunningServer, tmp_path: Path
) -> None:
    repo = write_owned_repo(tmp_path / "repo", "guard", variables=["guard_a", "guard_b"],
                            pools={"guard-pool": []})  # fmt: skip
    assert apply(repo, ours.url).exit_code == 0
    write_owned_repo(repo, "guard", pools={"guard-pool": []})  # no variables any more
    refused = apply(repo, ours.url, "--prune")
    assert refused.exit_code == 1 and "declares no variables" in refused.stderr
    with client_for(ours.url) as client:
        assert client.get("/variables/name/guard_a")["value"] == 0


def test_projects_never_touch_each_others_inventory_or_a_users_variable(
    ours: RunningServer, tmp_path: Path
) -> None:
    """`alpha` used to delete `prefect_gitops_alpha_2` (`alpha-2`'s inventory, or any user
    variable of that name) without --prune; `Team A` and `team-a` overwrote each other."""
    with client_for(ours.url) as client:
        client.post("/variables/", json={"name": "prefect_gitops_alpha_2", "value": "mine"})
    repos = {}
    projects = ("alpha-2", "Team A", "team-a", "alpha")
    for i, project in enumerate(projects):
        var = f"owners_{i}_var"
        repos[project] = write_owned_repo(tmp_path / f"p{i}", project, variables=[var, var + "2"])
        assert apply(repos[project], ours.url).exit_code == 0
    # Every project changes its inventory again (one variable fewer, with prune).
    for i, (project, repo) in enumerate(repos.items()):
        var = f"owners_{i}_var"
        write_owned_repo(repo, project, variables=[var])
        result = apply(repo, ours.url, "--prune")
        assert result.exit_code == 0, result.stderr
        destroyed = [r["address"] for r in result.json()["resource_changes"]
                     if r["actions"] == ["delete"]]  # fmt: skip
        assert destroyed == [f"variable.{var}2"]  # its own, nothing else
    with client_for(ours.url) as client:
        assert client.get("/variables/name/prefect_gitops_alpha_2")["value"] == "mine"
    for project, repo in repos.items():  # each still owns exactly its own
        plan = run_cli("plan", str(repo), "--api-url", ours.url, "--detailed-exitcode")
        assert plan.exit_code == 0 and "No changes" in plan.stdout, (project, plan.stdout)


ENVIRONMENTS = """\
project: shared-envs
environments:
  dev:
    name_suffix: -dev
  prod:
    name_suffix: -prod
"""


def test_two_environments_on_one_server_do_not_prune_each_other(
    ours: RunningServer, tmp_path: Path
) -> None:
    repo = write_repo(tmp_path / "repo", deployments=2, project="shared-envs", prefix="env-",
                      pool_prefix="envs", schedules=False)  # fmt: skip
    (repo / "prefect-gitops.yaml").write_text(ENVIRONMENTS + "prune: true\n")
    for env in ("dev", "prod"):
        result = apply(repo, ours.url, "--env", env)
        assert result.exit_code == 0, result.stderr
        assert result.json()["summary"]["destroyed"] == 0
    with client_for(ours.url) as client:
        names = set(deployments_by_name(client, ["env-0000-dev", "env-0001-dev",
                                                 "env-0000-prod", "env-0001-prod"]))  # fmt: skip
    assert len(names) == 4
    # prod drops one deployment: only its own goes.
    write_repo(repo, deployments=1, project="shared-envs", prefix="env-", pool_prefix="envs",
               schedules=False)  # fmt: skip
    (repo / "prefect-gitops.yaml").write_text(ENVIRONMENTS + "prune: true\n")
    result = apply(repo, ours.url, "--env", "prod")
    destroyed = [r["address"] for r in result.json()["resource_changes"]
                 if r["actions"] == ["delete"]]  # fmt: skip
    assert destroyed == ["deployment.work/env-0001-prod"]
    with client_for(ours.url) as client:
        names = set(deployments_by_name(client, ["env-0001-dev", "env-0001-prod"]))
    assert names == {"env-0001-dev"}


def slow_repo(root: Path, project: str, n: int) -> tuple[Path, list[str], list[str], list[str]]:
    pools = [f"{project}-pool"]
    variables = [f"{project.replace('-', '_')}_var_{i:03d}" for i in range(n)]
    limits = [f"{project}-limit-{i}" for i in range(3)]
    repo = write_owned_repo(root, project, variables=variables, limits=limits,
                            pools={pools[0]: [f"{project}-queue"]})  # fmt: skip
    return repo, pools, variables, limits


def start_apply(repo: Path, url: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    cmd = [sys.executable, "-m", "prefect_gitops", "apply", str(repo), "--auto-approve",
           "--api-url", url, "--parallelism", "2"]  # fmt: skip
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip


def wait_until_some_exist(url: str, variables: list[str], count: int) -> None:
    with client_for(url) as client:
        body = {"variables": {"name": {"any_": variables}}}
        wait_for(lambda: len(client.paginate("/variables/filter", body)) >= count, 120,
                 f"{count} variables created")  # fmt: skip


def assert_pruned_later(repo: Path, project: str, url: str, created: set[str]) -> None:
    """Converge, then drop everything but one variable and prune: all of `created` goes."""
    converged = apply(repo, url)
    assert converged.exit_code == 0, converged.stdout + converged.stderr
    write_owned_repo(repo, project, variables=[f"{project.replace('-', '_')}_keep"],
                     extra_config="allow_empty: true")  # fmt: skip
    pruned = apply(repo, url, "--prune")
    assert pruned.exit_code == 0, pruned.stdout + pruned.stderr
    destroyed = {r["address"] for r in pruned.json()["resource_changes"]
                 if r["actions"] == ["delete"] and r["status"] == "applied"}  # fmt: skip
    assert created <= destroyed


def test_a_killed_apply_leaves_what_it_created_owned(ours: RunningServer, tmp_path: Path) -> None:
    """kill -9 mid-apply, then a converging re-run (the dead holder's lock is stale at once),
    then a prune: everything the killed run created is deleted."""
    repo, pools, variables, limits = slow_repo(tmp_path / "repo", "killed", 250)
    proc = start_apply(repo, ours.url)
    try:
        wait_until_some_exist(ours.url, variables, 10)
    finally:
        proc.kill()  # SIGKILL: nothing of ours runs after this
        proc.communicate(timeout=60)
    with client_for(ours.url) as client:
        created = existing(client, pools=pools, variables=variables, limits=limits)
    assert "work_pool.killed-pool" in created and len(created) < len(variables) + 5
    assert_pruned_later(repo, "killed", ours.url, created)
    with client_for(ours.url) as client:
        assert existing(client, pools=pools, variables=variables, limits=limits) == set()


def test_ctrl_c_stops_at_once_and_records_what_was_done(
    ours: RunningServer, tmp_path: Path
) -> None:
    repo, pools, variables, limits = slow_repo(tmp_path / "repo", "ctrlc", 250)
    proc = start_apply(repo, ours.url)
    try:
        wait_until_some_exist(ours.url, variables, 10)
        proc.send_signal(signal.SIGINT)
        stopped = time.monotonic()
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert time.monotonic() - stopped < 15, "Ctrl-C kept writing"
    assert proc.returncode == 130, out + err
    assert "Stopping" in err and "not attempted" in out + err
    with client_for(ours.url) as client:
        created = existing(client, pools=pools, variables=variables, limits=limits)
    assert len(created) < len(variables)
    assert_pruned_later(repo, "ctrlc", ours.url, created)


def test_an_edited_saved_plan_cannot_delete_what_the_project_does_not_own(
    ours: RunningServer, tmp_path: Path
) -> None:
    repo = write_owned_repo(tmp_path / "repo", "edited", variables=["edited_mine"])
    assert apply(repo, ours.url).exit_code == 0
    with client_for(ours.url) as client:
        client.post("/variables/", json={"name": "edited_not_mine", "value": "keep"})
    plan_file = tmp_path / "plan.json"
    made = run_cli("plan", str(repo), "--api-url", ours.url, "--out", str(plan_file))
    assert made.exit_code == 0
    doc = json.loads(plan_file.read_text())
    doc["prune"] = True
    doc["resource_changes"].append(
        {"address": "variable.edited_not_mine", "type": "variable", "name": "edited_not_mine",
         "actions": ["delete"], "before": {"name": "edited_not_mine", "value": "keep",
         "tags": []}, "after": None, "changed_fields": [],
         "reason": "delete_because_not_in_config", "drifted": False, "notes": []}
    )  # fmt: skip
    plan_file.write_text(json.dumps(doc))
    refused = run_cli("apply", str(plan_file), "--repo", str(repo), "--api-url", ours.url)
    assert refused.exit_code == 1 and "variable.edited_not_mine" in refused.stderr
    with client_for(ours.url) as client:
        assert client.get("/variables/name/edited_not_mine")["value"] == "keep"
