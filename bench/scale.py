"""Scaling curve: validate, plan, no-op apply and apply from empty at 1k, 5k and 10k deployments.

usage: python bench/scale.py [--sizes 1000,5000,10000] [--backend postgres|sqlite] [--pools 20] [--json]

For each size: a generated repository (`tests/repo_factory.py`: N deployments with a daily
cron on P process pools) and a fresh `prefect server start` on the chosen backend (PostgreSQL:
a database of its own on the throwaway cluster of tests/postgres.py). Each of our commands
runs as a CLI subprocess through a counting loopback proxy (bench/proxy.py):

- `validate` (offline);
- `apply` from empty: wall time, HTTP requests and writes, and the CPU time the server's
  processes spent meanwhile (a local server is bound by its own CPU: the goal compares the
  two);
- `plan` of the applied repository (must say "No changes"): wall time and requests;
- the no-op `apply` (must send 0 writes).

Every figure includes interpreter start-up; peak RSS is the client process's own maximum
resident set (`wait4`). Goals (issue "Scale"): plan of 10k <= 10 s and <= 60 requests; no-op
apply of 10k <= 15 s with 0 writes; peak RSS <= 500 MiB; apply from empty within 1.2x of the
server's CPU time.
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

from tests.prefect_server import RunningServer, running_server  # noqa: E402
from tests.repo_factory import write_repo  # noqa: E402

from bench.client import client_env  # noqa: E402
from bench.proxy import LoopbackProxy  # noqa: E402
from prefect_gitops import __version__  # noqa: E402

COMMAND_TIMEOUT = 3600


def _tree_cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` and every descendant (Linux /proc), in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats: dict[int, list[str]] = {}  # one read of each process's stat, for tree and times
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
    children: dict[int, list[int]] = {}
    for child, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(child)
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        if current in stats:
            total += (int(stats[current][11]) + int(stats[current][12])) / ticks
        todo.extend(children.get(current, []))
    return total


def run(argv: list[str], env: dict[str, str], expect: tuple[int, ...] = (0,)) -> dict[str, Any]:
    """Run a CLI; wall seconds, peak RSS (MiB) and stdout."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode not in expect:
        raise SystemExit(f"{argv[2:4]} exited {proc.returncode}:\n{stdout[-2000:]}{stderr[-2000:]}")
    return {"seconds": round(seconds, 2), "rss_mib": round(usage.ru_maxrss / 1024, 1),
            "stdout": stdout}  # fmt: skip


def _ours(*args: str) -> list[str]:
    return [sys.executable, "-m", "prefect_gitops", *args]


def measure(size: int, pools: int, backend: str, work: Path) -> dict[str, Any]:
    repo = write_repo(work / f"repo-{size}", deployments=size, pools=pools, project=f"s{size}")
    home = work / f"home-{size}"
    row: dict[str, Any] = {"deployments": size}
    row["validate"] = run(_ours("validate", str(repo)), client_env("", home))
    with running_server(backend) as server:
        row["apply_empty"] = _apply(server, repo, home)
        with LoopbackProxy(server.url) as proxy:
            plan = run(_ours("plan", str(repo), "--api-url", proxy.url, "--detailed-exitcode"),
                       client_env(proxy.url, home))  # fmt: skip
            plan["requests"] = proxy.requests
        row["plan"] = plan
        row["apply_noop"] = _apply(server, repo, home)
    for entry in row.values():
        if isinstance(entry, dict):
            entry.pop("stdout", None)
    return row


def _apply(server: RunningServer, repo: Path, home: Path) -> dict[str, Any]:
    with LoopbackProxy(server.url) as proxy:
        cpu_before = _tree_cpu_seconds(server.process.pid)
        result = run(
            _ours("apply", str(repo), "--auto-approve", "--format", "json", "--api-url", proxy.url),
            client_env(proxy.url, home),
        )
        result["server_cpu_s"] = round(_tree_cpu_seconds(server.process.pid) - cpu_before, 2)
        result["requests"] = proxy.requests
    report = json.loads(result["stdout"])
    result["writes"] = report["requests"]["writes"]
    return result


def markdown(rows: list[dict[str, Any]], backend: str) -> str:
    lines = [
        f"backend: {backend}; {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, prefect-gitops {__version__}",
        "",
        "| deployments | validate s | plan s (requests) | no-op apply s (writes) | apply from empty s"
        " (requests) | server CPU s | apply / server CPU | peak RSS MiB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        empty, noop, plan = row["apply_empty"], row["apply_noop"], row["plan"]
        peak = max(row[k]["rss_mib"] for k in ("validate", "plan", "apply_empty", "apply_noop"))
        ratio = empty["seconds"] / empty["server_cpu_s"] if empty["server_cpu_s"] else 0.0
        lines.append(
            f"| {row['deployments']:,} | {row['validate']['seconds']} | {plan['seconds']}"
            f" ({plan['requests']}) | {noop['seconds']} ({noop['writes']}) |"
            f" {empty['seconds']} ({empty['requests']}) | {empty['server_cpu_s']} |"
            f" {ratio:.2f} | {peak} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,10000")
    parser.add_argument("--pools", type=int, default=20)
    parser.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        rows = [measure(size, args.pools, args.backend, Path(tmp)) for size in sizes]
    if args.json:
        print(json.dumps({"backend": args.backend, "rows": rows}, indent=2))
    else:
        print(markdown(rows, args.backend))
    return 0


if __name__ == "__main__":
    sys.exit(main())
