"""Benchmark `prefect-gitops validate` on a large generated repository.

usage: python bench/validate.py [--deployments 1000] [--pools 50] [--runs 5] [--json] [--keep DIR]

Generates a repo with N deployments (schedules, parameters, job_variables, YAML anchors,
aliases and merge keys, real flow files) and M work pools of three types, then times, in one
run and side by side (median of --runs):

- our validate, in-process: `main(["validate", REPO, "--format", "json"])`, cold (one call
  per fresh interpreter, imports excluded) and warm (caches filled by an earlier call);
- our validate, as a CLI subprocess (interpreter start-up and imports included);
- `check-jsonschema --schemafile bench/data/prefect.yaml.schema.json prefect.yaml`
  (Prefect's published schema, on the same prefect.yaml; a CLI subprocess);
- a bare `yaml.load(text, Loader=yaml.CSafeLoader)` of the same prefect.yaml, in-process.

The goals compare the cold in-process figure with the bare parse, and CLI with CLI. Prints a Markdown table, or JSON
with --json.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from prefect_gitops import __version__
from prefect_gitops.cli import main as cli_main

HERE = Path(__file__).resolve().parent
PREFECT_SCHEMA = HERE / "data" / "prefect.yaml.schema.json"
K8S_TEMPLATE = (
    HERE.parent / "examples" / "kubernetes" / "work-pools" / "templates" / "analytics-job.json"
)
POOL_TYPES = ("process", "docker", "kubernetes")
FLOWS_PER_FILE = 50

COLD = "prefect-gitops validate, in-process (cold)"
OURS_CLI = "prefect-gitops validate, CLI"
CJS_CLI = "check-jsonschema + Prefect schema, CLI"
PARSE = "yaml.load(CSafeLoader), in-process"


# -- the generated repository ---------------------------------------------------------------


def _pool_file(index: int) -> str:
    pool_type = POOL_TYPES[index % len(POOL_TYPES)]
    lines = [
        "# yaml-language-server: $schema=../schemas/work-pool.schema.json",
        f"name: pool-{index:02d}",
        f"type: {pool_type}",
        f"description: Generated {pool_type} pool number {index}.",
        f"concurrency_limit: {10 + index}",
    ]
    if pool_type == "kubernetes":
        lines.append("base_job_template: templates/k8s-job.json")
    lines.append("queues:")
    for priority, queue in enumerate(("critical", "high", "low"), start=1):
        lines += [f"  - name: {queue}", f"    priority: {priority}"]
        if queue != "critical":
            lines.append(f"    concurrency_limit: {priority * 2}")
    return "\n".join(lines) + "\n"


def _flow_file(group: int) -> str:
    out = [
        '"""Generated flows for the validate benchmark."""',
        "",
        "from __future__ import annotations",
        "",
        "from prefect import flow",
        "",
    ]
    for i in range(FLOWS_PER_FILE):
        out += [
            "",
            f'@flow(name="bench-flow-{group:02d}-{i:02d}")',
            f'def flow_{i:02d}(n: int, label: str = "x", dry_run: bool = False) -> int:',
            f'    """Generated flow {i} of group {group}."""',
            "    return n",
            "",
        ]
    return "\n".join(out)


_DEFINITIONS = """\
definitions:
  tags: &bench-tags [bench, generated]
  schedules:
    hourly: &hourly
      interval: 3600
      anchor_date: "2024-01-01T00:00:00+00:00"
      timezone: UTC
    nightly: &nightly
      cron: "0 2 * * *"
      timezone: Europe/London
    weekdays: &weekdays
      cron: "30 7 * * 1-5"
      timezone: America/New_York
  job_variables:
    process: &process-vars
      env:
        LOG_LEVEL: INFO
      stream_output: true
    docker: &docker-vars
      image: registry.example.com/bench/flows:1.0
      auto_remove: true
      env:
        LOG_LEVEL: INFO
    kubernetes: &kubernetes-vars
      image: registry.example.com/bench/flows:1.0
      namespace: bench
      cpu_request: 500m
  deployment: &deployment-defaults
    tags: *bench-tags
    enforce_parameter_schema: true
    version: "1.0"
