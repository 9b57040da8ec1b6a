"""Scaling curve: validate, plan, no-op apply and apply from empty at 1k, 5k and 10k deployments.

usage: python bench/scale.py [--sizes 1000,5000,10000] [--backend postgres|sqlite] [--pools 20]
                             [--scheduler] [--profile DIR] [--json]

For each size: a generated repository (`tests/repo_factory.py`: N deployments with a daily
cron on P process pools) and a fresh `prefect server start` on the chosen backend (PostgreSQL:
a database of its own on the throwaway cluster of tests/postgres.py), its scheduler service
off unless `--scheduler` (it would be inserting up to 100 runs per new deployment while we
measure). Each of our commands runs as a CLI subprocess through a counting loopback proxy
(bench/proxy.py):

- `validate` (offline);
- `apply` from empty: wall time, HTTP requests and writes, the CPU time the server's
  processes spent meanwhile and the time their threads were ready to run but waited for a
  CPU (a local server is bound by its own CPU: the goal compares the two; on a shared machine
  the wait says how much of a core the server was denied);
- `plan` of the applied repository (must say "No changes"): wall time, requests by endpoint,
  server CPU;
- the same `plan` straight to the server, without the proxy;
- Prefect's own reads, side by side: its client reading every deployment, 200 a request (what
  a plan must read), and `prefect deployment ls` (the first 200);
- the no-op `apply` (must send 0 writes).

Every figure includes interpreter start-up; the client's CPU seconds and peak RSS are its own
(`wait4`). Each finished size is also printed to stderr as JSON. `--profile DIR` runs our CLI
under cProfile (DIR/<size>/<step>.prof; slower, for finding where the time goes). Goals
(issue "Scale"): plan of 10k <= 10 s and <= 60 requests; no-op apply of 10k <= 15 s with 0
writes; peak RSS <= 500 MiB; apply from empty within 1.2x of the server's CPU time.
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


def _tree_times(pid: int) -> tuple[float, float]:
    """CPU seconds (utime + stime) of `pid` and every descendant, and the seconds their
    threads spent ready to run but waiting for a CPU (`/proc/<pid>/task/<tid>/schedstat`): on
    a shared machine a CPU-bound server does not get a whole core, and this says so."""
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
    cpu = wait = 0.0
    todo = [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        if current in stats:
            cpu += (int(stats[current][11]) + int(stats[current][12])) / ticks
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                wait += int((task / "schedstat").read_text().split()[1]) / 1e9
            except (OSError, ValueError, IndexError):
                continue
    return cpu, wait


def run(argv: list[str], env: dict[str, str], expect: tuple[int, ...] = (0,)) -> dict[str, Any]:
    """Run a CLI; wall seconds, its own CPU seconds, peak RSS (MiB) and stdout."""
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
    return {"seconds": round(seconds, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "rss_mib": round(usage.ru_maxrss / 1024, 1), "stdout": stdout}  # fmt: skip


class Client:
    """How our CLI is started: plainly, or under cProfile writing `<profile>/<name>.prof`
    (slower: for finding where the time goes, not for the table)."""

    def __init__(self, profile: Path | None) -> None:
        self.profile = profile

    def argv(self, name: str, *args: str) -> list[str]:
        if self.profile is None:
            return [sys.executable, "-m", "prefect_gitops", *args]
        out = self.profile / f"{name}.prof"
        return [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "prefect_gitops", *args]


# The scheduler service would be inserting up to 100 runs per new deployment (daily crons,
# 100 days ahead: a million rows at 10k) while we measure: off unless --scheduler.
NO_SCHEDULER = {"PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false"}


def measure(size: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    project = f"s{size}"
    repo = write_repo(work / f"repo-{size}", deployments=size, pools=args.pools, project=project)
    home = work / f"home-{size}"
    profile = Path(args.profile) / str(size) if args.profile else None
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
    client = Client(profile)
    row: dict[str, Any] = {"deployments": size}
    row["validate"] = run(client.argv("validate", "validate", str(repo)), client_env("", home))
    extra_env = None if args.scheduler else NO_SCHEDULER
    with running_server(args.backend, extra_env=extra_env) as server:
        row["apply_empty"] = _apply(server, repo, home, client.argv, "apply_empty")
        with LoopbackProxy(server.url) as proxy:
            argv = client.argv("plan", "plan", str(repo), "--api-url", proxy.url,
                               "--detailed-exitcode")  # fmt: skip
            cpu_before, wait_before = _tree_times(server.process.pid)
            plan = run(argv, client_env(proxy.url, home))
            cpu_after, wait_after = _tree_times(server.process.pid)
            plan["server_cpu_s"] = round(cpu_after - cpu_before, 2)
            plan["server_cpu_wait_s"] = round(wait_after - wait_before, 2)
            plan["requests"] = proxy.requests
            plan["endpoints"] = dict(proxy.counts.most_common())
        # The same plan straight to the server: what a user waits (the proxy forwards every
        # byte through this Python process, on the same CPUs).
        row["plan_direct"] = run(client.argv("plan_direct", "plan", str(repo), "--api-url",
                                             server.url, "--detailed-exitcode"),
                                 client_env(server.url, home))  # fmt: skip
        row["plan"] = plan
        row["native_read"] = _native(server, home, [sys.executable, "-c", NATIVE_READ], size)
        row["native_ls"] = _native(server, home, NATIVE_LS, None)
        row["apply_noop"] = _apply(server, repo, home, client.argv, "apply_noop")
    for entry in row.values():
        if isinstance(entry, dict):
            entry.pop("stdout", None)
    return row


# Prefect's own ways to see deployments, through the same counting proxy: its client reading
# every deployment as its CLI pages (200 a request), which is what a plan must read; and
# `prefect deployment ls`, which shows the first 200 only.
NATIVE_READ = """
import asyncio
from prefect.client.orchestration import get_client

