"""Does concurrency help? `apply --parallelism 1` vs the default vs `prefect deploy`, by latency.

usage: python bench/concurrency.py [--deployments 20] [--runs 1] [--pools 2] [--latencies 0,20,50,100]
                                   [--postgres ADMIN_URL] [--no-native] [--json]

One fresh `prefect server start` per backend (127.0.0.1): SQLite always; PostgreSQL too when
`--postgres` gives the admin URL of a cluster (e.g. the one `python -m tests.postgres start DIR`
prints; the server gets a database of its own on it). For each latency, a loopback proxy
(bench/proxy.py) adds that many milliseconds to every answer, as a remote server would, and
three runs go through it, each from empty on names of its own (N deployments on P process
pools, `tests/repo_factory.py`):

1. `prefect-gitops apply --parallelism 1`;
2. `prefect-gitops apply` with the default parallelism;
3. `prefect --no-prompt deploy --all` (its pools created first, untimed: it does not create
   them).

Every run is a CLI subprocess (interpreter start-up included), timed by wall clock; the proxy
counts the requests and the 503s ("database is locked" on SQLite) it passed on. Reported as
ratios: `p1 / default` above 1 means the default's concurrency helps; `native / default` is how
many times faster than `prefect deploy` the default is.
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

from tests import postgres  # noqa: E402
from tests.prefect_server import running_server  # noqa: E402
from tests.repo_factory import write_repo  # noqa: E402

from bench.client import client_env  # noqa: E402
from bench.proxy import LoopbackProxy  # noqa: E402
from prefect_gitops import __version__  # noqa: E402
from prefect_gitops.execution.executor import DEFAULT_PARALLELISM  # noqa: E402

COMMAND_TIMEOUT = 3600
P1, DEFAULT, NATIVE = "p1", "default", "native"
TOOLS = (P1, DEFAULT, NATIVE)


def _env(url: str, home: Path) -> dict[str, str]:
    """The timed CLI's environment, importing this checkout's prefect_gitops."""
    env = client_env(url, home)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    return env


def _timed(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT
    )
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{argv[1:5]} exited {proc.returncode}:\n"
                         f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}")  # fmt: skip
    return seconds, proc.stdout


def create_pools(url: str, repo: Path) -> None:
    """The pools the repository's deployments use (`prefect deploy` needs them to exist)."""
    from prefect_gitops.prefect.api import ApiClient
    from prefect_gitops.prefect.settings import load_settings
    from prefect_gitops.prefect.templates import default_template

    with ApiClient(load_settings({}, api_url=url)) as client:
        for pool_file in sorted((repo / "work-pools").glob("*.yaml")):
            client.post("/work_pools/", json={
                "name": pool_file.stem, "type": "process", "concurrency_limit": 4,
                "base_job_template": default_template("process") or {}})  # fmt: skip


