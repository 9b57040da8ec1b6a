"""`apply` against REAL Prefect servers (issue 5's acceptance).

Two servers of this module's own: `ours` (everything applied by us, examples first) and, in
the comparison test, a `native` one where `prefect --no-prompt deploy --all` writes the same
examples. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from prefect_gitops.api import ApiClient
from prefect_gitops.apply import apply_plan
from prefect_gitops.desired import analyze_flows, build_desired
from prefect_gitops.loader import load_project
from prefect_gitops.plan import build_plan
from prefect_gitops.settings import load_settings
from prefect_gitops.state import State
from tests.prefect_server import RunningServer, running_server
from tests.repo_factory import write_repo
from tests.run_cli import CliResult, run_cli

pytestmark = pytest.mark.server

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLES = ("quickstart", "docker", "kubernetes")
RUN_WAIT = 180.0  # the scheduler loops every 60 s


@pytest.fixture(scope="module")
def ours() -> Iterator[RunningServer]:
    with running_server() as server:
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
    applied_examples: RunningServer, tmp_path: Path
) -> None:
    for example in EXAMPLES:
        result = plan_text(EXAMPLES_DIR / example, applied_examples.url)
        assert result.exit_code == 0, result.stdout
        assert "No changes" in result.stdout
    with running_server() as native:
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

        def keys_of_kept() -> set[str]:
            runs = scheduled_runs(client, [dep["id"]])
            return {r["idempotency_key"] for r in runs if keep["id"] in str(r["idempotency_key"])}

        before = wait_for(keys_of_kept, RUN_WAIT, "runs of the kept schedule")

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
        # PATCH; the scheduler recreates the kept schedule's runs with the same keys.
        wait_for(lambda: before <= keys_of_kept(), RUN_WAIT, "the kept schedule's runs")
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
                    headers = {
                        k: v
                        for k, v in self.headers.items()
                        # accept-encoding: this proxy drops Content-Encoding on the way back
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