async def main():
    total, offset = 0, 0
    async with get_client() as client:
        while True:
            page = await client.read_deployments(limit=200, offset=offset)
            total, offset = total + len(page), offset + 200
            if len(page) < 200:
                break
    print(total)

asyncio.run(main())
"""
NATIVE_LS = [sys.executable, "-m", "prefect", "deployment", "ls", "-o", "json"]


def _native(server: RunningServer, home: Path, argv: list[str], size: int | None) -> dict[str, Any]:
    with LoopbackProxy(server.url) as proxy:
        result = run(argv, client_env(proxy.url, home))
        result["requests"] = proxy.requests
    if size is not None and result["stdout"].strip() != str(size):
        raise SystemExit(
            f"Prefect's client read {result['stdout'].strip()} deployments, not {size}"
        )
    return result


def _apply(server: RunningServer, repo: Path, home: Path, argv: Any, name: str) -> dict[str, Any]:
    with LoopbackProxy(server.url) as proxy:
        cpu_before, wait_before = _tree_times(server.process.pid)
        result = run(
            argv(name, "apply", str(repo), "--auto-approve", "--format", "json",
                 "--api-url", proxy.url),
            client_env(proxy.url, home),
        )  # fmt: skip
        cpu_after, wait_after = _tree_times(server.process.pid)
        result["server_cpu_s"] = round(cpu_after - cpu_before, 2)
        result["server_cpu_wait_s"] = round(wait_after - wait_before, 2)
        result["requests"] = proxy.requests
        result["endpoints"] = dict(proxy.counts.most_common(8))
    report = json.loads(result["stdout"])
    result["writes"] = report["requests"]["writes"]
    return result


def markdown(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    scheduler = "on" if args.scheduler else "off"
    lines = [
        f"backend: {args.backend}, scheduler service {scheduler}; {platform.machine()},"
        f" {os.cpu_count()} CPUs, load average at the end {os.getloadavg()[0]:.1f}, Python"
        f" {platform.python_version()}, prefect-gitops {__version__}",
        "",
        "| deployments | validate s (CPU s) | plan s (CPU s; server CPU s; requests) |"
        " plan s, no proxy | no-op apply s"
        " (CPU s; server CPU s; requests; writes) | apply from empty s (requests) | server CPU s"
        " | server waiting for a CPU s | apply / server CPU | apply / (server CPU + wait) |"
        " peak RSS MiB | Prefect's client reading all s (requests) | plan / that |"
        " `prefect deployment ls` s (first 200) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        empty, noop, plan = row["apply_empty"], row["apply_noop"], row["plan"]
        read = row["native_read"]
        check = row["validate"]
        peak = max(
            row[k]["rss_mib"]
            for k in ("validate", "plan", "plan_direct", "apply_empty", "apply_noop")
        )
        busy = empty["server_cpu_s"] + empty["server_cpu_wait_s"]
        ratio = empty["seconds"] / empty["server_cpu_s"] if empty["server_cpu_s"] else 0.0
        ratio_busy = empty["seconds"] / busy if busy else 0.0
        lines.append(
            f"| {row['deployments']:,} | {check['seconds']} ({check['cpu_s']}) |"
            f" {plan['seconds']} ({plan['cpu_s']}; {plan.get('server_cpu_s', '-')};"
            f" {plan['requests']}) | {row['plan_direct']['seconds']} |"
            f" {noop['seconds']} ({noop['cpu_s']};"
            f" {noop['server_cpu_s']}; {noop['requests']}; {noop['writes']}) |"
            f" {empty['seconds']} ({empty['requests']}) | {empty['server_cpu_s']} |"
            f" {empty['server_cpu_wait_s']} | {ratio:.2f} | {ratio_busy:.2f} | {peak} |"
            f" {read['seconds']} ({read['requests']}) | {plan['seconds'] / read['seconds']:.2f} |"
            f" {row['native_ls']['seconds']} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,10000")
    parser.add_argument("--pools", type=int, default=20)
    parser.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--scheduler", action="store_true", help="keep the scheduler service on")
    parser.add_argument("--profile", metavar="DIR", help="run our CLI under cProfile into DIR")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        for size in sizes:
            rows.append(measure(size, args, Path(tmp)))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)  # kept if a later size dies
    if args.json:
        print(json.dumps({"backend": args.backend, "scheduler": args.scheduler, "rows": rows},
                         indent=2))  # fmt: skip
    else:
        print(markdown(rows, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
