"""The HA shape: plan, apply, prune and the runner against several API workers on PostgreSQL + Redis.

usage: python bench/ha.py [--postgres URL] [--deployments 50] [--prune 10] [--runs 20]
                          [--workers 2] [--runners 2] [--no-services] [--json]

Everything runs on this machine, bound to 127.0.0.1, and is stopped at the end (also on an error,
Ctrl-C or SIGTERM):

1. PostgreSQL: a throwaway cluster (tests/postgres.py), or, with --postgres, a new database on
   the cluster at that admin URL (dropped at the end);
2. a throwaway `redis-server` on a free port, no persistence;
3. the database migrated ONCE: `prefect server database upgrade -y`;
4. `prefect server start --workers N` (webserver only: Prefect runs no services in a multi-worker
   server) with Redis for messaging, causal ordering, lease storage and docket, and
   PREFECT_SERVER_DATABASE_MIGRATE_ON_START=false, since workers migrating a fresh database at
   once race each other; plus one `prefect server services start` (the scheduler, foreman, late
   runs... run once, not per worker), unless --no-services.

Then, against the one loopback port the workers share, each as a CLI subprocess:
- `apply` of a generated repository (tests/repo_factory.py) from empty: every deployment is there;
- `plan --detailed-exitcode` says "No changes" (exit 0); a no-op `apply` sends 0 writes;
- two `apply`s of a changed repository at once: the apply lock (a Prefect variable, in the
  database) lets them through one after the other, each deployment is updated exactly once;
- `apply --prune` after removing deployments from the repository deletes exactly those;
- `prefect-gitops runner start` (--runners processes on one pool) executes --runs flow runs, each
  exactly once (one execution marker, one PENDING and one RUNNING state each, all COMPLETED);
- both API workers served requests (their CPU time).
Prints a short report (checks and timings); exit 0 if every check held, 1 if one failed or a
prerequisite is missing.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import postgres  # noqa: E402
from tests.prefect_server import RunningServer, free_port, server_env  # noqa: E402
from tests.repo_factory import write_repo  # noqa: E402
from tests.runner.helpers import (  # noqa: E402
    client_for,
    create_deployment,
    create_pool,
    create_run,
    history,
    runner_process,
    wait_final,
    write_flows,
)

from bench.client import client_env  # noqa: E402
from prefect_gitops import __version__  # noqa: E402
from prefect_gitops.prefect.api import ApiError  # noqa: E402

START_TIMEOUT = 180.0
COMMAND_TIMEOUT = 900
RUNS_TIMEOUT = 600.0
PROJECT = "ha"
PREFECT = [sys.executable, "-m", "prefect"]
REDIS_MODULES = {
    "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
    "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
    "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "prefect_redis.ordering",
    "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
}


class CheckFailed(Exception):
    """A check of the scenario did not hold (the report says which)."""


class Missing(Exception):
    """A prerequisite is not installed."""


@dataclass
class Report:
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)

    def check(self, name: str, held: bool, detail: str = "") -> None:
        self.checks.append((name, held, detail))
        print(f"  [{'ok' if held else 'FAILED'}] {name}{f' ({detail})' if detail else ''}",
              flush=True)  # fmt: skip
        if not held:
            raise CheckFailed(name)

    @contextlib.contextmanager
    def timed(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(time.perf_counter() - started, 2)


# --- prerequisites and processes -----------------------------------------------------------


def check_prerequisites() -> None:
    if shutil.which("redis-server") is None:
        raise Missing("`redis-server` is not installed (Debian: apt-get install -y redis-server)")
    if importlib.util.find_spec("prefect_redis") is None:
        raise Missing(
            "the `prefect-redis` package is not installed in this Python "
            f"({sys.executable} -m pip install prefect-redis); Prefect's multi-worker server "
            "needs it for messaging and lease storage"
        )
    for program in ("initdb", "pg_ctl", "psql"):
        try:
            postgres._bin(program)
        except RuntimeError as error:
            raise Missing(str(error)) from None


def stop_process(process: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    """SIGTERM the process's group (it was started in a session of its own), then SIGKILL."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def spawn(argv: list[str], env: dict[str, str], log: Path, stack: contextlib.ExitStack
          ) -> subprocess.Popen[bytes]:  # fmt: skip
    with open(log, "ab") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
    stack.callback(stop_process, process)
    return process