"""


def _deployment(index: int, pools: int) -> str:
    pool = index % pools
    pool_type = POOL_TYPES[pool % len(POOL_TYPES)]
    group, member = divmod(index % (FLOWS_PER_FILE * 20), FLOWS_PER_FILE)
    queue = ("critical", "high", "low")[index % 3]
    schedule = ("hourly", "nightly", "weekdays")[index % 3]
    lines = [
        "  - <<: *deployment-defaults",
        f"    name: deployment-{index:04d}",
        f"    description: Generated deployment {index}.",
        f"    entrypoint: flows/group_{group:02d}.py:flow_{member:02d}",
        "    parameters:",
        f"      n: {index}",
        f"      label: item-{index}",
        "    work_pool:",
        f"      name: pool-{pool:02d}",
        f"      work_queue_name: {queue}",
        "      job_variables:",
        f"        <<: *{pool_type}-vars",
        "        env:",
        f'          DEPLOYMENT_INDEX: "{index}"',
        "    schedules:",
        f"      - <<: *{schedule}",
    ]
    # Prefect's published schema (wrongly) rejects a slug beside a numeric interval; leave
    # it off there so that check-jsonschema gets a file it accepts.
    if schedule != "hourly":
        lines.append(f"        slug: {schedule}")
    if index % 5 == 0:
        lines += [
            "    concurrency_limit:",
            "      limit: 1",
            "      collision_strategy: CANCEL_NEW",
        ]
    return "\n".join(lines)


def generate(root: Path, deployments: int, pools: int) -> Path:
    (root / "work-pools" / "templates").mkdir(parents=True)
    (root / "flows").mkdir()
    shutil.copyfile(K8S_TEMPLATE, root / "work-pools" / "templates" / "k8s-job.json")
    for index in range(pools):
        (root / "work-pools" / f"pool-{index:02d}.yaml").write_text(_pool_file(index))
    groups = min(20, (deployments + FLOWS_PER_FILE - 1) // FLOWS_PER_FILE)
    for group in range(groups):
        (root / "flows" / f"group_{group:02d}.py").write_text(_flow_file(group))
    body = "\n".join(_deployment(i, pools) for i in range(deployments))
    prefect_yaml = root / "prefect.yaml"
    prefect_yaml.write_text(
        f"name: bench\nprefect-version: 3.9.1\n\n{_DEFINITIONS}\ndeployments:\n{body}\n"
    )
    return prefect_yaml


# -- timing ---------------------------------------------------------------------------------


def _time(fn: Callable[[], Any], runs: int, *, warmup: bool) -> list[float]:
    if warmup:
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def _run(argv: list[str]) -> Callable[[], subprocess.CompletedProcess[bytes]]:
    def go() -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(argv, capture_output=True, check=False, timeout=600)

    return go


def _our_cli() -> list[str]:
    script = Path(sys.executable).parent / "prefect-gitops"
    return [str(script)] if script.exists() else [sys.executable, "-m", "prefect_gitops"]


def _check_jsonschema() -> list[str]:
    script = Path(sys.executable).parent / "check-jsonschema"
    return [str(script)] if script.exists() else [sys.executable, "-m", "check_jsonschema"]


_COLD_RUN = """
import contextlib, io, sys, time
from prefect_gitops.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    main(["validate", "--help"])  # imports every command module, outside the timing
start = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    main(["validate", sys.argv[1], "--format", "json"])
print(time.perf_counter() - start)
"""


def _cold_in_process(repo: Path, runs: int) -> list[float]:
    """One `main([...])` call per fresh interpreter: imports excluded, every cache cold."""
    times = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", _COLD_RUN, str(repo)],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
        times.append(float(done.stdout.strip().splitlines()[-1]))
    return times


def measure(repo: Path, prefect_yaml: Path, runs: int) -> dict[str, Any]:
    text = prefect_yaml.read_text()

    def in_process() -> int:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return cli_main(["validate", str(repo), "--format", "json"])

    def bare_parse() -> Any:
        return yaml.load(text, Loader=yaml.CSafeLoader)

    ours_cmd = [*_our_cli(), "validate", str(repo), "--format", "json"]
    cjs_cmd = [*_check_jsonschema(), "--schemafile", str(PREFECT_SCHEMA), str(prefect_yaml)]

    # Sanity: what each tool says about the generated repo, once.
    ours = subprocess.run(ours_cmd, capture_output=True, check=False, timeout=600)
    report = json.loads(ours.stdout) if ours.stdout.strip().startswith(b"{") else {}
    cjs = subprocess.run(cjs_cmd, capture_output=True, check=False, timeout=600)

    rows = {
        COLD: _cold_in_process(repo, runs),
        "prefect-gitops validate, in-process (warm: caches filled)": _time(
            in_process, runs, warmup=True
        ),
        OURS_CLI: _time(_run(ours_cmd), runs, warmup=False),
        CJS_CLI: _time(_run(cjs_cmd), runs, warmup=False),
        PARSE: _time(bare_parse, runs, warmup=True),
    }
    return {
        "ours_exit_code": ours.returncode,
        "ours_summary": report.get("summary"),
        "check_jsonschema_exit_code": cjs.returncode,
        "timings": {
            name: {"median": statistics.median(t), "min": min(t), "max": max(t), "runs": t}
            for name, t in rows.items()
        },
    }


def ratios(timings: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    parse = timings[PARSE]["median"]
    cjs = timings[CJS_CLI]["median"]
    return {
        name: {"vs_bare_parse": t["median"] / parse, "vs_check_jsonschema": t["median"] / cjs}
        for name, t in timings.items()
    }


def markdown(result: dict[str, Any]) -> str:
    p = result["params"]
    lines = [
        f"`validate` on {p['deployments']:,} deployments and {p['pools']} work pools "
        f"(prefect.yaml {p['prefect_yaml_bytes'] / 1024:.0f} KiB), median of {p['runs']} runs; "
        f"prefect-gitops {p['version']}, Python {p['python']}.",
        "",
        "| tool | median | min | max | × bare parse | × check-jsonschema |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, t in result["timings"].items():
        r = result["ratios"][name]
        lines.append(
            f"| {name} | {t['median'] * 1000:.0f} ms | {t['min'] * 1000:.0f} ms | "
            f"{t['max'] * 1000:.0f} ms | {r['vs_bare_parse']:.2f} | {r['vs_check_jsonschema']:.2f} |"
        )
    lines += [
        "",
        f"Exit codes on the generated repo: prefect-gitops {result['ours_exit_code']} "
        f"({result['ours_summary']}), check-jsonschema {result['check_jsonschema_exit_code']}.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument("--pools", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--keep", type=Path, help="generate the repo here and keep it")
    args = parser.parse_args(argv)
    if args.deployments < 1 or not 1 <= args.pools <= 99 or args.runs < 1:
        parser.error("need --deployments >= 1, 1 <= --pools <= 99, --runs >= 1")

    with tempfile.TemporaryDirectory(prefix="pg-bench-") as tmp:
        repo = args.keep or Path(tmp) / "repo"
        if repo.exists():
            parser.error(f"{repo} exists")
        prefect_yaml = generate(repo, args.deployments, args.pools)
        result: dict[str, Any] = {
            "params": {
                "deployments": args.deployments,
                "pools": args.pools,
                "runs": args.runs,
                "prefect_yaml_bytes": prefect_yaml.stat().st_size,
                "version": __version__,
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
            },
            **measure(repo, prefect_yaml, args.runs),
        }
    result["ratios"] = ratios(result["timings"])
    print(json.dumps(result, indent=2) if args.json else markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
