"""Benchmark `prefect-gitops apply` against `prefect --no-prompt deploy --all`.

usage: python bench/apply.py [--deployments 200] [--pools 10] [--scale 1000] [--no-native] [--json]

Generates a repository (`tests/repo_factory.py`: N deployments with a daily cron schedule on P
process pools), then, each on a fresh `prefect server start` (127.0.0.1, SQLite, its own
PREFECT_HOME), one run each on the same machine:

1. ours from empty: `prefect-gitops apply REPO --auto-approve --format json` as a CLI
   subprocess (interpreter start-up included); requests and writes from its JSON report;
2. ours again on the same server: the no-op re-apply (must send zero writes);
3. native from empty on a second server: the pools are created first through the REST API
   (`prefect deploy` does not create them), then `prefect --no-prompt deploy --all` is timed;
4. the native unchanged re-deploy on that server;
5. ours alone at --scale deployments (from empty, then no-op) on a third server.

Prints a Markdown table (or JSON with --json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.prefect_server import running_server  # noqa: E402
from tests.repo_factory import write_repo  # noqa: E402

from bench.client import client_env  # noqa: E402
from prefect_gitops import __version__  # noqa: E402


def ours(repo: Path, url: str, home: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "prefect_gitops", "apply", str(repo), "--auto-approve",
           "--format", "json", "--api-url", url]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.run(
        cmd, env=client_env(url, home), capture_output=True, text=True, timeout=3600
    )
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(
            f"apply failed ({proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        )
    doc = json.loads(proc.stdout)
    return {
        "seconds": round(seconds, 2),
        "requests": doc["requests"]["total"],
        "writes": doc["requests"]["writes"],
        "summary": doc["summary"],
    }


def create_pools(url: str, pools: int) -> None:
    from prefect_gitops.prefect.api import ApiClient
    from prefect_gitops.prefect.settings import load_settings
    from prefect_gitops.prefect.templates import default_template

    with ApiClient(load_settings({}, api_url=url)) as client:
        for p in range(pools):
            client.post(
                "/work_pools/",
                json={"name": f"pool-{p:02d}", "type": "process", "concurrency_limit": 4,
                      "base_job_template": default_template("process") or {}},
            )  # fmt: skip


def native(repo: Path, url: str, home: Path) -> float:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"],
        cwd=repo, env=client_env(url, home), capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"prefect deploy failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return round(seconds, 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deployments", type=int, default=200)
    parser.add_argument("--pools", type=int, default=10)
    parser.add_argument("--scale", type=int, default=1000, help="0 to skip")
    parser.add_argument("--no-native", action="store_true", help="skip prefect deploy")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-apply-"))
    n = args.deployments
    repo = write_repo(work / "repo", deployments=n, pools=args.pools, project="bench")
    results: dict[str, Any] = {
        "tool_version": __version__,
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "deployments": n,
        "pools": args.pools,
    }
    with running_server() as server:
        results["ours_from_empty"] = ours(repo, server.url, work / "home")
        results["ours_noop"] = ours(repo, server.url, work / "home")
    if not args.no_native:
        with running_server() as server:
            create_pools(server.url, args.pools)
            results["native_from_empty_seconds"] = native(repo, server.url, work / "nhome")
            results["native_redeploy_seconds"] = native(repo, server.url, work / "nhome")
    if args.scale:
        big = write_repo(work / "big", deployments=args.scale, pools=args.pools, project="bench")
        with running_server() as server:
            results["scale"] = args.scale
            results["ours_scale_from_empty"] = ours(big, server.url, work / "home")
            results["ours_scale_noop"] = ours(big, server.url, work / "home")
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    rows = [
        (f"ours, {n} from empty", results["ours_from_empty"]),
        (f"ours, {n} no-op re-apply", results["ours_noop"]),
    ]
    if args.scale:
        rows += [
            (f"ours, {args.scale} from empty", results["ours_scale_from_empty"]),
            (f"ours, {args.scale} no-op re-apply", results["ours_scale_noop"]),
        ]
    print(f"prefect-gitops {__version__}, {results['machine']}, Python {results['python']}\n")
    print("| run | seconds | requests | writes |\n| --- | ---: | ---: | ---: |")
    for label, r in rows:
        print(f"| {label} | {r['seconds']:.2f} | {r['requests']} | {r['writes']} |")
    if not args.no_native:
        print(f"| `prefect --no-prompt deploy --all`, {n} from empty | "
              f"{results['native_from_empty_seconds']:.2f} | | |")  # fmt: skip
        print(f"| `prefect --no-prompt deploy --all`, {n} unchanged re-deploy | "
              f"{results['native_redeploy_seconds']:.2f} | | |")  # fmt: skip
        print(
            f"\nFrom empty: {results['native_from_empty_seconds'] / results['ours_from_empty']['seconds']:.1f}x "
            f"faster; no-op: {results['native_redeploy_seconds'] / results['ours_noop']['seconds']:.1f}x faster."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