def wait_for(what: str, ready: Callable[[], bool], process: subprocess.Popen[bytes], log: Path
             ) -> None:  # fmt: skip
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{what} exited with {process.returncode}:\n{log.read_text()[-3000:]}"
            )
        with contextlib.suppress(OSError):
            if ready():
                return
        time.sleep(0.3)
    raise RuntimeError(f"{what} was not ready in {START_TIMEOUT:g} s:\n{log.read_text()[-3000:]}")


def start_redis(work: Path, stack: contextlib.ExitStack) -> int:
    port = free_port()
    argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
            "--appendonly", "no", "--dir", str(work), "--protected-mode", "yes"]  # fmt: skip
    process = spawn(argv, dict(os.environ), work / "redis.log", stack)

    def pong() -> bool:
        with socket.create_connection(("127.0.0.1", port), 1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    wait_for("redis-server", pong, process, work / "redis.log")
    return port


def _psql(admin_url: str, sql: str) -> None:
    done = subprocess.run([postgres._bin("psql"), admin_url, "-v", "ON_ERROR_STOP=1", "-c", sql],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"psql {sql!r} failed:\n{done.stdout}{done.stderr}")


def database(admin_url: str | None, stack: contextlib.ExitStack) -> str:
    """A new empty database (on the given cluster, else on a throwaway one); Prefect's URL."""
    if admin_url is None:
        admin_url = stack.enter_context(postgres.running_cluster())
    name = f"prefect_ha_{uuid.uuid4().hex[:10]}"
    _psql(admin_url, f'CREATE DATABASE "{name}"')
    stack.callback(_psql, admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    parts = urlsplit(admin_url)
    return urlunsplit(("postgresql+asyncpg", parts.netloc, f"/{name}", parts.query, ""))


def ha_env(home: Path, database_url: str, redis_port: int) -> dict[str, str]:
    """The settings every API worker and the services process share (the database is migrated
    and the block types registered once beforehand: `initialise_once`)."""
    env = server_env(home)
    env.update(REDIS_MODULES)
    env.update(
        PREFECT_SERVER_DATABASE_CONNECTION_URL=database_url,
        PREFECT_SERVER_DATABASE_MIGRATE_ON_START="false",
        PREFECT_SERVER_REGISTER_BLOCKS_ON_START="false",
        PREFECT_REDIS_MESSAGING_HOST="127.0.0.1",
        PREFECT_REDIS_MESSAGING_PORT=str(redis_port),
        PREFECT_REDIS_MESSAGING_DB="0",
        PREFECT_SERVER_DOCKET_URL=f"redis://127.0.0.1:{redis_port}/1",
    )
    return env


# What each API worker would do at start-up (`create_app`'s `add_block_types`), done once: on a
# fresh database, workers registering the block types at once can fail on "uq_block_type__slug".
REGISTER_BLOCKS = """
import asyncio
from prefect.server.database import provide_database_interface
from prefect.server.models.block_registration import run_block_auto_registration

async def register() -> None:
    session = await provide_database_interface().session()
    async with session:
        await run_block_auto_registration(session=session)

asyncio.run(register())
"""


def initialise_once(env: dict[str, str], work: Path) -> None:
    """Migrate the database and register the block types, each once, before any worker starts."""
    steps = {
        "database upgrade": [*PREFECT, "server", "database", "upgrade", "-y"],
        "block registration": [sys.executable, "-c", REGISTER_BLOCKS],
    }
    for step, argv in steps.items():
        done = subprocess.run(argv, env=env, capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT, check=False)  # fmt: skip
        with open(work / "initialise.log", "a", encoding="utf-8") as log:
            log.write(done.stdout + done.stderr)
        if done.returncode != 0:
            raise RuntimeError(f"{step} failed:\n{(done.stdout + done.stderr)[-3000:]}")


# --- the server's processes ------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def api_workers(server_pid: int) -> list[int]:
    """The uvicorn worker processes under `prefect server start --workers N`."""
    workers = []
    todo, seen = [server_pid], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        with contextlib.suppress(OSError):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"multiprocessing.spawn" in cmdline and b"resource_tracker" not in cmdline:
                workers.append(pid)
        todo.extend(_children(pid))
    return sorted(workers)


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_api(env: dict[str, str], workers: int, work: Path, stack: contextlib.ExitStack
              ) -> tuple[RunningServer, list[int]]:  # fmt: skip
    port = free_port()
    argv = [*PREFECT, "server", "start", "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(workers)]  # fmt: skip
    log = work / "api.log"
    process = spawn(argv, env, log, stack)
    url = f"http://127.0.0.1:{port}/api"

    def healthy() -> bool:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
            return bool(resp.status == 200) and len(api_workers(process.pid)) == workers

    wait_for(f"prefect server start --workers {workers}", healthy, process, log)
    return RunningServer(url, work / "home", process, log, "postgres"), api_workers(process.pid)


# --- the checks --------------------------------------------------------------------------------


@dataclass
class Cli:
    url: str
    home: Path

    def run(self, *args: str, expect: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "prefect_gitops", *args, "--api-url", self.url],
                              env=client_env(self.url, self.home), capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT, check=False)  # fmt: skip
        if done.returncode not in expect:
            raise CheckFailed(f"`prefect-gitops {' '.join(args[:1])}` exited {done.returncode}:\n"
                              f"{done.stdout[-3000:]}{done.stderr[-3000:]}")  # fmt: skip
        return done

    def apply(self, repo: Path, *extra: str) -> dict[str, Any]:
        done = self.run("apply", str(repo), "--auto-approve", "--format", "json",
                        "--lock-timeout", "300", *extra)  # fmt: skip
        report: dict[str, Any] = json.loads(done.stdout)
        return report

    def start_apply(self, repo: Path, output: Path) -> subprocess.Popen[bytes]:
        """`apply` in the background, its stdout and stderr in OUTPUT.out and OUTPUT.err."""
        argv = [sys.executable, "-m", "prefect_gitops", "apply", str(repo), "--auto-approve",
                "--format", "json", "--lock-timeout", "300", "--api-url", self.url]  # fmt: skip
        with open(f"{output}.out", "wb") as stdout, open(f"{output}.err", "wb") as stderr:
            return subprocess.Popen(argv, env=client_env(self.url, self.home), stdout=stdout,
                                    stderr=stderr)  # fmt: skip


def deployment_names(server: RunningServer) -> set[str]:
    names: set[str] = set()
    with client_for(server) as client:
        for page in range(1000):  # bounded: 200 000 deployments
            rows = client.post("/deployments/filter", json={"limit": 200, "offset": 200 * page})
            names.update(row["name"] for row in rows)
            if len(rows) < 200:
                return names
    raise CheckFailed("more deployments than the listing bound")


def write_ha_repo(repo: Path, deployments: int, *, tag: str | None = None) -> Path:
    write_repo(repo, deployments=deployments, pools=2, project=PROJECT)
    if tag is not None:
        path = repo / "prefect.yaml"
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace(f"tags: [{PROJECT}, ", f"tags: [{PROJECT}, {tag}, "),
                        encoding="utf-8")  # fmt: skip
    return repo


def _changed(report: dict[str, Any]) -> int:
    return int(report["summary"]["changed"])


def check_apply_and_plan(cli: Cli, server: RunningServer, repo: Path, n: int, out: Report) -> None:
    with out.timed(f"apply from empty ({n} deployments)"):
        first = cli.apply(repo)
    out.figures["apply_from_empty"] = first["requests"]
    expected = {f"d{i:04d}" for i in range(n)}
    out.check(f"apply from empty created all {n} deployments",
              first["ok"] and deployment_names(server) == expected,
              f"{first['summary']['added']} added, {first['requests']['total']} requests")  # fmt: skip
    with out.timed("plan (no changes)"):
        plan = cli.run("plan", str(repo), "--detailed-exitcode", expect=(0, 1, 2))
    out.check('plan says "No changes" (--detailed-exitcode 0)',
              plan.returncode == 0 and "No changes" in plan.stdout, plan.stdout.strip()[-200:])  # fmt: skip
    with out.timed("no-op apply"):
        noop = cli.apply(repo)
    out.figures["apply_noop"] = noop["requests"]
    out.check("a no-op apply sends 0 writes", noop["requests"]["writes"] == 0,
              f"{noop['requests']['total']} requests, {noop['requests']['writes']} writes")  # fmt: skip


def check_concurrent_applies(cli: Cli, repo: Path, n: int, out: Report) -> None:
    write_ha_repo(repo, n, tag="v2")
    with out.timed("two concurrent applies"):
        procs = [cli.start_apply(repo, repo.parent / f"concurrent{i}") for i in range(2)]
        codes = [p.wait(timeout=COMMAND_TIMEOUT) for p in procs]
    outs = [(repo.parent / f"concurrent{i}.out").read_text() for i in range(2)]
    errs = [(repo.parent / f"concurrent{i}.err").read_text() for i in range(2)]
    if codes != [0, 0]:
        raise CheckFailed(f"concurrent applies exited {codes}:\n{outs}\n{errs}"[-4000:])
    changed = [_changed(json.loads(text)) for text in outs]
    waited = sum("for the apply lock" in text for text in errs)
    out.check(
        "two concurrent applies: each deployment updated exactly once (the lock, a variable in "
        "the database, serialises them across workers)",
        sorted(changed) == [0, n],
        f"changed: {changed}; {waited} of them waited for the lock",
    )
    plan = cli.run("plan", str(repo), "--detailed-exitcode", expect=(0, 1, 2))
    out.check("plan after them: no changes", plan.returncode == 0, plan.stdout.strip()[-200:])


def check_prune(cli: Cli, server: RunningServer, repo: Path, n: int, removed: int, out: Report
                ) -> None:  # fmt: skip
    before = deployment_names(server)
    write_ha_repo(repo, n - removed, tag="v2")
    gone = {f"d{i:04d}" for i in range(n - removed, n)}
    plan = json.loads(cli.run("plan", str(repo), "--prune", "--format", "json").stdout)
    planned = {rc["name"].rsplit("/", 1)[-1] for rc in plan["resource_changes"]
               if rc["type"] == "deployment" and rc["actions"] == ["delete"]}  # fmt: skip
    out.check(f"plan --prune shows exactly the {removed} removed deployments", planned == gone,
              f"planned deletes: {len(planned)}")  # fmt: skip
    with out.timed(f"apply --prune ({removed} removed)"):
        pruned = cli.apply(repo, "--prune")
    after = deployment_names(server)
    out.check("apply --prune deleted exactly those", after == before - gone and pruned["ok"],
              f"{pruned['summary']['destroyed']} destroyed, {len(after)} left")  # fmt: skip
    again = cli.run("plan", str(repo), "--prune", "--detailed-exitcode", expect=(0, 1, 2))
    out.check("plan --prune after it: no changes", again.returncode == 0,
              again.stdout.strip()[-200:])  # fmt: skip


def check_runner(server: RunningServer, runs: int, runners: int, work: Path, out: Report) -> None:
    markers = work / "markers"
    markers.mkdir()
    with client_for(server) as client:
        create_pool(client, "ha-runner")
        deployment = create_deployment(client, pool="ha-runner", flows_dir=write_flows(work / "flows"),
                                       flow="marks")  # fmt: skip
        run_ids = [create_run(client, deployment["id"], parameters={"marker_dir": str(markers)})["id"]
                   for _ in range(runs)]  # fmt: skip
        logs = [work / f"runner{i}.log" for i in range(runners)]
        with (
            out.timed(f"runner: {runs} runs on {runners} runners"),
            contextlib.ExitStack() as stack,
        ):
            for i, log in enumerate(logs):
                stack.enter_context(runner_process(server, "ha-runner", "--name", f"r{i}",
                                                   "--limit", "4", log=log))  # fmt: skip
            states = wait_final(client, run_ids, RUNS_TIMEOUT)
        kinds = [[s["type"] for s in history(client, run_id)] for run_id in run_ids]
    executions = {p.name: len(p.read_text().splitlines()) for p in markers.iterdir()}
    started = "".join(log.read_text() for log in logs)
    out.check(f"all {runs} flow runs COMPLETED", set(states.values()) == {"COMPLETED"}
              and len(states) == runs, _tally(states.values()))  # fmt: skip
    out.check("each executed exactly once (one marker line each)",
              sorted(executions) == sorted(run_ids) and set(executions.values()) == {1})  # fmt: skip
    out.check("each went PENDING and RUNNING exactly once",
              all(k.count("PENDING") == 1 and k.count("RUNNING") == 1 for k in kinds))  # fmt: skip
    out.check("each started by exactly one runner",
              all(started.count(f"({run_id}) started as process") == 1 for run_id in run_ids))  # fmt: skip


def _tally(values: Any) -> str:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


# --- the scenario ------------------------------------------------------------------------------


def bring_up(args: argparse.Namespace, work: Path, stack: contextlib.ExitStack, out: Report
             ) -> tuple[RunningServer, list[int], subprocess.Popen[bytes] | None]:  # fmt: skip
    print("Starting PostgreSQL, Redis and the API workers (127.0.0.1)...", flush=True)
    with out.timed("postgres + redis up"):
        database_url = database(args.postgres, stack)
        redis_port = start_redis(work, stack)
    (work / "home").mkdir()
    env = ha_env(work / "home", database_url, redis_port)
    with out.timed("migrate + register blocks, once"):
        initialise_once(env, work)
    with out.timed(f"api up ({args.workers} workers)"):
        server, workers = start_api(env, args.workers, work, stack)
    services = None
    if not args.no_services:
        services = spawn([*PREFECT, "server", "services", "start"], env,
                         work / "services.log", stack)  # fmt: skip
    out.check(f"{args.workers} API workers behind one port (migrate-on-start off)",
              len(workers) == args.workers, f"{server.url}, pids {workers}")  # fmt: skip
    return server, workers, services


def scenario(args: argparse.Namespace, work: Path, out: Report) -> None:
    with contextlib.ExitStack() as stack:
        server, workers, services = bring_up(args, work, stack, out)
        cpu_before = {pid: cpu_seconds(pid) for pid in workers}
        cli = Cli(server.url, work / "client-home")
        repo = write_ha_repo(work / "repo", args.deployments)
        print("Checks:", flush=True)
        check_apply_and_plan(cli, server, repo, args.deployments, out)
        check_concurrent_applies(cli, repo, args.deployments, out)
        check_prune(cli, server, repo, args.deployments, args.prune, out)
        check_runner(server, args.runs, args.runners, work, out)
        busy = {pid: round(cpu_seconds(pid) - cpu_before[pid], 1) for pid in workers}
        out.figures["api_worker_cpu_s"] = busy
        out.check("every API worker served requests (CPU seconds each)",
                  all(seconds >= 0.5 for seconds in busy.values()), str(busy))  # fmt: skip
        if services is not None:
            alive = services.poll() is None
            out.check("`prefect server services start` ran throughout", alive,
                      "" if alive else (work / "services.log").read_text()[-1000:])  # fmt: skip
        print("Stopping every process...", flush=True)


def render(out: Report, args: argparse.Namespace, failed: str | None) -> str:
    import prefect

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    lines = [
        f"prefect-gitops {__version__}, Prefect {prefect.__version__}: {args.workers} API workers "
        f"on PostgreSQL + Redis; {os.cpu_count()} CPUs ({platform.machine()}), Python "
        f"{platform.python_version()}, load average at the end {load}",
        "",
        "| step | seconds |",
        "| --- | ---: |",
    ]
    lines += [f"| {step} | {seconds:.2f} |" for step, seconds in out.timings.items()]
    held = sum(ok for _name, ok, _detail in out.checks)
    lines += ["", f"{held} of {len(out.checks)} checks held:"]
    lines += [f"- {'ok' if ok else 'FAILED'}: {name}" + (f" ({detail})" if detail else "")
              for name, ok, detail in out.checks]  # fmt: skip
    if failed:
        lines += ["", f"FAILED: {failed}"]
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--postgres", metavar="URL",
                        help="admin URL of an existing cluster (a database is created on it and "
                             "dropped at the end); default: a throwaway cluster")  # fmt: skip
    parser.add_argument("--deployments", type=int, default=50)
    parser.add_argument("--prune", type=int, default=10, help="deployments removed, then pruned")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2, help="API worker processes")
    parser.add_argument("--runners", type=int, default=2)
    parser.add_argument("--no-services", action="store_true",
                        help="no `prefect server services start` process")  # fmt: skip
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.workers < 2 or not 0 < args.prune < args.deployments or args.runs < 1 \
            or args.runners < 1:  # fmt: skip
        parser.error(
            "need --workers >= 2, 0 < --prune < --deployments, --runs >= 1, --runners >= 1"
        )
    return args


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    for signum in (signal.SIGINT, signal.SIGTERM):  # also when started with SIGINT ignored
        signal.signal(signum, _interrupt)
    try:
        check_prerequisites()
    except Missing as missing:
        print(f"bench/ha.py cannot run: {missing}", file=sys.stderr)
        return 1
    out, failed, code = Report(), None, 0
    with tempfile.TemporaryDirectory(prefix="prefect-gitops-ha-") as tmp:
        try:
            scenario(args, Path(tmp), out)
        except CheckFailed as error:
            failed, code = str(error), 1
        except KeyboardInterrupt:
            print("Interrupted: every process was stopped.", file=sys.stderr)
            return 130
        except (RuntimeError, OSError, ValueError, subprocess.SubprocessError, ApiError) as error:
            failed, code = f"{type(error).__name__}: {error}", 1
    if args.json:
        checks = [{"check": name, "held": ok, "detail": detail} for name, ok, detail in out.checks]
        print(json.dumps({"checks": checks, "timings": out.timings, "figures": out.figures,
                          "failed": failed}, indent=2))  # fmt: skip
    else:
        print("\n" + render(out, args, failed))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