def one_run(tool: str, repo: Path, server_url: str, latency_ms: int, work: Path) -> dict[str, Any]:
    """One timed run of `tool` through a proxy adding `latency_ms`."""
    if tool == NATIVE:
        create_pools(server_url, repo)
    with LoopbackProxy(server_url, latency_ms=latency_ms) as proxy:
        env = _env(proxy.url, work / f"home-{tool}")
        if tool == NATIVE:
            argv = [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"]
            seconds, _ = _timed(argv, env, cwd=repo)
        else:
            argv = [sys.executable, "-m", "prefect_gitops", "apply", str(repo), "--auto-approve",
                    "--format", "json", "--api-url", proxy.url]  # fmt: skip
            argv += ["--parallelism", "1"] if tool == P1 else []
            seconds, stdout = _timed(argv, env)
            summary = json.loads(stdout)["summary"]
            if summary["failed"] or summary["skipped"]:
                raise SystemExit(f"{tool} at {latency_ms} ms: changes not applied: {summary}")
        return {"seconds": round(seconds, 2), "requests": proxy.requests,
                "503s": proxy.statuses.get(503, 0)}  # fmt: skip


def measure_backend(backend: str, args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    """Every latency on one server of `backend`; each run from empty on names of its own,
    the tools taking turns; a tool's figures are those of its median run."""
    rows: list[dict[str, Any]] = []
    tools = TOOLS if not args.no_native else (P1, DEFAULT)
    with running_server(backend) as server:
        for latency in args.latencies:
            runs: dict[str, list[dict[str, Any]]] = {tool: [] for tool in tools}
            for number in range(args.runs):
                for tool in tools:
                    tag = f"{backend[:2]}{latency}{tool}{number}"
                    repo = write_repo(work / tag, deployments=args.deployments, pools=args.pools,
                                      project=tag, prefix=f"{tag}-", pool_prefix=f"{tag}-pool")  # fmt: skip
                    runs[tool].append(one_run(tool, repo, server.url, latency, work))
                    print(f"{backend} {latency} ms {tool} #{number + 1}: {runs[tool][-1]}",
                          file=sys.stderr)  # fmt: skip
            row: dict[str, Any] = {"backend": backend, "latency_ms": latency}
            row.update({tool: median_run(found) for tool, found in runs.items()})
            rows.append(row)
    return rows


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(runs, key=lambda r: float(r["seconds"]))
    return {**ordered[(len(ordered) - 1) // 2], "all_seconds": [r["seconds"] for r in runs]}


def ratios(row: dict[str, Any]) -> dict[str, float | None]:
    """`p1 / default` (> 1: concurrency helps) and `native / default` (> 1: we are faster)."""
    default = row[DEFAULT]["seconds"]
    native = row.get(NATIVE)
    return {
        "p1_over_default": round(row[P1]["seconds"] / default, 2) if default else None,
        "native_over_default": round(native["seconds"] / default, 2)
        if native and default
        else None,
    }


def _cell(run: dict[str, Any] | None) -> str:
    if run is None:
        return "–"
    return f"{run['seconds']:.2f} s ({run['requests']} req, {run['503s']}× 503)"


def markdown(rows: list[dict[str, Any]], params: dict[str, Any]) -> str:
    lines = [
        f"{params['deployments']} deployments on {params['pools']} pools, from empty, median "
        f"of {params['runs']} run(s) each; "
        f"default parallelism {params['default_parallelism']}; {params['machine']}, "
        f"Python {params['python']}, prefect-gitops {params['version']}",
        "",
        "| backend | latency | ours `--parallelism 1` | ours default | `prefect deploy --all` "
        "| p1 / default | native / default |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        r = ratios(row)
        shown = {k: "–" if v is None else f"{v:.2f}" for k, v in r.items()}
        lines.append(
            f"| {row['backend']} | {row['latency_ms']} ms | {_cell(row[P1])} | "
            f"{_cell(row[DEFAULT])} | {_cell(row.get(NATIVE))} | {shown['p1_over_default']} | "
            f"{shown['native_over_default']} |"
        )
    return "\n".join(lines)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--deployments", type=int, default=20)
    parser.add_argument("--runs", type=int, default=1, help="per tool and latency (median)")
    parser.add_argument("--pools", type=int, default=2)
    parser.add_argument("--latencies", default="0,20,50,100", help="milliseconds, comma-separated")
    parser.add_argument("--postgres", metavar="ADMIN_URL", help="also on PostgreSQL (a cluster)")
    parser.add_argument("--no-native", action="store_true", help="skip prefect deploy")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.latencies = [int(x) for x in args.latencies.split(",") if x.strip()]
    return args


def main() -> int:
    args = _arguments()
    backends = ["sqlite"]
    if args.postgres:
        os.environ[postgres.ENV_URL] = args.postgres  # tests/prefect_server.py's cluster
        backends.append("postgres")
    params = {
        "deployments": args.deployments, "pools": args.pools, "runs": args.runs,
        "default_parallelism": DEFAULT_PARALLELISM, "version": __version__,
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
    }  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-concurrency-") as tmp:
        rows = [row for b in backends for row in measure_backend(b, args, Path(tmp) / b)]
    for row in rows:
        row["ratios"] = ratios(row)
    if args.json:
        print(json.dumps({"params": params, "rows": rows}, indent=2))
    else:
        print(markdown(rows, params))
    return 0


if __name__ == "__main__":
    sys.exit(main())
