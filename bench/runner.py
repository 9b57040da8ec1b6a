"""Side by side: `prefect-gitops runner start` vs `prefect worker start --type process`.

One real Prefect server, one pool per tool, the same trivial flow, the same poll interval.
Memory is measured the same way for both tools: every process the tool keeps, whatever its
session (its descendants by parent PID, plus every process carrying the tool's marker in its
environment, and their descendants), summed RSS and PSS: idle before any run, ``--idle``
seconds after the runs (our fork server still up), and idle after the runs (once our fork
server stopped after ``--fork-idle`` seconds, the runner's default; Prefect's worker gets the
same waits). Also PENDING->RUNNING of single runs and of the runs of a burst (server
timestamps), and the burst from the first create to all Completed.
Usage (from the repo root):

    .venv/bin/python bench/runner.py [--query-seconds 1] [--lat-runs 5] [--burst 20]
        [--fork-idle 60] [--backend sqlite|postgres] [--out results.json]
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
import uuid
from collections.abc import Callable, Iterable
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


MARKER = "PREFECT_GITOPS_BENCH_MARKER"


def _processes() -> dict[int, tuple[int, bytes]]:
    """Every live process: pid -> (parent pid, environment); zombies left out."""
    found: dict[int, tuple[int, bytes]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            environ = (entry / "environ").read_bytes()
        except (OSError, IndexError):
            continue
        if fields[0] not in ("Z", "X"):
            found[int(entry.name)] = (int(fields[1]), environ)
    return found


def _descendants(roots: Iterable[int], processes: dict[int, tuple[int, bytes]]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _env) in processes.items():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    todo = [pid for pid in roots if pid in processes]
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo.extend(children.get(current, []))
    return found


def kept_processes(pid: int, marker: str) -> set[int]:
    """The tool's process and all it keeps, whatever their session or parent."""
    processes = _processes()
    tagged = [p for p, (_ppid, env) in processes.items() if f"{MARKER}={marker}".encode() in env]
    return _descendants([pid, *tagged], processes)


def memory(pid: int, marker: str) -> dict[str, float]:
    tree = kept_processes(pid, marker)
    return {
        "rss_mib": _status_kib(pid, "VmRSS") / 1024,
        "tree_rss_mib": sum(_status_kib(p, "VmRSS") for p in tree) / 1024,
        "tree_pss_mib": sum(_pss_kib(p) for p in tree) / 1024,
        "processes": len(tree),
    }


def start_tool(
    tool: str, pool: str, env: dict[str, str], args: argparse.Namespace, log: Path
) -> subprocess.Popen[bytes]:
    query, limit = args.query_seconds, args.limit
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
            "--fork-server-idle-seconds",
            str(args.fork_idle),
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


def pending_to_running(client: Any, run_ids: list[str]) -> list[float]:
    latencies = []
    for run_id in run_ids:
        kinds = {s["type"]: _ts(s["timestamp"]) for s in history(client, run_id)}
        if "PENDING" in kinds and "RUNNING" in kinds:
            latencies.append((kinds["RUNNING"] - kinds["PENDING"]).total_seconds())
    return latencies


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
    marker = uuid.uuid4().hex
    env = {**runner_env(server), MARKER: marker}
    process = start_tool(tool, pool, env, args, scratch / f"{tool}.log")
    result: dict[str, Any] = {"tool": tool}
    try:
        time.sleep(args.idle)
        result["idle"] = memory(process.pid, marker)
        say(f"{tool}: idle before any run {result['idle']}")
        latencies = []
        for _ in range(args.lat_runs):
            run_id = create_run(client, deployment["id"])["id"]
            wait_final(client, [run_id], 120)
            latencies.extend(pending_to_running(client, [run_id]))
        result["pending_to_running_s"] = latencies
        say(f"{tool}: PENDING->RUNNING {[round(x, 2) for x in latencies]}")
        start = time.monotonic()
        run_ids = [create_run(client, deployment["id"])["id"] for _ in range(args.burst)]
        states = wait_final(client, run_ids, 600)
        result["burst_s"] = time.monotonic() - start
        result["burst_states"] = sorted(set(states.values()))
        result["burst_pending_to_running_s"] = pending_to_running(client, run_ids)
        say(
            f"{tool}: {args.burst} runs with limit {args.limit}: {result['burst_s']:.1f}s "
            f"{result['burst_states']}, PENDING->RUNNING median "
            f"{statistics.median(result['burst_pending_to_running_s']):.2f}s"
        )
        time.sleep(args.idle)
        result["just_after_runs"] = memory(process.pid, marker)
        say(f"{tool}: {args.idle:g}s after the runs {result['just_after_runs']}")
        time.sleep(args.fork_idle)
        result["idle_after_runs"] = memory(process.pid, marker)
        say(f"{tool}: idle after the runs {result['idle_after_runs']}")
    finally:
        stop_tool(process)
    return result


def table(ours: dict[str, Any], theirs: dict[str, Any], args: argparse.Namespace) -> list[str]:
    def pick(key: str, field: str) -> tuple[float, float]:
        return ours[key][field], theirs[key][field]

    def median(key: str) -> tuple[float, float]:
        return statistics.median(ours[key]), statistics.median(theirs[key])

    rows = [
        ("idle RSS, main process (MiB)", *pick("idle", "rss_mib")),
        ("idle RSS, all kept (MiB)", *pick("idle", "tree_rss_mib")),
        ("idle PSS, all kept (MiB)", *pick("idle", "tree_pss_mib")),
        (f"{args.idle:g}s after runs, RSS all (MiB)", *pick("just_after_runs", "tree_rss_mib")),
        (f"{args.idle:g}s after runs, PSS all (MiB)", *pick("just_after_runs", "tree_pss_mib")),
        ("idle after runs, RSS all (MiB)", *pick("idle_after_runs", "tree_rss_mib")),
        ("idle after runs, PSS all (MiB)", *pick("idle_after_runs", "tree_pss_mib")),
        ("PENDING->RUNNING median (s)", *median("pending_to_running_s")),
        ("burst PENDING->RUNNING med (s)", *median("burst_pending_to_running_s")),
        (f"{args.burst} runs, limit {args.limit} (s)", ours["burst_s"], theirs["burst_s"]),
    ]
    lines = [f"{'':32} {'prefect-gitops':>16} {'prefect worker':>16} {'ratio':>7}"]
    for label, a, b in rows:
        lines.append(f"{label:32} {a:16.2f} {b:16.2f} {a / b if b else float('nan'):7.2f}")
    processes = (
        f"processes kept idle: {ours['idle']['processes']} vs {theirs['idle']['processes']}; "
        f"after runs: {ours['idle_after_runs']['processes']} vs "
        f"{theirs['idle_after_runs']['processes']}"
    )
    return [*lines, processes]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--query-seconds", type=float, default=1.0)
    parser.add_argument("--limit", type=int, default=4)
    parser.add_argument("--idle", type=float, default=15.0)
    parser.add_argument("--lat-runs", type=int, default=5)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--fork-idle", type=float, default=60.0)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="pg-runner-bench-"))
    flows = write_flows(scratch / "flows")
    server = start_server(scratch / "server", backend=args.backend)
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
    print(
        f"query seconds {args.query_seconds:g}, limit {args.limit}, fork server idle "
        f"{args.fork_idle:g}s, backend {args.backend}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}, logs in {scratch}"
    )
    print("\n".join(table(ours, theirs, args)))
    if args.out:
        args.out.write_text(
            json.dumps({"args": vars(args) | {"out": str(args.out)}, "results": results}, indent=2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
