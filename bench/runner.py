"""Side by side: `prefect-gitops runner start` vs `prefect worker start --type process`.

One real Prefect server, one pool per tool, the same trivial flow, the same poll interval.
Measures idle RSS (the tool's own process, and its whole process tree), PENDING->RUNNING of
single runs (server timestamps), and 20 runs with --limit 4 from the first create to all
Completed. Usage (from the repo root):

    .venv/bin/python bench/runner.py [--query-seconds 1] [--lat-runs 5] [--burst 20] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.prefect_server import start_server, stop_server
from tests.runner.helpers import (
    client_for,
    create_deployment,
    create_pool,
    create_run,
    history,
    runner_env,
    wait_final,
    write_flows,
)


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def memory(pid: int) -> dict[str, float]:
    tree = _tree(pid)
    return {
        "rss_mib": _status_kib(pid, "VmRSS") / 1024,
        "tree_rss_mib": sum(_status_kib(p, "VmRSS") for p in tree) / 1024,
        "tree_pss_mib": sum(_pss_kib(p) for p in tree) / 1024,
        "processes": len(tree),
    }


def start_tool(
    tool: str, pool: str, env: dict[str, str], query: float, limit: int, log: Path
) -> subprocess.Popen[bytes]:
    if tool == "prefect-gitops":
        argv = [
            sys.executable,
            "-m",
            "prefect_gitops",
            "runner",
            "start",
            "--pool",
            pool,
            "--limit",
            str(limit),
            "--query-seconds",
            str(query),
        ]
    else:
        argv = [
            sys.executable,
            "-m",
            "prefect",
            "worker",
            "start",
            "--pool",
            pool,
            "--type",
            "process",
            "--limit",
            str(limit),
        ]
    env = {**env, "PREFECT_WORKER_QUERY_SECONDS": str(query)}
    with open(log, "wb") as out:
        return subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop_tool(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def bench_tool(
    tool: str,
    server: Any,
    args: argparse.Namespace,
    flows: Path,
    scratch: Path,
    say: Callable[[str], None],
) -> dict[str, Any]:
    client = client_for(server)
    pool = f"bench-{tool}"
    create_pool(client, pool)
    deployment = create_deployment(client, pool=pool, flows_dir=flows, name=f"d-{tool}")
    process = start_tool(
        tool, pool, runner_env(server), args.query_seconds, args.limit, scratch / f"{tool}.log"
    )
    result: dict[str, Any] = {"tool": tool}
    try:
        time.sleep(args.idle)
        result["idle"] = memory(process.pid)
        say(f"{tool}: idle {result['idle']}")
        latencies = []
        for _ in range(args.lat_runs):
            run_id = create_run(client, deployment["id"])["id"]
            wait_final(client, [run_id], 120)
            kinds = {s["type"]: _ts(s["timestamp"]) for s in history(client, run_id)}
            latencies.append((kinds["RUNNING"] - kinds["PENDING"]).total_seconds())
        result["pending_to_running_s"] = latencies
        say(f"{tool}: PENDING->RUNNING {[round(x, 2) for x in latencies]}")
        start = time.monotonic()
        run_ids = [create_run(client, deployment["id"])["id"] for _ in range(args.burst)]
        states = wait_final(client, run_ids, 600)
        result["burst_s"] = time.monotonic() - start
        result["burst_states"] = sorted(set(states.values()))
        say(
            f"{tool}: {args.burst} runs with limit {args.limit}: {result['burst_s']:.1f}s {result['burst_states']}"
        )
    finally:
        stop_tool(process)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--query-seconds", type=float, default=1.0)
    parser.add_argument("--limit", type=int, default=4)
    parser.add_argument("--idle", type=float, default=15.0)
    parser.add_argument("--lat-runs", type=int, default=5)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="pg-runner-bench-"))
    flows = write_flows(scratch / "flows")
    server = start_server(scratch / "server")
    say = lambda msg: print(msg, flush=True)  # noqa: E731
    try:
        results = [
            bench_tool(tool, server, args, flows, scratch, say)
            for tool in ("prefect-gitops", "prefect")
        ]
    finally:
        stop_server(server)
    ours, theirs = results
    print()
    print(f"query seconds {args.query_seconds:g}, limit {args.limit}, logs in {scratch}")
    print(f"{'':32} {'prefect-gitops':>16} {'prefect worker':>16} {'ratio':>7}")
    rows = [
        ("idle RSS, main process (MiB)", ours["idle"]["rss_mib"], theirs["idle"]["rss_mib"]),
        (
            "idle RSS, process tree (MiB)",
            ours["idle"]["tree_rss_mib"],
            theirs["idle"]["tree_rss_mib"],
        ),
        (
            "idle PSS, process tree (MiB)",
            ours["idle"]["tree_pss_mib"],
            theirs["idle"]["tree_pss_mib"],
        ),
        (
            "PENDING->RUNNING median (s)",
            statistics.median(ours["pending_to_running_s"]),
            statistics.median(theirs["pending_to_running_s"]),
        ),
        (f"{args.burst} runs, limit {args.limit} (s)", ours["burst_s"], theirs["burst_s"]),
    ]
    for label, a, b in rows:
        print(f"{label:32} {a:16.2f} {b:16.2f} {a / b:7.2f}")
    if args.out:
        args.out.write_text(
            json.dumps({"args": vars(args) | {"out": str(args.out)}, "results": results}, indent=2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
