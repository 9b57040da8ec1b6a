"""The benchmark's generated repository stays a clean, realistic input for every tool it times."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench import validate as bench

from tests.validate_run import run_validate


def test_generated_repo_validates_cleanly(tmp_path: Path) -> None:
    prefect_yaml = bench.generate(tmp_path / "repo", deployments=60, pools=6)
    run = run_validate(tmp_path / "repo")
    assert run.findings() == [], run.stdout
    summary = run.report["summary"]
    assert (summary["deployments"], summary["work_pools"]) == (60, 6)
    text = prefect_yaml.read_text()
    assert "<<: *deployment-defaults" in text and "&hourly" in text


def test_generated_prefect_yaml_passes_prefects_published_schema(tmp_path: Path) -> None:
    prefect_yaml = bench.generate(tmp_path / "repo", deployments=12, pools=3)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--schemafile",
            str(bench.PREFECT_SCHEMA),
            str(prefect_yaml),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_report_renders_ratios() -> None:
    timings = {
        name: {"median": m, "min": m, "max": m, "runs": [m]}
        for name, m in [
            (bench.COLD, 0.2),
            (bench.OURS_CLI, 0.9),
            (bench.CJS_CLI, 1.8),
            (bench.PARSE, 0.1),
        ]
    }
    ratios = bench.ratios(timings)
    assert ratios[bench.COLD]["vs_bare_parse"] == 2.0
    assert ratios[bench.OURS_CLI]["vs_check_jsonschema"] == 0.5
    result = {
        "params": {
            "deployments": 1000,
            "pools": 50,
            "prefect_yaml_bytes": 2048,
            "runs": 1,
            "version": "0.1.0",
            "python": "3.11.7",
        },
        "timings": timings,
        "ratios": ratios,
        "ours_exit_code": 0,
        "ours_summary": {"errors": 0},
        "check_jsonschema_exit_code": 0,
    }
    table = bench.markdown(result)
    assert "| prefect-gitops validate, CLI | 900 ms | 900 ms | 900 ms | 9.00 | 0.50 |" in table


def test_concurrency_report_gives_ratios_side_by_side() -> None:
    from bench import concurrency

    def timed(seconds: float, locked: int = 0) -> dict[str, Any]:
        return {"seconds": seconds, "requests": 40, "503s": locked, "all_seconds": [seconds]}

    row = {"backend": "sqlite", "latency_ms": 50, "p1": timed(6.0), "default": timed(4.0, 7),
           "native": timed(30.0)}  # fmt: skip
    assert concurrency.ratios(row) == {"p1_over_default": 1.5, "native_over_default": 7.5}
    no_native = {k: v for k, v in row.items() if k != "native"}
    assert concurrency.ratios(no_native)["native_over_default"] is None
    assert concurrency.median_run([timed(3.0), timed(1.0), timed(2.0)])["seconds"] == 2.0
    params = {"deployments": 20, "pools": 2, "runs": 1, "default_parallelism": 8,
              "machine": "Linux x86_64, 2 CPUs", "python": "3.11.7", "version": "0.1.0"}  # fmt: skip
    table = concurrency.markdown([row, no_native], params)
    assert ("| sqlite | 50 ms | 6.00 s (40 req, 0× 503) | 4.00 s (40 req, 7× 503) | "
            "30.00 s (40 req, 0× 503) | 1.50 | 7.50 |") in table  # fmt: skip
    assert table.splitlines()[-1].endswith("| – | 1.50 | – |")


def test_the_proxy_counts_answers_by_status() -> None:
    from bench.proxy import LoopbackProxy

    class Upstream(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = 503 if self.path.endswith("/locked") else 201
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    thread = threading.Thread(target=upstream.serve_forever, daemon=True)
    thread.start()
    try:
        with LoopbackProxy(f"http://127.0.0.1:{upstream.server_address[1]}") as proxy:
            for path in ("/ok", "/locked", "/locked"):
                request = urllib.request.Request(proxy.url + path, data=b"{}", method="POST")
                try:
                    urllib.request.urlopen(request, timeout=10).close()
                except urllib.error.HTTPError as exc:
                    exc.close()
        assert proxy.statuses == {201: 1, 503: 2} and proxy.requests == 3
    finally:
        upstream.shutdown()
        upstream.server_close()
        thread.join(timeout=10)


def test_scale_counts_a_busy_child_and_renders_both_ratios() -> None:
    from argparse import Namespace

    from bench import scale

    burn = (
        "import sys, time\n"
        "sys.stdin.readline()\n"
        "start = time.process_time()\n"
        "while time.process_time() - start < 0.3: pass\n"
        "print('done', flush=True)\n"
        "sys.stdin.readline()\n"
    )
    child = subprocess.Popen([sys.executable, "-c", burn], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert child.stdin is not None and child.stdout is not None
    try:
        first = scale._tree_times(os.getpid())
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline() == "done\n"
        later = scale._tree_times(os.getpid())
    finally:
        child.kill()
        child.wait()
    assert later[0] - first[0] >= 0.25  # the child's CPU is counted as ours (tick rounding)
    assert later[1] >= first[1] >= 0.0
    step = {"seconds": 2.0, "cpu_s": 1.0, "rss_mib": 80.0, "requests": 9, "writes": 0,
            "server_cpu_s": 0.5, "server_cpu_wait_s": 0.1}  # fmt: skip
    empty = {**step, "seconds": 30.0, "server_cpu_s": 10.0, "server_cpu_wait_s": 15.0}
    native = {"seconds": 4.0, "cpu_s": 3.0, "rss_mib": 90.0, "requests": 6}
    row = {"deployments": 1000, "validate": step, "plan": step, "apply_noop": step,
           "apply_empty": empty, "plan_direct": {**step, "seconds": 1.5},
           "native_read": native, "native_ls": {**native, "seconds": 1.8}}  # fmt: skip
    table = scale.markdown([row], Namespace(backend="postgres", scheduler=False))
    assert "scheduler service off" in table
    assert (
        "| 1,000 | 2.0 (1.0) | 2.0 (1.0; 0.5; 9) | 1.5 | 2.0 (1.0; 0.5; 9; 0) | 30.0 (9) |" in table
    )
    # apply / server CPU, apply / (CPU + wait), peak RSS (the plan straight to the server's
    # counts too), then Prefect's client reading all, plan / that, `prefect deployment ls`
    assert "| 10.0 | 15.0 | 3.00 | 1.20 | 80.0 | 4.0 (6) | 0.50 | 1.8 |" in table
