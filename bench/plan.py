"""Benchmark `prefect-gitops plan` (no changes) against `prefect deployment ls` on the same server.

usage: python bench/plan.py [--deployments 1000] [--pools 10] [--runs 3] [--json] [--keep DIR]

Starts a real Prefect server (127.0.0.1, SQLite, temporary home), generates a repository with N
deployments on M process pools (schedules, parameters, tags, job variables), and writes exactly
what the repository declares straight over REST (pools, queues, flows, then the deployments
with a few threads): much faster than `prefect deploy`, and `plan` must then say "No changes".

Then, side by side (median of --runs, each after one unmeasured warm-up):
- `prefect-gitops plan REPO --detailed-exitcode` as a CLI subprocess (must exit 0);
- `prefect deployment ls` as a CLI subprocess, reading the same server.
Requests are counted by a small counting reverse proxy put in front of the server for one
extra run of each (timings are taken without the proxy). Prints a Markdown table, or JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.prefect_server import start_server, stop_server  # noqa: E402

from bench.client import client_env  # noqa: E402
from bench.proxy import LoopbackProxy  # noqa: E402
from prefect_gitops import __version__  # noqa: E402
from prefect_gitops.prefect.api import ApiClient, ApiError  # noqa: E402
from prefect_gitops.prefect.settings import Settings  # noqa: E402
from prefect_gitops.repo.loader import load_project  # noqa: E402
from prefect_gitops.state.desired import analyze_flows, build_desired  # noqa: E402

FLOW_FILE = '''from prefect import flow


@flow
def flow_{i}(region: str = "eu", batch: int = 100) -> None:
    """Bench flow {i}."""
'''
FLOWS = 10


def generate(repo: Path, deployments: int, pools: int) -> None:
    (repo / "flows").mkdir(parents=True)
    (repo / "work-pools").mkdir()
    for i in range(FLOWS):
        (repo / "flows" / f"flow_{i}.py").write_text(FLOW_FILE.format(i=i), encoding="utf-8")
    for p in range(pools):
        (repo / "work-pools" / f"pool-{p}.yaml").write_text(
            f"name: bench-{p}\ntype: process\nconcurrency_limit: 10\nqueues:\n"
            "  - name: critical\n    priority: 1\n  - name: bulk\n    priority: 2\n",
            encoding="utf-8",
        )
    lines = ["deployments:"]
    for d in range(deployments):
        lines += [
            f"  - name: dep-{d:05d}",
            f"    entrypoint: flows/flow_{d % FLOWS}.py:flow_{d % FLOWS}",
            f"    tags: [bench, group-{d % 7}]",
            f"    parameters: {{region: r{d % 5}, batch: {d}}}",
            "    work_pool:",
            f"      name: bench-{d % pools}",
            f"      work_queue_name: {'critical' if d % 3 == 0 else 'bulk'}",
            "      job_variables:",
            f"        env: {{SHARD: '{d}'}}",
            "    schedules:",
            f"      - cron: '{d % 60} {d % 24} * * *'",
            "        timezone: UTC",
            "        slug: daily",
        ]
    (repo / "prefect.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def populate(url: str, repo: Path, threads: int = 4) -> None:
    project, diags = load_project(repo)
    assert not diags.has_errors
    desired = build_desired(project, environ={}, flow_lookup=analyze_flows(project))
    with ApiClient(Settings(api_url=url)) as client:
        for res in desired.of_type("work_pool"):
            client.post("/work_pools/", json=dict(res.spec))
        for res in sorted(desired.of_type("work_queue"), key=lambda r: r.spec["priority"]):
            body = {k: v for k, v in res.spec.items() if k != "pool" and v is not None}
            client.post(f"/work_pools/{res.spec['pool']}/queues", json=body)
        flow_ids = {
            res.name: client.post("/flows/", json={"name": res.name})["id"]
            for res in desired.of_type("flow")
        }

        def create(res: Any) -> None:
            spec = dict(res.spec)
            body = {k: v for k, v in spec.items() if k != "flow_name"}
            body["flow_id"] = flow_ids[spec["flow_name"]]
            body["schedules"] = [
                {k: v for k, v in s.items() if v is not None} for s in spec["schedules"]
            ]
            for attempt in range(10):  # SQLite answers 503 under write contention
                try:
                    client.post("/deployments/", json=body)
                    return
                except ApiError:
                    if attempt == 9:
                        raise
                    time.sleep(0.5 * (attempt + 1))

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(create, desired.of_type("deployment")))


def commands(repo: Path) -> dict[str, Callable[[str], list[str]]]:
    return {
        "prefect-gitops plan": lambda url: [
            sys.executable, "-m", "prefect_gitops", "plan", str(repo), "--detailed-exitcode",
            "--api-url", url,
        ],
        "prefect deployment ls": lambda url: [sys.executable, "-m", "prefect", "deployment", "ls"],
    }  # fmt: skip


def run_once(argv: list[str], env: dict[str, str], expect: int = 0) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - start
    if done.returncode != expect:
        raise SystemExit(
            f"{argv[:4]} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument("--pools", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", type=Path, default=None, help="keep the generated repo here")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-plan-"))
    repo = args.keep or work / "repo"
    if repo.exists():
        shutil.rmtree(repo)
    generate(repo, args.deployments, args.pools)
    server = start_server()
    try:
        t0 = time.perf_counter()
        populate(server.url, repo)
        populate_s = time.perf_counter() - t0
        env = client_env(server.url, work / "client-home")
        results: dict[str, dict[str, Any]] = {}
        for name, argv in commands(repo).items():
            run_once(argv(server.url), env)  # warm-up (and the no-changes check: exit 0)
            times = [run_once(argv(server.url), env) for _ in range(args.runs)]
            with LoopbackProxy(server.url) as proxy:
                run_once(argv(proxy.url), client_env(proxy.url, work / "client-home"))
            results[name] = {
                "median_s": round(statistics.median(times), 3),
                "runs_s": [round(t, 3) for t in times],
                "requests": sum(proxy.counts.values()),
                "by_endpoint": dict(proxy.counts.most_common()),
            }
    finally:
        stop_server(server, remove=True)
        shutil.rmtree(work, ignore_errors=True)

    report = {
        "tool_version": __version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "deployments": args.deployments,
        "pools": args.pools,
        "populate_s": round(populate_s, 1),
        "results": results,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"{args.deployments} deployments on {args.pools} pools (populated over REST in {populate_s:.1f} s)\n"
    )
    print("| command | median (s) | runs (s) | HTTP requests |")
    print("| --- | ---: | --- | ---: |")
    for name, r in results.items():
        print(
            f"| `{name}` | {r['median_s']} | {', '.join(map(str, r['runs_s']))} | {r['requests']} |"
        )
    for name, r in results.items():
        print(f"\n{name}: " + ", ".join(f"{k} x{v}" for k, v in r["by_endpoint"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
